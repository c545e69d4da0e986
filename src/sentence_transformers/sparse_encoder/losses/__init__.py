"""The SparseEncoder losses: SpladeLoss / CachedSpladeLoss and CSRLoss wrap one of the sparse base losses."""

from __future__ import annotations

from sentence_transformers.sparse_encoder.losses.cached_splade import CachedSpladeLoss
from sentence_transformers.sparse_encoder.losses.csr import CSRLoss, CSRReconstructionLoss
from sentence_transformers.sparse_encoder.losses.flops import FlopsLoss
from sentence_transformers.sparse_encoder.losses.sparse_angle import SparseAnglELoss
from sentence_transformers.sparse_encoder.losses.sparse_cosent import SparseCoSENTLoss
from sentence_transformers.sparse_encoder.losses.sparse_cosine_similarity import SparseCosineSimilarityLoss
from sentence_transformers.sparse_encoder.losses.sparse_distill_kl_div import SparseDistillKLDivLoss
from sentence_transformers.sparse_encoder.losses.sparse_margin_mse import SparseMarginMSELoss
from sentence_transformers.sparse_encoder.losses.sparse_mse import SparseMSELoss
from sentence_transformers.sparse_encoder.losses.sparse_multiple_negatives_ranking import (
    SparseMultipleNegativesRankingLoss,
)
from sentence_transformers.sparse_encoder.losses.sparse_triplet import SparseTripletLoss
from sentence_transformers.sparse_encoder.losses.splade import SpladeLoss

__all__ = [
    "CachedSpladeLoss",
    "CSRLoss",
    "CSRReconstructionLoss",
    "SparseMultipleNegativesRankingLoss",
    "SparseCoSENTLoss",
    "SparseTripletLoss",
    "SparseMarginMSELoss",
    "SparseCosineSimilarityLoss",
    "SparseMSELoss",
    "SparseAnglELoss",
    "SparseDistillKLDivLoss",
    "FlopsLoss",
    "SpladeLoss",
]
