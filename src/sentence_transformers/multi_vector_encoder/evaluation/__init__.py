"""The MultiVectorEncoder evaluators: retrieval, NanoBEIR, triplets, reranking and teacher distillation."""

from __future__ import annotations

from sentence_transformers.multi_vector_encoder.evaluation.distillation import MultiVectorDistillationEvaluator
from sentence_transformers.multi_vector_encoder.evaluation.information_retrieval import (
    MultiVectorInformationRetrievalEvaluator,
)
from sentence_transformers.multi_vector_encoder.evaluation.nano_beir import MultiVectorNanoBEIREvaluator
from sentence_transformers.multi_vector_encoder.evaluation.reranking import MultiVectorRerankingEvaluator
from sentence_transformers.multi_vector_encoder.evaluation.triplet import MultiVectorTripletEvaluator

__all__ = [
    "MultiVectorInformationRetrievalEvaluator",
    "MultiVectorNanoBEIREvaluator",
    "MultiVectorTripletEvaluator",
    "MultiVectorDistillationEvaluator",
    "MultiVectorRerankingEvaluator",
]
