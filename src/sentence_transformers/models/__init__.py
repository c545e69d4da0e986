"""The 2.x import path ``sentence_transformers.models``: re-exports only."""

from sentence_transformers.base.modules import Asym, Dense, InputModule, Module, Normalize, Router, Transformer
from sentence_transformers.sentence_transformer.modules import Pooling

__all__ = ["Asym", "Dense", "InputModule", "Module", "Normalize", "Pooling", "Router", "Transformer"]
