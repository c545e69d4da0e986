"""The training data collator shared by model types (sbert has one: SentenceTransformer's)."""

from sentence_transformers.sentence_transformer.data_collator import SentenceTransformerDataCollator as BaseDataCollator

__all__ = ["BaseDataCollator"]
