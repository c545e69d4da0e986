"""Rerankers: the CrossEncoder model type, its losses, evaluators and trainer.

Training pulls in transformers' Trainer: those names import on first use.
"""

from __future__ import annotations

import importlib
from typing import Any

from sentence_transformers.cross_encoder.model import CrossEncoder
from sentence_transformers.cross_encoder.model_card import CrossEncoderModelCardData

_LAZY = {
    "CrossEncoderTrainer": "sentence_transformers.cross_encoder.trainer",
    "CrossEncoderTrainingArguments": "sentence_transformers.cross_encoder.training_args",
    "CrossEncoderDataCollator": "sentence_transformers.cross_encoder.data_collator",
    "CrossEncoderModelCardCallback": "sentence_transformers.cross_encoder.model_card_callback",
}


def __getattr__(name: str) -> Any:
    if name not in _LAZY:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(_LAZY[name]), name)
    globals()[name] = value
    return value


__all__ = [
    "CrossEncoder",
    "CrossEncoderDataCollator",
    "CrossEncoderModelCardData",
    "CrossEncoderTrainer",
    "CrossEncoderTrainingArguments",
]
