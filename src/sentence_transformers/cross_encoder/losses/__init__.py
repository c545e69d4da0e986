"""The CrossEncoder (reranker) losses: pointwise, pairwise (in-batch negatives, margins) and listwise."""

from __future__ import annotations

from sentence_transformers.cross_encoder.losses.adr_mse import ADRMSELoss
from sentence_transformers.cross_encoder.losses.binary_cross_entropy import BinaryCrossEntropyLoss
from sentence_transformers.cross_encoder.losses.cached_multiple_negatives_ranking import (
    CachedMultipleNegativesRankingLoss,
)
from sentence_transformers.cross_encoder.losses.cross_entropy import CrossEntropyLoss
from sentence_transformers.cross_encoder.losses.lambda_loss import (
    LambdaLoss,
    LambdaRankScheme,
    NDCGLoss1Scheme,
    NDCGLoss2PPScheme,
    NDCGLoss2Scheme,
    NoWeightingScheme,
)
from sentence_transformers.cross_encoder.losses.list_mle import ListMLELoss
from sentence_transformers.cross_encoder.losses.list_net import ListNetLoss
from sentence_transformers.cross_encoder.losses.margin_mse import MarginMSELoss
from sentence_transformers.cross_encoder.losses.mse import MSELoss
from sentence_transformers.cross_encoder.losses.multiple_negatives_ranking import MultipleNegativesRankingLoss
from sentence_transformers.cross_encoder.losses.plist_mle import PListMLELambdaWeight, PListMLELoss
from sentence_transformers.cross_encoder.losses.rank_net import RankNetLoss

__all__ = [
    "ADRMSELoss",
    "BinaryCrossEntropyLoss",
    "CrossEntropyLoss",
    "MultipleNegativesRankingLoss",
    "CachedMultipleNegativesRankingLoss",
    "MarginMSELoss",
    "MSELoss",
    "ListNetLoss",
    "ListMLELoss",
    "PListMLELoss",
    "PListMLELambdaWeight",
    "LambdaLoss",
    "NoWeightingScheme",
    "NDCGLoss1Scheme",
    "NDCGLoss2Scheme",
    "LambdaRankScheme",
    "NDCGLoss2PPScheme",
    "RankNetLoss",
]
