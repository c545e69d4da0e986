"""SentencesDataset: the 2.x dataset of InputExamples for model.fit."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from torch.utils.data import Dataset

from sentence_transformers.sentence_transformer.readers.input_example import InputExample


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
