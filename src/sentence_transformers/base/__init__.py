"""Building blocks shared by every model type: module bases, trainer parts, hub access and the on-disk format.

The names below import on first use: most pull in transformers' Trainer.
"""

from __future__ import annotations

from sentence_transformers._lazy import lazy_attributes

_LAZY = {
    "BaseDataCollator": "sentence_transformers.base.data_collator",
    "BaseModel": "sentence_transformers.base.model",
    "BaseTrainer": "sentence_transformers.base.trainer",
    "BaseTrainingArguments": "sentence_transformers.base.training_args",
    "BatchSamplers": "sentence_transformers.base.training_args",
    "MultiDatasetBatchSamplers": "sentence_transformers.base.training_args",
    "DefaultBatchSampler": "sentence_transformers.base.sampler",
    "GroupByLabelBatchSampler": "sentence_transformers.base.sampler",
    "MultiDatasetDefaultBatchSampler": "sentence_transformers.base.sampler",
    "NoDuplicatesBatchSampler": "sentence_transformers.base.sampler",
    "ProportionalBatchSampler": "sentence_transformers.base.sampler",
    "RoundRobinBatchSampler": "sentence_transformers.base.sampler",
    "PeftAdapterMixin": "sentence_transformers.base.peft_mixin",
}


__getattr__ = lazy_attributes(__name__, _LAZY, globals())


__all__ = sorted(_LAZY)
