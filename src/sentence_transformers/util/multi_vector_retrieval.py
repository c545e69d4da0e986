"""Exact late-interaction (MaxSim) search of multi-vector queries over a multi-vector corpus.

The multi-vector twin of :func:`~sentence_transformers.util.retrieval.semantic_search`: the corpus is scored one
chunk of documents at a time and only a running top-k per query is kept, so memory grows with the chunk sizes and
``top_k``, never with the corpus.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import torch
from torch import Tensor

from sentence_transformers.util.similarity import maxsim

__all__ = ["multi_vector_search"]

MultiVectors = Sequence[Tensor | np.ndarray] | np.ndarray | Tensor


def _slice_mask(mask: Any, start: int, end: int) -> Any:
    """Rows ``start:end`` of a mask given as a tensor, array or list of per-item masks (None stays None)."""
    return None if mask is None else mask[start:end]


def _merge_top_k(
    best_scores: Tensor | None, best_ids: Tensor | None, scores: Tensor, offset: int, top_k: int
) -> tuple[Tensor, Tensor]:
    """Fold one corpus chunk's ``(queries, chunk)`` scores into the running per-query top-k."""
    ids = torch.arange(offset, offset + scores.shape[1]).unsqueeze(0).expand(len(scores), -1)
    if best_scores is not None:
        scores = torch.cat([best_scores, scores], dim=1)
        ids = torch.cat([best_ids, ids], dim=1)
    best_scores, positions = scores.topk(min(top_k, scores.shape[1]), dim=1)
    return best_scores, ids.gather(1, positions)


def multi_vector_search(
    query_embeddings: MultiVectors,
    corpus_embeddings: MultiVectors,
    query_mask: Any = None,
    corpus_mask: Any = None,
    query_chunk_size: int = 100,
    corpus_chunk_size: int = 5000,
    top_k: int = 10,
    score_function: Callable[..., Tensor] = maxsim,
    chunk_elements: int | None = None,
    device: str | torch.device | None = None,
) -> list[list[dict[str, int | float]]]:
    """Exact MaxSim search: the ``top_k`` corpus documents of every query, best first.

    Args:
        query_embeddings: a list of ``(tokens_i, dim)`` tensors/arrays, a padded ``(queries, tokens, dim)``
            tensor/array (with ``query_mask``, or all-zero rows read as padding), or one ``(tokens, dim)`` query.
        corpus_embeddings: the documents, in the same forms.
        query_mask: optional ``(queries, tokens)`` mask (or list of per-item masks) for padded queries.
        corpus_mask: optional ``(documents, tokens)`` mask (or list of per-item masks) for a padded corpus.
        query_chunk_size: queries scored together.
        corpus_chunk_size: documents scored together; with ``query_chunk_size`` it bounds the memory.
        top_k: documents returned per query.
        score_function: late-interaction scorer called as ``score_function(a, b, a_mask=..., b_mask=...,
            chunk_elements=..., device=...)`` returning ``(len(a), len(b))`` scores, e.g.
            :func:`~sentence_transformers.util.similarity.maxsim` (default) or ``mean_maxsim``.
        chunk_elements: element budget handed to ``score_function`` for its token-similarity tensor.
        device: device to score on, chunk by chunk; results are returned as Python numbers.

    Returns:
        One list per query of ``{"corpus_id": int, "score": float}`` dicts sorted by decreasing score, as
        :func:`~sentence_transformers.util.retrieval.semantic_search` returns them. A document without any
        real token scores -1e9.
    """
    sizes = {"top_k": top_k, "query_chunk_size": query_chunk_size, "corpus_chunk_size": corpus_chunk_size}
    for name, value in sizes.items():
        if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
            raise ValueError(f"`{name}` must be a positive integer, got {value!r}.")
    if isinstance(query_embeddings, (Tensor, np.ndarray)) and query_embeddings.ndim == 2:
        query_embeddings = [query_embeddings]  # one (tokens, dim) query
        query_mask = None if query_mask is None else [query_mask]
    n_queries, n_corpus = len(query_embeddings), len(corpus_embeddings)
    results: list[list[dict[str, int | float]]] = []
    for q_start in range(0, n_queries, query_chunk_size):
        q_end = min(q_start + query_chunk_size, n_queries)
        queries = query_embeddings[q_start:q_end]
        best_scores: Tensor | None = None
        best_ids: Tensor | None = None
        for c_start in range(0, n_corpus, corpus_chunk_size):
            c_end = min(c_start + corpus_chunk_size, n_corpus)
            scores = score_function(
                queries,
                corpus_embeddings[c_start:c_end],
                a_mask=_slice_mask(query_mask, q_start, q_end),
                b_mask=_slice_mask(corpus_mask, c_start, c_end),
                chunk_elements=chunk_elements,
                device=device,
            )
            best_scores, best_ids = _merge_top_k(best_scores, best_ids, scores.detach().float().cpu(), c_start, top_k)
        results.extend(_as_hits(best_scores, best_ids, q_end - q_start))
    return results


def _as_hits(scores: Tensor | None, ids: Tensor | None, n_queries: int) -> list[list[dict[str, int | float]]]:
    """``semantic_search``-style dicts from sorted top-k tensors (empty lists for an empty corpus)."""
    if scores is None:
        return [[] for _ in range(n_queries)]
    return [
        [{"corpus_id": int(i), "score": float(s)} for i, s in zip(row_ids.tolist(), row_scores.tolist(), strict=True)]
        for row_scores, row_ids in zip(scores, ids, strict=True)
    ]
