"""Search, mining and clustering over embeddings: semantic_search, paraphrase_mining, community_detection."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import torch
from torch import Tensor
from tqdm import trange

from sentence_transformers.util.similarity import (
    _is_sparse,
    _sparse_matrix_pair,
    _to_matrix,
    cos_sim,
    dot_score,
    normalize_embeddings,
)

__all__ = [
    "community_detection",
    "cos_sim",
    "dot_score",
    "information_retrieval",
    "normalize_embeddings",
    "paraphrase_mining",
    "paraphrase_mining_embeddings",
    "semantic_search",
]

ScoreFunction = Callable[[Tensor, Tensor], Tensor]


def _check_positive(**values: int) -> None:
    """Raise a ValueError naming any argument that is not a positive integer (chunk sizes, batch sizes)."""
    for name, value in values.items():
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ValueError(f"{name} must be a positive integer, got {value!r}.")


def _check_non_negative(**values: int) -> None:
    """Raise a ValueError naming any argument that is not an integer >= 0 (top_k, max_pairs)."""
    for name, value in values.items():
        if isinstance(value, bool) or not isinstance(value, int) or value < 0:
            raise ValueError(f"{name} must be an integer >= 0, got {value!r}.")


def _select_top(scores: Tensor, k: int) -> tuple[Tensor, Tensor]:
    """Best ``k`` entries of each row ordered by score (desc), ties resolved towards the lower column index.

    Unlike a bare ``torch.topk`` the selection is deterministic under ties, which keeps chunked searches identical
    to unchunked ones. NaN scores rank last (reported as -inf).
    """
    scores = torch.nan_to_num(scores, nan=-float("inf"))
    k = min(k, scores.shape[1])
    if k == 0:
        empty = scores.new_empty((scores.shape[0], 0))
        return empty, empty.long()
    kth = torch.topk(scores, k, dim=1).values[:, -1:]
    above = scores > kth
    tied = scores == kth
    needed = k - above.sum(dim=1, keepdim=True)
    chosen = above | (tied & (torch.cumsum(tied, dim=1) <= needed))
    columns = chosen.nonzero()[:, 1].view(scores.shape[0], k)
    return _sort_by_score_then_id(torch.gather(scores, 1, columns), columns)


def _sort_by_score_then_id(scores: Tensor, ids: Tensor) -> tuple[Tensor, Tensor]:
    """Sort each row by score descending, breaking ties by ascending id."""
    by_id = torch.argsort(ids, dim=1, stable=True)
    scores, ids = torch.gather(scores, 1, by_id), torch.gather(ids, 1, by_id)
    by_score = torch.sort(scores, dim=1, descending=True, stable=True).indices
    return torch.gather(scores, 1, by_score), torch.gather(ids, 1, by_score)


def _rows(matrix: Tensor, start: int, end: int) -> Tensor:
    """Rows ``start:end`` of a dense matrix, or of a coalesced 2-D sparse COO matrix as a sparse matrix."""
    if not matrix.is_sparse:
        return matrix[start:end]
    end = min(end, matrix.shape[0])
    if start == 0 and end == matrix.shape[0]:
        return matrix
    indices, values = matrix.indices(), matrix.values()
    bounds = torch.tensor([start, end], dtype=indices.dtype, device=indices.device)
    low, high = torch.searchsorted(indices[0].contiguous(), bounds).tolist()
    chunk_indices = indices[:, low:high].clone()
    chunk_indices[0] -= start
    size = (end - start, matrix.shape[1])
    return torch.sparse_coo_tensor(chunk_indices, values[low:high], size, check_invariants=False, is_coalesced=True)


def _top_k_over_corpus(
    queries: Tensor, corpus: Tensor, corpus_chunk_size: int, top_k: int, score_function: ScoreFunction
) -> tuple[Tensor, Tensor]:
    """Top ``top_k`` (scores, corpus ids) of each query over the whole corpus, scanning it chunk by chunk."""
    best_scores = torch.empty((queries.shape[0], 0), dtype=queries.dtype, device=queries.device)
    best_ids = torch.empty((queries.shape[0], 0), dtype=torch.long, device=queries.device)
    for start in range(0, corpus.shape[0], corpus_chunk_size):
        chunk = _rows(corpus, start, start + corpus_chunk_size)
        chunk_scores = score_function(queries, chunk).to(queries.device)
        scores, ids = _select_top(chunk_scores, top_k)
        scores = torch.cat([best_scores, scores.to(best_scores.dtype)], dim=1)
        ids = torch.cat([best_ids, ids + start], dim=1)
        best_scores, best_ids = _sort_by_score_then_id(scores, ids)
        best_scores, best_ids = best_scores[:, :top_k], best_ids[:, :top_k]
    return best_scores, best_ids


def semantic_search(
    query_embeddings: Tensor,
    corpus_embeddings: Tensor,
    query_chunk_size: int = 100,
    corpus_chunk_size: int = 500000,
    top_k: int = 10,
    score_function: ScoreFunction = cos_sim,
) -> list[list[dict[str, int | float]]]:
    """Find the ``top_k`` most similar corpus entries for each query.

    Returns one list per query of ``{"corpus_id": int, "score": float}`` sorted by score (descending, ties by
    ascending corpus id). Queries and corpus are processed in chunks to bound memory; the result does not depend on
    the chunk sizes.

    A sparse COO corpus stays sparse: queries become sparse too and each chunk is scored by a sparse matrix product
    (with `cos_sim`, both sides are normalized once up front), so the corpus is never densified.
    """
    _check_positive(query_chunk_size=query_chunk_size, corpus_chunk_size=corpus_chunk_size)
    _check_non_negative(top_k=top_k)
    if _is_sparse(corpus_embeddings):
        queries, corpus = _sparse_matrix_pair(query_embeddings, corpus_embeddings)
        if score_function is cos_sim:
            # cos_sim would renormalize every corpus chunk for every query chunk; this gives the same scores.
            queries, corpus, score_function = normalize_embeddings(queries), normalize_embeddings(corpus), dot_score
    else:
        queries, corpus = _to_matrix(query_embeddings), _to_matrix(corpus_embeddings)
        corpus = corpus.to(queries.device)
    results: list[list[dict[str, int | float]]] = []
    for start in range(0, queries.shape[0], query_chunk_size):
        chunk = _rows(queries, start, start + query_chunk_size)
        scores, ids = _top_k_over_corpus(chunk, corpus, corpus_chunk_size, top_k, score_function)
        for row_scores, row_ids in zip(scores.tolist(), ids.tolist(), strict=True):
            results.append([{"corpus_id": int(i), "score": float(s)} for i, s in zip(row_ids, row_scores, strict=True)])
    return results


def paraphrase_mining(
    model: Any,
    sentences: list[str],
    show_progress_bar: bool = False,
    batch_size: int = 32,
    query_chunk_size: int = 5000,
    corpus_chunk_size: int = 100000,
    max_pairs: int = 500000,
    top_k: int = 100,
    score_function: ScoreFunction = cos_sim,
    truncate_dim: int | None = None,
    prompt_name: str | None = None,
    prompt: str | None = None,
) -> list[list[float | int]]:
    """Encode ``sentences`` with ``model`` and return their most similar pairs as ``[score, i, j]`` (i < j).

    See `paraphrase_mining_embeddings` for the ranking rules.
    """
    embeddings = model.encode(
        sentences,
        show_progress_bar=show_progress_bar,
        batch_size=batch_size,
        convert_to_tensor=True,
        truncate_dim=truncate_dim,
        prompt_name=prompt_name,
        prompt=prompt,
    )
    return paraphrase_mining_embeddings(
        embeddings,
        query_chunk_size=query_chunk_size,
        corpus_chunk_size=corpus_chunk_size,
        max_pairs=max_pairs,
        top_k=top_k,
        score_function=score_function,
    )


def paraphrase_mining_embeddings(
    embeddings: Tensor,
    query_chunk_size: int = 5000,
    corpus_chunk_size: int = 100000,
    max_pairs: int = 500000,
    top_k: int = 100,
    score_function: ScoreFunction = cos_sim,
) -> list[list[float | int]]:
    """Most similar pairs among ``embeddings`` as ``[score, i, j]`` with ``i < j``, best first, at most ``max_pairs``.

    Each embedding contributes its ``top_k`` nearest others (itself excluded); a pair found from both sides is
    listed once. Ties are ordered by ``(i, j)``; the result does not depend on the chunk sizes.
    """
    _check_positive(query_chunk_size=query_chunk_size, corpus_chunk_size=corpus_chunk_size)
    _check_non_negative(max_pairs=max_pairs, top_k=top_k)
    embeddings = _to_matrix(embeddings)
    count = embeddings.shape[0]
    pool = (embeddings.new_empty(0), torch.empty(0, dtype=torch.long, device=embeddings.device))
    for start in range(0, count, query_chunk_size):
        queries = embeddings[start : start + query_chunk_size]
        scores, ids = _top_k_over_corpus(queries, embeddings, corpus_chunk_size, top_k + 1, score_function)
        rows = torch.arange(start, start + queries.shape[0], device=ids.device).unsqueeze(1).expand_as(ids)
        pool = _merge_pairs(pool, scores.flatten(), rows.flatten(), ids.flatten(), count, max_pairs)
    pair_scores, keys = pool
    return [
        [float(s), int(k) // count, int(k) % count] for s, k in zip(pair_scores.tolist(), keys.tolist(), strict=True)
    ]


def _merge_pairs(
    pool: tuple[Tensor, Tensor], scores: Tensor, rows: Tensor, cols: Tensor, count: int, max_pairs: int
) -> tuple[Tensor, Tensor]:
    """Add candidate pairs to the pool: drop self pairs, key each pair as ``min * count + max``, keep the best score
    per key, and keep only the ``max_pairs`` best keys ordered by (score desc, i asc, j asc)."""
    not_self = rows != cols
    scores, rows, cols = scores[not_self], rows[not_self], cols[not_self]
    keys = torch.minimum(rows, cols) * count + torch.maximum(rows, cols)
    scores = torch.cat([pool[0], scores.to(pool[0].dtype)])
    keys = torch.cat([pool[1], keys])
    by_score = torch.sort(scores, descending=True, stable=True).indices
    by_key = torch.sort(keys[by_score], stable=True).indices
    order = by_score[by_key]
    scores, keys = scores[order], keys[order]
    first = torch.ones_like(keys, dtype=torch.bool)
    first[1:] = keys[1:] != keys[:-1]
    scores, keys = scores[first], keys[first]
    best = torch.sort(scores, descending=True, stable=True).indices[:max_pairs]
    return scores[best], keys[best]


def community_detection(
    embeddings: Tensor | np.ndarray,
    threshold: float = 0.75,
    min_community_size: int = 10,
    batch_size: int = 1024,
    show_progress_bar: bool = False,
) -> list[list[int]]:
    """Group embeddings into dense, non-overlapping communities by cosine similarity.

    Every embedding with at least ``min_community_size`` neighbours (itself included) at cosine similarity
    ``>= threshold`` is the centre of a candidate community. Candidates are taken largest first: one whose centre is
    already assigned is skipped, otherwise its unassigned members form a community if they are still at least
    ``min_community_size``. Each community lists its centre first, then the others by similarity to the centre.
    Returns the communities (lists of indices), largest first.
    """
    _check_positive(min_community_size=min_community_size, batch_size=batch_size)
    embeddings = normalize_embeddings(_to_matrix(embeddings))
    candidates: list[tuple[int, list[int]]] = []
    for start in trange(0, embeddings.shape[0], batch_size, desc="Finding communities", disable=not show_progress_bar):
        similarities = embeddings[start : start + batch_size] @ embeddings.T
        candidates.extend(_candidate_communities(similarities, start, threshold, min_community_size))
    candidates.sort(key=lambda candidate: len(candidate[1]), reverse=True)
    communities: list[list[int]] = []
    assigned: set[int] = set()
    for centre, members in candidates:
        if centre in assigned:
            continue
        remaining = [index for index in members if index not in assigned]
        if len(remaining) >= min_community_size:
            community = [centre] + [index for index in remaining if index != centre]
            communities.append(community)
            assigned.update(community)
    communities.sort(key=len, reverse=True)
    return communities


def _candidate_communities(
    similarities: Tensor, offset: int, threshold: float, min_size: int
) -> list[tuple[int, list[int]]]:
    """``(centre, members)`` for each row with at least ``min_size`` similarities ``>= threshold``.

    Members are the column indices at or above the threshold, ordered by similarity (descending, ties by index).
    """
    above = similarities >= threshold
    centres = (above.sum(dim=1) >= min_size).nonzero().flatten().tolist()
    candidates = []
    for row in centres:
        columns = above[row].nonzero().flatten()
        order = torch.sort(similarities[row, columns], descending=True, stable=True).indices
        candidates.append((row + offset, columns[order].tolist()))
    return candidates


information_retrieval = semantic_search
