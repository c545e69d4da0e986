"""The 2.x dataset readers (STS, triplets, labelled sentences, paired files, NLI) and SentencesDataset."""

from __future__ import annotations

import contextlib
import csv
import gzip
import os
from collections.abc import Iterator
from typing import IO, Any

from torch.utils.data import Dataset

from sentence_transformers.sentence_transformer.readers.input_example import InputExample


def open_text(path: str) -> IO[str]:
    """A text file for reading, gunzipped when named ``*.gz``; a missing file is named in the error."""
    if not os.path.isfile(path):
        raise FileNotFoundError(f"Dataset file {path} not found")
    if path.endswith(".gz"):
        return gzip.open(path, "rt", encoding="utf-8")
    return open(path, encoding="utf-8", newline="")


def _csv_rows(path: str, delimiter: str, quoting: int) -> Iterator[list[str]]:
    with open_text(path) as f:
        yield from csv.reader(f, delimiter=delimiter, quoting=quoting)


class STSDataReader:
    """Reads STS-style files (two sentences and a similarity score per row) into InputExamples.

    Args:
        dataset_folder: Folder holding the files passed to ``get_examples`` (plain, or gzip when named ``*.gz``).
        s1_col_idx: Column of the first sentence.
        s2_col_idx: Column of the second sentence.
        score_col_idx: Column of the score.
        delimiter: Column separator (the original files are tab-separated).
        quoting: ``csv`` quoting mode; QUOTE_NONE because STS sentences contain bare quotes.
        normalize_scores: Map scores from [min_score, max_score] to [0, 1], the range of cosine-similarity losses.
        min_score: The lowest score of the scale.
        max_score: The highest score of the scale.
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
        self.s1_col_idx, self.s2_col_idx, self.score_col_idx = s1_col_idx, s2_col_idx, score_col_idx
        self.delimiter, self.quoting = delimiter, quoting
        self.normalize_scores, self.min_score, self.max_score = normalize_scores, min_score, max_score

    def get_examples(self, filename: str, max_examples: int = 0) -> list[InputExample]:
        """The file's rows as sentence pairs labelled with their score (at most ``max_examples`` when positive)."""
        examples = []
        rows = _csv_rows(os.path.join(self.dataset_folder, filename), self.delimiter, self.quoting)
        for index, row in enumerate(rows):
            score = float(row[self.score_col_idx])
            if self.normalize_scores:
                score = (score - self.min_score) / (self.max_score - self.min_score)
            texts = [row[self.s1_col_idx], row[self.s2_col_idx]]
            examples.append(InputExample(guid=f"{filename}{index}", texts=texts, label=score))
            if 0 < max_examples <= len(examples):
                break
        return examples


class STSBenchmarkDataReader(STSDataReader):
    """Reads the STS benchmark files (sts-train/dev/test.csv).

    Their tab-separated columns are genre, filename, year, id, score, sentence1, sentence2, hence the default
    column positions 5, 6 and 4; every other argument is as in STSDataReader.
    """

    def __init__(
        self,
        dataset_folder: str,
        s1_col_idx: int = 5,
        s2_col_idx: int = 6,
        score_col_idx: int = 4,
        delimiter: str = "\t",
        quoting: int = csv.QUOTE_NONE,
        normalize_scores: bool = True,
        min_score: float = 0,
        max_score: float = 5,
    ) -> None:
        super().__init__(
            dataset_folder,
            s1_col_idx,
            s2_col_idx,
            score_col_idx,
            delimiter,
            quoting,
            normalize_scores,
            min_score,
            max_score,
        )


class TripletReader:
    """Reads (anchor, positive, negative) triplets, one per row, e.g. for TripletLoss.

    Args:
        dataset_folder: Folder holding the files passed to ``get_examples``.
        s1_col_idx: Column of the anchor.
        s2_col_idx: Column of the positive.
        s3_col_idx: Column of the negative.
        has_header: Skip the first row.
        delimiter: Column separator.
        quoting: ``csv`` quoting mode.
    """

    def __init__(
        self,
        dataset_folder: str,
        s1_col_idx: int = 0,
        s2_col_idx: int = 1,
        s3_col_idx: int = 2,
        has_header: bool = False,
        delimiter: str = "\t",
        quoting: int = csv.QUOTE_NONE,
    ) -> None:
        self.dataset_folder = dataset_folder
        self.s1_col_idx, self.s2_col_idx, self.s3_col_idx = s1_col_idx, s2_col_idx, s3_col_idx
        self.has_header, self.delimiter, self.quoting = has_header, delimiter, quoting

    def get_examples(self, filename: str, max_examples: int = 0) -> list[InputExample]:
        """The file's rows as three-text InputExamples (at most ``max_examples`` when positive)."""
        examples = []
        rows = _csv_rows(os.path.join(self.dataset_folder, filename), self.delimiter, self.quoting)
        if self.has_header:
            next(rows, None)
        for row in rows:
            texts = [row[self.s1_col_idx], row[self.s2_col_idx], row[self.s3_col_idx]]
            examples.append(InputExample(guid=f"{filename}{len(examples)}", texts=texts))
            if 0 < max_examples <= len(examples):
                break
        return examples


class LabelSentenceReader:
    """Reads (label, sentence) rows into single-text InputExamples with integer labels, e.g. for BatchHardTripletLoss.

    Label names get ids in order of first appearance; ``label_map`` keeps them across calls, so train and dev
    files read by one reader share the ids.

    Args:
        folder: Folder holding the files passed to ``get_examples``.
        label_col_idx: Column of the label.
        sentence_col_idx: Column of the sentence.
        separator: Column separator.
    """

    def __init__(self, folder: str, label_col_idx: int = 0, sentence_col_idx: int = 1, separator: str = "\t") -> None:
        self.folder = folder
        self.label_map: dict[str, int] = {}
        self.label_col_idx, self.sentence_col_idx, self.separator = label_col_idx, sentence_col_idx, separator

    def get_examples(self, filename: str, max_examples: int = 0) -> list[InputExample]:
        """The file's lines as InputExamples (at most ``max_examples`` when positive)."""
        examples = []
        with open_text(os.path.join(self.folder, filename)) as f:
            for line in f:
                columns = line.strip().split(self.separator)
                label_id = self.label_map.setdefault(columns[self.label_col_idx], len(self.label_map))
                sentence = columns[self.sentence_col_idx]
                examples.append(InputExample(guid=f"{filename}-{len(examples)}", texts=[sentence], label=label_id))
                if 0 < max_examples <= len(examples):
                    break
        return examples


class PairedFilesReader:
    """Reads parallel files line by line: line i of every file forms one example (label 1), e.g. translations.

    Args:
        filepaths: The files, one per text position (gzip when named ``*.gz``).
    """

    def __init__(self, filepaths: list[str]) -> None:
        self.filepaths = list(filepaths)

    def get_examples(self, max_examples: int = 0) -> list[InputExample]:
        """One example per line number, until the shortest file ends (at most ``max_examples`` when positive)."""
        examples = []
        with contextlib.ExitStack() as stack:  # closes the files already opened when a later one is missing
            handles = [stack.enter_context(open_text(path)) for path in self.filepaths]
            for lines in zip(*handles, strict=False):  # the shortest file ends it
                texts = [line.rstrip("\r\n") for line in lines]
                examples.append(InputExample(guid=str(len(examples)), texts=texts, label=1))
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
        with open_text(os.path.join(self.dataset_folder, name)) as f:
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
