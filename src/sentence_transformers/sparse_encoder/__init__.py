"""Learned sparse retrieval: the SparseEncoder model type (SPLADE, inference-free SPLADE, CSR), its modules, losses,
evaluators, search engines and trainer.

Training pulls in transformers' Trainer: those names import on first use.
"""

from __future__ import annotations

from sentence_transformers._lazy import lazy_attributes
from sentence_transformers.sparse_encoder.model import SparseEncoder
from sentence_transformers.sparse_encoder.model_card import SparseEncoderModelCardData

_LAZY = {
    "SparseEncoderTrainer": "sentence_transformers.sparse_encoder.trainer",
    "SparseEncoderTrainingArguments": "sentence_transformers.sparse_encoder.training_args",
    "SparseEncoderDataCollator": "sentence_transformers.sparse_encoder.data_collator",
    "SparseEncoderModelCardCallback": "sentence_transformers.sparse_encoder.model_card_callback",
}


__getattr__ = lazy_attributes(__name__, _LAZY, globals())


__all__ = [
    "SparseEncoder",
    "SparseEncoderDataCollator",
    "SparseEncoderModelCardData",
    "SparseEncoderTrainer",
    "SparseEncoderTrainingArguments",
]
