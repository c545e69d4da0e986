"""SentenceTransformerTrainingArguments: the shared training arguments under the SentenceTransformer's name."""

from __future__ import annotations

from dataclasses import dataclass

from sentence_transformers.base.training_args import (
    BaseTrainingArguments,
    BatchSamplers,
    MultiDatasetBatchSamplers,
)


@dataclass
class SentenceTransformerTrainingArguments(BaseTrainingArguments):
    r"""TrainingArguments for SentenceTransformerTrainer: ``BaseTrainingArguments`` (batch samplers, ``prompts`` per
    column or per dataset, ``router_mapping`` column → route, ``learning_rate_mapping``, the deprecated
    ``warmup_ratio``); see there for each argument."""


__all__ = ["BatchSamplers", "MultiDatasetBatchSamplers", "SentenceTransformerTrainingArguments"]
