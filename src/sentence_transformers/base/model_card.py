"""The model card data and card writer shared by model types (sbert has one: SentenceTransformer's)."""

from sentence_transformers.sentence_transformer.model_card import SentenceTransformerModelCardData as BaseModelCardData
from sentence_transformers.sentence_transformer.model_card import generate_model_card

__all__ = ["BaseModelCardData", "generate_model_card"]
