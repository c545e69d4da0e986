"""Batch samplers: shuffled, without duplicate texts, grouped by label, and interleaving several datasets."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterator, Sequence
from typing import Any

import torch
from torch.utils.data import BatchSampler, Sampler

from sentence_transformers.sentence_transformer.data_collator import DATASET_KEY, LABEL_COLUMNS


def _permutation(size: int, generator: torch.Generator) -> list[int]:
    return torch.randperm(size, generator=generator).tolist()


class DefaultBatchSampler(BatchSampler):
    """Shuffled batches of ``batch_size`` (the last, smaller one kept unless ``drop_last``)."""

    def __init__(self, dataset: Sequence[Any], batch_size: int, drop_last: bool = False, seed: int = 0) -> None:
        self.dataset, self.batch_size, self.drop_last, self.seed, self.epoch = dataset, batch_size, drop_last, seed, 0

    def set_epoch(self, epoch: int) -> None:
        """A new shuffle for every epoch, reproducible from the seed."""
        self.epoch = epoch

    def _order(self) -> list[int]:
        generator = torch.Generator().manual_seed(self.seed + self.epoch)
        return _permutation(len(self.dataset), generator)

    def __iter__(self) -> Iterator[list[int]]:
        order = self._order()
        for start in range(0, len(order), self.batch_size):
            batch = order[start : start + self.batch_size]
            if len(batch) == self.batch_size or not self.drop_last:
                yield batch

    def __len__(self) -> int:
        full, rest = divmod(len(self.dataset), self.batch_size)
        return full + (1 if rest and not self.drop_last else 0)


class NoDuplicatesBatchSampler(DefaultBatchSampler):
    """Batches in which no text occurs twice, so in-batch negatives are never copies of the positive.

    Only text columns count: ``dataset_name`` and the label columns (``valid_label_columns``) are left out, since
    a value shared by every row there (a dataset name, a class label) would otherwise force batches of one.
    """

    def __init__(
        self,
        dataset: Sequence[Any],
        batch_size: int,
        drop_last: bool = False,
        seed: int = 0,
        text_columns: list[str] | None = None,
        valid_label_columns: Sequence[str] = LABEL_COLUMNS,
    ) -> None:
        super().__init__(dataset, batch_size, drop_last, seed)
        self.excluded = {DATASET_KEY, *valid_label_columns}
        names = getattr(dataset, "column_names", None)
        if text_columns is None and names is not None:
            text_columns = [name for name in names if name not in self.excluded]
        self.text_columns = text_columns

    def _row_texts(self) -> list[set[str]]:
        """The text values of every row, read once per epoch (column-wise when the dataset allows it)."""
        if self.text_columns is not None and hasattr(self.dataset, "column_names"):
            columns = [list(self.dataset[name]) for name in self.text_columns]
            return [{value for value in values if isinstance(value, str)} for values in zip(*columns, strict=True)]
        return [self._texts(self.dataset[index]) for index in range(len(self.dataset))]

    def _texts(self, row: dict[str, Any]) -> set[str]:
        columns = self.text_columns or [key for key in row if key not in self.excluded]
        return {row[column] for column in columns if isinstance(row.get(column), str)}

    def __iter__(self) -> Iterator[list[int]]:
        texts = self._row_texts() if len(self.dataset) else []
        remaining = self._order()
        while remaining:
            batch, seen, deferred = [], set(), []
            for index in remaining:
                if len(batch) < self.batch_size and not texts[index] & seen:
                    batch.append(index)
                    seen |= texts[index]
                else:
                    deferred.append(index)
            remaining = deferred
            if len(batch) == self.batch_size or not self.drop_last:
                yield batch


class GroupByLabelBatchSampler(DefaultBatchSampler):
    """Batches made of pairs (or more) of examples sharing a label, for the batch triplet losses.

    The label is ``label_column``, or with ``valid_label_columns`` (upstream's argument) the first of those columns
    that the dataset has.
    """

    def __init__(
        self,
        dataset: Sequence[Any],
        batch_size: int,
        drop_last: bool = False,
        seed: int = 0,
        label_column: str = "label",
        valid_label_columns: Sequence[str] | None = None,
    ) -> None:
        super().__init__(dataset, batch_size, drop_last, seed)
        if batch_size % 2:
            raise ValueError(f"group_by_label needs an even batch_size, got {batch_size}")
        if valid_label_columns is not None:
            names = list(getattr(dataset, "column_names", None) or [])
            label_column = next((column for column in valid_label_columns if column in names), None)
            if label_column is None:
                raise ValueError(
                    f"None of the valid_label_columns {list(valid_label_columns)} is a column of the dataset "
                    f"(its columns: {names})"
                )
        self.label_column = label_column

    def __iter__(self) -> Iterator[list[int]]:
        groups: dict[Any, list[int]] = defaultdict(list)
        for index in self._order():
            groups[self.dataset[index][self.label_column]].append(index)
        pairs = [group[i : i + 2] for group in groups.values() for i in range(0, len(group) - 1, 2)]
        generator = torch.Generator().manual_seed(self.seed + self.epoch + 1)
        flat = [index for p in _permutation(len(pairs), generator) for index in pairs[p]]
        for start in range(0, len(flat), self.batch_size):
            batch = flat[start : start + self.batch_size]
            if len(batch) == self.batch_size or not self.drop_last:
                yield batch


class MultiDatasetBatchSampler(Sampler):
    """Interleaves batches of several datasets laid end to end (a ConcatDataset), one dataset per batch.

    ``round_robin`` takes one batch of each dataset in turn until the smallest is exhausted; ``proportional``
    takes every batch of every dataset, in an order drawn in proportion to the datasets' batch counts.
    """

    def __init__(self, samplers: list[DefaultBatchSampler], offsets: list[int], mode: str, seed: int = 0) -> None:
        self.samplers, self.offsets, self.mode, self.seed, self.epoch = samplers, offsets, mode, seed, 0

    def set_epoch(self, epoch: int) -> None:
        """Forward the epoch to every dataset's sampler."""
        self.epoch = epoch
        for sampler in self.samplers:
            sampler.set_epoch(epoch)

    def _schedule(self) -> list[int]:
        counts = [len(sampler) for sampler in self.samplers]
        if self.mode == "round_robin":
            return list(range(len(counts))) * min(counts)
        schedule = [dataset for dataset, count in enumerate(counts) for _ in range(count)]
        generator = torch.Generator().manual_seed(self.seed + self.epoch)
        return [schedule[i] for i in _permutation(len(schedule), generator)]

    def __iter__(self) -> Iterator[list[int]]:
        iterators = [iter(sampler) for sampler in self.samplers]
        for dataset in self._schedule():
            yield [self.offsets[dataset] + index for index in next(iterators[dataset])]

    def __len__(self) -> int:
        return len(self._schedule())
