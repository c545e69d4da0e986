"""Modules usable by any model type."""

from sentence_transformers.base.modules.dense import Dense
from sentence_transformers.base.modules.input_module import InputModule
from sentence_transformers.base.modules.module import Module
from sentence_transformers.base.modules.normalize import Normalize
from sentence_transformers.base.modules.router import Asym, Router
from sentence_transformers.base.modules.transformer import Transformer

__all__ = ["Asym", "Dense", "InputModule", "Module", "Normalize", "Router", "Transformer"]
