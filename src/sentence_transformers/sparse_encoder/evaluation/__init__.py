"""Evaluators for SparseEncoder models: the SentenceTransformer evaluators with sparse encoding and sparsity figures
(active dimensions, sparsity ratio, FLOPS), and Reciprocal Rank Fusion of dense and sparse rankings."""

from __future__ import annotations

from sentence_transformers.sparse_encoder.evaluation.reciprocal_rank_fusion import ReciprocalRankFusionEvaluator
from sentence_transformers.sparse_encoder.evaluation.sparse_binary_classification import (
    SparseBinaryClassificationEvaluator,
)
from sentence_transformers.sparse_encoder.evaluation.sparse_embedding_similarity import (
    SparseEmbeddingSimilarityEvaluator,
)
from sentence_transformers.sparse_encoder.evaluation.sparse_information_retrieval import (
    SparseInformationRetrievalEvaluator,
)
from sentence_transformers.sparse_encoder.evaluation.sparse_mse import SparseMSEEvaluator
from sentence_transformers.sparse_encoder.evaluation.sparse_nano_beir import SparseNanoBEIREvaluator
from sentence_transformers.sparse_encoder.evaluation.sparse_reranking import SparseRerankingEvaluator
from sentence_transformers.sparse_encoder.evaluation.sparse_translation import SparseTranslationEvaluator
from sentence_transformers.sparse_encoder.evaluation.sparse_triplet import SparseTripletEvaluator

__all__ = [
    "SparseEmbeddingSimilarityEvaluator",
    "SparseInformationRetrievalEvaluator",
    "SparseBinaryClassificationEvaluator",
    "SparseMSEEvaluator",
    "SparseNanoBEIREvaluator",
    "SparseTripletEvaluator",
    "SparseTranslationEvaluator",
    "SparseRerankingEvaluator",
    "ReciprocalRankFusionEvaluator",
]
