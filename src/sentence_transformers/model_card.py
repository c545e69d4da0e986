"""The 3.x import path ``sentence_transformers.model_card``: re-exports only."""

from sentence_transformers.sentence_transformer.model_card import SentenceTransformerModelCardData, generate_model_card

__all__ = ["SentenceTransformerModelCardData", "generate_model_card"]
