"""MultiVectorEncoder: a ColBERT-style model built from all-MiniLM-L6-v2 (query expansion to 32 tokens, a seeded
Dense 384 → 128, punctuation skipped in documents, token-level Normalize, "[Q] " / "[D] " prompts).

The expected scores were computed by upstream sentence-transformers 6.2.0 on the same model
(scripts/upstream_compat_multi_vector.py checks the same model more widely)."""

from __future__ import annotations

import json
import string

import numpy as np
import pytest
import torch

from sentence_transformers.base.modules import Dense, Normalize, Transformer
from sentence_transformers.multi_vector_encoder import (
    MultiVectorEncoder,
    MultiVectorEncoderModelCardData,
    maxsim,
    maxsim_pairwise,
)
from sentence_transformers.multi_vector_encoder.modules import LambdaTokenPooling, MultiVectorMask

QUERIES = ["what is the capital of france?", "who plays guitar on the street?"]
DOCUMENTS = ["Paris is the capital of France.", "A man is playing a guitar, on the street!", "The cat sleeps."]
# Upstream 6.2.0, same model and texts: encode_query / encode_document, then similarity.
UPSTREAM_MAXSIM = [[14.853254, 7.994328, 3.043944], [5.768351, 12.739056, 5.078640]]
UPSTREAM_MEANMAXSIM = [[0.464164, 0.249823, 0.095123], [0.180261, 0.398095, 0.158707]]
UPSTREAM_FIRST_QUERY_VECTOR = [0.016201669, -0.104903504, -0.002263778, 0.177034512]
UPSTREAM_DOCUMENT_TOKENS = [9, 12, 6]  # [CLS] d paris is the capital of france [SEP]: "[", "]" and "." skipped


def projection() -> torch.Tensor:
    torch.manual_seed(0)
    return torch.randn(128, 384) / 384**0.5


def build(minilm_path, **kwargs) -> MultiVectorEncoder:
    transformer = Transformer(
        str(minilm_path), query_expansion={"strategy": "fixed", "attend": False, "length": 32}, document_length=180
    )
    dense = Dense(
        384, 128, bias=False, activation_function=torch.nn.Identity(), init_weight=projection(),
        module_input_name="token_embeddings",
    )  # fmt: skip
    modules = [
        transformer,
        dense,
        MultiVectorMask(skiplist_words=list(string.punctuation)),
        Normalize(module_input_name="token_embeddings"),
    ]
    return MultiVectorEncoder(modules=modules, prompts={"query": "[Q] ", "document": "[D] "}, device="cpu", **kwargs)


@pytest.fixture(scope="module")
def model(minilm_path) -> MultiVectorEncoder:
    return build(minilm_path)


@pytest.fixture(scope="module")
def encoded(model):
    return model.encode_query(QUERIES), model.encode_document(DOCUMENTS)


def test_encode_shapes_and_values_match_upstream(model, encoded) -> None:
    queries, documents = encoded
    assert isinstance(queries, list) and all(isinstance(row, torch.Tensor) for row in queries)
    assert [tuple(row.shape) for row in queries] == [(32, 128), (32, 128)]  # expanded to 32 tokens
    assert [row.shape[0] for row in documents] == UPSTREAM_DOCUMENT_TOKENS
    assert torch.allclose(queries[0][0, :4], torch.tensor(UPSTREAM_FIRST_QUERY_VECTOR), atol=1e-5)
    assert torch.allclose(queries[1].norm(dim=-1), torch.ones(32), atol=1e-5)  # Normalize on tokens
    assert model.get_embedding_dimension() == 128


def test_similarity_is_maxsim_and_matches_upstream(model, encoded) -> None:
    queries, documents = encoded
    scores = model.similarity(queries, documents)
    assert scores.shape == (2, 3)
    assert torch.allclose(scores, torch.tensor(UPSTREAM_MAXSIM), atol=1e-4)
    by_hand = (queries[0] @ documents[1].T).max(dim=1).values.sum()
    assert torch.isclose(scores[0, 1], by_hand, atol=1e-5)
    assert torch.allclose(model.similarity_pairwise(queries, documents[:2]), scores.diagonal(), atol=1e-5)
    assert torch.allclose(scores, maxsim(queries, documents))
    assert torch.allclose(model.similarity_pairwise(queries, documents[:2]), maxsim_pairwise(queries, documents[:2]))
    assert model.similarity_fn_name == "maxsim"


def test_meanmaxsim_divides_by_the_query_tokens(minilm_path, encoded) -> None:
    model = build(minilm_path, similarity_fn_name="meanmaxsim")
    scores = model.similarity(*encoded)
    assert torch.allclose(scores, torch.tensor(UPSTREAM_MEANMAXSIM), atol=1e-5)
    assert torch.allclose(scores * 32, torch.tensor(UPSTREAM_MAXSIM), atol=1e-4)


def test_encode_query_is_encode_with_the_query_prompt_and_task(model, encoded) -> None:
    direct = model.encode(QUERIES, prompt="[Q] ", task="query")
    assert all(torch.allclose(a, b, atol=1e-6) for a, b in zip(direct, encoded[0], strict=True))
    plain = model.encode(QUERIES)  # no task: no expansion, no prompt, and the document skiplist drops "?"
    assert [row.shape[0] for row in plain] == [8, 8]
    document = model.encode_document(DOCUMENTS[0], prompt_name="query")
    assert document.shape == (9, 128)  # "[Q] " prompt on the document side: "[", "]" and "." skipped


def test_encode_output_forms(model) -> None:
    single = model.encode_document(DOCUMENTS[2])
    assert isinstance(single, torch.Tensor) and single.shape == (UPSTREAM_DOCUMENT_TOKENS[2], 128)
    arrays = model.encode_document(DOCUMENTS, convert_to_numpy=True)
    assert isinstance(arrays, list) and isinstance(arrays[0], np.ndarray) and arrays[0].shape == (9, 128)
    assert model.encode_document([]) == []
    raw = model.encode_query(QUERIES[:1], output_value=None)
    assert isinstance(raw, list) and set(raw[0]) >= {"token_embeddings", "attention_mask", "input_ids"}
    assert raw[0]["token_embeddings"].shape == (32, 128) and raw[0]["attention_mask"].all()
    batched = model.encode_document(DOCUMENTS, batch_size=1)
    assert all(torch.allclose(a, b, atol=1e-5) for a, b in zip(batched, model.encode_document(DOCUMENTS), strict=True))


def test_normalize_embeddings_on_a_pipeline_without_normalize(minilm_path) -> None:
    modules = [Transformer(str(minilm_path)), Dense(384, 16, module_input_name="token_embeddings"), MultiVectorMask()]
    model = MultiVectorEncoder(modules=modules, device="cpu")
    raw = model.encode_document("a cat")
    assert not torch.allclose(raw.norm(dim=-1), torch.ones(raw.shape[0]))
    unit = model.encode_document("a cat", normalize_embeddings=True)
    assert torch.allclose(unit.norm(dim=-1), torch.ones(raw.shape[0]), atol=1e-5)
    assert model.get_embedding_dimension() == 16


def test_per_call_token_pooling_pools_documents_only(model) -> None:
    def first_half(rows: torch.Tensor) -> torch.Tensor:
        return rows[: (rows.shape[0] + 1) // 2]

    pooling = LambdaTokenPooling(first_half)
    documents = model.encode_document(DOCUMENTS, token_pooling=pooling)
    assert [row.shape[0] for row in documents] == [5, 6, 3]
    queries = model.encode_query(QUERIES, token_pooling=pooling)
    assert [row.shape[0] for row in queries] == [32, 32]
    with pytest.raises(TypeError, match="BaseTokenPooling"):
        model.encode_document(DOCUMENTS, token_pooling=first_half)


def test_bad_arguments_raise(minilm_path, model) -> None:
    with pytest.raises(ValueError, match="only supports"):
        MultiVectorEncoder(modules=[Transformer(str(minilm_path))], similarity_fn_name="cosine", device="cpu")
    with pytest.raises(ValueError, match="XTR"):
        model.similarity_fn_name = "xtr"
    with pytest.raises(TypeError, match="similarity_fn_name"):
        model.similarity_fn_name = 3
    with pytest.raises(ValueError, match="convert_to_tensor"):
        model.encode(QUERIES, convert_to_tensor=True)
    with pytest.raises(ValueError, match="additional keyword arguments"):
        model.encode(QUERIES, precision="int8")
    with pytest.raises(ValueError, match="output_value"):
        model.encode(QUERIES, output_value="sentence_embedding")
    with pytest.raises(ValueError, match="batch_size"):
        model.encode(QUERIES, batch_size=0)
    with pytest.raises(ValueError, match="not found"):
        model.encode(QUERIES, prompt_name="missing")
    with pytest.raises(TypeError):
        model.encode([1, 2])
    with pytest.raises(FileNotFoundError):
        MultiVectorEncoder("/definitely/not/a/model/folder", device="cpu")
    assert model.similarity_fn_name == "maxsim"


def test_expansion_without_mask_warns(minilm_path, caplog: pytest.LogCaptureFixture) -> None:
    transformer = Transformer(str(minilm_path), query_expansion={"strategy": "fixed", "length": 8})
    with caplog.at_level("WARNING"):
        MultiVectorEncoder(modules=[transformer], device="cpu")
    assert "no MultiVectorMask" in caplog.text


def test_save_load_round_trip(model, encoded, tmp_path) -> None:
    model.similarity_fn_name = "maxsim"
    model.save(str(tmp_path / "saved"))
    folder = tmp_path / "saved"
    config = json.loads((folder / "config_sentence_transformers.json").read_text())
    assert config["model_type"] == "MultiVectorEncoder" and config["similarity_fn_name"] == "maxsim"
    assert config["prompts"] == {"query": "[Q] ", "document": "[D] "}
    types = [entry["type"] for entry in json.loads((folder / "modules.json").read_text())]
    assert types[2] == "sentence_transformers.multi_vector_encoder.modules.multi_vector_mask.MultiVectorMask"
    assert json.loads((folder / "2_MultiVectorMask" / "config.json").read_text())["skiplist_words"] == list(
        string.punctuation
    )
    assert json.loads((folder / "sentence_bert_config.json").read_text())["query_expansion"]["length"] == 32
    loaded = MultiVectorEncoder(str(folder), device="cpu")
    assert [type(module).__name__ for module in loaded] == ["Transformer", "Dense", "MultiVectorMask", "Normalize"]
    scores = loaded.similarity(loaded.encode_query(QUERIES), loaded.encode_document(DOCUMENTS))
    assert torch.allclose(scores, torch.tensor(UPSTREAM_MAXSIM), atol=1e-4)
    card = (folder / "README.md").read_text()
    assert "MaxSim" in card and "Multi-Vector Encoder" in card and "encode_query" in card
    assert isinstance(loaded.model_card_data, MultiVectorEncoderModelCardData)
    assert loaded.model_card_data.get_model_specific_metadata()["query_length"] == 32


def test_default_prompts_keep_the_default_prompt_out(minilm_path) -> None:
    model = MultiVectorEncoder(
        modules=[Transformer(str(minilm_path)), MultiVectorMask()],
        prompts={"instruct": "Represent: "},
        default_prompt_name="instruct",
        device="cpu",
    )
    assert model.prompts == {"instruct": "Represent: ", "query": "", "document": ""}
    assert model.encode_query("a cat").shape[0] == 4  # [CLS] a cat [SEP]: the empty query prompt wins
    assert model.encode("a cat").shape[0] == 6  # [CLS] represent : a cat [SEP]: the default prompt


# ------------------------------------------------------------------ interpretability
def test_real_query_token_slice(model) -> None:
    from sentence_transformers.multi_vector_encoder.interpretability import real_query_token_slice

    # [CLS] [ q ] what is the capital of france ? [SEP] [MASK] …: the query's 7 tokens start after the prompt.
    assert real_query_token_slice(model, QUERIES[0]) == slice(4, 11)
    ids = model.preprocess([QUERIES[0]], prompt="[Q] ", task="query")["input_ids"][0, 4:11]
    assert model.tokenizer.convert_ids_to_tokens(ids.tolist()) == ["what", "is", "the", "capital", "of", "france", "?"]


def test_similarity_map_and_heatmap() -> None:
    from PIL import Image

    from sentence_transformers.multi_vector_encoder import interpretability

    query = torch.tensor([[1.0, 0.0], [0.0, 1.0]])
    patches = torch.tensor([[1.0, 2.0], [3.0, 4.0], [5.0, 6.0], [7.0, 8.0], [9.0, 9.0], [0.0, 0.0]])
    maps = interpretability.maxsim_similarity_map(query, patches, n_patches=(3, 2))  # 3 columns, 2 rows
    assert maps.shape == (2, 2, 3)
    assert maps[0].tolist() == [[1.0, 3.0, 5.0], [7.0, 9.0, 0.0]]
    assert maps[1, 1].tolist() == [8.0, 9.0, 0.0]
    scaled = interpretability.maxsim_similarity_map(query, patches, (3, 2), normalize=True)
    assert scaled[0].min() == 0 and torch.isclose(scaled[0].max(), torch.tensor(1.0))
    masked = interpretability.maxsim_similarity_map(query, patches, (2, 2), image_mask=torch.tensor([1, 1, 0, 1, 1, 0]))
    assert masked[0].tolist() == [[1.0, 3.0], [7.0, 9.0]]
    with pytest.raises(ValueError, match="expects 4"):
        interpretability.maxsim_similarity_map(query, patches, (2, 2))
    image = Image.new("RGB", (30, 20), "white")
    heat = interpretability.maxsim_heatmap(image, query, patches, (3, 2))
    assert heat.size == (30, 20) and heat.mode == "RGBA"
    per_token = interpretability.maxsim_heatmap(image, query, patches, (3, 2), aggregate="none")
    assert len(per_token) == 2
    with pytest.raises(ValueError, match="aggregate"):
        interpretability.maxsim_heatmap(image, query, patches, (3, 2), aggregate="mean")
    with pytest.raises(ValueError, match="2D"):
        interpretability.render_similarity_map_on_image(image, maps)


def test_get_n_patches_names_the_missing_image_support(model) -> None:
    from sentence_transformers.multi_vector_encoder.interpretability import get_n_patches

    with pytest.raises(ValueError, match="texts only"):
        get_n_patches(model, (224, 224))


def test_encode_in_a_process_pool_matches_local(tiny_bert_dir) -> None:
    model = MultiVectorEncoder(str(tiny_bert_dir), device="cpu")
    texts = ["the quick brown fox", "a cat", "what is the capital of france?"]
    local = model.encode_document(texts)
    pooled = model.encode_document(texts, device=["cpu"])
    assert [row.shape for row in pooled] == [row.shape for row in local]
    assert all(torch.allclose(a, b, atol=1e-5) for a, b in zip(local, pooled, strict=True))
