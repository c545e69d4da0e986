"""Training: the Trainer, its arguments, batch samplers, the data collator and the 2.x fit()."""

from sentence_transformers.sentence_transformer.training.arguments import (
    BatchSamplers,
    MultiDatasetBatchSamplers,
    SentenceTransformerTrainingArguments,
)
from sentence_transformers.sentence_transformer.training.data_collator import SentenceTransformerDataCollator
from sentence_transformers.sentence_transformer.training.trainer import SentenceTransformerTrainer

__all__ = [
    "BatchSamplers",
    "MultiDatasetBatchSamplers",
    "SentenceTransformerDataCollator",
    "SentenceTransformerTrainer",
    "SentenceTransformerTrainingArguments",
]
