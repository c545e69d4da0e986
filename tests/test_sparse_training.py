"""SparseEncoderTrainer: the shared BaseTrainer with SpladeLoss as its default, the regularizer weight scheduler
added for a SpladeLoss, inference-free (Router) training, and the trained model saving and loading."""

from __future__ import annotations

import logging

import pytest
import torch
from datasets import Dataset

from conftest import PAIRS
from sentence_transformers import SparseEncoder, SparseEncoderTrainer, SparseEncoderTrainingArguments
from sentence_transformers.base.modules import Transformer
from sentence_transformers.base.trainer import BaseTrainer
from sentence_transformers.sparse_encoder import SparseEncoderDataCollator
from sentence_transformers.sparse_encoder.callbacks import SpladeRegularizerWeightSchedulerCallback
from sentence_transformers.sparse_encoder.losses import SparseMultipleNegativesRankingLoss, SpladeLoss
from sentence_transformers.sparse_encoder.modules import Router, SparseStaticEmbedding, SpladePooling


def pairs_dataset() -> Dataset:
    return Dataset.from_dict({"anchor": [a for a, _, _ in PAIRS], "positive": [b for _, b, _ in PAIRS]})


def arguments(tmp_path, **kwargs) -> SparseEncoderTrainingArguments:
    defaults = {
        "output_dir": str(tmp_path / "out"),
        "num_train_epochs": 2,
        "per_device_train_batch_size": 4,
        "learning_rate": 1e-3,
        "save_strategy": "no",
        "report_to": "none",
        "seed": 3,
        "disable_tqdm": True,
        "logging_steps": 1,
    }
    return SparseEncoderTrainingArguments(**{**defaults, **kwargs})


def test_the_trainer_shares_base_trainer_and_names_its_parts():
    assert issubclass(SparseEncoderTrainer, BaseTrainer)
    assert SparseEncoderTrainer.model_class is SparseEncoder
    assert SparseEncoderTrainer.data_collator_class is SparseEncoderDataCollator
    assert SparseEncoderTrainer.training_args_class is SparseEncoderTrainingArguments


def test_default_loss_is_splade_with_a_weight_scheduler(tiny_mlm_dir, tmp_path, caplog):
    model = SparseEncoder(str(tiny_mlm_dir), device="cpu")
    with caplog.at_level(logging.WARNING):
        trainer = SparseEncoderTrainer(model=model, args=arguments(tmp_path), train_dataset=pairs_dataset())
    assert isinstance(trainer.loss, SpladeLoss) and isinstance(trainer.loss.loss, SparseMultipleNegativesRankingLoss)
    assert (trainer.loss.query_regularizer_weight, trainer.loss.document_regularizer_weight) == (5e-5, 3e-5)
    callback = trainer.callback_handler.callbacks[1]
    assert isinstance(callback, SpladeRegularizerWeightSchedulerCallback) and callback.loss is trainer.loss
    assert "SpladeRegularizerWeightSchedulerCallback" in caplog.text


def test_a_given_scheduler_is_moved_next_to_the_flow_callback_not_duplicated(tiny_mlm_dir, tmp_path):
    model = SparseEncoder(str(tiny_mlm_dir), device="cpu")
    loss = SpladeLoss(model, SparseMultipleNegativesRankingLoss(model), 1e-3, 1e-3)
    scheduler = SpladeRegularizerWeightSchedulerCallback(loss=loss)
    trainer = SparseEncoderTrainer(
        model=model, args=arguments(tmp_path), train_dataset=pairs_dataset(), loss=loss, callbacks=[scheduler]
    )
    found = [c for c in trainer.callback_handler.callbacks if isinstance(c, SpladeRegularizerWeightSchedulerCallback)]
    assert found == [scheduler] and trainer.callback_handler.callbacks[1] is scheduler


def test_training_lowers_the_loss_and_saves_a_loadable_model(tiny_mlm_dir, tmp_path):
    model = SparseEncoder(str(tiny_mlm_dir), device="cpu")
    data = pairs_dataset()
    loss = SpladeLoss(model, SparseMultipleNegativesRankingLoss(model), 1e-4, 1e-4)
    anchors = model.tokenize(data["anchor"])
    positives = model.tokenize(data["positive"])
    labels = torch.zeros(len(data))

    def current_loss() -> float:
        with torch.no_grad():
            value = loss([dict(anchors), dict(positives)], labels)
        return sum(value.values()).item() if isinstance(value, dict) else value.item()

    before = current_loss()
    trainer = SparseEncoderTrainer(
        model=model, args=arguments(tmp_path, num_train_epochs=4), train_dataset=data, loss=loss
    )
    trainer.train()
    model.eval()
    assert current_loss() < before
    logged = [entry for entry in trainer.state.log_history if "loss" in entry]
    assert logged and all("document_regularizer_loss" in entry or "base_loss" in entry for entry in logged[:1])
    model.save(str(tmp_path / "trained"))
    loaded = SparseEncoder(str(tmp_path / "trained"), device="cpu")
    assert torch.allclose(loaded.encode(data["anchor"]).to_dense(), model.encode(data["anchor"]).to_dense(), atol=1e-6)


def test_inference_free_training_routes_columns(tiny_mlm_dir, tmp_path):
    document = Transformer(str(tiny_mlm_dir), transformer_task="fill-mask")
    query = SparseStaticEmbedding(tokenizer=document.tokenizer, frozen=False)
    router = Router.for_query_document(query_modules=[query], document_modules=[document, SpladePooling("max")])
    model = SparseEncoder(modules=[router], device="cpu")
    before = query.weight.detach().clone()
    loss = SpladeLoss(model, SparseMultipleNegativesRankingLoss(model), 0.0, 1e-4)
    args = arguments(tmp_path, router_mapping={"anchor": "query", "positive": "document"})
    SparseEncoderTrainer(model=model, args=args, train_dataset=pairs_dataset(), loss=loss).train()
    assert not torch.equal(query.weight.detach(), before)  # the query route's static weights were trained


def test_a_router_model_without_router_mapping_is_refused(tiny_mlm_dir, tmp_path):
    document = Transformer(str(tiny_mlm_dir), transformer_task="fill-mask")
    router = Router.for_query_document(
        query_modules=[SparseStaticEmbedding(tokenizer=document.tokenizer)],
        document_modules=[document, SpladePooling("max")],
    )
    model = SparseEncoder(modules=[router], device="cpu")
    with pytest.raises(ValueError, match="router_mapping"):
        SparseEncoderTrainer(model=model, args=arguments(tmp_path), train_dataset=pairs_dataset())
