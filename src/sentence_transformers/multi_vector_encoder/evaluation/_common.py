"""Helpers shared by the MultiVectorEncoder evaluators."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from torch import Tensor

from sentence_transformers.base.evaluation.evaluator import BaseEvaluator


def refuse_truncate_dim(truncate_dim: int | None) -> None:
    """Token embeddings have no Matryoshka truncation: any ``truncate_dim`` is an error."""
    if truncate_dim is not None:
        raise ValueError(
            f"truncate_dim={truncate_dim!r} is not supported by MultiVectorEncoder evaluators: multi-vector token "
            "embeddings cannot be truncated Matryoshka-style. Leave truncate_dim out to evaluate the full dimension."
        )


def encode_token_embeddings(
    evaluator: BaseEvaluator,
    model: Any,
    inputs: Sequence[Any],
    role: str | None,
    show_progress_bar: bool | None = None,
    **kwargs: Any,
) -> list[Tensor]:
    """One ``(tokens, dim)`` tensor per input, from ``encode_query`` / ``encode_document`` / ``encode`` by ``role``,
    with the evaluator's batch size (and progress bar unless ``show_progress_bar`` is given)."""
    kwargs.pop("truncate_dim", None)
    kwargs.pop("convert_to_tensor", None)
    kwargs.pop("convert_to_numpy", None)
    progress = evaluator.show_progress_bar if show_progress_bar is None else show_progress_bar
    encode = BaseEvaluator.encode_function(model, role)
    return encode(inputs, batch_size=evaluator.batch_size, show_progress_bar=progress, **kwargs)
