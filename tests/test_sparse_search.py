"""Sparse search: the engine functions of sparse_encoder.search_engines and util.semantic_search on sparse tensors.

Embeddings are small hand-made sparse COO tensors (no model). Qdrant runs for real in its in-process ``:memory:``
mode; Elasticsearch and OpenSearch need servers, so they run against fake client modules that record the requests and
answer them; Seismic runs against a fake module (and for real when ``pyseismic-lsr`` is importable).
"""

from __future__ import annotations

import sys
import types
from typing import Any

import numpy as np
import pytest
import torch

from sentence_transformers import util
from sentence_transformers.sparse_encoder import search_engines
from sentence_transformers.sparse_encoder.search_engines import (
    semantic_search_elasticsearch,
    semantic_search_opensearch,
    semantic_search_qdrant,
    semantic_search_seismic,
)

VOCAB = 60


def _random_sparse(rows: int, active: int, seed: int, dyadic: bool = False) -> torch.Tensor:
    """A ``(rows, VOCAB)`` sparse COO matrix with ``active`` non-zeros per row (multiples of 1/8 when ``dyadic``)."""
    generator = torch.Generator().manual_seed(seed)
    dense = torch.zeros(rows, VOCAB)
    for row in range(rows):
        columns = torch.randperm(VOCAB, generator=generator)[:active]
        if dyadic:
            values = torch.randint(1, 17, (active,), generator=generator).float() / 8
        else:
            values = torch.rand(active, generator=generator) + 0.05
        dense[row, columns] = values
    return dense.to_sparse()


def _as_dicts(matrix: torch.Tensor) -> list[dict[int, float]]:
    """``{column: value}`` of every row of a sparse matrix."""
    dense = matrix.to_dense()
    return [{int(j): float(row[j]) for j in row.nonzero().flatten()} for row in dense]


def _exact_search(queries: list[dict], corpus: list[dict], top_k: int) -> list[list[tuple[int, float]]]:
    """Dot-product search by hand over the documents sharing a dimension with the query, best first."""
    results = []
    for query in queries:
        hits = []
        for doc_id, doc in enumerate(corpus):
            shared = query.keys() & doc.keys()
            if shared:
                hits.append((doc_id, sum(query[t] * doc[t] for t in shared)))
        hits.sort(key=lambda hit: (-hit[1], hit[0]))
        results.append(hits[:top_k])
    return results


def _decode(matrix: torch.Tensor) -> list[list[tuple[str, float]]]:
    """Decoded embeddings as a SparseEncoder's ``decode`` gives them; some tokens contain a dot."""
    return [[(_token(j), value) for j, value in row.items()] for row in _as_dicts(matrix)]


def _token(column: int) -> str:
    return f"tok.{column}" if column % 5 == 0 else f"tok{column}"


def _assert_matches(results: list[list[dict]], expected: list[list[tuple[int, float]]]) -> None:
    assert len(results) == len(expected)
    for got, want in zip(results, expected, strict=True):
        assert [hit["corpus_id"] for hit in got] == [doc_id for doc_id, _ in want]
        assert [hit["score"] for hit in got] == pytest.approx([score for _, score in want], rel=1e-5)
        assert all(isinstance(hit["corpus_id"], int) for hit in got)


@pytest.fixture
def data() -> tuple[torch.Tensor, torch.Tensor]:
    """8 queries (the last one sharing no dimension with any document) and 40 documents."""
    queries = _random_sparse(8, 4, seed=1)
    corpus = _random_sparse(40, 6, seed=2)
    used = set(corpus.coalesce().indices()[1].tolist())
    unused = [j for j in range(VOCAB) if j not in used][:2]
    assert unused, "the corpus uses every dimension; pick another seed"
    dense_queries = queries.to_dense()
    dense_queries[-1] = 0
    dense_queries[-1, unused] = 1.0
    return dense_queries.to_sparse(), corpus


# ---------------------------------------------------------------------------------------------------- util search
@pytest.mark.parametrize("score_function", [util.dot_score, util.cos_sim])
@pytest.mark.parametrize(("query_chunk_size", "corpus_chunk_size"), [(100, 500000), (3, 7), (1, 1)])
def test_semantic_search_sparse_equals_dense(score_function, query_chunk_size, corpus_chunk_size):
    dyadic = score_function is util.dot_score  # exact sums: the results must be identical, ties included
    queries = _random_sparse(13, 5, seed=3, dyadic=dyadic)
    corpus = _random_sparse(50, 8, seed=4, dyadic=dyadic)
    kwargs = {
        "query_chunk_size": query_chunk_size,
        "corpus_chunk_size": corpus_chunk_size,
        "top_k": 12,
        "score_function": score_function,
    }
    sparse = util.semantic_search(queries, corpus, **kwargs)
    dense = util.semantic_search(queries.to_dense(), corpus.to_dense(), **kwargs)
    if dyadic:
        assert sparse == dense
    else:
        for got, want in zip(sparse, dense, strict=True):
            assert [hit["corpus_id"] for hit in got] == [hit["corpus_id"] for hit in want]
            assert [hit["score"] for hit in got] == pytest.approx([hit["score"] for hit in want], abs=1e-6)


def test_semantic_search_sparse_matches_hand_computed_dot_products(data):
    queries, corpus = data
    results = util.semantic_search(queries, corpus, top_k=5, score_function=util.dot_score)
    expected = _exact_search(_as_dicts(queries), _as_dicts(corpus), top_k=5)
    for got, want in zip(results[:-1], expected[:-1], strict=True):
        assert [hit["corpus_id"] for hit in got[: len(want)]] == [doc_id for doc_id, _ in want]
    # A query sharing no dimension scores 0 everywhere: the lowest corpus ids, as for dense inputs.
    assert results[-1] == [{"corpus_id": i, "score": 0.0} for i in range(5)]


def test_semantic_search_mixed_layouts_and_single_query():
    queries = _random_sparse(4, 5, seed=5, dyadic=True)
    corpus = _random_sparse(30, 8, seed=6, dyadic=True)
    expected = util.semantic_search(queries.to_dense(), corpus.to_dense(), top_k=6, score_function=util.dot_score)
    assert util.semantic_search(queries.to_dense(), corpus, top_k=6, score_function=util.dot_score) == expected
    assert util.semantic_search(queries, corpus.to_dense(), top_k=6, score_function=util.dot_score) == expected
    single = queries.to_dense()[2].to_sparse()
    assert util.semantic_search(single, corpus, top_k=6, score_function=util.dot_score) == [expected[2]]


def test_semantic_search_does_not_densify_the_corpus(monkeypatch):
    queries = _random_sparse(6, 5, seed=7)
    corpus = _random_sparse(45, 8, seed=8)
    expected = util.semantic_search(queries.to_dense(), corpus.to_dense(), top_k=4, corpus_chunk_size=20)
    shapes = []
    original = torch.Tensor.to_dense

    def recording_to_dense(self, *args, **kwargs):
        shapes.append(tuple(self.shape))
        return original(self, *args, **kwargs)

    monkeypatch.setattr(torch.Tensor, "to_dense", recording_to_dense)
    results = util.semantic_search(queries, corpus, top_k=4, corpus_chunk_size=20)
    # Only score matrices (queries x corpus chunk) are densified, never embeddings (VOCAB columns).
    assert shapes and all(shape[1] != VOCAB for shape in shapes)
    for got, want in zip(results, expected, strict=True):
        assert [hit["corpus_id"] for hit in got] == [hit["corpus_id"] for hit in want]


@pytest.mark.parametrize("function", [util.dot_score, util.cos_sim])
def test_similarity_on_sparse_inputs_is_dense_and_equal(function):
    a = _random_sparse(5, 6, seed=9)
    b = _random_sparse(70, 9, seed=10)  # more stored values than a: the other operand order
    for left, right in [(a, b), (b, a), (a, b.to_dense()), (a.to_dense(), b)]:
        scores = function(left, right)
        assert not scores.is_sparse
        torch.testing.assert_close(scores, function(left.to_dense(), right.to_dense()))
    half = function(a.to(torch.float16), b)
    assert half.dtype == torch.float32
    with pytest.raises(ValueError, match="dimensions differ"):
        function(a, torch.zeros(2, VOCAB + 1).to_sparse())


# ------------------------------------------------------------------------------------------------------------ qdrant
def test_qdrant_in_memory_equals_exact_search(data):
    pytest.importorskip("qdrant_client")
    queries, corpus = data
    results, seconds, index = semantic_search_qdrant(queries, corpus, top_k=5, output_index=True, location=":memory:")
    expected = _exact_search(_as_dicts(queries), _as_dicts(corpus), top_k=5)
    _assert_matches(results, expected)
    assert results[-1] == []  # Qdrant only returns documents sharing a dimension with the query
    assert isinstance(seconds, float) and seconds >= 0

    client, collection_name = index
    assert client.count(collection_name).count == 40
    again = semantic_search_qdrant(queries, corpus_index=index, top_k=3)
    assert len(again) == 2
    _assert_matches(again[0], [hits[:3] for hits in expected])
    single, _ = semantic_search_qdrant(queries.to_dense()[1].to_sparse(), corpus_index=index, top_k=2)
    _assert_matches(single, [expected[1][:2]])


def test_qdrant_many_queries_and_float64():
    pytest.importorskip("qdrant_client")
    queries = _random_sparse(300, 3, seed=11, dyadic=True).to(torch.float64)  # more than one query batch
    corpus = _random_sparse(25, 10, seed=12, dyadic=True)
    results, _ = semantic_search_qdrant(queries, corpus, top_k=3, location=":memory:")
    expected = _exact_search(_as_dicts(queries), _as_dicts(corpus), top_k=3)
    assert len(results) == 300
    for got, want in zip(results, expected, strict=True):
        assert sorted(hit["score"] for hit in got) == pytest.approx(sorted(score for _, score in want))


def test_qdrant_validation(data):
    pytest.importorskip("qdrant_client")
    queries, corpus = data
    with pytest.raises(ValueError, match="Query embeddings must be a sparse COO tensor"):
        semantic_search_qdrant(queries.to_dense(), corpus, location=":memory:")
    with pytest.raises(ValueError, match="Corpus embeddings must be a sparse COO tensor"):
        semantic_search_qdrant(queries, corpus.to_dense(), location=":memory:")
    with pytest.raises(ValueError, match="Either corpus_embeddings or corpus_index"):
        semantic_search_qdrant(queries)
    with pytest.raises(ValueError, match="1D or 2D"):
        semantic_search_qdrant(torch.zeros(2, 2, 2).to_sparse(), corpus, location=":memory:")


def test_qdrant_client_defaults_to_localhost(monkeypatch):
    made = []

    class FakeClient:
        def __init__(self, **kwargs):
            made.append(kwargs)

    search_engines._qdrant_client(FakeClient, {"timeout": 5})
    search_engines._qdrant_client(FakeClient, {"location": ":memory:"})
    assert made == [{"url": "http://localhost:6333", "timeout": 5}, {"location": ":memory:"}]


# ---------------------------------------------------------------------------------------- fake Elasticsearch/OpenSearch
class _FakeIndices:
    def __init__(self, server: _FakeServer):
        self.server = server

    def create(self, index: str, body: dict) -> None:
        self.server.calls.append(("create", index, body))
        self.server.indexes[index] = {}

    def refresh(self, index: str) -> None:
        self.server.calls.append(("refresh", index))


class _FakeServer:
    """A search client that stores bulk-inserted rank_features and scores queries by dot product."""

    instances: list[_FakeServer] = []

    def __init__(self, *args: Any, **kwargs: Any):
        self.args, self.kwargs = args, kwargs
        self.calls: list[tuple] = []
        self.indexes: dict[str, dict[str, dict[str, float]]] = {}
        self.indices = _FakeIndices(self)
        _FakeServer.instances.append(self)

    def search(self, index: str, body: dict) -> dict:
        self.calls.append(("search", index, body))
        query = self.query_weights(body["query"])
        hits = []
        for doc_id, tokens in self.indexes[index].items():
            shared = query.keys() & tokens.keys()
            if shared:
                hits.append({"_id": doc_id, "_score": sum(query[t] * tokens[t] for t in shared)})
        hits.sort(key=lambda hit: (-hit["_score"], int(hit["_id"])))
        return {"hits": {"total": {"value": len(hits)}, "hits": hits[: body["size"]]}}

    def query_weights(self, query: dict) -> dict[str, float]:
        raise NotImplementedError


class _FakeElasticsearch(_FakeServer):
    def query_weights(self, query: dict) -> dict[str, float]:
        clauses = query["bool"]["should"]
        return {c["rank_feature"]["field"].removeprefix("tokens."): c["rank_feature"]["boost"] for c in clauses}


class _FakeOpenSearch(_FakeServer):
    def query_weights(self, query: dict) -> dict[str, float]:
        return query["neural_sparse"]["tokens"]["query_tokens"]


def _fake_bulk(client: _FakeServer, actions: list[dict]) -> tuple[int, list]:
    actions = list(actions)
    client.calls.append(("bulk", len(actions)))
    for action in actions:
        assert action["_source"]["id"] == action["_id"]
        client.indexes[action["_index"]][action["_id"]] = action["_source"]["tokens"]
    return len(actions), []


@pytest.fixture
def fake_engines(monkeypatch):
    _FakeServer.instances = []
    helpers = types.SimpleNamespace(bulk=_fake_bulk)
    es = types.ModuleType("elasticsearch")
    es.Elasticsearch, es.helpers = _FakeElasticsearch, helpers
    opensearch = types.ModuleType("opensearchpy")
    opensearch.OpenSearch, opensearch.helpers = _FakeOpenSearch, helpers
    monkeypatch.setitem(sys.modules, "elasticsearch", es)
    monkeypatch.setitem(sys.modules, "opensearchpy", opensearch)
    monkeypatch.setattr(search_engines, "_BULK_BATCH", 16)  # several bulk requests for 40 documents
    return _FakeServer.instances


@pytest.mark.parametrize("engine", ["elasticsearch", "opensearch"])
def test_rank_features_engines_build_index_and_parse_hits(fake_engines, data, engine):
    queries, corpus = data
    search = semantic_search_elasticsearch if engine == "elasticsearch" else semantic_search_opensearch
    results, seconds, index = search(_decode(queries), _decode(corpus), top_k=4, output_index=True, timeout=7)
    _assert_matches(results, _exact_search(_as_dicts(queries), _as_dicts(corpus), top_k=4))
    assert results[-1] == []
    assert isinstance(seconds, float)

    (client,) = fake_engines
    assert client.args == ("http://localhost:9200",) and client.kwargs == {"timeout": 7}
    assert index == (client, client.calls[0][1])
    index_name = index[1]
    assert index_name.startswith("sparse_index_")
    mapping = {"mappings": {"properties": {"tokens": {"type": "rank_features"}, "id": {"type": "keyword"}}}}
    assert client.calls[0] == ("create", index_name, mapping)
    assert [call for call in client.calls if call[0] == "bulk"] == [("bulk", 16), ("bulk", 16), ("bulk", 8)]
    refresh = client.calls.index(("refresh", index_name))
    searches = [call for call in client.calls if call[0] == "search"]
    assert refresh < client.calls.index(searches[0])
    assert len(searches) == len(results)
    assert all(body["size"] == 4 for _, _, body in searches)

    stored_tokens = set().union(*(tokens.keys() for tokens in client.indexes[index_name].values()))
    corpus_tokens = {token for row in _decode(corpus) for token, _ in row}
    assert any("." in token for token in corpus_tokens)
    first_query = dict(_decode(queries)[0])
    if engine == "elasticsearch":  # dots become underscores in field names; rank_feature clauses with saturation
        assert stored_tokens == {token.replace(".", "_") for token in corpus_tokens}
        body = searches[0][2]
        assert body["query"]["bool"]["minimum_should_match"] == 1
        clauses = body["query"]["bool"]["should"]
        assert clauses == [
            {"rank_feature": {"field": f"tokens.{token.replace('.', '_')}", "saturation": {}, "boost": weight}}
            for token, weight in first_query.items()
        ]
    else:  # tokens kept as they are; one neural_sparse query
        assert stored_tokens == corpus_tokens
        assert searches[0][2]["query"] == {"neural_sparse": {"tokens": {"query_tokens": first_query}}}

    # Searching the returned index again builds nothing new; a query without tokens sends no request.
    again, _ = search([[], _decode(queries)[0]], corpus_index=index, top_k=2)
    assert again[0] == [] and again[1] == results[0][:2]
    assert len(fake_engines) == 1 and client.calls[-1][0] == "search"
    assert len([call for call in client.calls if call[0] == "search"]) == len(results) + 1


@pytest.mark.parametrize("search", [semantic_search_elasticsearch, semantic_search_opensearch])
def test_rank_features_engines_custom_hosts_and_validation(fake_engines, search):
    search([[("a", 1.0)]], [[("a", 2.0)]], hosts=["http://search:9201"])
    assert fake_engines[-1].args == () and fake_engines[-1].kwargs == {"hosts": ["http://search:9201"]}
    with pytest.raises(ValueError, match="Query embeddings must be a list of lists"):
        search(torch.zeros(1, 3).to_sparse(), [[("a", 1.0)]])
    with pytest.raises(ValueError, match="Corpus embeddings must be a list of lists"):
        search([[("a", 1.0)]], [["a"]])
    with pytest.raises(ValueError, match="Either corpus_embeddings_decoded or corpus_index"):
        search([[("a", 1.0)]])


# ----------------------------------------------------------------------------------------------------------- seismic
class _FakeSeismicDataset:
    def __init__(self):
        self.documents: dict[str, dict[str, float]] = {}

    def add_document(self, doc_id: str, tokens: np.ndarray, values: np.ndarray) -> None:
        assert tokens.dtype == np.dtype("U100") and values.dtype == np.float32
        self.documents[doc_id] = dict(zip(tokens.tolist(), values.tolist(), strict=True))


class _FakeSeismicIndex:
    built: list[tuple[_FakeSeismicDataset, dict]] = []
    searched: list[dict] = []

    def __init__(self, dataset: _FakeSeismicDataset):
        self.documents = dataset.documents

    @classmethod
    def build_from_dataset(cls, dataset: _FakeSeismicDataset, **kwargs: Any) -> _FakeSeismicIndex:
        cls.built.append((dataset, kwargs))
        return cls(dataset)

    def batch_search(self, queries_ids, query_components, query_values, k, **kwargs) -> list[list[tuple]]:
        _FakeSeismicIndex.searched.append({"ids": queries_ids, "k": k, **kwargs})
        answers = []
        for query_id, tokens, values in zip(queries_ids, query_components, query_values, strict=True):
            query = dict(zip(tokens.tolist(), values.tolist(), strict=True))
            hits = []
            for doc_id, doc in self.documents.items():
                shared = query.keys() & doc.keys()
                if shared:
                    hits.append((str(query_id), sum(query[t] * doc[t] for t in shared), doc_id))
            hits.sort(key=lambda hit: (-hit[1], int(hit[2])))
            answers.append(hits[:k])  # a query without matches: an empty list, without its id
        return answers[::-1]  # answers come back out of order


@pytest.fixture
def fake_seismic(monkeypatch):
    _FakeSeismicIndex.built, _FakeSeismicIndex.searched = [], []
    module = types.ModuleType("seismic")
    module.SeismicDataset, module.SeismicIndex = _FakeSeismicDataset, _FakeSeismicIndex
    module.get_seismic_string = lambda: "U100"
    monkeypatch.setitem(sys.modules, "seismic", module)
    return _FakeSeismicIndex


def test_seismic_builds_dataset_and_places_answers_by_query_id(fake_seismic, data):
    queries, corpus = data
    search_kwargs = {"heap_factor": 0.9}
    results, seconds, index = semantic_search_seismic(
        _decode(queries),
        _decode(corpus),
        top_k=3,
        output_index=True,
        index_kwargs={"centroid_fraction": 0.2},
        search_kwargs=search_kwargs,
    )
    _assert_matches(results, _exact_search(_as_dicts(queries), _as_dicts(corpus), top_k=3))
    assert results[-1] == [] and isinstance(seconds, float)
    ((dataset, index_kwargs),) = fake_seismic.built
    assert index_kwargs == {"centroid_fraction": 0.2} and isinstance(index, _FakeSeismicIndex)
    assert list(dataset.documents) == [str(i) for i in range(40)]
    (call,) = fake_seismic.searched
    assert call["k"] == 3 and call["query_cut"] == 10 and call["heap_factor"] == 0.9
    assert call["ids"].tolist() == [str(i) for i in range(8)]
    assert search_kwargs == {"heap_factor": 0.9}  # the caller's dict is left alone

    again, _ = semantic_search_seismic(_decode(queries)[:2], corpus_index=index, top_k=1)
    assert again == [results[0][:1], results[1][:1]]
    assert len(fake_seismic.built) == 1 and fake_seismic.searched[-1]["heap_factor"] == 0.7


def test_seismic_real_library(data):
    pytest.importorskip("seismic")
    queries, corpus = data
    results, _ = semantic_search_seismic(_decode(queries), _decode(corpus), top_k=3)
    expected = _exact_search(_as_dicts(queries), _as_dicts(corpus), top_k=3)
    exact_scores = [dict(hits) for hits in _exact_search(_as_dicts(queries), _as_dicts(corpus), top_k=40)]
    assert results[-1] == []
    for got, want, scores in zip(results[:-1], expected[:-1], exact_scores[:-1], strict=True):
        assert got[0]["corpus_id"] == want[0][0]  # an approximate index (quantized values): the best hit
        assert [hit["score"] for hit in got] == pytest.approx([scores[hit["corpus_id"]] for hit in got], rel=1e-3)


# ------------------------------------------------------------------------------------------- missing client libraries
@pytest.mark.parametrize(
    ("function", "module", "package"),
    [
        (semantic_search_qdrant, "qdrant_client", "qdrant-client"),
        (semantic_search_elasticsearch, "elasticsearch", "elasticsearch"),
        (semantic_search_opensearch, "opensearchpy", "opensearch-py"),
        (semantic_search_seismic, "seismic", "pyseismic-lsr"),
    ],
)
def test_missing_client_library_raises_clear_import_error(monkeypatch, function, module, package):
    monkeypatch.setitem(sys.modules, module, None)  # makes `import module` raise ImportError
    with pytest.raises(ImportError, match=f"{function.__name__} needs the `{package}` package.*pip install {package}"):
        function([[("a", 1.0)]], [[("a", 1.0)]])
