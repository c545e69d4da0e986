"""SentenceLabelDataset: the 2.x stream that puts several examples of one label next to each other."""

from __future__ import annotations

import random
from collections.abc import Iterator

from torch.utils.data import IterableDataset

from sentence_transformers.sentence_transformer.readers.input_example import InputExample


class SentenceLabelDataset(IterableDataset):
    """Yields ``samples_per_label`` examples of one label in a row, label after label, in random order.

    Batch triplet losses (BatchHardTripletLoss and co.) need positives in the batch; with a batch size that is a
    multiple of ``samples_per_label`` every label in a batch has that many examples. Labels with fewer
    examples are left out. One pass yields ``len(self)`` examples.

    Args:
        examples: Single-text InputExamples with class labels.
        samples_per_label: Consecutive examples drawn per label.
        with_replacement: Draw every group from all of the label's examples; otherwise an example returns only
            after all labels have run out of unused examples.
    """

    def __init__(self, examples: list[InputExample], samples_per_label: int = 2, with_replacement: bool = False):
        super().__init__()
        if samples_per_label < 1:
            raise ValueError(f"samples_per_label must be a positive integer, got {samples_per_label}")
        self.samples_per_label = samples_per_label
        self.with_replacement = with_replacement
        groups: dict[int | float, list[InputExample]] = {}
        for example in examples:
            groups.setdefault(example.label, []).append(example)
        self.groups = {label: group for label, group in groups.items() if len(group) >= samples_per_label}
        self.grouped_inputs = [example for group in self.groups.values() for example in group]

    def __iter__(self) -> Iterator[InputExample]:
        if not self.groups:
            return
        pools: dict[int | float, list[InputExample]] = {}
        emitted = 0
        while emitted < len(self):
            if not self.with_replacement and not any(len(pool) >= self.samples_per_label for pool in pools.values()):
                pools = {label: random.sample(group, len(group)) for label, group in self.groups.items()}
            labels = list(self.groups)
            random.shuffle(labels)
            for label in labels:
                for example in self._draw(label, pools):
                    yield example
                    emitted += 1
                    if emitted >= len(self):
                        return

    def _draw(self, label: int | float, pools: dict[int | float, list[InputExample]]) -> list[InputExample]:
        """``samples_per_label`` distinct examples of ``label`` (none when its unused pool is too small)."""
        if self.with_replacement:
            return random.sample(self.groups[label], self.samples_per_label)
        pool = pools[label]
        if len(pool) < self.samples_per_label:
            return []
        drawn, pools[label] = pool[: self.samples_per_label], pool[self.samples_per_label :]
        return drawn

    def __len__(self) -> int:
        return len(self.grouped_inputs)
