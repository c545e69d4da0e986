"""STS-style files (two sentences and a score per row): STSDataReader and STSBenchmarkDataReader."""

from __future__ import annotations

import csv
import os

from sentence_transformers.sentence_transformer.readers._files import _csv_rows
from sentence_transformers.sentence_transformer.readers.input_example import InputExample


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
