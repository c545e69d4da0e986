"""The 3.x import path ``sentence_transformers.data_collator``: re-exports only."""

from sentence_transformers.sentence_transformer.training.data_collator import SentenceTransformerDataCollator

__all__ = ["SentenceTransformerDataCollator"]
