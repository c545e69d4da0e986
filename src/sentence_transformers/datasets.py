"""The 2.x import path ``sentence_transformers.datasets`` and its per-class modules: re-exports only."""

from sentence_transformers._legacy_paths import register_class_paths
from sentence_transformers.sentence_transformer.losses.denoising_auto_encoder_loss import DenoisingAutoEncoderDataset
from sentence_transformers.sentence_transformer.readers import (
    NoDuplicatesDataLoader,
    ParallelSentencesDataset,
    SentenceLabelDataset,
    SentencesDataset,
)

__all__ = [
    "DenoisingAutoEncoderDataset",
    "NoDuplicatesDataLoader",
    "ParallelSentencesDataset",
    "SentenceLabelDataset",
    "SentencesDataset",
]

register_class_paths(__name__, globals())
