"""MultiVectorEncoderTrainer: the shared BaseTrainer with query/document tasks per column, a training-time max_length,
MultiVectorMultipleNegativesRankingLoss as its default, and every multi-vector loss trainable end to end."""

from __future__ import annotations

import pytest
import torch
from datasets import Dataset, DatasetDict

from conftest import PAIRS
from sentence_transformers.base.trainer import BaseTrainer
from sentence_transformers.multi_vector_encoder import MultiVectorEncoder
from sentence_transformers.multi_vector_encoder.data_collator import MultiVectorEncoderDataCollator
from sentence_transformers.multi_vector_encoder.evaluation import MultiVectorTripletEvaluator
from sentence_transformers.multi_vector_encoder.losses import (
    CachedMultiVectorMultipleNegativesRankingLoss,
    MultiVectorDistillKLDivLoss,
    MultiVectorMarginMSELoss,
    MultiVectorMultipleNegativesRankingLoss,
)
from sentence_transformers.multi_vector_encoder.trainer import MultiVectorEncoderTrainer
from sentence_transformers.multi_vector_encoder.training_args import MultiVectorEncoderTrainingArguments

ANCHORS = [a for a, _, _ in PAIRS]
POSITIVES = [b for _, b, _ in PAIRS]
NEGATIVES = POSITIVES[3:] + POSITIVES[:3]


def arguments(tmp_path, **kwargs) -> MultiVectorEncoderTrainingArguments:
    defaults = {
        "output_dir": str(tmp_path / "out"),
        "num_train_epochs": 1,
        "per_device_train_batch_size": 4,
        "learning_rate": 1e-3,
        "save_strategy": "no",
        "report_to": "none",
        "seed": 3,
        "disable_tqdm": True,
        "logging_steps": 1,
    }
    return MultiVectorEncoderTrainingArguments(**{**defaults, **kwargs})


@pytest.fixture()
def model(tiny_bert_dir) -> MultiVectorEncoder:
    torch.manual_seed(0)
    return MultiVectorEncoder(str(tiny_bert_dir), device="cpu")


def weights(model: MultiVectorEncoder) -> list[torch.Tensor]:
    return [parameter.detach().clone() for parameter in model.parameters()]


def test_the_trainer_shares_base_trainer_and_names_its_parts():
    assert issubclass(MultiVectorEncoderTrainer, BaseTrainer)
    assert MultiVectorEncoderTrainer.model_class is MultiVectorEncoder
    assert MultiVectorEncoderTrainer.data_collator_class is MultiVectorEncoderDataCollator
    assert MultiVectorEncoderTrainer.training_args_class is MultiVectorEncoderTrainingArguments


class RecordingPreprocess:
    """A preprocess_fn that records the task and max_length of every column it tokenizes."""

    def __init__(self) -> None:
        self.calls: list[tuple[str | None, int | None]] = []

    def __call__(self, inputs, prompt=None, task=None, max_length=None) -> dict:
        self.calls.append((task, max_length))
        return {"input_ids": torch.ones(len(inputs), 2, dtype=torch.long)}


def test_collator_gives_column_zero_the_query_task_and_the_rest_documents():
    preprocess = RecordingPreprocess()
    collator = MultiVectorEncoderDataCollator(preprocess_fn=preprocess)
    batch = collator([{"q": "a", "label": 1.0, "p": "b", "n": "c"}])
    assert preprocess.calls == [("query", None), ("document", None), ("document", None)]
    assert (batch["q_task"], batch["p_task"], batch["n_task"]) == ("query", "document", "document")
    assert batch["label"].tolist() == [1.0]
    assert collator.router_mapping == {}  # the positional tasks are not left behind


def test_collator_router_mapping_and_max_length_per_task():
    preprocess = RecordingPreprocess()
    collator = MultiVectorEncoderDataCollator(
        preprocess_fn=preprocess,
        router_mapping={"set-a": {"p": "query"}},
        max_length={"query": 8, "document": 30},
    )
    collator([{"dataset_name": "set-a", "q": "a", "p": "b"}])
    collator([{"dataset_name": "set-b", "q": "a", "p": "b"}])
    assert preprocess.calls == [("query", 8), ("query", 8), ("query", 8), ("document", 30)]
    flat = RecordingPreprocess()
    MultiVectorEncoderDataCollator(preprocess_fn=flat, max_length=5)([{"q": "a", "p": "b"}])
    assert flat.calls == [("query", 5), ("document", 5)]


def test_training_arguments_max_length_forms():
    assert arguments_max_length(None) is None
    assert arguments_max_length(12) == 12
    assert arguments_max_length('{"query": 16, "document": 64}') == {"query": 16, "document": 64}
    assert arguments_max_length("20") == 20
    for bad in (0, {"query": -1}, "not json", 2.5):
        with pytest.raises(ValueError, match="max_length"):
            arguments_max_length(bad)


def arguments_max_length(value):
    return MultiVectorEncoderTrainingArguments(output_dir="unused", max_length=value, report_to="none").max_length


def test_the_collator_caps_lengths_with_the_real_model(model, tmp_path):
    trainer = MultiVectorEncoderTrainer(
        model=model,
        args=arguments(tmp_path, max_length={"query": 4}),
        train_dataset=Dataset.from_dict({"anchor": ANCHORS, "positive": POSITIVES}),
    )
    batch = trainer.data_collator([{"anchor": ANCHORS[5], "positive": POSITIVES[5]}])
    assert batch["anchor_input_ids"].shape[1] == 4
    assert batch["positive_input_ids"].shape[1] > 4
    assert (batch["anchor_task"], batch["positive_task"]) == ("query", "document")


def test_default_loss_trains_the_model_and_it_saves_and_loads(model, tmp_path):
    before = weights(model)
    trainer = MultiVectorEncoderTrainer(
        model=model,
        args=arguments(tmp_path),
        train_dataset=Dataset.from_dict({"anchor": ANCHORS, "positive": POSITIVES}),
    )
    assert isinstance(trainer.loss, MultiVectorMultipleNegativesRankingLoss)
    trainer.train()
    assert any(not torch.equal(a, b) for a, b in zip(before, weights(model), strict=True))
    model.save(str(tmp_path / "trained"))
    loaded = MultiVectorEncoder(str(tmp_path / "trained"), device="cpu")
    for original, reloaded in zip(model.encode_query(ANCHORS[:2]), loaded.encode_query(ANCHORS[:2]), strict=True):
        torch.testing.assert_close(original, reloaded)


def test_in_batch_training_lowers_the_loss(model, tmp_path):
    dataset = Dataset.from_dict({"anchor": ANCHORS, "positive": POSITIVES})
    loss = MultiVectorMultipleNegativesRankingLoss(model)
    trainer = MultiVectorEncoderTrainer(
        model=model, args=arguments(tmp_path, num_train_epochs=6, learning_rate=3e-3), train_dataset=dataset, loss=loss
    )
    start = trainer.evaluate(dataset)["eval_loss"]
    trainer.train()
    assert trainer.evaluate(dataset)["eval_loss"] < start - 0.1


@pytest.mark.parametrize("kind", ["cached", "distill", "margin"])
def test_every_loss_trains_end_to_end(model, tmp_path, kind):
    if kind == "cached":
        columns = {"anchor": ANCHORS, "positive": POSITIVES, "negative": NEGATIVES}
        loss = CachedMultiVectorMultipleNegativesRankingLoss(model, mini_batch_size=2)
    elif kind == "distill":
        columns = {"query": ANCHORS, "doc_1": POSITIVES, "doc_2": NEGATIVES, "label": [[2.0, 0.5]] * len(ANCHORS)}
        loss = MultiVectorDistillKLDivLoss(model)
    else:
        columns = {"query": ANCHORS, "positive": POSITIVES, "negative": NEGATIVES, "label": [1.5] * len(ANCHORS)}
        loss = MultiVectorMarginMSELoss(model)
    before = weights(model)
    trainer = MultiVectorEncoderTrainer(
        model=model, args=arguments(tmp_path), train_dataset=Dataset.from_dict(columns), loss=loss
    )
    output = trainer.train()
    assert torch.isfinite(torch.tensor(output.training_loss))
    assert any(not torch.equal(a, b) for a, b in zip(before, weights(model), strict=True))


def test_evaluator_and_per_dataset_losses_during_training(model, tmp_path):
    pairs = Dataset.from_dict({"anchor": ANCHORS, "positive": POSITIVES})
    triplets = Dataset.from_dict({"anchor": ANCHORS, "positive": POSITIVES, "negative": NEGATIVES})
    evaluator = MultiVectorTripletEvaluator(ANCHORS, POSITIVES, NEGATIVES, name="dev")
    trainer = MultiVectorEncoderTrainer(
        model=model,
        args=arguments(tmp_path, eval_strategy="epoch"),
        train_dataset=DatasetDict({"pairs": pairs, "triplets": triplets}),
        eval_dataset=DatasetDict({"pairs": pairs, "triplets": triplets}),
        loss={
            "pairs": MultiVectorMultipleNegativesRankingLoss(model),
            "triplets": CachedMultiVectorMultipleNegativesRankingLoss(model, mini_batch_size=3),
        },
        evaluator=evaluator,
    )
    trainer.train()
    logged = {key for entry in trainer.state.log_history for key in entry}
    assert {"eval_pairs_loss", "eval_triplets_loss", "eval_dev_maxsim_accuracy"} <= logged
