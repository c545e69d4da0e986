"""NLIDataReader: the AllNLI/SNLI/MultiNLI sentence-pair files."""

from __future__ import annotations

import os

from sentence_transformers.sentence_transformer.readers._files import open_text
from sentence_transformers.sentence_transformer.readers.input_example import InputExample


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
