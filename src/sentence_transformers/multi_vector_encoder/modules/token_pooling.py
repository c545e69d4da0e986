"""Token pooling: fewer vectors per document, to shrink a late-interaction index.

A pooling is used in one of three ways: as the last module of a MultiVectorEncoder (saved with the model), per call
(``encode(..., token_pooling=...)``), or on its own (``pooling.pool(embeddings)``). Each use pools again: pooling
twice is not the same as pooling once.
"""

from __future__ import annotations

import functools
from abc import ABC, abstractmethod
from collections.abc import Callable
from typing import Any

import numpy as np
import torch
from torch import Tensor

from sentence_transformers.base.modules.module import Module

PADDING_SIDES = ("left", "right")


def _split_rows(embeddings: Tensor, attention_mask: Tensor | None, padding_side: str) -> list[Tensor]:
    """The real rows of each input of a padded [batch, tokens, dim] tensor: those of the mask, else the span from
    the first to the last non-zero row (padding is taken to be all-zero rows on ``padding_side``)."""
    if attention_mask is not None:
        return [rows[keep] for rows, keep in zip(embeddings, attention_mask.bool(), strict=True)]
    if padding_side not in PADDING_SIDES:
        raise ValueError(f"padding_side must be 'left' or 'right', got {padding_side!r}.")
    result = []
    for rows in embeddings:
        nonzero = torch.nonzero(rows.abs().sum(dim=-1) > 0).flatten()
        if not len(nonzero):
            result.append(rows[:0])
        elif padding_side == "right":
            result.append(rows[: int(nonzero[-1]) + 1])
        else:
            result.append(rows[int(nonzero[0]) :])
    return result


def _pad_rows(rows: list[Tensor], padding_side: str) -> Tensor:
    """Stack [tokens_i, dim] tensors into [batch, max tokens, dim], zero-padded on ``padding_side``."""
    width = max(row.shape[0] for row in rows)
    output = rows[0].new_zeros((len(rows), width, rows[0].shape[-1]))
    for index, row in enumerate(rows):
        if padding_side == "right":
            output[index, : row.shape[0]] = row
        elif row.shape[0]:
            output[index, -row.shape[0] :] = row
    return output


class BaseTokenPooling(Module, ABC):
    """A token pooling: subclasses implement ``pool_one`` (one input's [tokens, dim] → [fewer, dim]).

    Args:
        tasks: The tasks pooled (a string is one task); others pass through. Default ``["document"]``; inputs
            encoded without a task count as documents.
    """

    config_keys: list[str] = ["tasks"]
    forward_kwargs: set[str] = {"task"}

    def __init__(self, *, tasks: str | list[str] | None = None) -> None:
        super().__init__()
        tasks = [tasks] if isinstance(tasks, str) else tasks
        self.tasks: list[str] = ["document"] if tasks is None else list(tasks)

    def applies_to(self, task: str | None) -> bool:
        """Whether inputs of ``task`` are pooled (None counts as "document")."""
        return (task or "document") in self.tasks

    def forward(self, features: dict[str, Any], task: str | None = None, **kwargs: Any) -> dict[str, Any]:
        """Pool each input's scored tokens; the output is right-padded with a matching ``attention_mask``."""
        if not self.applies_to(task):
            return features
        embeddings = features["token_embeddings"]
        if embeddings.shape[0] == 0:
            return features
        mask = features["attention_mask"].bool()
        pooled = [self.pool_one(rows[keep]) for rows, keep in zip(embeddings, mask, strict=True)]
        lengths = torch.tensor([len(rows) for rows in pooled], device=embeddings.device)
        features["token_embeddings"] = _pad_rows(pooled, "right").to(embeddings.device)
        features["attention_mask"] = torch.arange(int(lengths.max()), device=embeddings.device)[None] < lengths[:, None]
        return features

    def pool(
        self,
        embeddings: list[Tensor] | Tensor,
        *,
        task: str | None = None,
        attention_mask: Tensor | None = None,
        padding_side: str = "right",
    ) -> list[Tensor] | Tensor:
        """Pool encoded embeddings: a list of [tokens_i, dim] tensors (gives a list), or a padded [batch, tokens,
        dim] tensor (gives one padded on ``padding_side``; its real rows are those of ``attention_mask``, else the
        non-zero ones). Embeddings of a task this pooling does not apply to are returned unchanged."""
        if not self.applies_to(task):
            return embeddings
        if isinstance(embeddings, Tensor):
            if embeddings.ndim != 3:
                raise ValueError(f"Tensor input must be 3D (B, T, D); got shape {tuple(embeddings.shape)}.")
            if padding_side not in PADDING_SIDES:
                raise ValueError(f"padding_side must be 'left' or 'right', got {padding_side!r}.")
            if embeddings.shape[0] == 0:
                return embeddings.new_zeros((0, 0, embeddings.shape[-1]))
            rows = _split_rows(embeddings, attention_mask, padding_side)
            return _pad_rows([self.pool_one(row) for row in rows], padding_side)
        if isinstance(embeddings, list):
            if embeddings and (not isinstance(embeddings[0], Tensor) or embeddings[0].ndim != 2):
                shape = getattr(embeddings[0], "shape", type(embeddings[0]).__name__)
                raise ValueError(f"list entries must be 2D tensors; got {shape}.")
            return [self.pool_one(row) for row in embeddings]
        raise ValueError("embeddings must be a list of 2D tensors or a 3D padded tensor.")

    @abstractmethod
    def pool_one(self, embedding: Tensor, **kwargs: Any) -> Tensor:
        """Pool one input's [tokens, dim] tensor into [fewer tokens, dim]."""

    def save(self, output_path: str, *args, safe_serialization: bool = True, **kwargs) -> None:
        """Write config.json."""
        self.save_config(output_path)


@functools.cache
def _ward() -> Callable[..., np.ndarray]:
    """Ward linkage: fastcluster's when installed (faster), else scipy's."""
    try:
        from fastcluster import linkage
    except (ImportError, OSError, RuntimeError):
        from scipy.cluster.hierarchy import linkage
    return linkage


def _unit_rows(embedding: Tensor) -> Tensor:
    """Rows scaled to unit length (half precision computed in float32)."""
    if embedding.dtype in (torch.float16, torch.bfloat16):
        return torch.nn.functional.normalize(embedding.float(), dim=-1).to(embedding.dtype)
    return torch.nn.functional.normalize(embedding, dim=-1)


def ward_pool(embedding: Tensor, pool_factor: float, protected: int, normalize: bool = True) -> Tensor:
    """Cluster the rows after the first ``protected`` ones into ``rows // pool_factor`` groups (Ward linkage on
    cosine distance) and replace each group by its mean; the protected rows come first."""
    from scipy.cluster.hierarchy import fcluster
    from scipy.spatial.distance import squareform

    kept, rest = embedding[:protected], embedding[protected:]
    count = len(rest)
    clusters = max(int(count // pool_factor), 1)
    if clusters < count:
        values = rest.detach().cpu().float()
        distances = (1 - values @ values.T).clamp_(0, 2).numpy()
        tree = _ward()(squareform(distances, checks=False), method="ward")
        labels = torch.from_numpy(fcluster(tree, t=clusters, criterion="maxclust").astype(np.int64))
        _, group = torch.unique(labels, return_inverse=True)
        groups = int(group.max()) + 1
        source = rest.cpu()
        sums = torch.zeros((groups, source.shape[1]), dtype=source.dtype).index_add_(0, group, source)
        sizes = torch.bincount(group, minlength=groups).unsqueeze(1)
        embedding = torch.cat([kept, (sums / sizes).to(embedding.device)])
    return _unit_rows(embedding) if normalize else embedding


class HierarchicalTokenPooling(BaseTokenPooling):
    """Ward hierarchical clustering of each document's token vectors (cosine distance); each cluster becomes its
    mean. Expects unit-length vectors (place it after a token-level Normalize).

    Args:
        pool_factor: Keep about ``1 / pool_factor`` of the tokens (``1.0``, the default, pools nothing).
        num_protected_tokens: Leading tokens kept as they are (e.g. ``[CLS]``); default 1.
        normalize_embeddings: Scale every output vector to unit length (default True; a saved config without the
            key loads with False, as upstream).
        tasks: The tasks pooled; default ``["document"]``.
    """

    config_keys: list[str] = ["pool_factor", "num_protected_tokens", "normalize_embeddings", "tasks"]

    def __init__(
        self,
        pool_factor: float = 1.0,
        *,
        num_protected_tokens: int = 1,
        normalize_embeddings: bool = True,
        tasks: str | list[str] | None = None,
    ) -> None:
        super().__init__(tasks=tasks)
        if pool_factor < 1:
            raise ValueError(f"pool_factor must be >= 1, got {pool_factor}.")
        if num_protected_tokens < 0:
            raise ValueError(f"num_protected_tokens must be >= 0, got {num_protected_tokens}.")
        self.pool_factor = pool_factor
        self.num_protected_tokens = num_protected_tokens
        self.normalize_embeddings = normalize_embeddings

    @classmethod
    def load_config(cls, *args: Any, **kwargs: Any) -> dict[str, Any]:
        """The saved config; ``normalize_embeddings`` defaults to False for configs saved before it existed."""
        config = super().load_config(*args, **kwargs)
        config.setdefault("normalize_embeddings", False)
        return config

    def forward(self, features: dict[str, Any], task: str | None = None, **kwargs: Any) -> dict[str, Any]:
        """Pool (or, with ``pool_factor`` 1, only normalize) the token vectors of the pooled tasks."""
        if self.pool_factor <= 1:
            if self.normalize_embeddings and self.applies_to(task):
                features["token_embeddings"] = _unit_rows(features["token_embeddings"])
            return features
        return super().forward(features, task=task)

    def pool_one(self, embedding: Tensor, **kwargs: Any) -> Tensor:
        """Ward-pool one input's token vectors."""
        return ward_pool(embedding, self.pool_factor, self.num_protected_tokens, self.normalize_embeddings)


class LambdaTokenPooling(BaseTokenPooling):
    """Pools each input with a function of yours ([tokens, dim] → [fewer, dim]); cannot be saved.

    Args:
        pool_fn: The function applied to each input.
        tasks: The tasks pooled; default ``["document"]``.
    """

    def __init__(self, pool_fn: Callable[[Tensor], Tensor], *, tasks: str | list[str] | None = None) -> None:
        super().__init__(tasks=tasks)
        if not callable(pool_fn):
            raise TypeError(f"pool_fn must be callable, got {type(pool_fn).__name__}")
        self.pool_fn = pool_fn

    def pool_one(self, embedding: Tensor, **kwargs: Any) -> Tensor:
        """Apply ``pool_fn``."""
        return self.pool_fn(embedding)

    def save(self, output_path: str, *args, safe_serialization: bool = True, **kwargs) -> None:
        """Refused: a Python function cannot be written to config.json."""
        raise NotImplementedError(
            "LambdaTokenPooling holds a Python function and cannot be saved: use it per call "
            "(encode(token_pooling=...)) or on its own, or subclass BaseTokenPooling for a module that saves."
        )
