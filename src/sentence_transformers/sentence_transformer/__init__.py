"""The SentenceTransformer model type: texts → fixed-size embeddings, and what trains it."""

from __future__ import annotations

import importlib
from typing import Any

from sentence_transformers.sentence_transformer.model import SentenceTransformer
from sentence_transformers.sentence_transformer.model_card import SentenceTransformerModelCardData

# The training names pull in transformers' Trainer: imported on first use.
_LAZY = {
    "SentenceTransformerDataCollator": "sentence_transformers.sentence_transformer.data_collator",
    "SentenceTransformerTrainer": "sentence_transformers.sentence_transformer.trainer",
    "SentenceTransformerTrainingArguments": "sentence_transformers.sentence_transformer.training_args",
}


def __getattr__(name: str) -> Any:
    if name not in _LAZY:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(_LAZY[name]), name)


__all__ = [
    "SentenceTransformer",
    "SentenceTransformerDataCollator",
    "SentenceTransformerModelCardData",
    "SentenceTransformerTrainer",
    "SentenceTransformerTrainingArguments",
]
