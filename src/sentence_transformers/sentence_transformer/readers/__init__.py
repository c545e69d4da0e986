"""Data of the 2.x API: InputExample, dataset readers, SentencesDataset and the 2.x datasets and loader."""

from sentence_transformers.sentence_transformer.readers.dataset_readers import (
    LabelSentenceReader,
    NLIDataReader,
    PairedFilesReader,
    SentencesDataset,
    STSBenchmarkDataReader,
    STSDataReader,
    TripletReader,
)
from sentence_transformers.sentence_transformer.readers.input_example import InputExample
from sentence_transformers.sentence_transformer.readers.no_duplicates_loader import NoDuplicatesDataLoader
from sentence_transformers.sentence_transformer.readers.parallel_sentences import ParallelSentencesDataset
from sentence_transformers.sentence_transformer.readers.sentence_label_dataset import SentenceLabelDataset

__all__ = [
    "InputExample",
    "LabelSentenceReader",
    "NLIDataReader",
    "NoDuplicatesDataLoader",
    "PairedFilesReader",
    "ParallelSentencesDataset",
    "STSBenchmarkDataReader",
    "STSDataReader",
    "SentenceLabelDataset",
    "SentencesDataset",
    "TripletReader",
]
