"""NoDuplicatesDataLoader: the 2.x loader whose batches never hold the same text twice."""

from __future__ import annotations

import random
from collections.abc import Callable, Iterator
from typing import Any

from sentence_transformers.sentence_transformer.readers.input_example import InputExample


class NoDuplicatesDataLoader:
    """Batches of InputExamples in which no text (compared case- and space-insensitively) occurs twice.

    With in-batch negatives losses (MultipleNegativesRankingLoss) a duplicate would be a false negative.
    ``fit()`` sets ``collate_fn``; without one, iterating yields lists of InputExamples. The examples are
    shuffled once here and again after every full pass.

    Args:
        train_examples: The examples to batch.
        batch_size: Examples per batch.
    """

    def __init__(self, train_examples: list[InputExample], batch_size: int) -> None:
        if batch_size < 1:
            raise ValueError(f"batch_size must be a positive integer, got {batch_size}")
        self.batch_size = batch_size
        self.train_examples = list(train_examples)
        self.collate_fn: Callable[[list[InputExample]], Any] | None = None
        self.data_pointer = 0
        random.shuffle(self.train_examples)

    def __iter__(self) -> Iterator[Any]:
        for _ in range(len(self)):
            batch = self._next_batch()
            yield self.collate_fn(batch) if self.collate_fn is not None else batch

    def _next_batch(self) -> list[InputExample]:
        """Fill a batch from the pointer on, skipping examples that repeat a text; a full fruitless pass ends it."""
        batch: list[InputExample] = []
        seen: set[str] = set()
        misses = 0
        while len(batch) < self.batch_size and misses < len(self.train_examples):
            example = self.train_examples[self.data_pointer]
            keys = {str(text).strip().lower() for text in example.texts}
            if keys & seen:
                misses += 1
            else:
                batch.append(example)
                seen |= keys
                misses = 0
            self.data_pointer += 1
            if self.data_pointer >= len(self.train_examples):
                self.data_pointer = 0
                random.shuffle(self.train_examples)
        return batch

    def __len__(self) -> int:
        return len(self.train_examples) // self.batch_size
