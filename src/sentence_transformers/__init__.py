"""sbert: sentence embeddings from modular pipelines, drop-in for sentence-transformers."""

__version__ = "0.1.0"

from sentence_transformers import models, util  # noqa: E402
from sentence_transformers.quantization import quantize_embeddings  # noqa: E402
from sentence_transformers.sentence_transformer.model import SentenceTransformer  # noqa: E402
from sentence_transformers.similarity import SimilarityFunction  # noqa: E402

__all__ = ["SentenceTransformer", "SimilarityFunction", "__version__", "models", "quantize_embeddings", "util"]
