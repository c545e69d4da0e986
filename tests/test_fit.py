"""The 2.x fit(): its evaluation schedule, every parameter, and the 2.x loaders it accepts."""

from __future__ import annotations

import csv
import math
import tempfile

import numpy as np
import pytest
import torch
from torch.utils.data import DataLoader

from conftest import PAIRS
from sentence_transformers import InputExample, SentenceTransformer, losses
from sentence_transformers.evaluation import EmbeddingSimilarityEvaluator

EXAMPLES = [InputExample(texts=[a, b], label=score) for a, b, score in PAIRS]


class Recorder(torch.optim.SGD):
    """SGD that records, at every step, the learning rate, the gradient norm and its parameter groups."""

    steps: list[tuple[float, float]] = []
    groups: list[dict] = []

    def __init__(self, params, **kwargs) -> None:
        super().__init__(params, **kwargs)
        Recorder.groups = [{k: v for k, v in group.items() if k != "params"} for group in self.param_groups]

    def step(self, closure=None):
        grads = [p.grad.norm() for group in self.param_groups for p in group["params"] if p.grad is not None]
        Recorder.steps.append((self.param_groups[0]["lr"], torch.norm(torch.stack(grads)).item()))
        return super().step(closure)


@pytest.fixture()
def recorder():
    Recorder.steps, Recorder.groups = [], []
    return Recorder


def fit(model: SentenceTransformer, objectives=None, **kwargs) -> None:
    objectives = objectives or [(DataLoader(EXAMPLES, batch_size=4), losses.CosineSimilarityLoss(model))]
    model.fit(objectives, show_progress_bar=False, **kwargs)


class Scripted:
    """An evaluator whose scores are scripted per call; it remembers each call and the model's output then."""

    def __init__(self, scores: list[float], as_dict: bool = True) -> None:
        self.scores, self.as_dict = list(scores), as_dict
        self.primary_metric = "score" if as_dict else None
        self.calls: list[tuple[str | None, int, int]] = []
        self.outputs: list[np.ndarray] = []

    def __call__(self, model, output_path=None, epoch=-1, steps=-1):
        self.calls.append((output_path, epoch, steps))
        self.outputs.append(model.encode(["a cat sleeps"]))
        score = self.scores[len(self.calls) - 1]
        return {"score": score} if self.as_dict else score


def test_evaluates_every_evaluation_steps_and_after_each_epoch_keeping_the_best(tiny_model, tmp_path):
    # 8 examples at batch 4: 2 steps per epoch. 2.x evaluates at steps 1, 2 of each epoch and after it (steps -1).
    evaluator = Scripted([0.1, 0.2, 0.3, 0.9, 0.4, 0.5])
    seen = []
    out = tmp_path / "out"
    fit(
        tiny_model,
        evaluator=evaluator,
        epochs=2,
        evaluation_steps=1,
        optimizer_params={"lr": 1e-2},
        callback=lambda score, epoch, steps: seen.append((score, epoch, steps)),
        output_path=str(out),
    )
    assert [(epoch, steps) for _, epoch, steps in evaluator.calls] == [(0, 1), (0, 2), (0, -1), (1, 1), (1, 2), (1, -1)]
    assert {path for path, _, _ in evaluator.calls} == {str(out / "eval")}
    assert seen == [
        (score, epoch, steps) for score, (_, epoch, steps) in zip(evaluator.scores, evaluator.calls, strict=True)
    ]
    # The best score came at the 4th evaluation (epoch 1, step 1): that model, not the last, is at output_path.
    best = SentenceTransformer(str(out), device="cpu").encode(["a cat sleeps"])
    np.testing.assert_allclose(best, evaluator.outputs[3], atol=1e-6)
    assert not np.allclose(best, tiny_model.encode(["a cat sleeps"]), atol=1e-4)


def test_without_evaluation_steps_evaluates_after_each_epoch_and_writes_the_csv(tiny_model, tmp_path):
    evaluator = EmbeddingSimilarityEvaluator.from_input_examples(EXAMPLES, name="dev")
    seen = []
    fit(tiny_model, evaluator=evaluator, epochs=2, callback=lambda *call: seen.append(call), output_path=str(tmp_path))
    assert [(epoch, steps) for _, epoch, steps in seen] == [(0, -1), (1, -1)]
    with open(tmp_path / "eval" / "similarity_evaluation_dev_results.csv", encoding="utf-8") as f:
        rows = list(csv.reader(f))
    assert rows[0][:4] == ["epoch", "steps", "cosine_pearson", "cosine_spearman"]
    assert [row[:2] for row in rows[1:]] == [["0", "-1"], ["1", "-1"]]
    assert float(rows[2][3]) == pytest.approx(seen[1][0])  # the callback gets the primary metric, spearman_cosine
    assert (tmp_path / "modules.json").is_file()


def test_quiet_without_progress_bar_and_no_scratch_folder_left(tiny_model, capsys, tmp_path, monkeypatch):
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    fit(tiny_model, epochs=1)
    assert capsys.readouterr().out == ""
    assert list(tmp_path.iterdir()) == []


def test_float_and_single_metric_evaluators_and_unclear_ones(tiny_model, tmp_path):
    evaluator = Scripted([0.5, 0.7], as_dict=False)  # 2.x evaluators return a float
    seen = []
    fit(tiny_model, evaluator=evaluator, epochs=2, callback=lambda score, *_: seen.append(score))
    assert seen == [0.5, 0.7]

    class Several:
        primary_metric = None

        def __call__(self, model, output_path=None, epoch=-1, steps=-1):
            return {"a": 1.0, "b": 2.0}

    with pytest.raises(ValueError, match="primary_metric"):
        fit(tiny_model, evaluator=Several())


def test_steps_per_epoch_sets_the_number_of_steps_and_the_epochs(tiny_model, recorder):
    evaluator = Scripted([0.0] * 4)
    fit(tiny_model, evaluator=evaluator, epochs=2, steps_per_epoch=3, optimizer_class=recorder, scheduler="constantlr")
    assert len(recorder.steps) == 6  # 3 steps per epoch (the 2-batch loader is gone through again), 2 epochs
    assert [(epoch, steps) for _, epoch, steps in evaluator.calls] == [(0, -1), (1, -1)]


@pytest.mark.parametrize(
    ("scheduler", "factor"),
    [
        ("constantlr", lambda step, warmup, total: 1.0),
        ("WarmupConstant", lambda step, warmup, total: min(1.0, step / warmup)),
        (
            "warmuplinear",
            lambda step, warmup, total: step / warmup if step < warmup else (total - step) / (total - warmup),
        ),
        (
            "warmupcosine",
            lambda s, w, t: s / w if s < w else 0.5 * (1 + math.cos(math.pi * (s - w) / (t - w))),
        ),
        (
            "WarmupCosineWithHardRestarts",
            lambda s, w, t: s / w if s < w else 0.5 * (1 + math.cos(math.pi * (((s - w) / (t - w)) % 1.0))),
        ),
    ],
)
def test_schedulers_give_the_2x_learning_rates(tiny_model, recorder, scheduler, factor):
    fit(
        tiny_model,
        epochs=4,
        warmup_steps=3,
        scheduler=scheduler,
        optimizer_class=recorder,
        optimizer_params={"lr": 0.1},
    )
    rates = [lr for lr, _ in recorder.steps]
    assert rates == pytest.approx([0.1 * factor(step, 3, 8) for step in range(8)], abs=1e-9)


def test_optimizer_class_params_weight_decay_and_grad_clipping(tiny_model, recorder):
    fit(
        tiny_model,
        optimizer_class=recorder,
        optimizer_params={"lr": 0.05, "momentum": 0.5},
        weight_decay=0.3,
        max_grad_norm=1e-3,
        scheduler="constantlr",
    )
    assert {group["lr"] for group in recorder.groups} == {0.05}
    assert {group["momentum"] for group in recorder.groups} == {0.5}
    # Biases and LayerNorm weights are kept out of weight decay, as 2.x did.
    assert sorted({group["weight_decay"] for group in recorder.groups}) == [0.0, 0.3]
    assert len(recorder.steps) == 2
    assert all(norm <= 1e-3 * (1 + 1e-4) for _, norm in recorder.steps)


def test_default_adamw_is_fused_unless_told_otherwise(tiny_model, monkeypatch):
    seen = []
    original = torch.optim.AdamW.__init__

    def spy(self, params, **kwargs):
        seen.append(kwargs)
        original(self, params, **kwargs)

    monkeypatch.setattr(torch.optim.AdamW, "__init__", spy)
    fit(tiny_model)
    fit(tiny_model, optimizer_params={"lr": 1e-4, "foreach": False})
    assert seen[0]["fused"] is True and seen[0]["lr"] == 2e-5
    assert "fused" not in seen[1] and seen[1]["foreach"] is False and seen[1]["lr"] == 1e-4


def test_checkpoints(tiny_model, tmp_path):
    checkpoints = tmp_path / "checkpoints"
    fit(tiny_model, epochs=3, checkpoint_path=str(checkpoints), checkpoint_save_steps=4, checkpoint_save_total_limit=1)
    # 6 steps: a checkpoint at step 4 and the final one at step 6; the limit keeps only the newest.
    assert sorted(p.name for p in checkpoints.iterdir() if p.name.startswith("checkpoint-")) == ["checkpoint-6"]
    saved = SentenceTransformer(str(checkpoints / "checkpoint-6"), device="cpu")
    np.testing.assert_allclose(saved.encode(["a cat"]), tiny_model.encode(["a cat"]), atol=1e-6)
    every = tmp_path / "every"
    fit(tiny_model, epochs=2, checkpoint_path=str(every), checkpoint_save_steps=1)
    assert sorted(p.name for p in every.iterdir() if p.name.startswith("checkpoint-")) == [
        f"checkpoint-{step}" for step in range(1, 5)
    ]


class Counting(losses.CosineSimilarityLoss):
    """CosineSimilarityLoss that logs which objective each step trains and the texts of its batch."""

    def __init__(self, model, name: str, log: list) -> None:
        super().__init__(model)
        self.name, self.log = name, log

    def forward(self, sentence_features, labels):
        features = list(sentence_features)
        self.log.append((self.name, features[0]["input_ids"].shape[0]))
        return super().forward(features, labels)


def test_several_objectives_take_turns(tiny_model):
    log: list = []
    first = DataLoader(EXAMPLES, batch_size=4)  # 2 batches
    second = DataLoader(EXAMPLES * 2, batch_size=4)  # 4 batches: the smaller objective sets the epoch length
    fit(tiny_model, [(first, Counting(tiny_model, "a", log)), (second, Counting(tiny_model, "b", log))], epochs=1)
    assert [name for name, _ in log] == ["a", "b", "a", "b"]


def test_contrastive_tension_loader(tiny_model):
    from sentence_transformers.losses import ContrastiveTensionDataLoader

    sentences = [f"sentence number {i}" for i in range(30)]
    loader = ContrastiveTensionDataLoader(sentences, batch_size=4, pos_neg_ratio=2)
    log: list = []
    fit(tiny_model, [(loader, Counting(tiny_model, "ct", log))], epochs=1)
    assert [size for _, size in log] == [4] * len(loader)
    assert loader.collate_fn is None  # the loader is left as it was


def test_bad_objectives(tiny_model):
    with pytest.raises(ValueError, match="at least one"):
        tiny_model.fit([])
    with pytest.raises(TypeError, match="InputExample"):
        fit(tiny_model, [(DataLoader([("a", "b")], batch_size=1), losses.CosineSimilarityLoss(tiny_model))])
    with pytest.raises(ValueError, match="Unknown scheduler 'warmupsquare'"):
        fit(tiny_model, scheduler="warmupsquare")


class Batches(losses.MultipleNegativesRankingLoss):
    """MultipleNegativesRankingLoss that logs each batch's first-column token rows and labels."""

    def __init__(self, model, log: list) -> None:
        super().__init__(model)
        self.log = log

    def forward(self, sentence_features, labels):
        features = list(sentence_features)
        self.log.append(([tuple(row.tolist()) for row in features[0]["input_ids"]], labels.tolist()))
        if len(features) == 1:  # single texts with class labels: any differentiable value will do
            return self.model(features[0])["sentence_embedding"].pow(2).mean()
        return super().forward(features, labels)


def test_no_duplicates_loader_and_sentence_label_dataset_choose_their_batch_samplers(tiny_model):
    from sentence_transformers.datasets import NoDuplicatesDataLoader, SentenceLabelDataset
    from sentence_transformers.sentence_transformer.fit_mixin import batch_sampler_for

    # Three anchors repeated over 12 pairs: random batches of 3 would nearly always repeat one. (Words, not
    # digits: the tiny tokenizer knows no digits, and the check compares token ids.)
    anchors = ["a cat sleeps", "a man plays guitar", "two women sit"]
    words = ["quick", "brown", "fox", "lazy", "dog", "street", "table", "capital", "france", "paris", "sun", "warm"]
    pairs = [InputExample(texts=[anchors[i % 3], f"the {word}"]) for i, word in enumerate(words)]
    loader = NoDuplicatesDataLoader(pairs, batch_size=3)
    assert batch_sampler_for(loader) == "no_duplicates"
    log: list = []
    fit(tiny_model, [(loader, Batches(tiny_model, log))], epochs=2)
    assert log and all(len(set(rows)) == len(rows) == 3 for rows, _ in log)

    labelled = [InputExample(texts=[f"text {i}"], label=i % 4) for i in range(16)]
    grouped = DataLoader(SentenceLabelDataset(labelled, samples_per_label=2), batch_size=4)
    assert batch_sampler_for(grouped) == "group_by_label"
    log.clear()
    fit(tiny_model, [(grouped, Batches(tiny_model, log))], epochs=1)
    assert log and all(min(labels.count(label) for label in labels) >= 2 for _, labels in log)
    assert batch_sampler_for(DataLoader(EXAMPLES)) == "batch_sampler"
    plain = (DataLoader(EXAMPLES, batch_size=4), losses.CosineSimilarityLoss(tiny_model))
    with pytest.raises(ValueError, match="cannot be mixed"):
        fit(tiny_model, [(NoDuplicatesDataLoader(pairs, batch_size=3), Batches(tiny_model, log)), plain])


def test_nothing_to_train_on_warns_and_returns(tiny_model, caplog):
    from sentence_transformers.datasets import NoDuplicatesDataLoader

    before = tiny_model.encode(["a cat sleeps"])
    fit(tiny_model, [(NoDuplicatesDataLoader(EXAMPLES[:2], batch_size=4), losses.CosineSimilarityLoss(tiny_model))])
    assert "nothing was trained" in caplog.text
    np.testing.assert_array_equal(tiny_model.encode(["a cat sleeps"]), before)


def test_fused_adamw_only_where_this_torch_has_it(monkeypatch):
    from sentence_transformers.sentence_transformer import fit_mixin as fit_module

    assert fit_module._fused_adamw_runs_on(torch.device("cuda"))
    assert not fit_module._fused_adamw_runs_on(torch.device("mps"))
    monkeypatch.setattr(torch, "__version__", torch.torch_version.TorchVersion("2.3.1"))
    assert not fit_module._fused_adamw_runs_on(torch.device("cpu"))
    monkeypatch.setattr(torch, "__version__", torch.torch_version.TorchVersion("2.13.0"))
    assert fit_module._fused_adamw_runs_on(torch.device("cpu"))
