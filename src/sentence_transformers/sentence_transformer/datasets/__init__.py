"""The 2.x datasets and data loader for ``model.fit``."""

from sentence_transformers.sentence_transformer.datasets.denoising_auto_encoder import DenoisingAutoEncoderDataset
from sentence_transformers.sentence_transformer.datasets.no_duplicates_dataloader import NoDuplicatesDataLoader
from sentence_transformers.sentence_transformer.datasets.parallel_sentences import ParallelSentencesDataset
from sentence_transformers.sentence_transformer.datasets.sentence_label import SentenceLabelDataset
from sentence_transformers.sentence_transformer.datasets.sentences import SentencesDataset

__all__ = [
    "DenoisingAutoEncoderDataset",
    "NoDuplicatesDataLoader",
    "ParallelSentencesDataset",
    "SentenceLabelDataset",
    "SentencesDataset",
]
