"""Small tensor helpers: moving a batch to a device, Matryoshka truncation."""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from torch import Tensor


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
