"""The 2.x import path ``sentence_transformers.models``: re-exports only."""

from sentence_transformers.base.modules import Dense, InputModule, Module, Normalize, Transformer
from sentence_transformers.sentence_transformer.modules import Pooling

__all__ = ["Dense", "InputModule", "Module", "Normalize", "Pooling", "Transformer"]
