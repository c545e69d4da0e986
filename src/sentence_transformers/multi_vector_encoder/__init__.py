"""Late interaction: the MultiVectorEncoder model type (ColBERT-style, one vector per token, MaxSim scoring), its
modules, scoring, losses, evaluators and trainer.

Training pulls in transformers' Trainer: those names import on first use.
"""

from __future__ import annotations

import importlib
from typing import Any

from sentence_transformers.multi_vector_encoder.model import MultiVectorEncoder
from sentence_transformers.multi_vector_encoder.model_card import MultiVectorEncoderModelCardData
from sentence_transformers.util.similarity import maxsim, maxsim_pairwise

_LAZY = {
    "MultiVectorEncoderTrainer": "sentence_transformers.multi_vector_encoder.trainer",
    "MultiVectorEncoderTrainingArguments": "sentence_transformers.multi_vector_encoder.training_args",
    "MultiVectorEncoderDataCollator": "sentence_transformers.multi_vector_encoder.data_collator",
    "MultiVectorEncoderModelCardCallback": "sentence_transformers.multi_vector_encoder.model_card",
}


def __getattr__(name: str) -> Any:
    if name not in _LAZY:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(_LAZY[name]), name)
    globals()[name] = value
    return value


__all__ = [
    "MultiVectorEncoder",
    "MultiVectorEncoderDataCollator",
    "MultiVectorEncoderModelCardData",
    "MultiVectorEncoderTrainer",
    "MultiVectorEncoderTrainingArguments",
    "maxsim",
    "maxsim_pairwise",
]
