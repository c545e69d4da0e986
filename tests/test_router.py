"""Router and Asym: routing by task or input key, errors for mixed or unknown routes, save/load."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from sentence_transformers import SentenceTransformer
from sentence_transformers.models import Asym, Dense, Pooling, Router, Transformer

QUERIES = ["What is the capital of France?", "a cat"]


def dense(seed: int) -> Dense:
    torch.manual_seed(seed)
    return Dense(32, 8)


def pooled(model: SentenceTransformer, texts: list[str]) -> torch.Tensor:
    """Mean-pooled tiny-BERT embeddings, computed without the router."""
    features = model.tokenize(texts)
    with torch.no_grad():
        tokens = model[0].auto_model(**features).last_hidden_state
    mask = features["attention_mask"].unsqueeze(-1).float()
    return (tokens * mask).sum(1) / mask.sum(1)


@pytest.fixture()
def asym_model(tiny_bert_dir) -> SentenceTransformer:
    transformer = Transformer(str(tiny_bert_dir))
    asym = Asym({"query": [dense(1)], "doc": [dense(2)]})
    return SentenceTransformer(modules=[transformer, Pooling(32), asym], device="cpu")


def test_asym_routes_by_input_key(asym_model):
    base = pooled(asym_model, QUERIES)
    with torch.no_grad():
        expected_query = asym_model[2].sub_modules["query"][0]({"sentence_embedding": base})["sentence_embedding"]
        expected_doc = asym_model[2].sub_modules["doc"][0]({"sentence_embedding": base.clone()})["sentence_embedding"]
    queries = asym_model.encode([{"query": text} for text in QUERIES])
    docs = asym_model.encode([{"doc": text} for text in QUERIES])
    np.testing.assert_allclose(queries, expected_query.numpy(), atol=1e-5)
    np.testing.assert_allclose(docs, expected_doc.numpy(), atol=1e-5)
    assert asym_model.encode({"query": QUERIES[0]}).shape == (8,)
    assert asym_model.get_sentence_embedding_dimension() == 8


def test_mixed_keys_in_one_call_are_refused(asym_model):
    with pytest.raises(ValueError, match="different keys"):
        asym_model.encode([{"query": "a"}, {"doc": "b"}])
    with pytest.raises(ValueError, match="mixed dicts and plain texts"):
        asym_model.encode([{"query": "a"}, "b"])


def test_asym_empty_key(asym_model, tiny_bert_dir):
    np.testing.assert_allclose(asym_model.encode(QUERIES), pooled(asym_model, QUERIES).numpy(), atol=1e-5)
    strict = SentenceTransformer(
        modules=[Transformer(str(tiny_bert_dir)), Pooling(32), Asym({"query": [dense(1)]}, allow_empty_key=False)],
        device="cpu",
    )
    with pytest.raises(ValueError, match="No route given"):
        strict.encode(QUERIES)
    with pytest.raises(ValueError, match=r"Unknown route 'doc'.*\['query'\]"):
        strict.encode([{"doc": "x"}])


def test_asym_saves_the_2x_format_and_round_trips(asym_model, tmp_path):
    asym_model.save(str(tmp_path / "m"))
    entries = json.loads((tmp_path / "m" / "modules.json").read_text())
    assert entries[2]["type"] == "sentence_transformers.models.Asym" and entries[2]["path"] == "2_Asym"
    config = json.loads((tmp_path / "m" / "2_Asym" / "config.json").read_text())
    assert config["structure"] == {"query": ["query_0_Dense"], "doc": ["doc_0_Dense"]}
    assert config["types"]["query_0_Dense"] == "sentence_transformers.models.Dense"
    assert config["parameters"] == {"allow_empty_key": True}
    loaded = SentenceTransformer(str(tmp_path / "m"), device="cpu")
    assert isinstance(loaded[2], Asym)
    for key in ("query", "doc"):
        inputs = [{key: text} for text in QUERIES]
        np.testing.assert_allclose(loaded.encode(inputs), asym_model.encode(inputs), atol=1e-6)


@pytest.fixture()
def router_model(tiny_bert_dir) -> SentenceTransformer:
    router = Router.for_query_document(query_modules=[dense(3)], document_modules=[dense(4)])
    return SentenceTransformer(modules=[Transformer(str(tiny_bert_dir)), Pooling(32), router], device="cpu")


def test_router_routes_by_task(router_model):
    base = pooled(router_model, QUERIES)
    with torch.no_grad():
        query = router_model[2].sub_modules["query"][0]({"sentence_embedding": base.clone()})["sentence_embedding"]
        doc = router_model[2].sub_modules["document"][0]({"sentence_embedding": base.clone()})["sentence_embedding"]
    np.testing.assert_allclose(router_model.encode_query(QUERIES), query.numpy(), atol=1e-5)
    np.testing.assert_allclose(router_model.encode(QUERIES, task="query"), query.numpy(), atol=1e-5)
    np.testing.assert_allclose(router_model.encode_document(QUERIES), doc.numpy(), atol=1e-5)
    np.testing.assert_allclose(router_model.encode(QUERIES), doc.numpy(), atol=1e-5)  # default route
    with pytest.raises(ValueError, match="Unknown route 'passage'"):
        router_model.encode(QUERIES, task="passage")


def test_router_round_trip_and_config(router_model, tmp_path):
    router_model[2].route_mappings = {("search", None): "query"}
    router_model.save(str(tmp_path / "r"))
    config = json.loads((tmp_path / "r" / "2_Router" / "router_config.json").read_text())
    assert config["structure"] == {"query": ["query_0_Dense"], "document": ["document_0_Dense"]}
    assert config["parameters"]["default_route"] == "document"
    loaded = SentenceTransformer(str(tmp_path / "r"), device="cpu")
    assert isinstance(loaded[2], Router) and loaded[2].route_mappings == {("search", None): "query"}
    np.testing.assert_allclose(loaded.encode_query(QUERIES), router_model.encode_query(QUERIES), atol=1e-6)
    np.testing.assert_allclose(loaded.encode(QUERIES, task="search"), router_model.encode_query(QUERIES), atol=1e-6)
    np.testing.assert_allclose(loaded.encode_document(QUERIES), router_model.encode_document(QUERIES), atol=1e-6)


def test_router_as_input_module_with_two_encoders(tiny_bert_dir, tmp_path):
    from conftest import build_tiny_bert

    other = build_tiny_bert(tmp_path / "other-bert", seed=7)
    router = Router.for_query_document(
        query_modules=[Transformer(str(tiny_bert_dir)), Pooling(32)],
        document_modules=[Transformer(str(other)), Pooling(32)],
    )
    model = SentenceTransformer(modules=[router], device="cpu")
    query_only = SentenceTransformer(str(tiny_bert_dir), device="cpu")
    doc_only = SentenceTransformer(str(other), device="cpu")
    np.testing.assert_allclose(model.encode_query(QUERIES), query_only.encode(QUERIES), atol=1e-5)
    np.testing.assert_allclose(model.encode_document(QUERIES), doc_only.encode(QUERIES), atol=1e-5)
    model.save(str(tmp_path / "two"))
    loaded = SentenceTransformer(str(tmp_path / "two"), device="cpu")
    np.testing.assert_allclose(loaded.encode_query(QUERIES), query_only.encode(QUERIES), atol=1e-5)
    np.testing.assert_allclose(loaded.encode_document(QUERIES), doc_only.encode(QUERIES), atol=1e-5)


def test_router_constructor_errors():
    with pytest.raises(ValueError, match="non-empty dict"):
        Router({})
    with pytest.raises(ValueError, match="default_route 'x' is not a route"):
        Router({"a": [Dense(2, 2)]}, default_route="x")
