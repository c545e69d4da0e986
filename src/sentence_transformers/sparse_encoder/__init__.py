"""Learned sparse retrieval: the SparseEncoder model type (SPLADE, inference-free SPLADE, CSR), its modules, losses,
evaluators, search engines and trainer.

Training pulls in transformers' Trainer: those names import on first use.
"""

from __future__ import annotations

import importlib
from typing import Any

from sentence_transformers.sparse_encoder.model import SparseEncoder
from sentence_transformers.sparse_encoder.model_card import SparseEncoderModelCardData

_LAZY = {
    "SparseEncoderTrainer": "sentence_transformers.sparse_encoder.trainer",
    "SparseEncoderTrainingArguments": "sentence_transformers.sparse_encoder.training_args",
    "SparseEncoderDataCollator": "sentence_transformers.sparse_encoder.data_collator",
    "SparseEncoderModelCardCallback": "sentence_transformers.sparse_encoder.model_card_callback",
}


def __getattr__(name: str) -> Any:
    if name not in _LAZY:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(_LAZY[name]), name)
    globals()[name] = value
    return value


__all__ = [
    "SparseEncoder",
    "SparseEncoderDataCollator",
    "SparseEncoderModelCardData",
    "SparseEncoderTrainer",
    "SparseEncoderTrainingArguments",
]
