"""The SentenceTransformer model type: texts → fixed-size embeddings."""

from sentence_transformers.sentence_transformer.model import SentenceTransformer

__all__ = ["SentenceTransformer"]
