"""The modules a CrossEncoder is built from: the shared ones, and LogitScore for generative rerankers."""

from __future__ import annotations

from sentence_transformers.base.modules.dense import Dense
from sentence_transformers.base.modules.input_module import InputModule
from sentence_transformers.base.modules.module import Module
from sentence_transformers.base.modules.router import Asym, Router
from sentence_transformers.base.modules.transformer import Transformer
from sentence_transformers.cross_encoder.modules.logit_score import LogitScore

__all__ = ["Asym", "Dense", "InputModule", "LogitScore", "Module", "Router", "Transformer"]
