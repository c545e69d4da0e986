"""The 3.x import path ``sentence_transformers.trainer``: re-exports only."""

from sentence_transformers.sentence_transformer.training.trainer import SentenceTransformerTrainer

__all__ = ["SentenceTransformerTrainer"]
