"""Rerankers: the CrossEncoder model type, its losses, evaluators and trainer.

Training pulls in transformers' Trainer: those names import on first use.
"""

from __future__ import annotations

from sentence_transformers._lazy import lazy_attributes
from sentence_transformers.cross_encoder.model import CrossEncoder
from sentence_transformers.cross_encoder.model_card import CrossEncoderModelCardData

_LAZY = {
    "CrossEncoderTrainer": "sentence_transformers.cross_encoder.trainer",
    "CrossEncoderTrainingArguments": "sentence_transformers.cross_encoder.training_args",
    "CrossEncoderDataCollator": "sentence_transformers.cross_encoder.data_collator",
    "CrossEncoderModelCardCallback": "sentence_transformers.cross_encoder.model_card_callback",
}


__getattr__ = lazy_attributes(__name__, _LAZY, globals())


__all__ = [
    "CrossEncoder",
    "CrossEncoderDataCollator",
    "CrossEncoderModelCardData",
    "CrossEncoderTrainer",
    "CrossEncoderTrainingArguments",
]
