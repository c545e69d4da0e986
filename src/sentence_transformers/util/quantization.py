"""Embedding quantization (int8/uint8 scalar buckets, packed binary) and search over quantized corpora.

Quantized embeddings take 4x (scalar) or 32x (binary) less memory than float32 ones and can be searched with faiss or
usearch; rescoring the best candidates with the float query recovers most of the lost accuracy.
"""

from __future__ import annotations

import importlib
import logging
import time
from typing import Any, Literal

import numpy as np
import torch

logger = logging.getLogger(__name__)

__all__ = ["quantize_embeddings", "semantic_search_faiss", "semantic_search_usearch"]

PRECISIONS = ("float32", "int8", "uint8", "binary", "ubinary")
Precision = Literal["float32", "int8", "uint8", "binary", "ubinary"]
SearchResults = list[list[dict[str, int | float]]]


def _to_numpy(data: Any) -> np.ndarray:
    """Convert a tensor, array or list of rows to a numpy array, keeping its dtype (bfloat16 becomes float32)."""
    if isinstance(data, torch.Tensor):
        tensor = data.detach().cpu()
        if tensor.is_sparse:
            tensor = tensor.to_dense()
        if tensor.dtype == torch.bfloat16:
            tensor = tensor.to(torch.float32)
        return tensor.numpy()
    if isinstance(data, (list, tuple)):
        return np.stack([_to_numpy(row) for row in data])
    if isinstance(data, np.ndarray):
        return data
    return np.asarray(data)


def _check_precision(precision: str) -> None:
    """Raise a ValueError naming ``precision`` when it is not one of `PRECISIONS`."""
    if precision not in PRECISIONS:
        raise ValueError(f"Precision {precision!r} is not supported; choose one of {list(PRECISIONS)}.")


def _compute_ranges(embeddings: np.ndarray, precision: str, ranges: Any, calibration_embeddings: Any) -> np.ndarray:
    """Per-dimension ``[min, max]`` (shape ``[2, dim]``, float32) for scalar quantization.

    Taken from ``ranges`` when given, else from ``calibration_embeddings``, else from ``embeddings`` themselves.
    """
    if ranges is None:
        source = embeddings if calibration_embeddings is None else _to_numpy(calibration_embeddings)
        source = source.reshape(-1, source.shape[-1])
        if calibration_embeddings is None:
            if source.shape[0] < 2:
                raise ValueError(
                    f"Cannot compute {precision} quantization ranges from a single embedding; pass `ranges` (shape "
                    "[2, dim]) or `calibration_embeddings` from a representative set of embeddings."
                )
            logger.warning(
                "Computing %s quantization buckets from %d embeddings; pass `ranges` or `calibration_embeddings` "
                "computed on more embeddings for more stable buckets.",
                precision,
                source.shape[0],
            )
        ranges = np.vstack([source.min(axis=0), source.max(axis=0)])
    ranges = _to_numpy(ranges).astype(np.float32)
    if ranges.ndim != 2 or ranges.shape[0] != 2 or ranges.shape[1] != embeddings.shape[-1]:
        raise ValueError(
            f"`ranges` must have shape [2, {embeddings.shape[-1]}] (per-dimension min and max), got {ranges.shape}."
        )
    return ranges


def _starts_steps(ranges: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Lower edge and width of the first of 256 equal buckets per dimension; a zero-width range gets width 1."""
    steps = (ranges[1] - ranges[0]) / 255
    steps[steps == 0] = 1
    return ranges[0], steps


def _quantize_scalar(embeddings: np.ndarray, precision: str, ranges: Any, calibration_embeddings: Any) -> np.ndarray:
    """Map each value to one of 256 equal-width buckets: uint8 in [0, 255], int8 in [-128, 127]."""
    dtype = np.uint8 if precision == "uint8" else np.int8
    if embeddings.size == 0:
        return np.zeros(embeddings.shape, dtype=dtype)
    starts, steps = _starts_steps(_compute_ranges(embeddings, precision, ranges, calibration_embeddings))
    with np.errstate(invalid="ignore"):
        buckets = np.floor((embeddings - starts) / steps)
    buckets = np.clip(buckets, 0, 255)
    if precision == "int8":
        buckets = buckets - 128
    return np.nan_to_num(buckets, nan=0.0).astype(dtype)  # NaN inputs become 0, as in the reference library


def _quantize_binary(embeddings: np.ndarray, precision: str) -> np.ndarray:
    """Pack the sign bits (value > 0) of each embedding into bytes; ``binary`` shifts them to int8 by -128."""
    packed = np.packbits(embeddings > 0, axis=-1)
    if precision == "ubinary":
        return packed
    return (packed.astype(np.int16) - 128).astype(np.int8)


def _quantize_array(embeddings: np.ndarray, precision: str, ranges: Any, calibration_embeddings: Any) -> np.ndarray:
    """Quantize one numpy array of float embeddings."""
    if embeddings.dtype in (np.int8, np.uint8):
        raise TypeError(
            f"Embeddings to quantize must be floating point, got {embeddings.dtype}: they look already quantized."
        )
    if precision == "float32":
        return embeddings.astype(np.float32)
    if precision in ("binary", "ubinary"):
        return _quantize_binary(embeddings, precision)
    return _quantize_scalar(embeddings, precision, ranges, calibration_embeddings)


def quantize_embeddings(
    embeddings: torch.Tensor | np.ndarray | list[torch.Tensor] | list[np.ndarray],
    precision: Precision,
    ranges: np.ndarray | None = None,
    calibration_embeddings: np.ndarray | None = None,
) -> np.ndarray | list[np.ndarray]:
    """Quantize float embeddings to ``precision`` ("float32", "int8", "uint8", "binary" or "ubinary").

    int8/uint8 split each dimension into 256 buckets between its minimum and maximum, taken from ``ranges``
    (``[2, dim]``), else ``calibration_embeddings``, else the embeddings themselves. binary/ubinary keep one bit per
    dimension (value > 0), packed 8 per byte. A list of 2-D arrays (e.g. token embeddings) is quantized per item
    with shared ranges and returned as a list.
    """
    _check_precision(precision)
    if isinstance(embeddings, (list, tuple)):
        if len(embeddings) == 0:
            return []
        items = [_to_numpy(item) for item in embeddings]
        if all(item.ndim >= 2 for item in items):
            return _quantize_list(items, precision, ranges, calibration_embeddings)
        embeddings = np.stack(items)
    return _quantize_array(_to_numpy(embeddings), precision, ranges, calibration_embeddings)


def _quantize_list(
    items: list[np.ndarray], precision: str, ranges: Any, calibration_embeddings: Any
) -> list[np.ndarray]:
    """Quantize several multi-vector arrays with ranges computed over all of them together."""
    if precision in ("int8", "uint8") and ranges is None and calibration_embeddings is None:
        stacked = np.concatenate([item.reshape(-1, item.shape[-1]) for item in items])
        ranges = _compute_ranges(stacked, precision, None, None)
    return [_quantize_array(item, precision, ranges, calibration_embeddings) for item in items]


def _require(module: str, pip_name: str, caller: str) -> Any:
    """Import an optional search library or raise an ImportError that says how to install it."""
    try:
        return importlib.import_module(module)
    except ImportError as exc:
        raise ImportError(
            f"{caller} requires the `{module}` package; install it with `pip install {pip_name}`."
        ) from exc


def _check_corpus_args(corpus_embeddings: Any, corpus_index: Any, precision: str, allowed: tuple[str, ...]) -> None:
    """Validate that exactly one corpus source is given and that the precision is supported by the backend."""
    if corpus_embeddings is None and corpus_index is None:
        raise ValueError("Either `corpus_embeddings` or `corpus_index` must be given, got neither.")
    if corpus_embeddings is not None and corpus_index is not None:
        raise ValueError("Only one of `corpus_embeddings` or `corpus_index` may be given, got both.")
    if precision not in allowed:
        raise ValueError(f"corpus_precision {precision!r} is not supported here; choose one of {list(allowed)}.")


class _Queries:
    """Float queries, their search form in the corpus precision, the scalar ranges used, and whether to rescore."""

    def __init__(self, query_embeddings: Any, precision: str, ranges: Any, calibration: Any, rescore: bool) -> None:
        queries = _to_numpy(query_embeddings)
        self.floats = queries.reshape(1, -1) if queries.ndim == 1 else queries
        self.precision = precision
        already_quantized = self.floats.dtype in (np.int8, np.uint8)
        if rescore and precision != "float32" and already_quantized:
            logger.warning("Rescoring is disabled because the query embeddings are already quantized.")
        self.rescore = rescore and precision != "float32" and not already_quantized
        self.ranges = None
        if already_quantized:
            self.search = self.floats
        elif precision in ("int8", "uint8"):
            self.ranges = _compute_ranges(self.floats, precision, ranges, calibration)
            self.search = quantize_embeddings(self.floats, precision, ranges=self.ranges)
        else:
            self.search = quantize_embeddings(self.floats, precision)

    def dequantize(self, codes: np.ndarray) -> np.ndarray:
        """Turn quantized corpus vectors back into float vectors comparable with the float queries.

        Scalar codes map to the lower edge of their bucket (with the ranges used for the queries); bits unpack to 0/1.
        """
        if self.precision in ("binary", "ubinary"):
            return np.unpackbits(_as_ubinary(codes), axis=-1).astype(np.float32)
        starts, steps = _starts_steps(self.ranges)
        unsigned = codes.astype(np.float32) + (128 if self.precision == "int8" else 0)
        return starts + unsigned * steps

    def finish(self, ids: list[np.ndarray], scores: list[np.ndarray], fetch: Any, top_k: int) -> SearchResults:
        """Rescore the raw candidates with the float queries when enabled, then format them as results."""
        if self.rescore:
            ids, scores = self._rescore(ids, fetch, top_k)
        return _to_results(ids, scores)

    def _rescore(self, candidates: list[np.ndarray], fetch: Any, top_k: int) -> tuple[list, list]:
        """Score each query's candidates with the float query against dequantized vectors; keep the best ``top_k``."""
        unique = np.unique(np.concatenate(candidates)) if candidates else np.zeros(0, dtype=np.int64)
        vectors = self.dequantize(fetch(unique)) if unique.size else np.zeros((0, self.floats.shape[1]))
        all_ids, all_scores = [], []
        for query, ids in zip(self.floats, candidates, strict=True):
            scores = vectors[np.searchsorted(unique, ids)] @ query.astype(np.float32)
            order = np.lexsort((ids, -scores))[:top_k]
            all_ids.append(ids[order])
            all_scores.append(scores[order])
        return all_ids, all_scores


def _as_ubinary(codes: np.ndarray) -> np.ndarray:
    """Packed bits as uint8, converting the -128-shifted int8 ``binary`` layout when needed."""
    if codes.dtype == np.int8:
        return (codes.astype(np.int16) + 128).astype(np.uint8)
    return np.ascontiguousarray(codes, dtype=np.uint8)


def _to_results(ids: list[np.ndarray], scores: list[np.ndarray]) -> SearchResults:
    """Format per-query id/score arrays as ``[[{"corpus_id": int, "score": float}, ...], ...]``."""
    return [
        [{"corpus_id": int(i), "score": float(s)} for i, s in zip(row_ids, row_scores, strict=True)]
        for row_ids, row_scores in zip(ids, scores, strict=True)
    ]


def _faiss_index(faiss: Any, corpus: np.ndarray, precision: str, exact: bool) -> Any:
    """Build and fill a faiss index: inner product for float32/uint8, Hamming distance for ubinary."""
    dim = corpus.shape[1]
    if precision == "ubinary":
        index = faiss.IndexBinaryFlat(dim * 8) if exact else faiss.IndexBinaryHNSW(dim * 8, 16)
        index.add(np.ascontiguousarray(corpus, dtype=np.uint8))
        return index
    if exact:
        index = faiss.IndexFlatIP(dim)
    else:
        index = faiss.IndexHNSWFlat(dim, 16, faiss.METRIC_INNER_PRODUCT)
    index.add(np.ascontiguousarray(corpus, dtype=np.float32))
    return index


def _faiss_vectors(index: Any, corpus: np.ndarray | None, ids: np.ndarray, precision: str) -> np.ndarray:
    """Stored corpus vectors for ``ids``: from the corpus array when given, else reconstructed from the index."""
    if corpus is not None:
        return corpus[ids]
    rows = np.stack([index.reconstruct(int(i)) for i in ids])
    return rows.astype(np.uint8) if precision in ("uint8", "ubinary") else rows


def _faiss_search(index: Any, queries: np.ndarray, k: int) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """Run a batched faiss query and return per-query ids and scores, dropping the -1 padding of short results."""
    if k <= 0:
        return [np.zeros(0, dtype=np.int64) for _ in queries], [np.zeros(0, dtype=np.float32) for _ in queries]
    scores, ids = index.search(np.ascontiguousarray(queries), k)
    keep = [row >= 0 for row in ids]
    kept_ids = [row[mask] for row, mask in zip(ids, keep, strict=True)]
    return kept_ids, [row[mask] for row, mask in zip(scores, keep, strict=True)]


def semantic_search_faiss(
    query_embeddings: np.ndarray,
    corpus_embeddings: np.ndarray | None = None,
    corpus_index: Any | None = None,
    corpus_precision: Literal["float32", "uint8", "ubinary"] = "float32",
    top_k: int = 10,
    ranges: np.ndarray | None = None,
    calibration_embeddings: np.ndarray | None = None,
    rescore: bool = True,
    rescore_multiplier: int = 2,
    exact: bool = True,
    output_index: bool = False,
) -> tuple[SearchResults, float] | tuple[SearchResults, float, Any]:
    """Search a (possibly quantized) corpus with faiss; returns ``(results, seconds[, index])``.

    ``corpus_embeddings`` must already be in ``corpus_precision`` (see `quantize_embeddings`); float queries are
    quantized with ``ranges``/``calibration_embeddings`` for the search and, when ``rescore`` is set and the corpus is
    quantized, ``top_k * rescore_multiplier`` candidates are rescored with the float queries. Scores are inner
    products, except for ubinary without rescoring where they are Hamming distances (lower is better).
    """
    faiss = _require("faiss", "faiss-cpu", "semantic_search_faiss")
    _check_corpus_args(corpus_embeddings, corpus_index, corpus_precision, ("float32", "uint8", "ubinary"))
    corpus = None if corpus_embeddings is None else _to_numpy(corpus_embeddings)
    if corpus_index is None:
        corpus_index = _faiss_index(faiss, corpus, corpus_precision, exact)
    queries = _Queries(query_embeddings, corpus_precision, ranges, calibration_embeddings, rescore)
    search = queries.search.astype(np.float32) if corpus_precision != "ubinary" else _as_ubinary(queries.search)
    k = min(top_k * rescore_multiplier if queries.rescore else top_k, corpus_index.ntotal)
    start = time.time()
    ids, scores = _faiss_search(corpus_index, search, k)
    fetch = lambda rows: _faiss_vectors(corpus_index, corpus, rows, corpus_precision)  # noqa: E731
    results = queries.finish(ids, scores, fetch, top_k)
    elapsed = time.time() - start
    return (results, elapsed, corpus_index) if output_index else (results, elapsed)


def _usearch_index(index_module: Any, corpus: np.ndarray, precision: str) -> Any:
    """Build and fill a usearch index: inner product for float32/int8, Hamming distance for (u)binary."""
    dim = corpus.shape[1]
    if precision in ("binary", "ubinary"):
        index = index_module.Index(ndim=dim * 8, metric="hamming", dtype="b1")
        corpus = _as_ubinary(corpus)
    elif precision == "int8":
        index = index_module.Index(ndim=dim, metric="ip", dtype="i8")
    else:
        index = index_module.Index(ndim=dim, metric="ip", dtype="f32")
        corpus = np.ascontiguousarray(corpus, dtype=np.float32)
    index.add(np.arange(len(corpus)), corpus)
    return index


def _usearch_vectors(index: Any, corpus: np.ndarray | None, ids: np.ndarray, precision: str) -> np.ndarray:
    """Stored corpus vectors for ``ids``: from the corpus array when given, else read back from the index."""
    if corpus is not None:
        return corpus[ids]
    rows = np.stack([np.asarray(index.get(int(i))).reshape(-1) for i in ids])
    if precision in ("binary", "ubinary"):
        return rows.view(np.uint8) if rows.dtype != np.uint8 else rows
    return rows


def semantic_search_usearch(
    query_embeddings: np.ndarray,
    corpus_embeddings: np.ndarray | None = None,
    corpus_index: Any | None = None,
    corpus_precision: Literal["float32", "int8", "ubinary", "binary"] = "float32",
    top_k: int = 10,
    ranges: np.ndarray | None = None,
    calibration_embeddings: np.ndarray | None = None,
    rescore: bool = True,
    rescore_multiplier: int = 2,
    exact: bool = True,
    output_index: bool = False,
) -> tuple[SearchResults, float] | tuple[SearchResults, float, Any]:
    """Search a (possibly quantized) corpus with usearch; returns ``(results, seconds[, index])``.

    Same contract as `semantic_search_faiss`, with int8/binary/ubinary corpora. Inner-product scores are reported as
    similarities (higher is better); (u)binary without rescoring reports Hamming distances (lower is better).
    """
    index_module = _require("usearch.index", "usearch", "semantic_search_usearch")
    allowed = ("float32", "int8", "ubinary", "binary")
    _check_corpus_args(corpus_embeddings, corpus_index, corpus_precision, allowed)
    corpus = None if corpus_embeddings is None else _to_numpy(corpus_embeddings)
    if corpus_index is None:
        corpus_index = _usearch_index(index_module, corpus, corpus_precision)
    queries = _Queries(query_embeddings, corpus_precision, ranges, calibration_embeddings, rescore)
    search = queries.search
    if corpus_precision in ("binary", "ubinary"):
        search = _as_ubinary(search)
    elif corpus_precision == "float32":
        search = np.ascontiguousarray(search, dtype=np.float32)
    k = min(top_k * rescore_multiplier if queries.rescore else top_k, len(corpus_index))
    start = time.time()
    ids, scores = _usearch_search(corpus_index, search, k, exact, corpus_precision)
    fetch = lambda rows: _usearch_vectors(corpus_index, corpus, rows, corpus_precision)  # noqa: E731
    results = queries.finish(ids, scores, fetch, top_k)
    elapsed = time.time() - start
    return (results, elapsed, corpus_index) if output_index else (results, elapsed)


def _usearch_search(
    index: Any, queries: np.ndarray, k: int, exact: bool, precision: str
) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """Run a batched usearch query and return per-query ids and scores (similarities for inner product)."""
    if k <= 0:
        return [np.zeros(0, dtype=np.int64) for _ in queries], [np.zeros(0, dtype=np.float32) for _ in queries]
    matches = index.search(queries, k, exact=exact)
    keys = np.asarray(matches.keys).reshape(len(queries), -1)
    distances = np.asarray(matches.distances).reshape(len(queries), -1)
    counts = np.asarray(matches.counts if hasattr(matches, "counts") else [len(matches)]).reshape(-1)
    ids = [keys[row, : counts[row]].astype(np.int64) for row in range(len(queries))]
    scores = [distances[row, : counts[row]] for row in range(len(queries))]
    if precision not in ("binary", "ubinary"):
        scores = [1 - row for row in scores]
    return ids, scores
