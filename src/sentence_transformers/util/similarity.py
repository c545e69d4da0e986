"""Similarity functions between embeddings and the `SimilarityFunction` enum that names them.

Every function accepts lists, numpy arrays or torch tensors; a 1-D input is treated as a single embedding. Matrix
functions return a ``[len(a), len(b)]`` tensor, pairwise functions compare row ``i`` of ``a`` with row ``i`` of ``b``.
Integer inputs (e.g. int8-quantized embeddings) and half precision inputs are computed in float32.
"""

from __future__ import annotations

import logging
import warnings
from collections.abc import Callable
from enum import Enum
from typing import Any

import numpy as np
import torch
from torch import Tensor

logger = logging.getLogger(__name__)

__all__ = [
    "SimilarityFunction",
    "cos_sim",
    "dot_score",
    "euclidean_sim",
    "manhattan_sim",
    "maxsim",
    "maxsim_pairwise",
    "mean_maxsim",
    "mean_maxsim_pairwise",
    "normalize_embeddings",
    "pairwise_angle_sim",
    "pairwise_cos_sim",
    "pairwise_dot_score",
    "pairwise_euclidean_sim",
    "pairwise_manhattan_sim",
    "pytorch_cos_sim",
]

ArrayLike = list | tuple | np.ndarray | Tensor


def _to_tensor(data: Any) -> Tensor:
    """Convert a tensor, numpy array or (nested) list into a tensor without changing its values."""
    if isinstance(data, Tensor):
        return data
    if isinstance(data, np.ndarray):
        return torch.as_tensor(data)
    if isinstance(data, (list, tuple)):
        if len(data) == 0:
            raise ValueError("Cannot compute similarities of an empty list; pass at least one embedding.")
        if all(isinstance(item, Tensor) for item in data):
            return torch.stack(list(data))
        if all(isinstance(item, np.ndarray) for item in data):
            return torch.as_tensor(np.stack(data))
        return torch.as_tensor(data)
    raise TypeError(
        f"Embeddings must be a list, numpy.ndarray or torch.Tensor, got {type(data).__name__}: {data!r:.80}."
    )


def _to_float(tensor: Tensor) -> Tensor:
    """Dense float version of ``tensor``: integers, bools and half precision become float32, float64 is kept."""
    if tensor.is_sparse:
        tensor = tensor.to_dense()
    if tensor.dtype not in (torch.float32, torch.float64):
        tensor = tensor.to(torch.float32)
    return tensor


def _to_matrix(data: Any) -> Tensor:
    """Convert ``data`` into a dense 2-D float tensor; a single 1-D embedding becomes one row."""
    tensor = _to_float(_to_tensor(data))
    if tensor.dim() == 1:
        tensor = tensor.unsqueeze(0)
    if tensor.dim() != 2:
        raise ValueError(f"Embeddings must be 1-D (one embedding) or 2-D (a batch), got shape {tuple(tensor.shape)}.")
    return tensor


def _matrix_pair(a: Any, b: Any) -> tuple[Tensor, Tensor]:
    """Convert both sides to 2-D float tensors of one dtype on ``a``'s device, checking the embedding sizes."""
    left, right = _to_matrix(a), _to_matrix(b)
    if left.shape[1] != right.shape[1]:
        raise ValueError(
            f"Embedding dimensions differ: a has {left.shape[1]} and b has {right.shape[1]}; they must be equal."
        )
    dtype = torch.promote_types(left.dtype, right.dtype)
    return left.to(dtype), right.to(device=left.device, dtype=dtype)


def _is_sparse(data: Any) -> bool:
    """Whether ``data`` is a sparse COO tensor or a non-empty list of them."""
    if isinstance(data, Tensor):
        return data.is_sparse
    return isinstance(data, (list, tuple)) and bool(data) and all(isinstance(x, Tensor) and x.is_sparse for x in data)


def _to_sparse_matrix(data: Any) -> Tensor:
    """Convert ``data`` into a coalesced 2-D sparse COO float tensor; dense inputs are sparsified, 1-D is one row."""
    tensor = _to_tensor(data)
    if not tensor.is_sparse:
        tensor = _to_float(tensor).to_sparse()
    elif tensor.dtype not in (torch.float32, torch.float64):
        tensor = tensor.to(torch.float32)
    if tensor.dim() == 1:
        tensor = tensor.unsqueeze(0)
    if tensor.dim() != 2:
        raise ValueError(f"Embeddings must be 1-D (one embedding) or 2-D (a batch), got shape {tuple(tensor.shape)}.")
    return tensor.coalesce()


def _sparse_matrix_pair(a: Any, b: Any) -> tuple[Tensor, Tensor]:
    """Like `_matrix_pair`, but both sides become coalesced sparse COO matrices (nothing is densified)."""
    left, right = _to_sparse_matrix(a), _to_sparse_matrix(b)
    if left.shape[1] != right.shape[1]:
        raise ValueError(
            f"Embedding dimensions differ: a has {left.shape[1]} and b has {right.shape[1]}; they must be equal."
        )
    dtype = torch.promote_types(left.dtype, right.dtype)
    return left.to(dtype), right.to(device=left.device, dtype=dtype)


def _sparse_scores(left: Tensor, right: Tensor) -> Tensor:
    """Dense ``left @ right.T`` of two coalesced 2-D sparse COO matrices, computed as a sparse matrix product.

    The operand with more stored values stays on the left as it is (row-sorted); only the smaller one is transposed
    and re-coalesced, which keeps the product fast for a few queries against a large corpus.
    """
    with warnings.catch_warnings():
        # torch.sparse.mm goes through CSR internally and warns once that CSR support is in beta.
        warnings.filterwarnings("ignore", message="Sparse CSR tensor support is in beta", category=UserWarning)
        if left.values().numel() >= right.values().numel():
            return torch.sparse.mm(left, right.t().coalesce()).to_dense()
        return torch.sparse.mm(right, left.t().coalesce()).to_dense().t().contiguous()


def _pairwise_pair(a: Any, b: Any) -> tuple[Tensor, Tensor]:
    """Convert both sides of a pairwise comparison to dense float tensors with broadcastable shapes."""
    left, right = _to_float(_to_tensor(a)), _to_float(_to_tensor(b))
    try:
        torch.broadcast_shapes(left.shape, right.shape)
    except RuntimeError as exc:
        raise ValueError(
            f"Pairwise inputs need the same shape, got {tuple(left.shape)} and {tuple(right.shape)}."
        ) from exc
    dtype = torch.promote_types(left.dtype, right.dtype)
    return left.to(dtype), right.to(device=left.device, dtype=dtype)


def normalize_embeddings(embeddings: Tensor | np.ndarray) -> Tensor:
    """L2-normalize each embedding (last dimension) so that dot products become cosine similarities.

    Zero vectors stay zero (the norm is clamped to 1e-12 like ``torch.nn.functional.normalize``). Sparse COO tensors
    are normalized without densifying them.
    """
    tensor = _to_tensor(embeddings)
    if tensor.is_sparse:
        return _normalize_sparse(tensor)
    if not tensor.is_floating_point():
        tensor = tensor.to(torch.float32)
    return torch.nn.functional.normalize(tensor, p=2, dim=-1)


def _normalize_sparse(tensor: Tensor) -> Tensor:
    """Row-normalize a 2-D sparse COO tensor, keeping it sparse."""
    if tensor.dim() != 2:
        raise ValueError(f"Sparse embeddings must be 2-D, got shape {tuple(tensor.shape)}.")
    tensor = tensor.coalesce()
    values = tensor.values()
    if not values.is_floating_point():
        values = values.to(torch.float32)
    rows = tensor.indices()[0]
    norms = torch.zeros(tensor.shape[0], dtype=values.dtype, device=values.device)
    norms.index_add_(0, rows, values * values)
    norms = norms.sqrt().clamp_min(1e-12)
    normalized = values / norms[rows]
    return torch.sparse_coo_tensor(tensor.indices(), normalized, tensor.shape, check_invariants=False).coalesce()


def cos_sim(a: ArrayLike, b: ArrayLike) -> Tensor:
    """Cosine similarity of every row of ``a`` with every row of ``b``, shape ``[len(a), len(b)]``.

    Sparse COO inputs are multiplied as sparse matrices (a dense other side is sparsified); the result is dense.
    """
    if _is_sparse(a) or _is_sparse(b):
        left, right = _sparse_matrix_pair(a, b)
        return _sparse_scores(normalize_embeddings(left), normalize_embeddings(right))
    left, right = _matrix_pair(a, b)
    return normalize_embeddings(left) @ normalize_embeddings(right).T


pytorch_cos_sim = cos_sim


def dot_score(a: ArrayLike, b: ArrayLike) -> Tensor:
    """Dot product of every row of ``a`` with every row of ``b``, shape ``[len(a), len(b)]``.

    Sparse COO inputs are multiplied as sparse matrices (a dense other side is sparsified); the result is dense.
    """
    if _is_sparse(a) or _is_sparse(b):
        return _sparse_scores(*_sparse_matrix_pair(a, b))
    left, right = _matrix_pair(a, b)
    return left @ right.T


def euclidean_sim(a: ArrayLike, b: ArrayLike) -> Tensor:
    """Negative Euclidean (L2) distance of every row of ``a`` to every row of ``b``; higher means more similar."""
    left, right = _matrix_pair(a, b)
    return -torch.cdist(left, right, p=2.0)


def manhattan_sim(a: ArrayLike, b: ArrayLike) -> Tensor:
    """Negative Manhattan (L1) distance of every row of ``a`` to every row of ``b``; higher means more similar."""
    left, right = _matrix_pair(a, b)
    return -torch.cdist(left, right, p=1.0)


def pairwise_cos_sim(a: ArrayLike, b: ArrayLike) -> Tensor:
    """Cosine similarity of ``a[i]`` and ``b[i]`` for each ``i`` (a 0-D tensor for two 1-D inputs)."""
    left, right = _pairwise_pair(a, b)
    return (normalize_embeddings(left) * normalize_embeddings(right)).sum(dim=-1)


def pairwise_dot_score(a: ArrayLike, b: ArrayLike) -> Tensor:
    """Dot product of ``a[i]`` and ``b[i]`` for each ``i``."""
    left, right = _pairwise_pair(a, b)
    return (left * right).sum(dim=-1)


def pairwise_euclidean_sim(a: ArrayLike, b: ArrayLike) -> Tensor:
    """Negative Euclidean distance between ``a[i]`` and ``b[i]`` for each ``i``."""
    left, right = _pairwise_pair(a, b)
    return -torch.sqrt(((left - right) ** 2).sum(dim=-1))


def pairwise_manhattan_sim(a: ArrayLike, b: ArrayLike) -> Tensor:
    """Negative Manhattan distance between ``a[i]`` and ``b[i]`` for each ``i``."""
    left, right = _pairwise_pair(a, b)
    return -(left - right).abs().sum(dim=-1)


def pairwise_angle_sim(x: ArrayLike, y: ArrayLike) -> Tensor:
    """AnglE similarity of ``x[i]`` and ``y[i]``: ``|cos(x, y) + sin(x, y)|`` of the L2-normalized embeddings.

    The embedding is read as a complex vector (first half real, second half imaginary parts; an odd size gets a zero
    appended), and ``sin`` is ``sum(x_im * y_re - x_re * y_im)``. See AnglELoss and https://arxiv.org/abs/2309.12871.
    """
    left, right = _pairwise_pair(x, y)
    left, right = torch.broadcast_tensors(left, right)
    if left.shape[-1] % 2:
        left = torch.nn.functional.pad(left, (0, 1))
        right = torch.nn.functional.pad(right, (0, 1))
    left, right = normalize_embeddings(left), normalize_embeddings(right)
    left_re, left_im = left.chunk(2, dim=-1)
    right_re, right_im = right.chunk(2, dim=-1)
    cosine = (left * right).sum(dim=-1)
    sine = (left_im * right_re - left_re * right_im).sum(dim=-1)
    return (cosine + sine).abs()


# ----------------------------------------------------------------------------------------------- multi-vector MaxSim
# Default cap on the elements of one chunk's token-similarity tensor (about 400 MB in float32).
_MAXSIM_CHUNK_ELEMENT_BUDGET = 100_000_000
# Score of a document without any unmasked token: below any real score, and finite (unlike the float32 minimum
# summed over query tokens) so that losses stay finite.
_EMPTY_DOCUMENT_SCORE = -1e9
_warned_empty_documents = False


def _origin_device(embeddings: Any) -> torch.device | None:
    """The device of tensor inputs (or a list of tensors); None for numpy and plain lists, which have none."""
    if isinstance(embeddings, Tensor):
        return embeddings.device
    if isinstance(embeddings, (list, tuple)) and embeddings and isinstance(embeddings[0], Tensor):
        return embeddings[0].device
    return None


def _mask_tensor(mask: Any, name: str) -> Tensor | None:
    """A mask given as a tensor, an array or a list of per-item 1-D masks, as one (padded) tensor."""
    if mask is None or isinstance(mask, Tensor):
        return mask
    if isinstance(mask, np.ndarray):
        return torch.as_tensor(mask)
    if isinstance(mask, (list, tuple)):
        items = [torch.as_tensor(item) for item in mask]
        return torch.nn.utils.rnn.pad_sequence(items, batch_first=True) if items else None
    raise TypeError(f"`{name}` must be a tensor, an ndarray, or a list of per-item masks, not {type(mask).__name__}.")


def _multi_vector_side(embeddings: Any, mask: Any, name: str, weights: bool = False) -> tuple[Tensor, Tensor]:
    """One side of a MaxSim call as a padded ``(B, T, D)`` float tensor and a ``(B, T)`` boolean mask.

    Lists of ``(T_i, D)`` items are zero-padded and masked by their lengths; a pre-padded 3-D tensor without a mask
    treats all-zero token rows as padding; a single 2-D input is one item. With ``weights`` a floating mask is
    kept as float32 values (the query side: each token's maximum is multiplied by its mask entry).
    """
    mask = _mask_tensor(mask, name)
    if isinstance(embeddings, (list, tuple)):
        items = [_to_tensor(item) for item in embeddings]
        lengths = torch.tensor([len(item) for item in items])
        padded = torch.nn.utils.rnn.pad_sequence(items, batch_first=True)
        derived = torch.arange(padded.shape[1]).unsqueeze(0) < lengths.unsqueeze(1)
    else:
        padded = _to_tensor(embeddings)
        if padded.dim() == 2:
            padded = padded.unsqueeze(0)
            mask = mask.unsqueeze(0) if mask is not None and mask.dim() == 1 else mask
        if padded.dim() != 3:
            raise ValueError(f"Multi-vector embeddings must be (batch, tokens, dim), got shape {tuple(padded.shape)}.")
        derived = None
    if padded.is_sparse:
        padded = padded.to_dense()
    if not padded.is_floating_point():
        padded = padded.float()  # e.g. int8-quantized token embeddings
    if mask is None:
        # Computed only here: for a large corpus this (B, T) pass over the vectors is not free.
        derived = padded.any(dim=-1) if derived is None else derived
        return padded, derived.to(padded.device)
    if mask.shape[-1] != padded.shape[1]:
        raise ValueError(f"`{name}` covers {mask.shape[-1]} tokens, but the padded embeddings have {padded.shape[1]}.")
    mask = mask.to(padded.device)
    mask = mask.to(torch.float32) if weights and mask.is_floating_point() else mask.bool()
    return padded, mask.expand(padded.shape[0], -1)


def _fill_empty_documents(scores: Tensor, empty: Tensor) -> Tensor:
    """Give documents without any unmasked token the finite ``_EMPTY_DOCUMENT_SCORE`` (warning once on CPU)."""
    global _warned_empty_documents
    if not _warned_empty_documents and empty.device.type == "cpu" and bool(empty.any()):
        _warned_empty_documents = True
        logger.warning(
            "Encountered documents without any scoreable token during multi-vector similarity scoring (every token "
            f"masked, or no token vectors). These documents score {_EMPTY_DOCUMENT_SCORE:.0e}, below every real one."
        )
    return scores.masked_fill(empty, _EMPTY_DOCUMENT_SCORE)


def _late_interaction(a: Tensor, a_mask: Tensor, b: Tensor, b_mask: Tensor, pairwise: bool) -> Tensor:
    """Sum over unmasked query tokens of the max similarity over unmasked document tokens, in float32.

    ``pairwise`` scores ``a[i]`` with ``b[i]`` (shape ``(B,)``), else every query with every document ``(A, B)``.
    """
    dtype = torch.promote_types(a.dtype, b.dtype)
    a, b = a.to(dtype), b.to(dtype)
    shape = (a.shape[0],) if pairwise else (a.shape[0], b.shape[0])
    empty = ~b_mask.any(dim=-1)
    if b.shape[1] == 0:
        return _fill_empty_documents(torch.zeros(shape, device=b.device), empty.expand(shape))
    if pairwise:
        sims = torch.einsum("bsh,bth->bst", a, b)
        sims.masked_fill_(~b_mask.unsqueeze(1), torch.finfo(dtype).min)
        best = sims.max(dim=-1).values.float() * a_mask
    else:
        sims = torch.einsum("ash,bth->abst", a, b)
        sims.masked_fill_(~b_mask[None, :, None, :], torch.finfo(dtype).min)
        best = sims.max(dim=-1).values.float() * a_mask.unsqueeze(1)
    return _fill_empty_documents(best.sum(dim=-1), empty.expand(shape))


def _maxsim_inputs(
    a: Any, b: Any, a_mask: Any, b_mask: Any, device: str | torch.device | None
) -> tuple[Tensor, Tensor, Tensor, Tensor, torch.device, torch.device]:
    """Both sides padded and masked, plus the device to score on and the device the scores are returned on."""
    result_device = _origin_device(b) or _origin_device(a) or torch.device("cpu")
    scoring_device = torch.device(device) if device is not None else result_device
    a, a_mask = _multi_vector_side(a, a_mask, "a_mask", weights=True)
    b, b_mask = _multi_vector_side(b, b_mask, "b_mask")
    if a.shape[-1] != b.shape[-1] and a.shape[1] and b.shape[1]:
        raise ValueError(f"Token embedding sizes differ: a has {a.shape[-1]} and b has {b.shape[-1]}.")
    return a, a_mask, b, b_mask, scoring_device, result_device


def _normalize_by_query_length(scores: Tensor, a_mask: Tensor, pairwise: bool) -> Tensor:
    """Divide scores by each query's number of real tokens (MeanMaxSim)."""
    counts = a_mask.ne(0).sum(dim=-1).clamp(min=1).to(device=scores.device, dtype=scores.dtype)
    return scores / (counts if pairwise else counts.unsqueeze(1))


def maxsim(
    a: list | np.ndarray | Tensor,
    b: list | np.ndarray | Tensor,
    a_mask: Tensor | None = None,
    b_mask: Tensor | None = None,
    chunk_elements: int | None = None,
    length_normalize: bool = False,
    device: str | torch.device | None = None,
) -> Tensor:
    """ColBERT-style late-interaction score of every query in ``a`` with every document in ``b``.

    ``score(q, d) = sum_i max_j q_i . d_j`` over the unmasked query tokens ``i`` and document tokens ``j``.

    Args:
        a: Query token embeddings: a ``(A, S, D)`` tensor/array, a list of ``(S_i, D)`` items, or one ``(S, D)`` item.
        b: Document token embeddings, in the same forms.
        a_mask: ``(A, S)`` mask (bool or 0/1), or a list of per-item masks; 0 tokens are left out of the sum.
            Default: list lengths, or non-zero token rows of a padded tensor. A float mask weights each query
            token's maximum by its value.
        b_mask: ``(B, T)`` mask; 0 tokens are left out of the max. A document without any token scores -1e9.
        chunk_elements: Cap on the elements of one chunk's token-similarity tensor (default 100 million).
        length_normalize: Divide each score by the query's real token count (MeanMaxSim).
        device: Device to score on, chunk by chunk. The scores are returned on the documents' device.

    Returns:
        ``(A, B)`` float32 tensor with ``res[i][j] = MaxSim(a[i], b[j])``.
    """
    if len(a) == 0 or len(b) == 0:
        result_device = _origin_device(b) or _origin_device(a)
        return torch.zeros(len(a), len(b), dtype=torch.float32, device=result_device)
    if isinstance(b, (list, tuple)) and len(b) > 1:
        scores, a_mask = _maxsim_ragged_documents(a, b, a_mask, b_mask, chunk_elements, device)
    else:
        scores, a_mask = _maxsim_padded(a, b, a_mask, b_mask, chunk_elements, device)
    return _normalize_by_query_length(scores, a_mask, pairwise=False) if length_normalize else scores


def _maxsim_ragged_documents(
    a: Any, b: list | tuple, a_mask: Any, b_mask: Any, chunk_elements: int | None, device: Any
) -> tuple[Tensor, Tensor]:
    """:func:`maxsim` over a list of documents, padded one chunk at a time so that a long or large corpus never
    exists as one padded copy; the chunk size bounds its padded vectors plus its token-similarity tensor."""
    a, a_mask = _multi_vector_side(a, a_mask, "a_mask", weights=True)
    widths = [len(item) for item in b]
    b_mask = _mask_tensor(b_mask, "b_mask")
    if b_mask is not None and b_mask.shape[-1] != max(widths):
        raise ValueError(f"`b_mask` covers {b_mask.shape[-1]} tokens, but the padded embeddings have {max(widths)}.")
    dim = a.shape[-1]
    per_document = max(1, max(widths) * (a.shape[0] * a.shape[1] + dim))
    step = max(1, (chunk_elements or _MAXSIM_CHUNK_ELEMENT_BUDGET) // per_document)
    columns = []
    for start in range(0, len(b), step):
        chunk_mask = None if b_mask is None else b_mask[start : start + step, : max(widths[start : start + step])]
        scores, _ = _maxsim_padded(a, list(b[start : start + step]), a_mask, chunk_mask, chunk_elements, device)
        columns.append(scores)
    return (columns[0] if len(columns) == 1 else torch.cat(columns, dim=1)), a_mask


def _maxsim_padded(
    a: Any, b: Any, a_mask: Any, b_mask: Any, chunk_elements: int | None, device: Any
) -> tuple[Tensor, Tensor]:
    """:func:`maxsim` without the length normalization, both sides padded up front; also the query mask."""
    a, a_mask, b, b_mask, scoring_device, result_device = _maxsim_inputs(a, b, a_mask, b_mask, device)
    budget = chunk_elements or _MAXSIM_CHUNK_ELEMENT_BUDGET
    per_pair = max(1, a.shape[1] * b.shape[1])
    query_step = max(1, min(len(a), budget // per_pair))
    document_step = max(1, budget // (query_step * per_pair))
    rows = []
    for q in range(0, len(a), query_step):
        chunk_a = a[q : q + query_step].to(scoring_device)
        chunk_a_mask = a_mask[q : q + query_step].to(scoring_device)
        row = [
            _late_interaction(
                chunk_a,
                chunk_a_mask,
                b[d : d + document_step].to(scoring_device),
                b_mask[d : d + document_step].to(scoring_device),
                pairwise=False,
            ).to(result_device)
            for d in range(0, len(b), document_step)
        ]
        rows.append(torch.cat(row, dim=1))
    return torch.cat(rows, dim=0), a_mask


def maxsim_pairwise(
    a: list | np.ndarray | Tensor,
    b: list | np.ndarray | Tensor,
    a_mask: Tensor | None = None,
    b_mask: Tensor | None = None,
    chunk_elements: int | None = None,
    length_normalize: bool = False,
    device: str | torch.device | None = None,
) -> Tensor:
    """MaxSim of each pair ``(a[i], b[i])``; the arguments are those of :func:`maxsim`.

    Returns:
        ``(N,)`` float32 tensor, on the documents' device.

    Raises:
        ValueError: If ``a`` and ``b`` hold different numbers of items.
    """
    if len(a) != len(b):
        raise ValueError(f"`a` and `b` must hold as many items to score as pairs, got {len(a)} and {len(b)}.")
    if len(a) == 0:
        return torch.zeros(0, dtype=torch.float32, device=_origin_device(b) or _origin_device(a))
    a, a_mask, b, b_mask, scoring_device, result_device = _maxsim_inputs(a, b, a_mask, b_mask, device)
    if len(a) != len(b):  # a single 2-D item on one side only
        raise ValueError(f"`a` and `b` must hold as many items to score as pairs, got {len(a)} and {len(b)}.")
    step = max(1, (chunk_elements or _MAXSIM_CHUNK_ELEMENT_BUDGET) // max(1, a.shape[1] * b.shape[1]))
    chunks = [
        _late_interaction(
            a[i : i + step].to(scoring_device),
            a_mask[i : i + step].to(scoring_device),
            b[i : i + step].to(scoring_device),
            b_mask[i : i + step].to(scoring_device),
            pairwise=True,
        ).to(result_device)
        for i in range(0, len(a), step)
    ]
    scores = torch.cat(chunks)
    return _normalize_by_query_length(scores, a_mask, pairwise=True) if length_normalize else scores


def mean_maxsim(
    a: list | np.ndarray | Tensor,
    b: list | np.ndarray | Tensor,
    a_mask: Tensor | None = None,
    b_mask: Tensor | None = None,
    chunk_elements: int | None = None,
    length_normalize: bool = True,
    device: str | torch.device | None = None,
) -> Tensor:
    """MeanMaxSim: :func:`maxsim` divided by each query's real token count, so scores compare across query lengths.

    Rankings per query are those of MaxSim. ``length_normalize=False`` gives plain :func:`maxsim`.
    """
    return maxsim(a, b, a_mask, b_mask, chunk_elements=chunk_elements, length_normalize=length_normalize, device=device)


def mean_maxsim_pairwise(
    a: list | np.ndarray | Tensor,
    b: list | np.ndarray | Tensor,
    a_mask: Tensor | None = None,
    b_mask: Tensor | None = None,
    chunk_elements: int | None = None,
    length_normalize: bool = True,
    device: str | torch.device | None = None,
) -> Tensor:
    """Pairwise MeanMaxSim: :func:`maxsim_pairwise` divided by each query's real token count."""
    return maxsim_pairwise(
        a, b, a_mask, b_mask, chunk_elements=chunk_elements, length_normalize=length_normalize, device=device
    )


class SimilarityFunction(str, Enum):
    """Names of the supported similarity functions, as stored in a model's ``similarity_fn_name``."""

    COSINE = "cosine"
    DOT_PRODUCT = "dot"
    DOT = "dot"  # alias of DOT_PRODUCT
    EUCLIDEAN = "euclidean"
    MANHATTAN = "manhattan"
    MAXSIM = "maxsim"  # late interaction (multi-vector, ColBERT-style) scores
    MEAN_MAXSIM = "meanmaxsim"  # MaxSim divided by the query's token count

    @classmethod
    def _missing_(cls, value: object) -> SimilarityFunction:
        """Reject unknown names with a message that lists the accepted ones."""
        raise ValueError(
            f"{value!r} is not a valid SimilarityFunction; accepted values are {cls.possible_values()} "
            "or the SimilarityFunction members themselves."
        )

    @staticmethod
    def to_similarity_fn(similarity_function: str | SimilarityFunction) -> Callable[[ArrayLike, ArrayLike], Tensor]:
        """Return the matrix similarity function (e.g. `cos_sim`) for a name or member."""
        return _MATRIX_FUNCTIONS[SimilarityFunction(similarity_function)]

    @staticmethod
    def to_similarity_pairwise_fn(
        similarity_function: str | SimilarityFunction,
    ) -> Callable[[ArrayLike, ArrayLike], Tensor]:
        """Return the pairwise similarity function (e.g. `pairwise_cos_sim`) for a name or member."""
        return _PAIRWISE_FUNCTIONS[SimilarityFunction(similarity_function)]

    @staticmethod
    def possible_values() -> list[str]:
        """The accepted string values, aliases counted once."""
        return [member.value for member in SimilarityFunction]


_MATRIX_FUNCTIONS: dict[SimilarityFunction, Callable[[ArrayLike, ArrayLike], Tensor]] = {
    SimilarityFunction.COSINE: cos_sim,
    SimilarityFunction.DOT_PRODUCT: dot_score,
    SimilarityFunction.EUCLIDEAN: euclidean_sim,
    SimilarityFunction.MANHATTAN: manhattan_sim,
    SimilarityFunction.MAXSIM: maxsim,
    SimilarityFunction.MEAN_MAXSIM: mean_maxsim,
}
_PAIRWISE_FUNCTIONS: dict[SimilarityFunction, Callable[[ArrayLike, ArrayLike], Tensor]] = {
    SimilarityFunction.COSINE: pairwise_cos_sim,
    SimilarityFunction.DOT_PRODUCT: pairwise_dot_score,
    SimilarityFunction.EUCLIDEAN: pairwise_euclidean_sim,
    SimilarityFunction.MANHATTAN: pairwise_manhattan_sim,
    SimilarityFunction.MAXSIM: maxsim_pairwise,
    SimilarityFunction.MEAN_MAXSIM: mean_maxsim_pairwise,
}
