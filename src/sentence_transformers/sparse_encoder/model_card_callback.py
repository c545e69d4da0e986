"""SparseEncoder's training callback for the model card: the shared one under the name upstream gives it. Its own
file because transformers' callback module is slow to import."""

from __future__ import annotations

from sentence_transformers.base.model_card_callback import BaseModelCardCallback


class SparseEncoderModelCardCallback(BaseModelCardCallback):
    """Fills a SparseEncoder's card data (datasets, losses, hyperparameters, logs) as training runs."""


__all__ = ["SparseEncoderModelCardCallback"]
