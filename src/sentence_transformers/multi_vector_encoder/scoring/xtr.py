"""XTR (eXtendable Token Retrieval, Lee et al. 2023) scoring.

Each query token retrieves its ``top_k`` most similar tokens across *all* document tokens of the batch, as an
index would. A document's score is the sum, over query tokens, of the best similarity among that document's
retrieved tokens (a missing one counts as 0), divided by ``Z``: the number of query tokens that retrieved at
least one real token of the document (eq. 5 of the paper).

The global top-k is kept as a running top-k over document chunks, so with ``chunk_elements`` set only one chunk
of the token-similarity grid is alive at a time, plus ``(queries, q_tokens, top_k)`` candidates and a
``(queries, q_tokens, documents)`` table of per-document maxima.
"""

from __future__ import annotations

from numbers import Integral

import numpy as np
import torch
from torch import Tensor

from sentence_transformers.util.similarity import _fill_empty_documents
from sentence_transformers.util.tensor import _convert_to_tensor

__all__ = ["XTRKDScores", "XTRScores", "xtr_kd_scores", "xtr_scores", "xtr_scores_pairwise"]

Embeddings = list | np.ndarray | Tensor


def _check_top_k(top_k: int) -> None:
    """Reject anything but a positive integer (bools included) with a message naming the value."""
    if isinstance(top_k, bool) or not isinstance(top_k, Integral) or top_k <= 0:
        raise ValueError(f"top_k must be a positive integer, got {top_k!r}.")


def _float_tensor(embeddings: Embeddings) -> Tensor:
    """Embeddings as a floating tensor: integer (quantized) ones become float32, floats keep their dtype."""
    tensor = _convert_to_tensor(embeddings)
    return tensor if tensor.is_floating_point() else tensor.float()


def _documents_per_chunk(queries_rows: int, d_tokens: int, dim: int, chunk_elements: int | None, total: int) -> int:
    """How many documents one chunk may hold: the similarity columns plus the document rows of each."""
    if chunk_elements is None:
        return max(total, 1)
    return max(1, chunk_elements // max(1, d_tokens * (queries_rows + dim)))


def _running_topk(
    queries: Tensor, documents: Tensor, documents_mask: Tensor, k: int, chunk_elements: int | None
) -> tuple[Tensor, Tensor]:
    """Top-``k`` similarities of each query-token row over all document tokens, chunk by chunk.

    ``queries`` is ``(rows, dim)``, ``documents`` ``(docs, d_tokens, dim)``. Padding tokens score the dtype
    minimum. Returns the values and their flat token ids ``doc * d_tokens + token``, both ``(rows, k)``.
    """
    rows, dim = queries.shape
    n_docs, d_tokens = documents.shape[:2]
    step = _documents_per_chunk(rows, d_tokens, dim, chunk_elements, n_docs)
    lowest = torch.finfo(torch.promote_types(queries.dtype, documents.dtype)).min
    best_values: Tensor | None = None
    best_ids: Tensor | None = None
    for start in range(0, n_docs, step):
        chunk = documents[start : start + step]
        sims = queries @ chunk.reshape(-1, dim).T
        sims.masked_fill_(~documents_mask[start : start + step].reshape(1, -1), lowest)
        values, positions = sims.topk(min(k, sims.shape[1]), dim=1, sorted=False)
        ids = positions + start * d_tokens
        if best_values is not None:
            # The running top-k and this chunk's top-k hold the top-k of everything seen so far.
            values, ids = torch.cat([best_values, values], dim=1), torch.cat([best_ids, ids], dim=1)
            values, positions = values.topk(min(k, values.shape[1]), dim=1, sorted=False)
            ids = ids.gather(1, positions)
        best_values, best_ids = values, ids
    return best_values, best_ids


def xtr_scores(
    queries_embeddings: Embeddings,
    documents_embeddings: Embeddings,
    queries_mask: Tensor | None = None,
    documents_mask: Tensor | None = None,
    top_k: int = 256,
    chunk_elements: int | None = None,
) -> Tensor:
    """XTR scores of every query against every document of every group, for in-batch negatives.

    Args:
        queries_embeddings: ``(Q, q_tokens, dim)``.
        documents_embeddings: ``(Q_doc, N, d_tokens, dim)`` stacked per-query document groups.
        queries_mask: optional ``(Q, q_tokens)`` mask; default: all-zero rows are padding.
        documents_mask: optional ``(Q_doc, N, d_tokens)`` mask; default: all-zero rows are padding.
        top_k: tokens each query token retrieves across all ``Q_doc * N`` documents (a positive int).
        chunk_elements: element budget for one chunk of the token-similarity grid; None scores all
            documents in one matmul. Results do not depend on it.

    Returns:
        ``(Q, Q_doc * N)`` float32 scores, column ``j * N + n`` for document ``n`` of group ``j``. A document
        without any real token scores -1e9. Note that scores depend on the whole batch when ``top_k`` is
        below the pooled token count.
    """
    _check_top_k(top_k)
    queries = _float_tensor(queries_embeddings)
    documents = _float_tensor(documents_embeddings)
    if queries.dim() != 3 or documents.dim() != 4:
        raise ValueError(
            "xtr_scores expects (Q, q_tokens, dim) queries and (Q_doc, N, d_tokens, dim) documents, got "
            f"{tuple(queries.shape)} and {tuple(documents.shape)}."
        )
    n_queries, q_tokens, dim = queries.shape
    groups, n_ways, d_tokens, _ = documents.shape
    n_docs = groups * n_ways
    documents = documents.reshape(n_docs, d_tokens, dim)
    device = documents.device
    if documents_mask is None:
        doc_mask = documents.any(dim=-1)
    else:
        doc_mask = _convert_to_tensor(documents_mask).to(device).reshape(n_docs, d_tokens).bool()
    query_mask = queries.any(dim=-1) if queries_mask is None else _convert_to_tensor(queries_mask)
    query_mask = query_mask.to(device).reshape(n_queries, q_tokens, 1)

    k = min(top_k, n_docs * d_tokens)
    values, token_ids = _running_topk(queries.reshape(-1, dim).to(device), documents, doc_mask, k, chunk_elements)
    # Retrieved padding slots (top_k above the real token count) go to a throwaway bucket at index n_docs.
    doc_ids = torch.where(doc_mask.reshape(-1)[token_ids], token_ids // d_tokens, n_docs)
    per_doc = values.new_zeros(len(values), n_docs + 1)
    per_doc = per_doc.scatter_reduce(1, doc_ids, values, reduce="amax", include_self=False)
    retrieved = torch.zeros_like(per_doc, dtype=torch.bool).scatter_(1, doc_ids, True)
    per_doc = per_doc[:, :n_docs].float().view(n_queries, q_tokens, n_docs) * query_mask
    retrieved = retrieved[:, :n_docs].view(n_queries, q_tokens, n_docs) & query_mask.bool()
    scores = per_doc.sum(dim=1) / retrieved.sum(dim=1).clamp(min=1)
    return _fill_empty_documents(scores, ~doc_mask.any(dim=-1))


def xtr_kd_scores(
    queries_embeddings: Embeddings,
    documents_embeddings: Embeddings,
    queries_mask: Tensor | None = None,
    documents_mask: Tensor | None = None,
    top_k: int = 256,
    chunk_elements: int | None = None,
) -> Tensor:
    """XTR scores of each query against its own ``N`` candidates: ``(Q, N)`` float32.

    The top-k retrieval still runs over every document of the batch (as in :func:`xtr_scores`); only
    each query's own group is returned. The arguments are those of :func:`xtr_scores`.
    """
    documents = _convert_to_tensor(documents_embeddings)
    if documents.dim() != 4:
        raise ValueError(f"`documents_embeddings` must be (Q, N, d_tokens, dim), got {tuple(documents.shape)}.")
    groups, n_ways = documents.shape[:2]
    scores = xtr_scores(queries_embeddings, documents, queries_mask, documents_mask, top_k, chunk_elements)
    if len(scores) != groups:
        raise ValueError(f"xtr_kd_scores needs one document group per query, got {len(scores)} and {groups}.")
    # Query i's own group occupies columns i*N .. i*N + N - 1.
    return scores.view(groups, groups, n_ways).diagonal(dim1=0, dim2=1).T


def xtr_scores_pairwise(
    queries_embeddings: Embeddings,
    documents_embeddings: Embeddings,
    queries_mask: Tensor | None = None,
    documents_mask: Tensor | None = None,
    top_k: int = 256,
    chunk_elements: int | None = None,
) -> Tensor:
    """XTR score of each aligned pair ``(query_i, document_i)``: ``(B,)`` float32.

    ``documents_embeddings`` is ``(B, d_tokens, dim)`` (or ``(B, 1, d_tokens, dim)``). Retrieval is global over
    the batch's pooled document tokens, so unlike MaxSim a pair's score depends on the other pairs.
    """
    documents = _convert_to_tensor(documents_embeddings)
    if documents.dim() == 3:
        documents = documents.unsqueeze(1)
    if documents_mask is not None:
        documents_mask = _convert_to_tensor(documents_mask)
        if documents_mask.dim() == 2:
            documents_mask = documents_mask.unsqueeze(1)
    scores = xtr_kd_scores(queries_embeddings, documents, queries_mask, documents_mask, top_k, chunk_elements)
    return scores.squeeze(-1)


class XTRScores:
    """:func:`xtr_scores` with ``top_k`` and ``chunk_elements`` fixed, to pass as a loss's ``similarity_fct``.

    Args:
        top_k: tokens each query token retrieves across the batch (a positive int).
        chunk_elements: element budget for one chunk of the token-similarity grid.
    """

    def __init__(self, top_k: int = 256, *, chunk_elements: int | None = None) -> None:
        self.top_k = top_k
        self.chunk_elements = chunk_elements

    def get_config_dict(self) -> dict[str, int | None]:
        """The settings, as a loss's model card lists them."""
        return {"top_k": self.top_k, "chunk_elements": self.chunk_elements}

    def __repr__(self) -> str:
        return f"{type(self).__name__}(top_k={self.top_k}, chunk_elements={self.chunk_elements})"

    def __call__(
        self,
        queries_embeddings: Embeddings,
        documents_embeddings: Embeddings,
        queries_mask: Tensor | None = None,
        documents_mask: Tensor | None = None,
    ) -> Tensor:
        return xtr_scores(
            queries_embeddings,
            documents_embeddings,
            queries_mask=queries_mask,
            documents_mask=documents_mask,
            top_k=self.top_k,
            chunk_elements=self.chunk_elements,
        )


class XTRKDScores(XTRScores):
    """:func:`xtr_kd_scores` with fixed settings: each query's own ``(Q, N)`` scores. See :class:`XTRScores`."""

    def __call__(
        self,
        queries_embeddings: Embeddings,
        documents_embeddings: Embeddings,
        queries_mask: Tensor | None = None,
        documents_mask: Tensor | None = None,
    ) -> Tensor:
        return xtr_kd_scores(
            queries_embeddings,
            documents_embeddings,
            queries_mask=queries_mask,
            documents_mask=documents_mask,
            top_k=self.top_k,
            chunk_elements=self.chunk_elements,
        )
