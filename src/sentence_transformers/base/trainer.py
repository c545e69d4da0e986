"""The trainer shared by model types (sbert has one: SentenceTransformerTrainer)."""

from sentence_transformers.sentence_transformer.trainer import SentenceTransformerTrainer as BaseTrainer

__all__ = ["BaseTrainer"]
