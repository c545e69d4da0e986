"""Helpers shared by the SparseEncoder losses."""

from __future__ import annotations

from torch import nn


def refuse_standalone(loss: nn.Module) -> AttributeError:
    """The error a base loss raises when called directly instead of through SpladeLoss or CSRLoss.

    The sparse base losses only score embeddings; the wrapper embeds the columns once and adds the sparsity
    (FLOPS) or reconstruction terms, without which a sparse model would not learn to be sparse.
    """
    name = type(loss).__name__
    return AttributeError(
        f"{name} is a base loss for sparse models and cannot be used on its own: wrap it, e.g. "
        f"SpladeLoss(model, loss={name}(model), document_regularizer_weight=...) or CSRLoss(model, loss={name}(model))."
    )
