"""Similarity functions between embeddings and the `SimilarityFunction` enum that names them.

Every function accepts lists, numpy arrays or torch tensors; a 1-D input is treated as a single embedding. Matrix
functions return a ``[len(a), len(b)]`` tensor, pairwise functions compare row ``i`` of ``a`` with row ``i`` of ``b``.
Integer inputs (e.g. int8-quantized embeddings) and half precision inputs are computed in float32.
"""

from __future__ import annotations

from collections.abc import Callable
from enum import Enum
from typing import Any

import numpy as np
import torch
from torch import Tensor

__all__ = [
    "SimilarityFunction",
    "cos_sim",
    "dot_score",
    "euclidean_sim",
    "manhattan_sim",
    "normalize_embeddings",
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
    """Cosine similarity of every row of ``a`` with every row of ``b``, shape ``[len(a), len(b)]``."""
    left, right = _matrix_pair(a, b)
    return normalize_embeddings(left) @ normalize_embeddings(right).T


pytorch_cos_sim = cos_sim


def dot_score(a: ArrayLike, b: ArrayLike) -> Tensor:
    """Dot product of every row of ``a`` with every row of ``b``, shape ``[len(a), len(b)]``."""
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


class SimilarityFunction(str, Enum):
    """Names of the supported similarity functions, as stored in a model's ``similarity_fn_name``."""

    COSINE = "cosine"
    DOT_PRODUCT = "dot"
    DOT = "dot"  # alias of DOT_PRODUCT
    EUCLIDEAN = "euclidean"
    MANHATTAN = "manhattan"

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
}
_PAIRWISE_FUNCTIONS: dict[SimilarityFunction, Callable[[ArrayLike, ArrayLike], Tensor]] = {
    SimilarityFunction.COSINE: pairwise_cos_sim,
    SimilarityFunction.DOT_PRODUCT: pairwise_dot_score,
    SimilarityFunction.EUCLIDEAN: pairwise_euclidean_sim,
    SimilarityFunction.MANHATTAN: pairwise_manhattan_sim,
}
