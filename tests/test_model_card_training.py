"""The model card's record of a training run: the callback, and the helpers that format what the card shows."""

from __future__ import annotations

import platform

import pytest
from datasets import Dataset

from conftest import CosineMSE, training_args
from sentence_transformers import SentenceTransformerTrainer, losses
from sentence_transformers.base.model_card import (
    BaseModelCardCallback,
    format_duration,
    format_log,
    get_losses,
    get_versions,
)
from sentence_transformers.base.persistence import FORMAT_VERSION
from sentence_transformers.sentence_transformer.model_card import (
    ModelCardCallback,
    SentenceTransformerModelCardCallback,
)


@pytest.mark.parametrize(
    ("seconds", "expected"),
    [(0.04, "0.0 seconds"), (59.94, "59.9 seconds"), (60, "1.0 minutes"), (90, "1.5 minutes"), (5400, "1.5 hours")],
)
def test_format_duration_uses_the_largest_unit_that_stays_at_least_one(seconds, expected):
    assert format_duration(seconds) == expected
    assert format_duration(3 * 86400 + 43200) == "3.5 days"


def test_format_log_rounds_floats_only():
    assert format_log(0.123456) == 0.1235
    assert format_log(7) == 7 and format_log("eval") == "eval"


def test_get_losses_follows_wrapped_losses_once(tiny_model):
    inner = losses.MultipleNegativesRankingLoss(tiny_model)
    outer = losses.MatryoshkaLoss(tiny_model, inner, matryoshka_dims=[16, 8])
    assert get_losses(outer) == [outer, inner]
    mse = losses.MSELoss(tiny_model)
    assert get_losses({"a": outer, "b": mse}) == [outer, mse, inner]


def test_get_versions_names_the_format_and_sbert():
    versions = get_versions()
    assert versions["python"] == platform.python_version()
    assert versions["sentence_transformers"] == FORMAT_VERSION
    assert versions["sbert"] == __import__("sentence_transformers").__sbert_version__
    assert {"torch", "transformers", "tokenizers"} <= set(versions)


def test_callback_names_are_one_class():
    assert BaseModelCardCallback is SentenceTransformerModelCardCallback is ModelCardCallback


def test_a_training_run_is_recorded_in_the_saved_card(tiny_model, tmp_path):
    data = Dataset.from_dict(
        {"sentence1": ["a cat", "a dog", "the sun", "a man"], "sentence2": ["a kitten", "a puppy", "sunny", "a boy"]}
        | {"score": [0.9, 0.8, 0.7, 0.6]}
    )
    trainer = SentenceTransformerTrainer(
        model=tiny_model, args=training_args(tmp_path), train_dataset=data, loss=CosineMSE(tiny_model)
    )
    trainer.train()
    record = tiny_model.model_card_data["training"]
    assert record["datasets"] == {"train": {"rows": 4, "columns": ["sentence1", "sentence2", "score"]}}
    assert record["losses"] == {"train": "CosineMSE"}
    # Only what differs from the defaults: the arguments set by training_args() (not output/logging ones).
    assert record["hyperparameters"]["num_train_epochs"] == 2 and record["hyperparameters"]["learning_rate"] == 1e-3
    assert "adam_beta1" not in record["hyperparameters"] and "output_dir" not in record["hyperparameters"]
    assert record["global_step"] == 2  # 4 rows, batch 4, 2 epochs
    assert [entry["step"] for entry in record["logs"]] == [1, 2]  # logging_steps=1
    assert all(
        isinstance(entry["loss"], float) and entry["loss"] == round(entry["loss"], 4) for entry in record["logs"]
    )
    assert record["duration"].endswith("seconds")
    tiny_model.save(str(tmp_path / "model"))
    readme = (tmp_path / "model" / "README.md").read_text()
    assert "### Training logs" in readme and "| epoch | step |" in readme
    assert "### Framework versions" in readme and f"- sentence_transformers: {FORMAT_VERSION}" in readme
    assert "- num_train_epochs: 2" in readme and "Training time:" in readme


def test_wrapped_losses_are_named_in_the_record(tiny_model, tmp_path):
    data = Dataset.from_dict({"anchor": ["a cat", "a dog", "the sun", "a man"], "positive": ["x", "y", "z", "w"]})
    loss = losses.MatryoshkaLoss(tiny_model, losses.MultipleNegativesRankingLoss(tiny_model), matryoshka_dims=[8])
    trainer = SentenceTransformerTrainer(
        model=tiny_model, args=training_args(tmp_path, num_train_epochs=1), train_dataset=data, loss=loss
    )
    trainer.train()
    assert tiny_model.model_card_data["training"]["losses"] == {
        "train": "MatryoshkaLoss → MultipleNegativesRankingLoss"
    }
