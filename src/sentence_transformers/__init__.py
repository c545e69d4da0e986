"""sbert: sentence embeddings from modular pipelines, drop-in for sentence-transformers."""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError
from importlib.metadata import version as _distribution_version

from sentence_transformers._lazy import lazy_attributes

# The upstream API that sbert implements: libraries on top of sentence-transformers test this to pick code paths.
__version__ = "6.2.0"
try:
    # sbert's own release version, from the distribution metadata.
    __sbert_version__ = _distribution_version("sbert")
except PackageNotFoundError:  # a source tree on sys.path without an install
    __sbert_version__ = "0+unknown"

from sentence_transformers import util  # noqa: E402
from sentence_transformers.sentence_transformer.datasets import ParallelSentencesDataset, SentencesDataset  # noqa: E402
from sentence_transformers.sentence_transformer.model import SentenceTransformer  # noqa: E402
from sentence_transformers.sentence_transformer.model_card import SentenceTransformerModelCardData  # noqa: E402
from sentence_transformers.sentence_transformer.readers import InputExample  # noqa: E402
from sentence_transformers.util.deprecated_import import setup_deprecated_module_imports  # noqa: E402
from sentence_transformers.util.logging import LoggingHandler  # noqa: E402
from sentence_transformers.util.quantization import quantize_embeddings  # noqa: E402
from sentence_transformers.util.similarity import SimilarityFunction  # noqa: E402

setup_deprecated_module_imports()

# Training pulls in transformers.Trainer (and datasets/accelerate), the backends onnx/openvino: imported on first use.
_LAZY = {
    "CrossEncoder": "sentence_transformers.cross_encoder.model",
    "CrossEncoderModelCardData": "sentence_transformers.cross_encoder.model_card",
    "CrossEncoderTrainer": "sentence_transformers.cross_encoder.trainer",
    "CrossEncoderTrainingArguments": "sentence_transformers.cross_encoder.training_args",
    "SparseEncoder": "sentence_transformers.sparse_encoder.model",
    "SparseEncoderModelCardData": "sentence_transformers.sparse_encoder.model_card",
    "SparseEncoderTrainer": "sentence_transformers.sparse_encoder.trainer",
    "SparseEncoderTrainingArguments": "sentence_transformers.sparse_encoder.training_args",
    "MultiVectorEncoder": "sentence_transformers.multi_vector_encoder.model",
    "MultiVectorEncoderModelCardData": "sentence_transformers.multi_vector_encoder.model_card",
    "MultiVectorEncoderTrainer": "sentence_transformers.multi_vector_encoder.trainer",
    "MultiVectorEncoderTrainingArguments": "sentence_transformers.multi_vector_encoder.training_args",
    "SentenceTransformerTrainer": "sentence_transformers.sentence_transformer.trainer",
    "SentenceTransformerTrainingArguments": "sentence_transformers.sentence_transformer.training_args",
    "DefaultBatchSampler": "sentence_transformers.base.sampler",
    "MultiDatasetDefaultBatchSampler": "sentence_transformers.base.sampler",
    "export_optimized_onnx_model": "sentence_transformers.backend",
    "export_dynamic_quantized_onnx_model": "sentence_transformers.backend",
    "export_static_quantized_openvino_model": "sentence_transformers.backend",
    "mine_hard_negatives": "sentence_transformers.util.hard_negatives",
    "resolve_ids": "sentence_transformers.util.dataset",
    "losses": "sentence_transformers.sentence_transformer.losses",
    "evaluation": "sentence_transformers.sentence_transformer.evaluation",
    "models": "sentence_transformers.sentence_transformer.modules",
    "readers": "sentence_transformers.sentence_transformer.readers",
    "datasets": "sentence_transformers.sentence_transformer.datasets",
}
_PACKAGES = {"losses", "evaluation", "models", "readers", "datasets"}


__getattr__ = lazy_attributes(__name__, _LAZY, globals(), modules=frozenset(_PACKAGES))


__all__ = [
    "CrossEncoder",
    "CrossEncoderModelCardData",
    "CrossEncoderTrainer",
    "CrossEncoderTrainingArguments",
    "DefaultBatchSampler",
    "InputExample",
    "LoggingHandler",
    "MultiDatasetDefaultBatchSampler",
    "ParallelSentencesDataset",
    "SentenceTransformer",
    "SentenceTransformerModelCardData",
    "SentenceTransformerTrainer",
    "SentenceTransformerTrainingArguments",
    "SentencesDataset",
    "SimilarityFunction",
    "SparseEncoder",
    "SparseEncoderModelCardData",
    "SparseEncoderTrainer",
    "SparseEncoderTrainingArguments",
    "MultiVectorEncoder",
    "MultiVectorEncoderModelCardData",
    "MultiVectorEncoderTrainer",
    "MultiVectorEncoderTrainingArguments",
    "__sbert_version__",
    "__version__",
    "evaluation",
    "export_dynamic_quantized_onnx_model",
    "export_optimized_onnx_model",
    "export_static_quantized_openvino_model",
    "losses",
    "mine_hard_negatives",
    "models",
    "quantize_embeddings",
    "resolve_ids",
    "util",
]
