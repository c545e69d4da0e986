"""The model card data, card writer and training callback shared by model types (sbert has one:
SentenceTransformer's), with the helpers that format what the card shows."""

from typing import Any

from sentence_transformers.sentence_transformer.model_card import SentenceTransformerModelCardData as BaseModelCardData
from sentence_transformers.sentence_transformer.model_card import (
    format_duration,
    format_log,
    generate_model_card,
    get_losses,
    get_versions,
)


def __getattr__(name: str) -> Any:
    """``BaseModelCardCallback``, from its own module on first use (it imports transformers' callbacks)."""
    if name == "BaseModelCardCallback":
        from sentence_transformers.sentence_transformer.model_card_callback import SentenceTransformerModelCardCallback

        return SentenceTransformerModelCardCallback
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = [
    "BaseModelCardCallback",  # noqa: F822 - provided by __getattr__
    "BaseModelCardData",
    "format_duration",
    "format_log",
    "generate_model_card",
    "get_losses",
    "get_versions",
]
