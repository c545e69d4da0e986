"""CrossEncoder's training callback for the model card: the shared one (a CrossEncoder card records nothing beyond
it) under the name upstream gives it. Its own file because transformers' callback module is slow to import."""

from __future__ import annotations

from sentence_transformers.base.model_card_callback import BaseModelCardCallback


class CrossEncoderModelCardCallback(BaseModelCardCallback):
    """Fills a CrossEncoder's card data (datasets, losses, hyperparameters, logs) as training runs."""


__all__ = ["CrossEncoderModelCardCallback"]
