"""The modules particular to multi-vector (late-interaction) models: the scoring mask and token poolings."""

from __future__ import annotations

from sentence_transformers.multi_vector_encoder.modules.multi_vector_mask import MultiVectorMask
from sentence_transformers.multi_vector_encoder.modules.token_pooling import (
    BaseTokenPooling,
    HierarchicalTokenPooling,
    LambdaTokenPooling,
)

__all__ = ["BaseTokenPooling", "HierarchicalTokenPooling", "LambdaTokenPooling", "MultiVectorMask"]
