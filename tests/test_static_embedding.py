"""StaticEmbedding: construction, tokenization into an EmbeddingBag, save/load, and the model2vec entry points."""

from __future__ import annotations

import inspect
import json
import math
import sys
import types

import numpy as np
import pytest
import torch
from safetensors.torch import save_file
from tokenizers import Tokenizer, models, pre_tokenizers, processors
from transformers import ByT5Tokenizer, PreTrainedTokenizerFast

from sentence_transformers import SentenceTransformer
from sentence_transformers.sentence_transformer.modules.static_embedding import StaticEmbedding, distill_arguments

VOCAB = {"[UNK]": 0, "[CLS]": 1, "[SEP]": 2, "the": 3, "cat": 4, "sat": 5, "on": 6, "mat": 7, "a": 8, "dog": 9}
TEXTS = ["the cat sat on the mat", "a dog", "", "zebra cat", "the"]


def word_tokenizer(with_template: bool = True) -> Tokenizer:
    """Whitespace WordLevel tokenizer over VOCAB; its post-processor would add [CLS]/[SEP] if asked to."""
    tokenizer = Tokenizer(models.WordLevel(VOCAB, unk_token="[UNK]"))
    tokenizer.pre_tokenizer = pre_tokenizers.Whitespace()
    if with_template:
        tokenizer.post_processor = processors.TemplateProcessing(
            single="[CLS] $A [SEP]", special_tokens=[("[CLS]", 1), ("[SEP]", 2)]
        )
    return tokenizer


def table(rows: int = len(VOCAB), dim: int = 4, seed: int = 0) -> torch.Tensor:
    return torch.randn(rows, dim, generator=torch.Generator().manual_seed(seed))


def expected_mean(text: str, weights: torch.Tensor) -> torch.Tensor:
    """Mean of the rows of the text's words (unknown words → [UNK]); zeros for an empty text."""
    ids = [VOCAB.get(word, VOCAB["[UNK]"]) for word in text.split()]
    return weights[ids].mean(dim=0) if ids else torch.zeros(weights.shape[1])


def static_model(weights: torch.Tensor | None = None) -> SentenceTransformer:
    weights = table() if weights is None else weights
    return SentenceTransformer(modules=[StaticEmbedding(word_tokenizer(), embedding_weights=weights)], device="cpu")


# --- construction -----------------------------------------------------------------------------------------------


@pytest.mark.parametrize("tokenizer", ["bert-base-uncased", ByT5Tokenizer(), None])
def test_rejects_anything_but_a_fast_tokenizer(tokenizer):
    with pytest.raises(ValueError, match="fast tokenizer") as info:
        StaticEmbedding(tokenizer, embedding_dim=4)
    assert type(tokenizer).__name__ in str(info.value)
    assert "PreTrainedTokenizerFast" in str(info.value)


def test_needs_weights_or_dimension():
    with pytest.raises(ValueError, match="embedding_weights or embedding_dim"):
        StaticEmbedding(word_tokenizer())
    with pytest.raises(ValueError, match="positive integer, got 0"):
        StaticEmbedding(word_tokenizer(), embedding_dim=0)
    with pytest.raises(ValueError, match=r"2-D .* got shape \(10,\)"):
        StaticEmbedding(word_tokenizer(), embedding_weights=np.zeros(10, dtype=np.float32))


def test_random_table_has_vocab_rows_and_given_dimension():
    module = StaticEmbedding(word_tokenizer(), embedding_dim=7)
    assert module.embedding.weight.shape == (len(VOCAB), 7)
    assert module.get_sentence_embedding_dimension() == module.get_embedding_dimension() == 7
    assert module.embedding.mode == "mean" and module.embedding.weight.requires_grad


def test_numpy_weights_and_fast_transformers_tokenizer_are_accepted():
    fast = PreTrainedTokenizerFast(tokenizer_object=word_tokenizer(), unk_token="[UNK]")
    weights = table().numpy()
    module = StaticEmbedding(fast, embedding_weights=weights)
    assert isinstance(module.tokenizer, Tokenizer)
    assert module.tokenizer.encode("the cat", add_special_tokens=False).ids == [3, 4]
    np.testing.assert_array_equal(module.embedding.weight.detach().numpy(), weights)


def test_int8_table_becomes_float():
    weights = np.arange(len(VOCAB) * 2, dtype=np.int8).reshape(-1, 2)
    module = StaticEmbedding(word_tokenizer(), embedding_weights=weights)
    assert module.embedding.weight.dtype == torch.float32
    np.testing.assert_array_equal(module.embedding.weight.detach().numpy(), weights.astype(np.float32))


# --- tokenize and forward ---------------------------------------------------------------------------------------


def test_tokenize_gives_flat_ids_and_offsets_without_special_tokens():
    module = StaticEmbedding(word_tokenizer(), embedding_dim=2)
    features = module.tokenize(["the cat", "", "dog zebra mat"])
    assert features["input_ids"].tolist() == [3, 4, 9, 0, 7]
    assert features["offsets"].tolist() == [0, 2, 2]
    assert features["input_ids"].dtype == features["offsets"].dtype == torch.long
    empty = module.tokenize([])
    assert empty["input_ids"].numel() == 0 and empty["offsets"].numel() == 0


def test_tokenize_rejects_non_strings():
    module = StaticEmbedding(word_tokenizer(), embedding_dim=2)
    with pytest.raises(TypeError, match="strings only, got int: 5"):
        module.tokenize(["the", 5])


def test_encode_is_mean_of_token_vectors():
    weights = table()
    embeddings = static_model(weights).encode(TEXTS, convert_to_tensor=True, batch_size=2)
    expected = torch.stack([expected_mean(text, weights) for text in TEXTS])
    torch.testing.assert_close(embeddings, expected, rtol=0, atol=1e-6)


def test_empty_strings_give_zero_vectors():
    model = static_model()
    assert np.array_equal(model.encode(["", ""]), np.zeros((2, 4), dtype=np.float32))
    last_empty = model.encode(["the cat", ""])
    assert np.array_equal(last_empty[1], np.zeros(4, dtype=np.float32))


def test_prompt_is_prepended_as_text():
    weights = table()
    model = static_model(weights)
    with_prompt = model.encode(["cat"], prompt="a dog ", convert_to_tensor=True)
    torch.testing.assert_close(with_prompt[0], expected_mean("a dog cat", weights), rtol=0, atol=1e-6)


def test_no_length_limit_of_its_own_but_tokenizer_truncation_is_kept():
    tokenizer = word_tokenizer()
    tokenizer.enable_truncation(2)
    weights = table()
    module = StaticEmbedding(tokenizer, embedding_weights=weights)
    assert module.max_seq_length == math.inf
    with pytest.raises(AttributeError, match="no sequence length limit"):
        module.max_seq_length = 8
    output = module(module.tokenize(["the cat sat on"]))["sentence_embedding"]
    torch.testing.assert_close(output[0], expected_mean("the cat", weights), rtol=0, atol=1e-6)


def test_padding_is_switched_off():
    tokenizer = word_tokenizer()
    tokenizer.enable_padding(length=6, pad_id=0)
    module = StaticEmbedding(tokenizer, embedding_dim=2)
    assert module.tokenize(["the cat"])["input_ids"].tolist() == [3, 4]


# --- save / load ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("safe_serialization", [True, False])
def test_save_load_round_trip(tmp_path, safe_serialization):
    model = static_model()
    model.save(str(tmp_path / "static"), safe_serialization=safe_serialization)
    files = {path.name for path in (tmp_path / "static").iterdir()}
    assert {"tokenizer.json", "modules.json"} <= files
    assert ("model.safetensors" if safe_serialization else "pytorch_model.bin") in files
    modules = json.loads((tmp_path / "static" / "modules.json").read_text())
    assert modules == [{"idx": 0, "name": "0", "path": "", "type": "sentence_transformers.models.StaticEmbedding"}]
    loaded = SentenceTransformer(str(tmp_path / "static"), device="cpu")
    assert isinstance(loaded[0], StaticEmbedding)
    np.testing.assert_array_equal(loaded.encode(TEXTS), model.encode(TEXTS))


def test_load_reads_model2vec_layout_with_mapping_and_weights(tmp_path):
    """A vocabulary-quantized model2vec folder: rows are shared through ``mapping`` and scaled by ``weights``."""
    clusters = table(rows=3, dim=2, seed=1)
    mapping = torch.tensor([0, 1, 2, 0, 1, 2, 0, 1, 2, 0])
    scale = torch.linspace(0.5, 1.4, len(VOCAB))
    save_file({"embeddings": clusters, "mapping": mapping, "weights": scale}, str(tmp_path / "model.safetensors"))
    word_tokenizer().save(str(tmp_path / "tokenizer.json"))
    module = StaticEmbedding.load(str(tmp_path))
    expected = torch.stack([clusters[mapping[i]] * scale[i] for i in range(len(VOCAB))])
    torch.testing.assert_close(module.embedding.weight.detach(), expected, rtol=0, atol=1e-7)


def test_load_names_missing_tensor(tmp_path):
    save_file({"something": torch.zeros(2, 2)}, str(tmp_path / "model.safetensors"))
    word_tokenizer().save(str(tmp_path / "tokenizer.json"))
    with pytest.raises(ValueError, match="found: something"):
        StaticEmbedding.load(str(tmp_path))


# --- model2vec ----------------------------------------------------------------------------------------------------


def test_from_model2vec_takes_over_tokenizer_and_vectors(tmp_path):
    from model2vec import StaticModel

    vectors = table(dim=3, seed=2).numpy()
    StaticModel(vectors=vectors, tokenizer=word_tokenizer(), normalize=False).save_pretrained(str(tmp_path / "m2v"))
    module = StaticEmbedding.from_model2vec(str(tmp_path / "m2v"))
    np.testing.assert_array_equal(module.embedding.weight.detach().numpy(), vectors)
    assert module.base_model == str(tmp_path / "m2v")
    text = "the cat sat"
    embedding = module(module.tokenize([text]))["sentence_embedding"][0]
    torch.testing.assert_close(embedding, expected_mean(text, torch.from_numpy(vectors)), rtol=0, atol=1e-6)


def test_from_distillation_on_tiny_bert(tiny_bert_dir):
    from model2vec.distill import distill

    module = StaticEmbedding.from_distillation(str(tiny_bert_dir), pca_dims=8, device="cpu")
    reference = distill(str(tiny_bert_dir), pca_dims=8, device="cpu", quantize_to="float32")
    bert_vocab = Tokenizer.from_file(str(tiny_bert_dir / "tokenizer.json")).get_vocab()
    assert module.get_sentence_embedding_dimension() == 8
    # The vocabulary is BERT's, less the special tokens a static model never sees ([PAD]/[UNK] stay).
    assert set(module.tokenizer.get_vocab()) == set(bert_vocab) - {"[CLS]", "[SEP]", "[MASK]"}
    assert module.num_embeddings == module.tokenizer.get_vocab_size() == len(bert_vocab) - 3
    np.testing.assert_allclose(module.embedding.weight.detach().numpy(), reference.embedding, rtol=0, atol=1e-6)
    # The embeddings are the distilled vectors averaged, matching model2vec's own (unnormalized) encode.
    reference.normalize = False
    texts = ["the quick brown fox", "paris is the capital of france"]
    encoded = SentenceTransformer(modules=[module], device="cpu").encode(texts)
    np.testing.assert_allclose(encoded, reference.encode(texts), rtol=0, atol=1e-6)


def fake_distill_module(monkeypatch, distill):
    """Stand in a fake ``model2vec.distill`` (and parent package) whose ``distill`` is the given function."""
    package, module = types.ModuleType("model2vec"), types.ModuleType("model2vec.distill")
    module.distill = distill
    package.distill = module
    monkeypatch.setitem(sys.modules, "model2vec", package)
    monkeypatch.setitem(sys.modules, "model2vec.distill", module)


def test_distill_arguments_map_onto_newer_model2vec(monkeypatch):
    calls = []

    def distill(model_name, vocabulary=None, device=None, pca_dims=256, sif_coefficient=1e-4,
                token_remove_pattern=None, quantize_to="float16", pooling="mean"):  # fmt: skip
        calls.append({"model_name": model_name, **{k: v for k, v in locals().items() if k != "model_name"}})
        raise RuntimeError("stop here")

    fake_distill_module(monkeypatch, distill)
    with pytest.raises(RuntimeError, match="stop here"):
        StaticEmbedding.from_distillation("m", pca_dims=16, apply_zipf=False, pooling="first")
    assert calls[0]["sif_coefficient"] is None  # apply_zipf=False → no weighting
    assert calls[0]["pca_dims"] == 16 and calls[0]["pooling"] == "first" and calls[0]["quantize_to"] == "float32"
    with pytest.raises(ValueError, match=r"use_subword=False .* it accepts: device, pca_dims, pooling"):
        StaticEmbedding.from_distillation("m", use_subword=False)
    with pytest.raises(ValueError, match="does not support not_a_parameter=1"):
        StaticEmbedding.from_distillation("m", not_a_parameter=1)
    assert len(calls) == 1


def test_distill_arguments_pass_through_to_older_model2vec():
    def distill(model_name, vocabulary=None, device=None, pca_dims=256, apply_zipf=True, use_subword=True):
        return None

    requested = {"vocabulary": None, "device": "cpu", "pca_dims": 8, "apply_zipf": False, "use_subword": False}
    extra = {"sif_coefficient": 1e-4, "token_remove_pattern": r"\[unused\d+\]", "quantize_to": "float32"}
    assert distill_arguments(distill, {**requested, **extra}) == requested
    assert set(distill_arguments(distill, requested)) <= set(inspect.signature(distill).parameters)
    with pytest.raises(ValueError, match="quantize_to='float16'"):
        distill_arguments(distill, {**requested, "quantize_to": "float16"})


@pytest.mark.parametrize("method, argument", [("from_model2vec", "some/model"), ("from_distillation", "some/model")])
def test_missing_model2vec_gives_install_hint(monkeypatch, method, argument):
    for name in ("model2vec", "model2vec.distill"):
        monkeypatch.setitem(sys.modules, name, None)
    with pytest.raises(ImportError, match="pip install model2vec") as info:
        getattr(StaticEmbedding, method)(argument)
    assert 'pip install "sbert[distill]"' in str(info.value)
