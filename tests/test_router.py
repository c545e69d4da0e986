"""Router and Asym: routing by task or input key, errors for mixed or unknown routes, save/load."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from sentence_transformers import SentenceTransformer
from sentence_transformers.models import Asym, Dense, Normalize, Pooling, Router, Transformer

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
    # As upstream 6.x: with allow_empty_key and no default_route, inputs without a key take the first route.
    assert asym_model[2].default_route == "query"
    base = pooled(asym_model, QUERIES)
    with torch.no_grad():
        expected = asym_model[2].sub_modules["query"][0]({"sentence_embedding": base})["sentence_embedding"]
    np.testing.assert_allclose(asym_model.encode(QUERIES), expected.numpy(), atol=1e-5)
    strict = SentenceTransformer(
        modules=[Transformer(str(tiny_bert_dir)), Pooling(32), Asym({"query": [dense(1)]}, allow_empty_key=False)],
        device="cpu",
    )
    assert strict[2].default_route is None
    with pytest.raises(ValueError, match="No route given"):
        strict.encode(QUERIES)
    with pytest.raises(ValueError, match=r"Unknown route 'doc'.*\['query'\]"):
        strict.encode([{"doc": "x"}])


def test_asym_is_router_and_keeps_its_constructor():
    import sentence_transformers.base.modules as base_modules
    from sentence_transformers.sentence_transformer import modules as st_modules

    assert Asym is Router and base_modules.Asym is Router and st_modules.Asym is Router
    strict = Asym({"query": [Dense(4, 2)], "doc": [Dense(4, 3)]}, allow_empty_key=False)
    assert strict.allow_empty_key is False and strict.default_route is None
    # As upstream, the second positional parameter is now default_route: a clear error for the 2.x positional bool.
    with pytest.raises(ValueError, match="allow_empty_key by keyword"):
        Asym({"query": [Dense(4, 2)]}, False)
    keyword = Asym(sub_modules={"doc": [Dense(4, 3)]}, allow_empty_key=True)
    assert keyword.default_route == "doc" and list(keyword.sub_modules) == ["doc"]


def test_asym_saves_as_router_and_still_reads_the_2x_format(asym_model, tmp_path):
    asym_model.save(str(tmp_path / "m"))
    entries = json.loads((tmp_path / "m" / "modules.json").read_text())
    assert entries[2]["type"] == "sentence_transformers.models.Router" and entries[2]["path"] == "2_Router"
    config = json.loads((tmp_path / "m" / "2_Router" / "router_config.json").read_text())
    assert config["structure"] == {"query": ["query_0_Dense"], "doc": ["doc_0_Dense"]}
    assert config["types"]["query_0_Dense"] == "sentence_transformers.models.Dense"
    assert config["parameters"] == {"default_route": "query", "allow_empty_key": True, "route_mappings": {}}
    # The 2.x layout: "Asym" type, config.json with only allow_empty_key.
    folder = tmp_path / "m" / "2_Router"
    (folder / "router_config.json").rename(folder / "config.json")
    config["parameters"] = {"allow_empty_key": True}
    (folder / "config.json").write_text(json.dumps(config))
    entries[2]["type"] = "sentence_transformers.models.Asym"
    (tmp_path / "m" / "modules.json").write_text(json.dumps(entries))
    loaded = SentenceTransformer(str(tmp_path / "m"), device="cpu")
    assert type(loaded[2]) is Router and loaded[2].default_route == "query"
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
    with pytest.raises(ValueError, match="non-empty dict"):
        Router([("a", [Dense(2, 2)])])
    with pytest.raises(ValueError, match="default_route 'x' is not a route"):
        Router({"a": [Dense(2, 2)]}, default_route="x")
    with pytest.raises(ValueError, match="Route 'b' has no modules"):
        Router({"a": [Dense(2, 2)], "b": []})
    with pytest.raises(ValueError, match=r"Route 'a' holds non-Module values \(str\)"):
        Router({"a": [Dense(2, 2), "dense"]})
    with pytest.raises(ValueError, match="Route 'a' must be a list of modules, got a single Dense"):
        Router({"a": Dense(2, 2)})
    with pytest.raises(ValueError, match="maps \\('q', None\\) to 'b', which is not a route"):
        Router({"a": [Dense(2, 2)]}, route_mappings={("q", None): "b"})
    with pytest.raises(ValueError, match="must be \\(task, modality\\) tuples"):
        Router({"a": [Dense(2, 2)]}, route_mappings={"q": "a"})


def test_router_embedding_dimension():
    same = Router({"a": [Dense(4, 8)], "b": [Dense(4, 6), Dense(6, 8)]})
    assert same.get_embedding_dimension() == 8 and same.get_sentence_embedding_dimension() == 8
    # Routes that differ: the first route's size (upstream warns and takes the first).
    assert Router({"b": [Dense(4, 6)], "a": [Dense(4, 8)]}).get_embedding_dimension() == 6
    # A route ending in a module without a size uses the last one that has one.
    assert Router({"a": [Dense(4, 5), Normalize()]}).get_embedding_dimension() == 5
    assert Router({"a": [Normalize()]}).get_embedding_dimension() is None


def test_router_model_dimension(router_model):
    assert router_model.get_sentence_embedding_dimension() == 8
    assert router_model[2].get_embedding_dimension() == 8


class ImageTextInput(Normalize):
    """A stand-in input module that declares two modalities."""

    modalities = ["text", "image"]


def test_router_modalities(tiny_bert_dir):
    assert Router({"a": [Transformer(str(tiny_bert_dir))], "b": [Dense(2, 2)]}).modalities == ["text"]
    assert Router({"a": [ImageTextInput()], "b": [Dense(2, 2)]}).modalities == ["image", "text"]


def test_router_max_seq_length(tiny_bert_dir):
    first, second = Transformer(str(tiny_bert_dir)), Transformer(str(tiny_bert_dir))
    first.max_seq_length, second.max_seq_length = 16, 24
    router = Router({"q": [first, Pooling(32)], "d": [second, Pooling(32)], "plain": [Dense(32, 32)]})
    assert router.max_seq_length == 24  # routes differ: the largest
    router.max_seq_length = 10
    assert (first.max_seq_length, second.max_seq_length, router.max_seq_length) == (10, 10, 10)
    assert not hasattr(router.sub_modules["plain"][0], "max_seq_length")
    first.max_seq_length = 12
    assert router.max_seq_length == 12
    no_lengths = Router({"a": [Dense(2, 2)]})
    assert no_lengths.max_seq_length is None
    no_lengths.max_seq_length = 5  # nothing to set: a warning, not an error
    assert no_lengths.max_seq_length is None
    model = SentenceTransformer(modules=[Router.for_query_document([first, Pooling(32)], [second, Pooling(32)])])
    model.max_seq_length = 7
    assert (first.max_seq_length, second.max_seq_length) == (7, 7)
    assert model.tokenize(["a " * 40])["input_ids"].shape[1] == 7


def test_route_mappings_priority_and_saved_key_forms(tmp_path):
    router = Router(
        {"q": [Dense(2, 2)], "d": [Dense(2, 2)], "text": [Dense(2, 2)]},
        default_route="d",
        route_mappings={("search", None): "q", ("search", "text"): "d", (None, None): "text"},
    )
    assert router.route_for("search") == "d"  # (task, modality) before (task, None)
    assert router.route_for("q") == "text"  # a catch-all mapping comes before a route named like the task
    assert router.route_for(None) == "text"
    assert router.get_config_dict()["route_mappings"] == {
        "('search', None)": "q",
        "('search', 'text')": "d",
        "(None, None)": "text",
    }
    router.save(str(tmp_path / "r"))
    config_path = tmp_path / "r" / "router_config.json"
    config = json.loads(config_path.read_text())
    config["parameters"]["route_mappings"] = {'["search", null]': "q"}  # the JSON form earlier sbert wrote
    config_path.write_text(json.dumps(config))
    assert Router.load(str(tmp_path / "r")).route_mappings == {("search", None): "q"}
