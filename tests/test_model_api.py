"""The 6.x names and properties of SentenceTransformer: aliases, introspection, gradient checkpointing, save_to_hub."""

from __future__ import annotations

from unittest import mock

import numpy as np
import pytest
import torch
from datasets import Dataset

from sentence_transformers import SentenceTransformer, SentenceTransformerTrainer, SentenceTransformerTrainingArguments
from sentence_transformers.models import Pooling, StaticEmbedding
from sentence_transformers.sentence_transformer.losses import MultipleNegativesRankingLoss
from sentence_transformers.sentence_transformer.model_card import SentenceTransformerModelCardData


def test_six_x_names_and_properties(tiny_model):
    assert tiny_model.get_embedding_dimension() == tiny_model.get_sentence_embedding_dimension() == 32
    with tiny_model.truncate_embeddings(8):
        assert tiny_model.encode(["a cat"]).shape == (1, 8)
    assert tiny_model.encode(["a cat"]).shape == (1, 32)
    assert tiny_model.transformers_model is tiny_model[0].auto_model
    assert tiny_model.config is tiny_model[0].auto_model.config and tiny_model.config.hidden_size == 32
    assert tiny_model.dtype == torch.float32
    tiny_model.half()
    assert tiny_model.dtype == torch.float16
    assert tiny_model.processor is tiny_model.tokenizer
    assert tiny_model.modalities == ["text"] and tiny_model.supports("text") and not tiny_model.supports("image")
    assert tiny_model.get_backend() == "torch"
    assert tiny_model.model_type == "SentenceTransformer"
    assert tiny_model.model_card_data_class is SentenceTransformerModelCardData
    assert set(SentenceTransformer.SUPPORTED_SIMILARITY_FN_NAMES) == {"cosine", "dot", "euclidean", "manhattan"}
    assert SentenceTransformer.old_fit is SentenceTransformer.fit


def test_model_without_transformer_has_no_config():
    from tokenizers import Tokenizer, models, pre_tokenizers

    tokenizer = Tokenizer(models.WordLevel({"[UNK]": 0, "cat": 1, "dog": 2}, unk_token="[UNK]"))
    tokenizer.pre_tokenizer = pre_tokenizers.Whitespace()
    model = SentenceTransformer(modules=[StaticEmbedding(tokenizer, embedding_dim=4)], device="cpu")
    assert model.transformers_model is None and model.config is None
    assert model.get_embedding_dimension() == 4


def checkpointing(model: SentenceTransformer) -> bool:
    inner = model.transformers_model
    if hasattr(inner, "is_activation_checkpointing"):
        return inner.is_activation_checkpointing
    return inner.is_gradient_checkpointing


def test_gradient_checkpointing_through_the_trainer(tiny_bert_dir, tmp_path):
    model = SentenceTransformer(str(tiny_bert_dir), device="cpu")
    assert not checkpointing(model)
    model.gradient_checkpointing_enable()
    assert checkpointing(model)
    fresh = SentenceTransformer(str(tiny_bert_dir), device="cpu")
    before = fresh.encode(["a cat sleeps"])
    data = Dataset.from_dict({"anchor": ["a cat sleeps", "a man plays"], "positive": ["a cat", "the guitar man"]})
    args = SentenceTransformerTrainingArguments(
        output_dir=str(tmp_path),
        gradient_checkpointing=True,
        max_steps=2,
        per_device_train_batch_size=2,
        learning_rate=1e-3,
        report_to="none",
        save_strategy="no",
        disable_tqdm=True,
    )
    loss = MultipleNegativesRankingLoss(fresh)  # the default loss, CoSENTLoss as upstream's, needs scores
    SentenceTransformerTrainer(model=fresh, args=args, train_dataset=data, loss=loss).train()
    assert checkpointing(fresh)
    assert not np.allclose(before, fresh.encode(["a cat sleeps"]))


def test_gradient_checkpointing_without_a_transformer_warns(caplog):
    model = SentenceTransformer(modules=[Pooling(4)], device="cpu")
    model.gradient_checkpointing_enable()
    assert "No module of this model supports gradient checkpointing" in caplog.text


def test_save_to_hub_is_push_to_hub_with_an_organization(tiny_model):
    with mock.patch.object(SentenceTransformer, "push_to_hub", return_value="url") as push:
        with pytest.warns(FutureWarning, match="push_to_hub"):
            assert tiny_model.save_to_hub("tiny", organization="me", token="t", exist_ok=True) == "url"
    assert push.call_args.args == ("me/tiny",)
    assert push.call_args.kwargs["token"] == "t" and push.call_args.kwargs["exist_ok"] is True
    with pytest.raises(ValueError, match="organization"), pytest.warns(FutureWarning):
        tiny_model.save_to_hub("you/tiny", organization="me")
