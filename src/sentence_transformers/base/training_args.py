"""The training arguments and batch-sampler names shared by model types (sbert has one model type)."""

from sentence_transformers.sentence_transformer.training_args import (
    BatchSamplers,
    MultiDatasetBatchSamplers,
)
from sentence_transformers.sentence_transformer.training_args import (
    SentenceTransformerTrainingArguments as BaseTrainingArguments,
)

__all__ = ["BaseTrainingArguments", "BatchSamplers", "MultiDatasetBatchSamplers"]
