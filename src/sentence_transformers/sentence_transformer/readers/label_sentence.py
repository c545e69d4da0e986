"""LabelSentenceReader: (label, sentence) rows."""

from __future__ import annotations

import os

from sentence_transformers.sentence_transformer.readers._files import open_text
from sentence_transformers.sentence_transformer.readers.input_example import InputExample


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
