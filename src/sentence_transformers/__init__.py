"""sbert: sentence embeddings from modular pipelines, drop-in for sentence-transformers."""

from __future__ import annotations

import importlib
from typing import Any

__version__ = "0.1.0"

from sentence_transformers import models, util  # noqa: E402
from sentence_transformers.logging_handler import LoggingHandler  # noqa: E402
from sentence_transformers.quantization import quantize_embeddings  # noqa: E402
from sentence_transformers.sentence_transformer.model import SentenceTransformer  # noqa: E402
from sentence_transformers.sentence_transformer.model_card import SentenceTransformerModelCardData  # noqa: E402
from sentence_transformers.sentence_transformer.readers import (  # noqa: E402
    InputExample,
    ParallelSentencesDataset,
    SentencesDataset,
)
from sentence_transformers.similarity import SimilarityFunction  # noqa: E402

# Training pulls in transformers.Trainer (and datasets/accelerate): imported on first use only.
_LAZY = {
    "SentenceTransformerTrainer": "sentence_transformers.sentence_transformer.training",
    "SentenceTransformerTrainingArguments": "sentence_transformers.sentence_transformer.training",
    "losses": "sentence_transformers.losses",
    "evaluation": "sentence_transformers.evaluation",
}


def __getattr__(name: str) -> Any:
    if name not in _LAZY:
        raise AttributeError(f"module 'sentence_transformers' has no attribute {name!r}")
    module = importlib.import_module(_LAZY[name])
    return module if module.__name__.endswith(name) else getattr(module, name)


__all__ = [
    "InputExample",
    "LoggingHandler",
    "ParallelSentencesDataset",
    "SentenceTransformer",
    "SentenceTransformerModelCardData",
    "SentenceTransformerTrainer",
    "SentenceTransformerTrainingArguments",
    "SentencesDataset",
    "SimilarityFunction",
    "__version__",
    "evaluation",
    "losses",
    "models",
    "quantize_embeddings",
    "util",
]
