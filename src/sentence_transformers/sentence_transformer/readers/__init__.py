"""The 2.x dataset readers and InputExample; the 2.x datasets live in ``sentence_transformer.datasets``."""

from sentence_transformers.sentence_transformer.readers.input_example import InputExample
from sentence_transformers.sentence_transformer.readers.label_sentence import LabelSentenceReader
from sentence_transformers.sentence_transformer.readers.nli_data import NLIDataReader
from sentence_transformers.sentence_transformer.readers.paired_files import PairedFilesReader
from sentence_transformers.sentence_transformer.readers.sts_data import STSBenchmarkDataReader, STSDataReader
from sentence_transformers.sentence_transformer.readers.triplet import TripletReader

__all__ = [
    "InputExample",
    "LabelSentenceReader",
    "NLIDataReader",
    "PairedFilesReader",
    "STSBenchmarkDataReader",
    "STSDataReader",
    "TripletReader",
]
