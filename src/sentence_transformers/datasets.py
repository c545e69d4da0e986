"""The 2.x import path ``sentence_transformers.datasets``: re-exports only."""

from sentence_transformers.sentence_transformer.losses.denoising_auto_encoder_loss import DenoisingAutoEncoderDataset
from sentence_transformers.sentence_transformer.readers import SentencesDataset

__all__ = ["DenoisingAutoEncoderDataset", "SentencesDataset"]
