"""TripletReader: (anchor, positive, negative) rows."""

from __future__ import annotations

import csv
import os

from sentence_transformers.sentence_transformer.readers._files import _csv_rows
from sentence_transformers.sentence_transformer.readers.input_example import InputExample


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
