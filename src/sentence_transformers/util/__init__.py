"""Helpers over embeddings and the environment; each lives in a submodule and is re-exported here.

``from sentence_transformers.util import cos_sim`` and ``from sentence_transformers.util.similarity import cos_sim``
name the same function.
"""

from sentence_transformers.util.environment import get_device_name
from sentence_transformers.util.logging import LoggingHandler
from sentence_transformers.util.quantization import quantize_embeddings
from sentence_transformers.util.retrieval import (
    community_detection,
    information_retrieval,
    paraphrase_mining,
    paraphrase_mining_embeddings,
    semantic_search,
)
from sentence_transformers.util.similarity import (
    SimilarityFunction,
    cos_sim,
    dot_score,
    euclidean_sim,
    manhattan_sim,
    normalize_embeddings,
    pairwise_cos_sim,
    pairwise_dot_score,
    pairwise_euclidean_sim,
    pairwise_manhattan_sim,
    pytorch_cos_sim,
)
from sentence_transformers.util.tensor import batch_to_device, truncate_embeddings

__all__ = [
    "LoggingHandler",
    "SimilarityFunction",
    "batch_to_device",
    "community_detection",
    "cos_sim",
    "dot_score",
    "euclidean_sim",
    "get_device_name",
    "information_retrieval",
    "manhattan_sim",
    "normalize_embeddings",
    "pairwise_cos_sim",
    "pairwise_dot_score",
    "pairwise_euclidean_sim",
    "pairwise_manhattan_sim",
    "paraphrase_mining",
    "paraphrase_mining_embeddings",
    "pytorch_cos_sim",
    "quantize_embeddings",
    "semantic_search",
    "truncate_embeddings",
]
