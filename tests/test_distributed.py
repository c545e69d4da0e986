"""Distributed training on 2 CPU processes (gloo), launched with torchrun.

(a) With ``gather_across_devices=True`` the in-batch losses of 2 processes × batch B, averaged, equal the
single-process loss at batch 2B on the same data, and so do the gradients once averaged over the processes as DDP
averages them. (b) SentenceTransformerTrainer and fit() train under torchrun, keep the processes' weights equal,
and save one model, from the main process only.

This file is also the script that torchrun runs: ``python tests/test_distributed.py <mode> <args...>``.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path
from typing import Any

import torch

TEXTS = [
    ("a cat sleeps", "a cat is sleeping", "the street is busy"),
    ("a man plays guitar", "a man is playing a guitar", "a woman talks"),
    ("the dog runs", "a dog is running", "the sun is warm"),
    ("paris is in france", "the capital of france is paris", "two women sit"),
    ("two women sit", "two women are sitting at a table", "the dog runs"),
    ("the sun is warm", "it is sunny and warm", "a cat sleeps"),
    ("what is the capital", "paris is the capital", "a man plays guitar"),
    ("a woman talks", "a woman is talking", "paris is in france"),
]
LOCAL_BATCH = len(TEXTS) // 2


# ---------------------------------------------------------------------------------------------- launching
def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _torchrun(*args: str, timeout: int = 180, launcher: str = "torchrun") -> None:
    """Run this file on 2 CPU processes with torchrun (or ``accelerate launch``); fail with the output's tail."""
    if launcher == "torchrun":
        command = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2"]
        command += ["--master_addr", "127.0.0.1", "--master_port", str(_free_port())]
    else:  # --multi_gpu is accelerate's torchrun-based launcher; the trainer runs it over gloo without GPUs
        command = [sys.executable, "-m", "accelerate.commands.launch", "--multi_gpu", "--num_processes", "2"]
        command += ["--num_machines", "1", "--mixed_precision", "no", "--dynamo_backend", "no"]
        command += ["--main_process_port", str(_free_port())]
    command += [__file__, *args]
    env = {**os.environ, "CUDA_VISIBLE_DEVICES": "", "OMP_NUM_THREADS": "1", "TOKENIZERS_PARALLELISM": "false"}
    done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=timeout)
    assert done.returncode == 0, (done.stdout + done.stderr)[-6000:]


# ---------------------------------------------------------------------------------------------- the tests
def test_gathered_loss_and_gradients_match_the_global_batch(tiny_bert_dir: Path, tmp_path: Path) -> None:
    from conftest import build_tiny_bert

    guide_dir = build_tiny_bert(tmp_path / "guide", seed=1)
    results_file = tmp_path / "results.json"
    _torchrun("losses", str(tiny_bert_dir), str(guide_dir), str(results_file))
    results = json.loads(results_file.read_text())
    assert set(results) == set(LOSSES)
    for name, result in results.items():
        assert result["loss_diff"] < 1e-5, (name, result)
        assert result["grad_diff"] < 1e-5, (name, result)
        assert result["grad_norm"] > 1e-3, (name, result)  # the comparison is not between zeros
        # without gathering each process only sees its own half: a different loss
        assert abs(result["local_only_loss"] - result["loss"]) > 1e-3, (name, result)


def test_trainer_and_fit_under_torchrun_save_once(tiny_bert_dir: Path, tmp_path: Path) -> None:
    from sentence_transformers import SentenceTransformer

    _torchrun("train", str(tiny_bert_dir), str(tmp_path))
    ranks = [json.loads((tmp_path / f"rank{rank}.json").read_text()) for rank in (0, 1)]
    for run in ("trainer", "cached", "gist", "softmax", "fit"):
        assert ranks[0][run]["weight_spread"] == 0.0, (run, ranks[0][run])  # DDP kept the processes equal
        assert ranks[0][run]["moved"] > 0, (run, ranks[0][run])  # and training changed the weights
    # the evaluator ran once per evaluation (sharing the encoding) and every process got its metrics
    assert (
        ranks[0]["eval_metrics"] == ranks[1]["eval_metrics"]
        and "eval_sts_spearman_cosine" in ranks[0]["eval_metrics"][0]
    )
    assert len(ranks[0]["fit"]["scores"]) == 1 and ranks[0]["fit"]["scores"] == ranks[1]["fit"]["scores"]
    final, fit_dir = tmp_path / "trainer" / "final", tmp_path / "fit"
    checkpoints = [str(tmp_path / "trainer" / f"checkpoint-{step}") for step in (2, 3)]
    assert ranks[0]["saves"] == [*checkpoints, str(final), str(fit_dir)]
    assert ranks[1]["saves"] == []
    for path, run in ((final, "trainer"), (fit_dir, "fit")):
        model = SentenceTransformer(str(path), device="cpu")
        embeddings = model.encode(["a cat sleeps", "the dog runs"], convert_to_tensor=True)
        assert embeddings.shape == (2, 32) and torch.isfinite(embeddings).all()
        assert abs(sum(float(p.detach().double().sum()) for p in model.parameters()) - ranks[0][run]["checksum"]) < 1e-3


def test_trainer_under_accelerate_launch(tiny_bert_dir: Path, tmp_path: Path) -> None:
    from sentence_transformers import SentenceTransformer

    _torchrun("accelerate", str(tiny_bert_dir), str(tmp_path), launcher="accelerate")
    ranks = [json.loads((tmp_path / f"rank{rank}.json").read_text()) for rank in (0, 1)]
    assert ranks[0]["run"]["weight_spread"] == 0.0 and ranks[0]["run"]["moved"] > 0, ranks[0]
    assert ranks[0]["saves"] == [str(tmp_path / "final")] and ranks[1]["saves"] == []
    assert SentenceTransformer(str(tmp_path / "final"), device="cpu").encode(["a cat sleeps"]).shape == (1, 32)


# ---------------------------------------------------------------------------------------------- worker: losses
def _loss_factories() -> dict[str, Any]:
    from sentence_transformers import losses

    return {
        "mnrl": lambda model, guide, gather: losses.MultipleNegativesRankingLoss(model, gather_across_devices=gather),
        "mnrl_all_directions": lambda model, guide, gather: losses.MultipleNegativesRankingLoss(
            model,
            gather_across_devices=gather,
            directions=("query_to_doc", "query_to_query", "doc_to_query", "doc_to_doc"),
        ),
        "symmetric": lambda model, guide, gather: losses.MultipleNegativesSymmetricRankingLoss(
            model, gather_across_devices=gather
        ),
        "cached_mnrl": lambda model, guide, gather: losses.CachedMultipleNegativesRankingLoss(
            model, mini_batch_size=3, gather_across_devices=gather
        ),
        "cached_symmetric": lambda model, guide, gather: losses.CachedMultipleNegativesSymmetricRankingLoss(
            model, mini_batch_size=3, gather_across_devices=gather
        ),
        "gist": lambda model, guide, gather: losses.GISTEmbedLoss(
            model, guide, temperature=0.05, margin=0.05, gather_across_devices=gather
        ),
        "cached_gist": lambda model, guide, gather: losses.CachedGISTEmbedLoss(
            model, guide, temperature=0.05, margin=0.05, mini_batch_size=3, gather_across_devices=gather
        ),
    }


LOSSES = ["mnrl", "mnrl_all_directions", "symmetric", "cached_mnrl", "cached_symmetric", "gist", "cached_gist"]


def _loss_and_grads(
    loss_fn: torch.nn.Module, model: Any, rows: list[tuple[str, ...]]
) -> tuple[float, list[torch.Tensor]]:
    """The loss on ``rows`` and the model's parameter gradients after its backward pass."""
    model.zero_grad(set_to_none=True)
    columns = 2 if "Symmetric" in type(loss_fn).__name__ else 3
    features = [model.tokenize([row[column] for row in rows]) for column in range(columns)]
    loss = loss_fn(features, None)
    loss.backward()
    grads = [p.grad.detach().clone() if p.grad is not None else torch.zeros_like(p) for p in model.parameters()]
    return float(loss.detach()), grads


def _worker_losses(model_dir: str, guide_dir: str, results_file: str) -> None:
    """Each process: its half of TEXTS with gathering; rank 0 also: all of TEXTS in one process, and compares."""
    from sentence_transformers import SentenceTransformer

    rank, world_size = torch.distributed.get_rank(), torch.distributed.get_world_size()
    # eval: no dropout, so the runs are comparable; float64: the comparisons see float32 rounding no more
    model = SentenceTransformer(model_dir, device="cpu").eval().double()
    guide = SentenceTransformer(guide_dir, device="cpu").eval().double()
    local = TEXTS[rank * LOCAL_BATCH : (rank + 1) * LOCAL_BATCH]
    factories, results = _loss_factories(), {}
    for name in LOSSES:
        loss, grads = _loss_and_grads(factories[name](model, guide, True), model, local)
        local_only, _ = _loss_and_grads(factories[name](model, guide, False), model, local)
        values = torch.tensor([loss, local_only], dtype=torch.float64)
        torch.distributed.all_reduce(values)
        for grad in grads:  # what DDP does: average the processes' gradients
            torch.distributed.all_reduce(grad)
            grad.div_(world_size)
        if rank == 0:
            full_loss, full_grads = _loss_and_grads(factories[name](model, guide, False), model, TEXTS)
            results[name] = {
                "loss": full_loss,
                "loss_diff": abs(float(values[0]) / world_size - full_loss),
                "local_only_loss": float(values[1]) / world_size,
                "grad_diff": max(float((a - b).abs().max()) for a, b in zip(grads, full_grads, strict=True)),
                "grad_norm": float(torch.cat([g.flatten() for g in full_grads]).norm()),
            }
    if rank == 0:
        Path(results_file).write_text(json.dumps(results, indent=1))


# ---------------------------------------------------------------------------------------------- worker: training
def _weights_report(model: Any, before: torch.Tensor, loss: Any = None) -> dict[str, float]:
    """How far this process's weights (with the loss's own) are from every other's (0 when DDP kept them equal), how
    far the model's moved from ``before``, and their sum."""
    flat = torch.cat([p.detach().flatten() for p in (loss or model).parameters()])
    gathered = [torch.zeros_like(flat) for _ in range(torch.distributed.get_world_size())]
    torch.distributed.all_gather(gathered, flat)
    return {
        "weight_spread": max(float((other - flat).abs().max()) for other in gathered),
        "moved": float((flat[: len(before)] - before).abs().max()),
        "checksum": sum(float(p.detach().double().sum()) for p in model.parameters()),
    }


def _evaluator() -> Any:
    from sentence_transformers.evaluation import EmbeddingSimilarityEvaluator

    return EmbeddingSimilarityEvaluator(
        [row[0] for row in TEXTS], [row[1] for row in TEXTS], [0.9, 0.8, 0.7, 0.6, 0.5, 0.4, 0.3, 0.2], name="sts"
    )


def _train(model_dir: str, output_dir: Path, make_loss: Any, labels: bool = False, **options: Any) -> tuple[Any, Any]:
    """Train a fresh model on TEXTS for 2 steps (``options`` override the arguments, ``evaluator``: the trainer's)."""
    from datasets import Dataset

    from sentence_transformers import (
        SentenceTransformer,
        SentenceTransformerTrainer,
        SentenceTransformerTrainingArguments,
    )

    model = SentenceTransformer(model_dir, device="cpu")
    columns = {"anchor": [row[0] for row in TEXTS] * 2, "positive": [row[1] for row in TEXTS] * 2}
    dataset = Dataset.from_dict({**columns, "label": [0, 1] * len(TEXTS)} if labels else columns)
    evaluator = options.pop("evaluator", None)
    defaults = {"per_device_train_batch_size": 4, "max_steps": 2, "learning_rate": 1e-2, "save_strategy": "no"}
    args = SentenceTransformerTrainingArguments(
        output_dir=str(output_dir), report_to="none", disable_tqdm=True, logging_steps=1, **{**defaults, **options}
    )
    loss = make_loss(model)
    trainer = SentenceTransformerTrainer(model=model, args=args, train_dataset=dataset, loss=loss, evaluator=evaluator)
    before = torch.cat([p.detach().flatten().clone() for p in model.parameters()])
    trainer.train()
    return trainer, _weights_report(model, before, loss)


def _record_saves() -> list[str]:
    """The list that every SentenceTransformer.save of this process appends its path to, from now on."""
    from sentence_transformers import SentenceTransformer

    saves: list[str] = []
    original_save = SentenceTransformer.save

    def recording_save(self: Any, path: str, *args: Any, **kwargs: Any) -> None:
        saves.append(str(path))
        original_save(self, path, *args, **kwargs)

    SentenceTransformer.save = recording_save
    return saves


def _worker_accelerate(model_dir: str, output: str) -> None:
    """A cached-loss run, launched by ``accelerate launch``, saved by every process's call to ``save_model``."""
    from sentence_transformers import losses

    saves = _record_saves()
    trainer, report = _train(
        model_dir,
        Path(output) / "run",
        lambda model: losses.CachedMultipleNegativesRankingLoss(model, mini_batch_size=2, gather_across_devices=True),
    )
    trainer.save_model(str(Path(output) / "final"))
    (Path(output) / f"rank{os.environ['RANK']}.json").write_text(json.dumps({"run": report, "saves": saves}))


def _worker_train(model_dir: str, output: str) -> None:
    """SentenceTransformerTrainer (plain with an evaluator, cached, GIST, SoftmaxLoss) and fit(), recording saves."""
    from torch.utils.data import DataLoader

    from sentence_transformers import InputExample, SentenceTransformer, losses

    rank, output_dir = int(os.environ["RANK"]), Path(output)
    saves = _record_saves()
    report: dict[str, Any] = {}
    trainer, report["trainer"] = _train(
        model_dir,
        output_dir / "trainer",
        lambda model: losses.MultipleNegativesRankingLoss(model, gather_across_devices=True),
        max_steps=3,
        save_strategy="steps",
        save_steps=2,
        eval_strategy="steps",
        eval_steps=2,
        evaluator=_evaluator(),
    )
    report["eval_metrics"] = [
        {key: value for key, value in entry.items() if key.startswith("eval_")}
        for entry in trainer.state.log_history
        if any(key.startswith("eval_") for key in entry)
    ]
    trainer.save_model(str(output_dir / "trainer" / "final"))  # called by every process, as scripts do
    _, report["cached"] = _train(
        model_dir,
        output_dir / "cached",
        lambda model: losses.CachedMultipleNegativesRankingLoss(model, mini_batch_size=2, gather_across_devices=True),
    )
    guide = SentenceTransformer(model_dir, device="cpu")
    _, report["gist"] = _train(
        model_dir, output_dir / "gist", lambda model: losses.GISTEmbedLoss(model, guide, gather_across_devices=True)
    )
    torch.manual_seed(rank)  # a different classifier on each process: the trainer starts them all from rank 0's
    _, report["softmax"] = _train(  # the classifier lives in the loss, outside DDP
        model_dir,
        output_dir / "softmax",
        lambda model: losses.SoftmaxLoss(model, sentence_embedding_dimension=32, num_labels=2),
        labels=True,
    )
    model = SentenceTransformer(model_dir, device="cpu")
    before = torch.cat([p.detach().flatten().clone() for p in model.parameters()])
    examples = [InputExample(texts=[row[0], row[1]]) for row in TEXTS] * 2
    scores: list[float] = []
    model.fit(
        [
            (
                DataLoader(examples, batch_size=4, shuffle=True),
                losses.MultipleNegativesRankingLoss(model, gather_across_devices=True),
            )
        ],
        evaluator=_evaluator(),
        epochs=1,
        warmup_steps=0,
        optimizer_params={"lr": 1e-2},
        output_path=str(output_dir / "fit"),
        show_progress_bar=False,
        callback=lambda score, epoch, steps: scores.append(score),
    )
    report["fit"] = {**_weights_report(model, before), "scores": scores}
    report["saves"] = saves
    (output_dir / f"rank{rank}.json").write_text(json.dumps(report, indent=1))


if __name__ == "__main__":
    mode, *arguments = sys.argv[1:]
    if mode == "losses":
        torch.distributed.init_process_group("gloo")
        _worker_losses(*arguments)
    else:  # the Trainer sets the process group up itself, from the launcher's environment
        {"train": _worker_train, "accelerate": _worker_accelerate}[mode](*arguments)
    torch.distributed.destroy_process_group()
