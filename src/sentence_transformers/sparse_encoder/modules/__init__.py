"""The modules a SparseEncoder is built from: the shared ones, and SPLADE's, the inference-free and CSR modules."""

from __future__ import annotations

from sentence_transformers.base.modules.dense import Dense
from sentence_transformers.base.modules.input_module import InputModule
from sentence_transformers.base.modules.module import Module
from sentence_transformers.base.modules.router import Asym, Router
from sentence_transformers.base.modules.transformer import Transformer
from sentence_transformers.sparse_encoder.modules.mlm_transformer import MLMTransformer
from sentence_transformers.sparse_encoder.modules.sparse_auto_encoder import SparseAutoEncoder
from sentence_transformers.sparse_encoder.modules.sparse_static_embedding import SparseStaticEmbedding
from sentence_transformers.sparse_encoder.modules.splade_pooling import SpladePooling

__all__ = [
    "Asym",
    "Dense",
    "InputModule",
    "MLMTransformer",
    "Module",
    "Router",
    "SparseAutoEncoder",
    "SparseStaticEmbedding",
    "SpladePooling",
    "Transformer",
]
