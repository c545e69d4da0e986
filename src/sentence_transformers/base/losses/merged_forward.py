"""Embed several input columns of a loss batch in as few forward passes as possible.

A loss over ``N`` columns (anchor, positive, negatives ...) classically runs the model once per column. When the
columns tokenize alike, their batches can be padded to a common width and stacked into one ``N * batch`` forward,
which keeps the accelerator busier. Padding positions carry ``attention_mask`` 0, so the embeddings are the same
(up to floating-point noise); only the dropout masks drawn differ.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from sentence_transformers.base.losses.gradcache import batch_size_of, minibatch_ranges, slice_features
from sentence_transformers.util.tensor import cat_padded_token_embeddings

logger = logging.getLogger(__name__)

_MERGING_DISABLED: ContextVar[bool] = ContextVar("column_merging_disabled", default=False)
_REPORTED: set[str] = set()
# Batch-level settings rather than per-row data: shared by all columns or the columns cannot merge.
_METADATA_KEYS = frozenset({"prompt_length", "task", "text_keys"})

__all__ = [
    "cat_padded_token_embeddings",
    "chunked_padded_forward",
    "column_merging_disabled",
    "embed_columns",
    "embed_columns_padded",
    "merge_feature_batches",
]


@contextmanager
def column_merging_disabled() -> Iterator[None]:
    """Within the block, :func:`merge_feature_batches` refuses, so every column gets its own forward pass.

    For wrappers that call an inner loss several times on the same feature dicts and rely on each column's
    forward pass writing its outputs into that column's own dict: a merged pass writes into a fresh dict instead.
    """
    token = _MERGING_DISABLED.set(True)
    try:
        yield
    finally:
        _MERGING_DISABLED.reset(token)


def _separately(reason: str) -> None:
    """Say once per reason why the columns are embedded one by one (only speed is at stake), and return None."""
    if reason not in _REPORTED:
        _REPORTED.add(reason)
        logger.warning(
            "Embedding each input column in its own forward pass because %s; columns that tokenize alike share one "
            "(faster) forward pass. The loss is the same either way.",
            reason,
        )
    return None


def _has_token_grid(features: dict[str, Any]) -> bool:
    """Whether the batch has a padded ``(batch, tokens)`` grid to line rows up by (StaticEmbedding's has not)."""
    grids = (features.get(key) for key in ("input_ids", "attention_mask"))
    return any(isinstance(grid, Tensor) and grid.ndim >= 2 for grid in grids)


def _merge_tensors(key: str, values: list[Any], rows: int) -> Tensor | str:
    """Per-row tensors of every column, right-padded to the widest and stacked; or why that is not possible."""
    first = values[0]
    if any(not isinstance(value, Tensor) or value.ndim != first.ndim for value in values):
        return f"the columns give {key!r} a different shape each"
    if any(value.ndim == 0 or value.shape[0] != rows for value in values):
        return f"{key!r} does not have one row per text"
    if first.ndim >= 2:
        if any(value.shape[2:] != first.shape[2:] for value in values):
            return f"the columns give {key!r} a different shape each"
        width = max(value.shape[1] for value in values)
        if any(value.shape[1] != width for value in values):
            if first.is_floating_point() or first.is_complex():
                return f"{key!r} holds floats that would need padding"
            values = [F.pad(value, [0, 0] * (value.ndim - 2) + [0, width - value.shape[1]]) for value in values]
    return torch.cat(values, dim=0)


def _shared_value(key: str, values: list[Any]) -> tuple[Any, str | None]:
    """The batch-level value every column agrees on, or why they do not."""
    first = values[0]
    try:
        if isinstance(first, Tensor):
            same = all(isinstance(value, Tensor) and torch.equal(value, first) for value in values[1:])
        else:
            same = all(bool(value == first) for value in values[1:])
    except (RuntimeError, ValueError, TypeError):
        return None, f"the columns' {key!r} values cannot be compared"
    return first, None if same else f"the columns disagree on {key!r}"


def merge_feature_batches(features_list: list[dict[str, Any]]) -> dict[str, Any] | None:
    """One batch holding all rows of every column (column after column), or None when they cannot be merged.

    Token-level integer tensors are right-padded with 0 to the widest column; batch-level values (prompt length,
    task, plain Python values) must be equal in every column. None (the caller then embeds column by column)
    when merging is disabled (:func:`column_merging_disabled`), the columns have different feature keys or
    shapes, the batch is a flattened token stream (StaticEmbedding, packed sequences), or a float tensor would
    need padding. The merged batch is as wide as the widest column, so one long text widens every row.
    """
    if _MERGING_DISABLED.get() or not features_list:
        return None
    first = features_list[0]
    if any(set(features) != set(first) for features in features_list[1:]):
        return _separately("the columns tokenize to different sets of features")
    if "cu_seq_lens_q" in first or not _has_token_grid(first):
        return None
    rows = batch_size_of(first)
    merged: dict[str, Any] = {}
    for key, value in first.items():
        values = [features[key] for features in features_list]
        if isinstance(value, Tensor) and key not in _METADATA_KEYS:
            result = _merge_tensors(key, values, rows)
            if isinstance(result, str):
                return _separately(result)
            merged[key] = result
        else:
            merged[key], reason = _shared_value(key, values)
            if reason is not None:
                return _separately(reason)
    return merged


def _chunk_outputs(
    model: nn.Module, features: dict[str, Any], mini_batch_size: int | None, task: str | None
) -> list[dict[str, Any]]:
    """The model's outputs on consecutive row chunks of ``features``, each chunk trimmed to its own width."""
    kwargs = {} if task is None else {"task": task}
    ranges = minibatch_ranges(features, mini_batch_size, None) if mini_batch_size is not None else []
    if len(ranges) <= 1:
        return [model(features, **kwargs)]
    return [model(slice_features(features, begin, end), **kwargs) for begin, end in ranges]


def chunked_padded_forward(
    model: nn.Module, features: dict[str, Any], task: str | None, mini_batch_size: int | None
) -> tuple[Tensor, Tensor]:
    """``(token_embeddings, attention_mask)`` of a batch, run ``mini_batch_size`` rows at a time.

    Each chunk only pays for its own longest text; the chunks are re-padded to a common width afterwards. All
    chunks keep their activations for the backward pass: this bounds padding waste, not memory (a cached loss
    bounds memory). ``mini_batch_size=None`` runs the batch in one forward pass.
    """
    outputs = _chunk_outputs(model, features, mini_batch_size, task)
    if len(outputs) == 1:
        return outputs[0]["token_embeddings"], outputs[0]["attention_mask"]
    return cat_padded_token_embeddings(
        [output["token_embeddings"] for output in outputs], [output["attention_mask"] for output in outputs]
    )


def embed_columns(
    model: nn.Module, features_list: Iterable[dict[str, Any]], separate_first: bool = True
) -> list[Tensor]:
    """One ``sentence_embedding`` tensor per input column, merging the columns' forward passes where possible.

    With ``separate_first`` (the default) the first column (usually short queries) keeps a forward pass of its
    own and only the remaining (candidate) columns are merged, since padding queries to document width costs more
    than it saves; a two-column loss therefore runs two passes. Columns that cannot merge (see
    :func:`merge_feature_batches`) run one pass each, which also fills each column's dict with the model outputs.
    """
    features_list = list(features_list)
    if separate_first and features_list:
        return [model(features_list[0])["sentence_embedding"], *embed_columns(model, features_list[1:], False)]
    merged = merge_feature_batches(features_list) if len(features_list) > 1 else None
    if merged is None:
        return [model(features)["sentence_embedding"] for features in features_list]
    embeddings = model(merged)["sentence_embedding"]
    return list(embeddings.reshape(len(features_list), -1, *embeddings.shape[1:]).unbind(0))


def embed_columns_padded(
    model: nn.Module,
    features_list: list[dict[str, Any]],
    mini_batch_size: int | None = None,
    task_default: str | None = None,
) -> tuple[list[Tensor], list[Tensor]]:
    """Per column, the ``(batch, tokens, dim)`` token embeddings and their boolean masks (multi-vector scoring).

    Every column given is merged when possible (callers keep the query column out themselves); the forward pass
    runs ``mini_batch_size`` rows at a time as in :func:`chunked_padded_forward`. A feature ``task`` overrides
    ``task_default``.
    """
    merged = merge_feature_batches(features_list) if len(features_list) > 1 else None
    if merged is not None:
        embeddings, mask = chunked_padded_forward(model, merged, merged.get("task", task_default), mini_batch_size)
        count = len(features_list)
        return (
            list(embeddings.reshape(count, -1, *embeddings.shape[1:]).unbind(0)),
            list(mask.bool().reshape(count, -1, mask.shape[-1]).unbind(0)),
        )
    outputs = [
        chunked_padded_forward(model, features, features.get("task", task_default), mini_batch_size)
        for features in features_list
    ]
    return [embeddings for embeddings, _ in outputs], [mask.bool() for _, mask in outputs]
