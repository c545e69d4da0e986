"""Late-interaction scoring functions for multi-vector (ColBERT-style) models and their losses."""

from __future__ import annotations

from sentence_transformers.multi_vector_encoder.scoring.colbert import (
    colbert_kd_scores,
    colbert_scores,
    colbert_scores_pairwise,
    mean_colbert_kd_scores,
    mean_colbert_scores,
    mean_colbert_scores_pairwise,
)
from sentence_transformers.multi_vector_encoder.scoring.xtr import (
    XTRKDScores,
    XTRScores,
    xtr_kd_scores,
    xtr_scores,
    xtr_scores_pairwise,
)

__all__ = [
    "colbert_scores",
    "colbert_scores_pairwise",
    "colbert_kd_scores",
    "mean_colbert_scores",
    "mean_colbert_scores_pairwise",
    "mean_colbert_kd_scores",
    "XTRScores",
    "XTRKDScores",
    "xtr_scores",
    "xtr_scores_pairwise",
    "xtr_kd_scores",
]
