"""The 2.x import path ``sentence_transformers.readers``: re-exports only."""

from sentence_transformers.sentence_transformer.readers import (
    InputExample,
    NLIDataReader,
    SentencesDataset,
    STSBenchmarkDataReader,
)

__all__ = ["InputExample", "NLIDataReader", "STSBenchmarkDataReader", "SentencesDataset"]
