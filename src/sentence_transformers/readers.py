"""The 2.x import path ``sentence_transformers.readers`` and its per-class modules: re-exports only."""

from sentence_transformers._legacy_paths import register_class_paths
from sentence_transformers.sentence_transformer.readers import (
    InputExample,
    LabelSentenceReader,
    NLIDataReader,
    PairedFilesReader,
    SentencesDataset,
    STSBenchmarkDataReader,
    STSDataReader,
    TripletReader,
)

__all__ = [
    "InputExample",
    "LabelSentenceReader",
    "NLIDataReader",
    "PairedFilesReader",
    "STSBenchmarkDataReader",
    "STSDataReader",
    "SentencesDataset",
    "TripletReader",
]

register_class_paths(__name__, globals())
