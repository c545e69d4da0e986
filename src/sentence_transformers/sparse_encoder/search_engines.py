"""Sparse-embedding search through external engines: Qdrant, Elasticsearch, OpenSearch and Seismic.

Each ``semantic_search_*`` function builds an index of the corpus (unless ``corpus_index`` passes one built before),
searches it with every query and returns ``(results, search_seconds)``, plus the index when ``output_index=True``
so it can be searched again. ``results`` holds one list per query of ``{"corpus_id": int, "score": float}``, best
first. Qdrant takes sparse COO tensors; the others take decoded embeddings (``model.decode(embeddings)``: one list of
``(token, weight)`` pairs per text). The client libraries are optional and imported on first use.

For exact search without an engine, ``util.semantic_search`` accepts sparse COO tensors directly.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any
from uuid import uuid4

import numpy as np
import torch
from torch import Tensor
from tqdm import tqdm

if TYPE_CHECKING:
    try:
        from elasticsearch import Elasticsearch
    except ImportError:
        pass
    try:
        from opensearchpy import OpenSearch
    except ImportError:
        pass
    try:
        from qdrant_client import QdrantClient
    except ImportError:
        pass
    try:
        from seismic import SeismicIndex
    except ImportError:
        pass

__all__ = [
    "semantic_search_elasticsearch",
    "semantic_search_opensearch",
    "semantic_search_qdrant",
    "semantic_search_seismic",
]

logger = logging.getLogger(__name__)

SearchResults = list[list[dict[str, int | float]]]
DecodedEmbeddings = list[list[tuple[str, float]]]

# Documents per upload request.
_QDRANT_UPLOAD_BATCH = 10_000
_BULK_BATCH = 1_000
# Queries per Qdrant batch-search request.
_QDRANT_QUERY_BATCH = 256
# Name of the sparse vector (Qdrant) and of the rank_features field (Elasticsearch, OpenSearch).
_FIELD = "text"
_TOKENS_FIELD = "tokens"
# Both index types map a rank_features field of tokens (plus the document id as a keyword).
_RANK_FEATURES_MAPPING = {
    "mappings": {"properties": {_TOKENS_FIELD: {"type": "rank_features"}, "id": {"type": "keyword"}}}
}


def _missing(function: str, package: str, in_extra: bool = True) -> ImportError:
    """The ImportError raised when a search engine's client library is not installed."""
    extra = ' (or `pip install "sbert[sparse]"`)' if in_extra else ""
    return ImportError(f"{function} needs the `{package}` package: install it with `pip install {package}`{extra}.")


def _finish(
    results: SearchResults, started: float, corpus_index: Any, output_index: bool
) -> tuple[SearchResults, float] | tuple[SearchResults, float, Any]:
    """``(results, seconds since started)``, plus the index when ``output_index``."""
    elapsed = time.time() - started
    return (results, elapsed, corpus_index) if output_index else (results, elapsed)


# ------------------------------------------------------------------------------------------------------------- Qdrant
def _sparse_rows(embeddings: Tensor, name: str) -> list[tuple[list[int], list[float]]]:
    """``(indices, values)`` of each row of a 2-D sparse COO tensor (a 1-D tensor is one row)."""
    if not isinstance(embeddings, Tensor) or embeddings.layout != torch.sparse_coo:
        raise ValueError(f"{name} embeddings must be a sparse COO tensor")
    if embeddings.dim() == 1:
        embeddings = embeddings.unsqueeze(0)
    elif embeddings.dim() != 2:
        raise ValueError(f"{name} embeddings must be a 1D or 2D sparse tensor, got {embeddings.dim()}D")
    embeddings = embeddings.detach().coalesce()
    indices = embeddings.indices().cpu().numpy()
    values = embeddings.values().to("cpu", torch.float64).numpy()  # float64 holds every float type exactly
    # Coalesced indices are sorted by row, so each row's entries form one run.
    bounds = np.searchsorted(indices[0], np.arange(embeddings.shape[0] + 1)).tolist()
    return [
        (indices[1][start:end].tolist(), values[start:end].tolist())
        for start, end in zip(bounds[:-1], bounds[1:], strict=True)
    ]


def _qdrant_client(client_class: type, kwargs: dict[str, Any]) -> Any:
    """A client for the Qdrant server at localhost:6333, or wherever ``location``/``url``/``host``/``path`` say."""
    if not any(key in kwargs for key in ("location", "url", "host", "path")):
        kwargs = {"url": "http://localhost:6333", **kwargs}
    return client_class(**kwargs)


def _build_qdrant_index(client: Any, models: Any, corpus_embeddings: Tensor) -> tuple[Any, str]:
    """Upload the corpus rows as points 0..n-1 of a new collection with one sparse vector each."""
    rows = _sparse_rows(corpus_embeddings, "Corpus")
    collection_name = f"sparse_collection_{uuid4().hex}"
    client.create_collection(
        collection_name=collection_name,
        vectors_config={},
        sparse_vectors_config={_FIELD: models.SparseVectorParams(index=models.SparseIndexParams(on_disk=False))},
    )
    with tqdm(total=len(rows), desc="Processing and Upserting embeddings") as progress:
        for start in range(0, len(rows), _QDRANT_UPLOAD_BATCH):
            batch = rows[start : start + _QDRANT_UPLOAD_BATCH]
            client.upload_collection(
                collection_name=collection_name,
                vectors=[{_FIELD: models.SparseVector(indices=indices, values=values)} for indices, values in batch],
                ids=range(start, start + len(batch)),
                wait=True,
            )
            progress.update(len(batch))
    return client, collection_name


def semantic_search_qdrant(
    query_embeddings: torch.Tensor,
    corpus_embeddings: torch.Tensor | None = None,
    corpus_index: tuple[QdrantClient, str] | None = None,
    top_k: int = 10,
    output_index: bool = False,
    **kwargs: Any,
) -> tuple[SearchResults, float] | tuple[SearchResults, float, tuple[QdrantClient, str]]:
    """Search sparse COO embeddings with Qdrant's sparse vectors (dot-product scores).

    Args:
        query_embeddings: Sparse COO tensor of query embeddings (1-D for one query).
        corpus_embeddings: Sparse COO tensor of corpus embeddings; used only when ``corpus_index`` is None.
        corpus_index: ``(QdrantClient, collection_name)`` from an earlier call, searched instead of a new index.
        top_k: Number of results per query.
        output_index: Also return ``(QdrantClient, collection_name)``.
        **kwargs: Passed to ``QdrantClient`` for a new index (default ``url="http://localhost:6333"``; e.g.
            ``location=":memory:"`` for Qdrant's in-process mode).

    Returns:
        ``(results, search_seconds)`` or ``(results, search_seconds, corpus_index)``; ``results[i]`` lists
        ``{"corpus_id", "score"}`` for query ``i``, best first. Only documents sharing a dimension with the query
        are returned.
    """
    try:
        from qdrant_client import QdrantClient, models
    except ImportError as exc:
        raise _missing("semantic_search_qdrant", "qdrant-client") from exc

    queries = _sparse_rows(query_embeddings, "Query")
    if corpus_index is None:
        if corpus_embeddings is None:
            raise ValueError("Either corpus_embeddings or corpus_index must be provided")
        corpus_index = _build_qdrant_index(_qdrant_client(QdrantClient, kwargs), models, corpus_embeddings)
    client, collection_name = corpus_index

    started = time.time()
    results: SearchResults = []
    for start in range(0, len(queries), _QDRANT_QUERY_BATCH):
        requests = [
            models.QueryRequest(query=models.SparseVector(indices=indices, values=values), using=_FIELD, limit=top_k)
            for indices, values in queries[start : start + _QDRANT_QUERY_BATCH]
        ]
        responses = client.query_batch_points(collection_name=collection_name, requests=requests)
        for response in responses:
            results.append([{"corpus_id": point.id, "score": point.score} for point in response.points])
    return _finish(results, started, corpus_index, output_index)


# ---------------------------------------------------------------------------------- decoded (token, weight) embeddings
def _is_decoded(embeddings: Any) -> bool:
    """Whether ``embeddings`` is a list of lists of ``(token, weight)`` pairs."""
    return isinstance(embeddings, list) and all(
        isinstance(item, list) and all(isinstance(pair, (tuple, list)) and len(pair) == 2 for pair in item)
        for item in embeddings
    )


def _check_decoded(
    query_embeddings_decoded: Any, corpus_embeddings_decoded: Any, corpus_index: Any
) -> DecodedEmbeddings | None:
    """Validate the decoded queries and, without an index, the decoded corpus (which is returned)."""
    if not _is_decoded(query_embeddings_decoded):
        raise ValueError("Query embeddings must be a list of lists in the format [[('token', value), ...], ...]")
    if corpus_index is not None:
        return None
    if corpus_embeddings_decoded is None:
        raise ValueError("Either corpus_embeddings_decoded or corpus_index must be provided")
    if not _is_decoded(corpus_embeddings_decoded):
        raise ValueError("Corpus embeddings must be a list of lists in the format [[('token', value), ...], ...]")
    return corpus_embeddings_decoded


def _token_weights(pairs: Sequence[tuple[str, float]], escape_dots: bool = False) -> dict[str, float]:
    """``{token: weight}`` of one decoded embedding; ``escape_dots`` turns "." into "_" (Elasticsearch field names)."""
    if escape_dots:
        return {str(token).replace(".", "_"): float(weight) for token, weight in pairs}
    return {str(token): float(weight) for token, weight in pairs}


def _bulk_index(client: Any, helpers: Any, corpus: DecodedEmbeddings, escape_dots: bool) -> tuple[Any, str]:
    """Create a rank_features index and bulk-insert each document as id ``str(i)``; returns ``(client, name)``."""
    index_name = f"sparse_index_{uuid4().hex}"
    client.indices.create(index=index_name, body=_RANK_FEATURES_MAPPING)
    for start in tqdm(range(0, len(corpus), _BULK_BATCH), desc="Upserting embeddings"):
        actions = [
            {
                "_index": index_name,
                "_id": str(i),
                "_source": {"id": str(i), _TOKENS_FIELD: _token_weights(corpus[i], escape_dots)},
            }
            for i in range(start, min(start + _BULK_BATCH, len(corpus)))
        ]
        helpers.bulk(client, actions)
    client.indices.refresh(index=index_name)
    return client, index_name


def _search_each(client: Any, index_name: str, bodies: list[dict[str, Any] | None]) -> SearchResults:
    """Run one search request per query body (None: a query without tokens, which matches nothing)."""
    results: SearchResults = []
    for body in bodies:
        if body is None:
            results.append([])
            continue
        hits = client.search(index=index_name, body=body)["hits"]["hits"]
        results.append([{"corpus_id": int(hit["_id"]), "score": hit["_score"]} for hit in hits])
    return results


def _with_default_host(kwargs: dict[str, Any]) -> tuple[tuple[str, ...], dict[str, Any]]:
    """Positional arguments and keywords for an Elasticsearch/OpenSearch client: localhost:9200 unless ``hosts``."""
    return ((), kwargs) if "hosts" in kwargs else (("http://localhost:9200",), kwargs)


def semantic_search_elasticsearch(
    query_embeddings_decoded: list[list[tuple[str, float]]],
    corpus_embeddings_decoded: list[list[tuple[str, float]]] | None = None,
    corpus_index: tuple[Elasticsearch, str] | None = None,
    top_k: int = 10,
    output_index: bool = False,
    **kwargs: Any,
) -> tuple[SearchResults, float] | tuple[SearchResults, float, tuple[Elasticsearch, str]]:
    """Search decoded sparse embeddings with Elasticsearch ``rank_features`` and ``rank_feature`` queries.

    Args:
        query_embeddings_decoded: One list of ``(token, weight)`` pairs per query, e.g. ``model.decode(embeddings)``.
        corpus_embeddings_decoded: The same for the corpus; used only when ``corpus_index`` is None.
        corpus_index: ``(Elasticsearch, index_name)`` from an earlier call, searched instead of a new index.
        top_k: Number of results per query.
        output_index: Also return ``(Elasticsearch, index_name)``.
        **kwargs: Passed to ``Elasticsearch`` for a new index (default host ``http://localhost:9200``).

    Returns:
        ``(results, search_seconds)`` or ``(results, search_seconds, corpus_index)``. Each query token is a
        ``rank_feature`` clause with the ``saturation`` function boosted by the token's weight; "." in token names
        becomes "_" (Elasticsearch reads dots as object paths).
    """
    try:
        from elasticsearch import Elasticsearch, helpers
    except ImportError as exc:
        raise _missing("semantic_search_elasticsearch", "elasticsearch") from exc

    corpus = _check_decoded(query_embeddings_decoded, corpus_embeddings_decoded, corpus_index)
    if corpus_index is None:
        args, client_kwargs = _with_default_host(kwargs)
        corpus_index = _bulk_index(Elasticsearch(*args, **client_kwargs), helpers, corpus, escape_dots=True)
    client, index_name = corpus_index

    started = time.time()
    bodies: list[dict[str, Any] | None] = []
    for pairs in query_embeddings_decoded:
        should = [
            {"rank_feature": {"field": f"{_TOKENS_FIELD}.{token}", "saturation": {}, "boost": weight}}
            for token, weight in _token_weights(pairs, escape_dots=True).items()
        ]
        bodies.append(
            {"size": top_k, "query": {"bool": {"should": should, "minimum_should_match": 1}}} if should else None
        )
    return _finish(_search_each(client, index_name, bodies), started, corpus_index, output_index)


def semantic_search_opensearch(
    query_embeddings_decoded: list[list[tuple[str, float]]],
    corpus_embeddings_decoded: list[list[tuple[str, float]]] | None = None,
    corpus_index: tuple[OpenSearch, str] | None = None,
    top_k: int = 10,
    output_index: bool = False,
    **kwargs: Any,
) -> tuple[SearchResults, float] | tuple[SearchResults, float, tuple[OpenSearch, str]]:
    """Search decoded sparse embeddings with OpenSearch ``rank_features`` and ``neural_sparse`` queries.

    Args:
        query_embeddings_decoded: One list of ``(token, weight)`` pairs per query, e.g. ``model.decode(embeddings)``.
        corpus_embeddings_decoded: The same for the corpus; used only when ``corpus_index`` is None.
        corpus_index: ``(OpenSearch, index_name)`` from an earlier call, searched instead of a new index.
        top_k: Number of results per query.
        output_index: Also return ``(OpenSearch, index_name)``.
        **kwargs: Passed to ``OpenSearch`` for a new index (default host ``http://localhost:9200``).

    Returns:
        ``(results, search_seconds)`` or ``(results, search_seconds, corpus_index)``; ``neural_sparse`` scores are
        dot products of the query and document token weights.
    """
    try:
        from opensearchpy import OpenSearch, helpers
    except ImportError as exc:
        raise _missing("semantic_search_opensearch", "opensearch-py") from exc

    corpus = _check_decoded(query_embeddings_decoded, corpus_embeddings_decoded, corpus_index)
    if corpus_index is None:
        args, client_kwargs = _with_default_host(kwargs)
        corpus_index = _bulk_index(OpenSearch(*args, **client_kwargs), helpers, corpus, escape_dots=False)
    client, index_name = corpus_index

    started = time.time()
    bodies: list[dict[str, Any] | None] = []
    for pairs in query_embeddings_decoded:
        tokens = _token_weights(pairs)
        query = {"neural_sparse": {_TOKENS_FIELD: {"query_tokens": tokens}}}
        bodies.append({"size": top_k, "query": query} if tokens else None)
    return _finish(_search_each(client, index_name, bodies), started, corpus_index, output_index)


# ------------------------------------------------------------------------------------------------------------ Seismic
def _seismic_arrays(pairs: Sequence[tuple[str, float]], string_type: Any) -> tuple[np.ndarray, np.ndarray]:
    """Token and weight arrays of one decoded embedding, typed as Seismic expects (a repeated token keeps its last)."""
    weights = _token_weights(pairs)
    return np.array(list(weights), dtype=string_type), np.array(list(weights.values()), dtype=np.float32)


def semantic_search_seismic(
    query_embeddings_decoded: list[list[tuple[str, float]]],
    corpus_embeddings_decoded: list[list[tuple[str, float]]] | None = None,
    corpus_index: SeismicIndex | None = None,
    top_k: int = 10,
    output_index: bool = False,
    index_kwargs: dict[str, Any] | None = None,
    search_kwargs: dict[str, Any] | None = None,
) -> tuple[SearchResults, float] | tuple[SearchResults, float, SeismicIndex]:
    """Search decoded sparse embeddings with Seismic, an in-process approximate inverted index (dot products).

    Args:
        query_embeddings_decoded: One list of ``(token, weight)`` pairs per query, e.g. ``model.decode(embeddings)``.
        corpus_embeddings_decoded: The same for the corpus; used only when ``corpus_index`` is None.
        corpus_index: A ``SeismicIndex`` from an earlier call, searched instead of a new index.
        top_k: Number of results per query.
        output_index: Also return the ``SeismicIndex``.
        index_kwargs: Passed to ``SeismicIndex.build_from_dataset`` (``centroid_fraction``, ``min_cluster_size``,
            ``summary_energy``, ``nknn``, ``batched_indexing``, ``num_threads``, ...).
        search_kwargs: Passed to ``SeismicIndex.batch_search`` (``query_cut`` defaults to 10 and ``heap_factor`` to
            0.7; ``n_knn``, ``sorted``, ``num_threads``, ...).

    Returns:
        ``(results, search_seconds)`` or ``(results, search_seconds, corpus_index)``.
    """
    try:
        from seismic import SeismicDataset, SeismicIndex, get_seismic_string
    except ImportError as exc:
        raise _missing("semantic_search_seismic", "pyseismic-lsr", in_extra=False) from exc

    string_type = get_seismic_string()
    corpus = _check_decoded(query_embeddings_decoded, corpus_embeddings_decoded, corpus_index)
    if corpus_index is None:
        dataset = SeismicDataset()
        for i, pairs in enumerate(tqdm(corpus, desc="Adding documents to Seismic")):
            dataset.add_document(str(i), *_seismic_arrays(pairs, string_type))
        corpus_index = SeismicIndex.build_from_dataset(dataset, **(index_kwargs or {}))

    started = time.time()
    search_kwargs = {"query_cut": 10, "heap_factor": 0.7, **(search_kwargs or {})}
    num_queries = len(query_embeddings_decoded)
    arrays = [_seismic_arrays(pairs, string_type) for pairs in query_embeddings_decoded]
    answers = corpus_index.batch_search(
        queries_ids=np.array([str(i) for i in range(num_queries)], dtype=string_type),
        query_components=[tokens for tokens, _ in arrays],
        query_values=[weights for _, weights in arrays],
        k=top_k,
        **search_kwargs,
    )
    # Answers may come back in any order, and a query without matches gives an empty list that carries no query id,
    # so each answer is placed by the query id it holds.
    results: SearchResults = [[] for _ in range(num_queries)]
    for answer in answers:
        if answer:
            results[int(answer[0][0])] = [{"corpus_id": int(doc_id), "score": score} for _, score, doc_id in answer]
    return _finish(results, started, corpus_index, output_index)
