"""Tensor helpers: moving batches between devices, Matryoshka truncation, sparsification, padded token embeddings."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np
import torch
from torch import Tensor

from sentence_transformers.util.similarity import normalize_embeddings

if TYPE_CHECKING:
    from scipy.sparse import coo_matrix

__all__ = [
    "batch_to_device",
    "cat_padded_token_embeddings",
    "compute_count_vector",
    "normalize_embeddings",
    "repad_flattened_features",
    "select_max_active_dims",
    "stack_padded_token_embeddings",
    "to_scipy_coo",
    "truncate_embeddings",
]

# Keys that FA2 input flattening adds to a features dict, dropped again once the batch is re-padded.
_FLATTENING_KEYS = ("cu_seq_lens_q", "cu_seq_lens_k", "max_length_q", "max_length_k", "seq_idx", "position_ids")


def _convert_to_tensor(a: list | np.ndarray | Tensor) -> Tensor:
    """``a`` as a tensor: lists of tensors (sparse ones stay sparse, as float32) or arrays are stacked."""
    if isinstance(a, list) and a and all(isinstance(item, Tensor) for item in a):
        if all(item.is_sparse for item in a):
            return torch.stack([item.coalesce().to(torch.float32) for item in a])
        return torch.stack(a)
    if isinstance(a, list) and a and all(isinstance(item, np.ndarray) for item in a):
        return torch.from_numpy(np.stack(a))
    if isinstance(a, np.ndarray):
        return torch.from_numpy(a) if a.flags.writeable else torch.tensor(a)
    if not isinstance(a, Tensor):
        return torch.tensor(a)
    return a.to(torch.float32) if a.is_sparse else a


def _convert_to_batch(a: Tensor) -> Tensor:
    """Add a batch dimension to a single 1-D embedding; other tensors are returned as they are."""
    return a.unsqueeze(0) if a.dim() == 1 else a


def _convert_to_batch_tensor(a: list | np.ndarray | Tensor) -> Tensor:
    """``a`` as a tensor with a batch dimension; half precision floats are upcast to float32."""
    tensor = _convert_to_tensor(a)
    if tensor.is_floating_point() and torch.finfo(tensor.dtype).bits < 32:
        tensor = tensor.to(torch.float32)
    return _convert_to_batch(tensor)


def _move_tensors_to_device(value: Any, target_device: str | torch.device) -> Any:
    """Move every tensor nested in dicts, lists and tuples of ``value`` to ``target_device``, keeping the structure."""
    if isinstance(value, Tensor):
        return value.to(target_device)
    if isinstance(value, dict):
        return {key: _move_tensors_to_device(item, target_device) for key, item in value.items()}
    if isinstance(value, list):
        return [_move_tensors_to_device(item, target_device) for item in value]
    if isinstance(value, tuple):
        return tuple(_move_tensors_to_device(item, target_device) for item in value)
    return value


def _move_tensors_to_cpu(value: Any) -> Any:
    """Move every nested tensor to the CPU (results crossing process boundaries must not hold device handles)."""
    return _move_tensors_to_device(value, "cpu")


def batch_to_device(batch: dict[str, Any], target_device: torch.device | str) -> dict[str, Any]:
    """Move every tensor value of ``batch`` to ``target_device`` (in place); other values are left untouched."""
    for key, value in batch.items():
        if isinstance(value, Tensor):
            batch[key] = value.to(target_device)
    return batch


def truncate_embeddings(embeddings: np.ndarray | Tensor, truncate_dim: int | None) -> np.ndarray | Tensor:
    """Keep the first ``truncate_dim`` values of the last dimension (Matryoshka truncation); None keeps all.

    Returns a view, not a copy. A ``truncate_dim`` larger than the embedding size keeps all values.
    """
    if truncate_dim is None:
        return embeddings
    if isinstance(truncate_dim, bool) or not isinstance(truncate_dim, int) or truncate_dim < 1:
        raise ValueError(f"truncate_dim must be a positive integer or None, got {truncate_dim!r}.")
    return embeddings[..., :truncate_dim]


def select_max_active_dims(embeddings: np.ndarray | Tensor, max_active_dims: int | None) -> np.ndarray | Tensor:
    """Keep only the ``max_active_dims`` largest-magnitude values of each embedding, setting the rest to zero.

    Returns a new dense tensor (the input is never modified); None returns ``embeddings`` unchanged.

    Raises:
        ValueError: If ``max_active_dims`` is 0 or negative.
    """
    if max_active_dims is None:
        return embeddings
    if max_active_dims <= 0:
        raise ValueError(f"max_active_dims must be a positive integer, got {max_active_dims}.")
    tensor = _convert_to_tensor(embeddings)
    if tensor.is_sparse:
        tensor = tensor.to_dense()
    k = min(max_active_dims, tensor.shape[-1])
    top = tensor.abs().topk(k, dim=-1).indices
    return torch.zeros_like(tensor).scatter_(-1, top, tensor.gather(-1, top))


def repad_flattened_features(features: dict[str, Any]) -> dict[str, Any]:
    """Undo flash-attention input flattening on a features dict, in place.

    A flattened batch holds ``token_embeddings`` ``(1, total_tokens, D)`` and ``input_ids`` ``(1, total_tokens)`` with
    sequence boundaries in ``cu_seq_lens_q``. This pads them back to ``(B, T_max, ...)``, rebuilds a boolean
    ``attention_mask`` and drops the flattening keys. Callers check ``"cu_seq_lens_q" in features`` first.
    """
    bounds = features["cu_seq_lens_q"].tolist()
    spans = list(zip(bounds[:-1], bounds[1:], strict=True))
    flat_embeddings = features["token_embeddings"][0]
    flat_ids = features["input_ids"][0]
    pad = torch.nn.utils.rnn.pad_sequence
    features["token_embeddings"] = pad([flat_embeddings[s:e] for s, e in spans], batch_first=True, padding_value=0.0)
    features["input_ids"] = pad([flat_ids[s:e] for s, e in spans], batch_first=True, padding_value=0)
    lengths = torch.tensor([end - start for start, end in spans], device=flat_embeddings.device)
    positions = torch.arange(features["input_ids"].shape[1], device=flat_embeddings.device)
    features["attention_mask"] = positions.unsqueeze(0) < lengths.unsqueeze(1)
    for key in _FLATTENING_KEYS:
        features.pop(key, None)
    return features


def _pad_token_axis(embeddings: list[Tensor], masks: list[Tensor]) -> tuple[list[Tensor], list[Tensor]]:
    """Zero-pad each ``(B, T_i, D)`` tensor and ``(B, T_i)`` mask to the largest ``T_i`` (no copy when all match)."""
    width = max(embedding.size(1) for embedding in embeddings)
    if all(embedding.size(1) == width for embedding in embeddings):
        return embeddings, masks
    pad = torch.nn.functional.pad
    embeddings = [pad(embedding, (0, 0, 0, width - embedding.size(1))) for embedding in embeddings]
    masks = [pad(mask, (0, width - mask.size(1))) for mask in masks]
    return embeddings, masks


def stack_padded_token_embeddings(embeddings: list[Tensor], masks: list[Tensor]) -> tuple[Tensor, Tensor]:
    """Stack ``(B, T_i, D)`` token embeddings and ``(B, T_i)`` masks of several columns into ``(B, N, T_max, D)`` and
    ``(B, N, T_max)``, zero-padding (mask False/0) the shorter columns.

    Multi-vector losses use this to score one query against N document columns padded to different lengths.
    """
    embeddings, masks = _pad_token_axis(embeddings, masks)
    return torch.stack(embeddings, dim=1), torch.stack(masks, dim=1)


def cat_padded_token_embeddings(embeddings: list[Tensor], masks: list[Tensor]) -> tuple[Tensor, Tensor]:
    """Concatenate ``(B_i, T_i, D)`` token-embedding chunks and ``(B_i, T_i)`` masks into ``(sum B_i, T_max, D)`` and
    ``(sum B_i, T_max)``, zero-padding the shorter chunks (e.g. mini-batches encoded separately by GradCache)."""
    embeddings, masks = _pad_token_axis(embeddings, masks)
    return torch.cat(embeddings, dim=0), torch.cat(masks, dim=0)


def to_scipy_coo(x: Tensor) -> coo_matrix:
    """Convert a 2-D sparse COO tensor into a ``scipy.sparse.coo_matrix`` with the same shape, indices and values."""
    from scipy.sparse import coo_matrix

    x = x.coalesce()
    indices = x.indices().cpu().numpy()
    values = x.values()
    if values.dtype == torch.bfloat16:  # numpy has no bfloat16
        values = values.float()
    return coo_matrix((values.cpu().numpy(), (indices[0], indices[1])), shape=tuple(x.shape))


def compute_count_vector(embeddings: Tensor) -> Tensor:
    """For each dimension, how many embeddings have a non-zero value there (int32, shape ``(dim,)``).

    Accepts a dense or sparse ``(batch, dim)`` matrix or a single ``(dim,)`` embedding.

    Raises:
        ValueError: For inputs with more than 2 dimensions.
    """
    if embeddings.dim() not in (1, 2):
        raise ValueError(f"Expected 1D or 2D tensor, got {embeddings.dim()}D")
    sparse = (embeddings if embeddings.is_sparse else embeddings.to_sparse()).coalesce()
    counts = torch.zeros(sparse.size(-1), dtype=torch.int32, device=sparse.device)
    indices, values = sparse.indices(), sparse.values()
    if values.numel() == 0:
        return counts
    # Coalesced sparse tensors can still store explicit zeros; those are not active dimensions.
    columns = indices[-1][values != 0]
    counts.index_add_(0, columns, torch.ones_like(columns, dtype=torch.int32))
    return counts
