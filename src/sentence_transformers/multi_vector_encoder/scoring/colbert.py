"""ColBERT (MaxSim) scoring in the shapes the multi-vector losses hand over.

Queries are ``(Q, q_tokens, dim)``; documents come either as stacked per-query groups
``(Q_doc, N, d_tokens, dim)`` (contrastive and distillation losses) or aligned with the queries
``(Q, d_tokens, dim)`` (pairwise losses). Every function flattens the group axis and hands one padded
batch to :func:`~sentence_transformers.util.similarity.maxsim` or its pairwise twin, which chunk over
documents so memory stays bounded, and returns float32 scores.
"""

from __future__ import annotations

import numpy as np
from torch import Tensor

from sentence_transformers.util.similarity import maxsim, maxsim_pairwise
from sentence_transformers.util.tensor import _convert_to_tensor

__all__ = [
    "colbert_kd_scores",
    "colbert_scores",
    "colbert_scores_pairwise",
    "mean_colbert_kd_scores",
    "mean_colbert_scores",
    "mean_colbert_scores_pairwise",
]

Embeddings = list | np.ndarray | Tensor


def _as_mask(mask: Tensor | np.ndarray | list | None) -> Tensor | None:
    """A mask given as a tensor, array or nested list, as a tensor (None stays None)."""
    return None if mask is None else _convert_to_tensor(mask)


def _grouped_documents(documents_embeddings: Embeddings, name: str = "documents_embeddings") -> Tensor:
    """The ``(groups, n_ways, d_tokens, dim)`` document tensor, or a ValueError naming the shape received."""
    documents = _convert_to_tensor(documents_embeddings)
    if documents.dim() != 4:
        raise ValueError(
            f"`{name}` must be (groups, n_ways, d_tokens, dim) stacked per-query documents, "
            f"got shape {tuple(documents.shape)}."
        )
    return documents


def _flatten_groups(documents: Tensor, documents_mask: Tensor | None) -> tuple[Tensor, Tensor | None]:
    """Fold ``(groups, n_ways)`` into one document axis (query-major), masks alike."""
    groups, n_ways, tokens, dim = documents.shape
    flat = documents.reshape(groups * n_ways, tokens, dim)
    flat_mask = None if documents_mask is None else documents_mask.reshape(groups * n_ways, -1)
    return flat, flat_mask


def colbert_scores(
    queries_embeddings: Embeddings,
    documents_embeddings: Embeddings,
    queries_mask: Tensor | None = None,
    documents_mask: Tensor | None = None,
    chunk_elements: int | None = None,
    length_normalize: bool = False,
) -> Tensor:
    """MaxSim of every query against every document of every group, for in-batch negatives.

    Args:
        queries_embeddings: ``(Q, q_tokens, dim)``.
        documents_embeddings: ``(Q_doc, N, d_tokens, dim)``: ``N`` candidate documents per group.
        queries_mask: optional ``(Q, q_tokens)`` mask; default: all-zero rows are padding.
        documents_mask: optional ``(Q_doc, N, d_tokens)`` mask; default: all-zero rows are padding.
        chunk_elements: element budget for one chunk of the scoring intermediate (see ``maxsim``).
        length_normalize: divide by each query's real token count (MeanMaxSim).

    Returns:
        ``(Q, Q_doc * N)`` float32 scores; column ``j * N + n`` is document ``n`` of group ``j``, so with
        matched groups the positive of query ``i`` sits at column ``i * N``.
    """
    documents, documents_mask = _flatten_groups(_grouped_documents(documents_embeddings), _as_mask(documents_mask))
    return maxsim(
        _convert_to_tensor(queries_embeddings),
        documents,
        a_mask=_as_mask(queries_mask),
        b_mask=documents_mask,
        chunk_elements=chunk_elements,
        length_normalize=length_normalize,
    )


def colbert_kd_scores(
    queries_embeddings: Embeddings,
    documents_embeddings: Embeddings,
    queries_mask: Tensor | None = None,
    documents_mask: Tensor | None = None,
    chunk_elements: int | None = None,
    length_normalize: bool = False,
) -> Tensor:
    """MaxSim of each query against its own ``N`` candidates, for distillation against teacher scores.

    Args:
        queries_embeddings: ``(B, q_tokens, dim)``.
        documents_embeddings: ``(B, N, d_tokens, dim)``: row ``i`` holds query ``i``'s candidates.
        queries_mask: optional ``(B, q_tokens)`` mask.
        documents_mask: optional ``(B, N, d_tokens)`` mask.
        chunk_elements: element budget for one chunk of the scoring intermediate.
        length_normalize: divide by each query's real token count (MeanMaxSim).

    Returns:
        ``(B, N)`` float32 scores.
    """
    queries = _convert_to_tensor(queries_embeddings)
    documents = _grouped_documents(documents_embeddings)
    batch, n_ways = documents.shape[:2]
    if queries.dim() != 3 or len(queries) != batch:
        raise ValueError(
            f"`queries_embeddings` must be (batch, q_tokens, dim) with batch={batch} to match the documents, "
            f"got shape {tuple(queries.shape)}."
        )
    # Each query is repeated once per candidate so the pairs score in one padded, chunked batch.
    repeated = queries.unsqueeze(1).expand(-1, n_ways, -1, -1).reshape(batch * n_ways, *queries.shape[1:])
    queries_mask = _as_mask(queries_mask)
    if queries_mask is not None:
        queries_mask = queries_mask.unsqueeze(1).expand(-1, n_ways, -1).reshape(batch * n_ways, -1)
    documents, documents_mask = _flatten_groups(documents, _as_mask(documents_mask))
    scores = maxsim_pairwise(
        repeated,
        documents,
        a_mask=queries_mask,
        b_mask=documents_mask,
        chunk_elements=chunk_elements,
        length_normalize=length_normalize,
    )
    return scores.view(batch, n_ways)


def colbert_scores_pairwise(
    queries_embeddings: Embeddings,
    documents_embeddings: Embeddings,
    queries_mask: Tensor | None = None,
    documents_mask: Tensor | None = None,
    chunk_elements: int | None = None,
    length_normalize: bool = False,
) -> Tensor:
    """MaxSim of each aligned pair ``(query_i, document_i)``: ``(B,)`` float32 scores.

    ``queries_embeddings`` is ``(B, q_tokens, dim)`` and ``documents_embeddings`` ``(B, d_tokens, dim)``
    (or lists of per-item ``(tokens, dim)``); the keywords are those of :func:`colbert_scores`.
    """
    return maxsim_pairwise(
        queries_embeddings,
        documents_embeddings,
        a_mask=queries_mask,
        b_mask=documents_mask,
        chunk_elements=chunk_elements,
        length_normalize=length_normalize,
    )


def mean_colbert_scores(
    queries_embeddings: Embeddings,
    documents_embeddings: Embeddings,
    queries_mask: Tensor | None = None,
    documents_mask: Tensor | None = None,
    chunk_elements: int | None = None,
    length_normalize: bool = True,
) -> Tensor:
    """:func:`colbert_scores` divided by each query's real token count (MeanMaxSim).

    ``length_normalize=False`` gives plain :func:`colbert_scores`.
    """
    return colbert_scores(
        queries_embeddings,
        documents_embeddings,
        queries_mask=queries_mask,
        documents_mask=documents_mask,
        chunk_elements=chunk_elements,
        length_normalize=length_normalize,
    )


def mean_colbert_scores_pairwise(
    queries_embeddings: Embeddings,
    documents_embeddings: Embeddings,
    queries_mask: Tensor | None = None,
    documents_mask: Tensor | None = None,
    chunk_elements: int | None = None,
    length_normalize: bool = True,
) -> Tensor:
    """:func:`colbert_scores_pairwise` divided by each query's real token count (MeanMaxSim)."""
    return colbert_scores_pairwise(
        queries_embeddings,
        documents_embeddings,
        queries_mask=queries_mask,
        documents_mask=documents_mask,
        chunk_elements=chunk_elements,
        length_normalize=length_normalize,
    )


def mean_colbert_kd_scores(
    queries_embeddings: Embeddings,
    documents_embeddings: Embeddings,
    queries_mask: Tensor | None = None,
    documents_mask: Tensor | None = None,
    chunk_elements: int | None = None,
    length_normalize: bool = True,
) -> Tensor:
    """:func:`colbert_kd_scores` divided by each query's real token count (MeanMaxSim)."""
    return colbert_kd_scores(
        queries_embeddings,
        documents_embeddings,
        queries_mask=queries_mask,
        documents_mask=documents_mask,
        chunk_elements=chunk_elements,
        length_normalize=length_normalize,
    )
