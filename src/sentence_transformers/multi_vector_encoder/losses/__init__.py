"""The MultiVectorEncoder losses: in-batch negatives (plain and GradCache) and teacher distillation on MaxSim scores."""

from __future__ import annotations

from sentence_transformers.multi_vector_encoder.losses.cached_multiple_negatives_ranking import (
    CachedMultiVectorMultipleNegativesRankingLoss,
)
from sentence_transformers.multi_vector_encoder.losses.distill_kl_div import MultiVectorDistillKLDivLoss
from sentence_transformers.multi_vector_encoder.losses.margin_mse import MultiVectorMarginMSELoss
from sentence_transformers.multi_vector_encoder.losses.multiple_negatives_ranking import (
    MultiVectorMultipleNegativesRankingLoss,
)

__all__ = [
    "MultiVectorMultipleNegativesRankingLoss",
    "CachedMultiVectorMultipleNegativesRankingLoss",
    "MultiVectorDistillKLDivLoss",
    "MultiVectorMarginMSELoss",
]
