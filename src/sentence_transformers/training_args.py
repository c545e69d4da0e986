"""The 3.x import path ``sentence_transformers.training_args``: re-exports only."""

from sentence_transformers.sentence_transformer.training.arguments import (
    BatchSamplers,
    MultiDatasetBatchSamplers,
    SentenceTransformerTrainingArguments,
)

__all__ = ["BatchSamplers", "MultiDatasetBatchSamplers", "SentenceTransformerTrainingArguments"]
