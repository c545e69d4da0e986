"""The SentenceTransformer model type: texts → fixed-size embeddings, and what trains it."""

from __future__ import annotations

from sentence_transformers._lazy import lazy_attributes
from sentence_transformers.sentence_transformer.model import SentenceTransformer
from sentence_transformers.sentence_transformer.model_card import SentenceTransformerModelCardData

# The training names pull in transformers' Trainer: imported on first use.
_LAZY = {
    "SentenceTransformerDataCollator": "sentence_transformers.sentence_transformer.data_collator",
    "SentenceTransformerTrainer": "sentence_transformers.sentence_transformer.trainer",
    "SentenceTransformerTrainingArguments": "sentence_transformers.sentence_transformer.training_args",
}


__getattr__ = lazy_attributes(__name__, _LAZY, globals())


__all__ = [
    "SentenceTransformer",
    "SentenceTransformerDataCollator",
    "SentenceTransformerModelCardData",
    "SentenceTransformerTrainer",
    "SentenceTransformerTrainingArguments",
]
