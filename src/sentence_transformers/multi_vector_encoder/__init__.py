"""Late interaction: the MultiVectorEncoder model type (ColBERT-style, one vector per token, MaxSim scoring), its
modules, scoring, losses, evaluators and trainer.

Training pulls in transformers' Trainer: those names import on first use.
"""

from __future__ import annotations

from sentence_transformers._lazy import lazy_attributes
from sentence_transformers.multi_vector_encoder.model import MultiVectorEncoder
from sentence_transformers.multi_vector_encoder.model_card import MultiVectorEncoderModelCardData
from sentence_transformers.util.similarity import maxsim, maxsim_pairwise

_LAZY = {
    "MultiVectorEncoderTrainer": "sentence_transformers.multi_vector_encoder.trainer",
    "MultiVectorEncoderTrainingArguments": "sentence_transformers.multi_vector_encoder.training_args",
    "MultiVectorEncoderDataCollator": "sentence_transformers.multi_vector_encoder.data_collator",
    "MultiVectorEncoderModelCardCallback": "sentence_transformers.multi_vector_encoder.model_card",
}


__getattr__ = lazy_attributes(__name__, _LAZY, globals())


__all__ = [
    "MultiVectorEncoder",
    "MultiVectorEncoderDataCollator",
    "MultiVectorEncoderModelCardData",
    "MultiVectorEncoderTrainer",
    "MultiVectorEncoderTrainingArguments",
    "maxsim",
    "maxsim_pairwise",
]
