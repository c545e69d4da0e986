"""Modules specific to SentenceTransformer models (the base ones are re-exported for convenience)."""

from sentence_transformers.base.modules import Dense, InputModule, Module, Normalize, Transformer
from sentence_transformers.sentence_transformer.modules.pooling import Pooling

__all__ = ["Dense", "InputModule", "Module", "Normalize", "Pooling", "Transformer"]
