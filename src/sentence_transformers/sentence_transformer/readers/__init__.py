"""Readers of the 2.x API: InputExample, dataset readers and SentencesDataset."""

from sentence_transformers.sentence_transformer.readers.dataset_readers import (
    NLIDataReader,
    SentencesDataset,
    STSBenchmarkDataReader,
)
from sentence_transformers.sentence_transformer.readers.input_example import InputExample

__all__ = ["InputExample", "NLIDataReader", "STSBenchmarkDataReader", "SentencesDataset"]
