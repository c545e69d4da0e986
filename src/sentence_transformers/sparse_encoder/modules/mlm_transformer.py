"""MLMTransformer: the 5.x name of a Transformer with the masked-LM head, kept so old SPLADE folders load."""

from __future__ import annotations

import logging
from typing import Any

from sentence_transformers.base.modules.transformer import Transformer

logger = logging.getLogger(__name__)


class MLMTransformer(Transformer):
    """A ``Transformer(transformer_task="fill-mask")``: per-token vocabulary logits for SpladePooling.

    Deprecated: build ``Transformer(..., transformer_task="fill-mask")`` instead. Folders saved with this class
    still load, without the deprecation message.
    """

    def __init__(self, *args: Any, _from_auto_load: bool = False, **kwargs: Any) -> None:
        if not _from_auto_load:
            logger.warning(
                "The MLMTransformer module is deprecated. Please use the Transformer module with "
                '`transformer_task="fill-mask"` instead.'
            )
        kwargs.setdefault("transformer_task", "fill-mask")
        super().__init__(*args, **kwargs)

    @classmethod
    def load(cls, model_name_or_path: str, *args: Any, **kwargs: Any) -> MLMTransformer:
        """Load a saved MLMTransformer (a Transformer folder); its task is fill-mask unless the folder says more."""
        defaults = {
            "transformer_task": "fill-mask",
            "_from_auto_load": True,
            **(kwargs.pop("init_defaults", None) or {}),
        }
        return super().load(model_name_or_path, *args, init_defaults=defaults, **kwargs)
