"""SentenceTransformer's training callback for the model card: the shared one of ``base.model_card_callback``
(a SentenceTransformer card records nothing beyond it), under the names upstream gives it.

Its own file because transformers' callback module is slow to import and only training needs it; the upstream
path ``sentence_transformer.model_card`` re-exports it on first use.
"""

from __future__ import annotations

from sentence_transformers.base.model_card_callback import BaseModelCardCallback

SentenceTransformerModelCardCallback = BaseModelCardCallback
ModelCardCallback = SentenceTransformerModelCardCallback  # the name of earlier versions

__all__ = ["ModelCardCallback", "SentenceTransformerModelCardCallback"]
