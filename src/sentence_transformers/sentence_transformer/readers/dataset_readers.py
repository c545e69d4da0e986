"""The 2.x dataset readers (STS benchmark, NLI) and SentencesDataset."""

from __future__ import annotations

import csv
import gzip
import os
from collections.abc import Iterator
from typing import IO, Any

from torch.utils.data import Dataset

from sentence_transformers.sentence_transformer.readers.input_example import InputExample


def _open_text(path: str) -> IO[str]:
    if not os.path.isfile(path):
        raise FileNotFoundError(f"Dataset file {path} not found")
    if path.endswith(".gz"):
        return gzip.open(path, "rt", encoding="utf-8")
    return open(path, encoding="utf-8", newline="")


class STSBenchmarkDataReader:
    """Reads STS-style files (two sentences and a score per row) into InputExamples with normalized scores.

    Args:
        dataset_folder: Folder holding the files passed to ``get_examples``.
        s1_col_idx / s2_col_idx / score_col_idx: Column positions.
        delimiter / quoting: CSV dialect (the original files are tab-separated without quoting).
        normalize_scores: Map scores from [min_score, max_score] to [0, 1].
    """

    def __init__(
        self,
        dataset_folder: str,
        s1_col_idx: int = 0,
        s2_col_idx: int = 1,
        score_col_idx: int = 2,
        delimiter: str = "\t",
        quoting: int = csv.QUOTE_NONE,
        normalize_scores: bool = True,
        min_score: float = 0,
        max_score: float = 5,
    ) -> None:
        self.dataset_folder = dataset_folder
        self.columns = (s1_col_idx, s2_col_idx, score_col_idx)
        self.delimiter, self.quoting = delimiter, quoting
        self.normalize_scores, self.min_score, self.max_score = normalize_scores, min_score, max_score

    def get_examples(self, filename: str, max_examples: int = 0) -> list[InputExample]:
        """The file's rows as InputExamples (at most ``max_examples`` when it is positive)."""
        examples = []
        s1, s2, score_col = self.columns
        with _open_text(os.path.join(self.dataset_folder, filename)) as f:
            for index, row in enumerate(csv.reader(f, delimiter=self.delimiter, quoting=self.quoting)):
                score = float(row[score_col])
                if self.normalize_scores:
                    score = (score - self.min_score) / (self.max_score - self.min_score)
                examples.append(InputExample(guid=f"{filename}{index}", texts=[row[s1], row[s2]], label=score))
                if 0 < max_examples <= len(examples):
                    break
        return examples


class NLIDataReader:
    """Reads NLI data stored as s1.<split>, s2.<split> and labels.<split> (gzipped) files."""

    LABELS = {"contradiction": 0, "entailment": 1, "neutral": 2}

    def __init__(self, dataset_folder: str) -> None:
        self.dataset_folder = dataset_folder

    def get_examples(self, filename: str, max_examples: int = 0) -> list[InputExample]:
        """Pairs with integer labels; ``filename`` is the split suffix, e.g. "train.gz"."""
        parts = [self._lines(f"{prefix}.{filename}") for prefix in ("s1", "s2", "labels")]
        examples = []
        for index, (first, second, label) in enumerate(zip(*parts, strict=True)):
            examples.append(InputExample(guid=f"{filename}{index}", texts=[first, second], label=self.map_label(label)))
            if 0 < max_examples <= len(examples):
                break
        return examples

    def _lines(self, name: str) -> list[str]:
        with _open_text(os.path.join(self.dataset_folder, name)) as f:
            return [line.rstrip("\n") for line in f]

    @classmethod
    def get_labels(cls) -> dict[str, int]:
        """Label name → id."""
        return dict(cls.LABELS)

    def get_num_labels(self) -> int:
        """Number of classes."""
        return len(self.LABELS)

    def map_label(self, label: str) -> int:
        """The id of a label name (case and surrounding space ignored)."""
        key = label.strip().lower()
        if key not in self.LABELS:
            raise ValueError(f"Unknown NLI label {label!r}; expected one of {list(self.LABELS)}")
        return self.LABELS[key]


class SentencesDataset(Dataset):
    """A torch Dataset over InputExamples (the 2.x wrapper; tokenization happens when batches are built)."""

    def __init__(self, examples: list[InputExample], model: Any = None) -> None:
        self.examples = list(examples)

    def __getitem__(self, index: int) -> InputExample:
        return self.examples[index]

    def __len__(self) -> int:
        return len(self.examples)

    def __iter__(self) -> Iterator[InputExample]:
        return iter(self.examples)
