"""Batch samplers: shuffled, without duplicate texts, grouped by label, and interleaving several datasets.

``BatchSamplers`` and ``MultiDatasetBatchSamplers`` (the names the training arguments take) are re-exported here.
"""

from __future__ import annotations

import os
from abc import ABC, abstractmethod
from collections import defaultdict
from collections.abc import Iterator, Sequence
from itertools import accumulate
from typing import Any

import torch
from torch.utils.data import BatchSampler, ConcatDataset

from sentence_transformers.base.data_collator import DATASET_KEY, LABEL_COLUMNS

try:
    import xxhash
except ImportError:  # optional: only NoDuplicatesBatchSampler(precompute_hashes=True) needs it
    xxhash = None
from sentence_transformers.sentence_transformer.training_args import BatchSamplers, MultiDatasetBatchSamplers


def _permutation(size: int, generator: torch.Generator) -> list[int]:
    return torch.randperm(size, generator=generator).tolist()


class SetEpochMixin:
    """Keeps the epoch the Trainer announces (``set_epoch``), so each epoch gets its own reproducible order."""

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        """Called by the Trainer at the start of every epoch."""
        self.epoch = epoch


class DefaultBatchSampler(SetEpochMixin, BatchSampler):
    """Shuffled batches of ``batch_size`` (the last, smaller one kept unless ``drop_last``).

    The order is drawn from ``seed + epoch`` (with ``generator`` when given, re-seeded every epoch), so it is
    reproducible and different every epoch. ``valid_label_columns`` is kept for subclasses.
    """

    def __init__(
        self,
        dataset: Sequence[Any],
        batch_size: int,
        drop_last: bool = False,
        valid_label_columns: Sequence[str] | None = None,
        generator: torch.Generator | None = None,
        seed: int = 0,
    ) -> None:
        super().__init__(dataset, batch_size=batch_size, drop_last=drop_last)
        self.dataset = dataset
        self.valid_label_columns = valid_label_columns
        self.generator = generator
        self.seed = seed

    def _generator(self, offset: int = 0) -> torch.Generator:
        generator = self.generator if self.generator is not None else torch.Generator()
        return generator.manual_seed(self.seed + self.epoch + offset)

    def _order(self) -> list[int]:
        return _permutation(len(self.dataset), self._generator())

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

    Only text columns count: ``dataset_name`` and the label columns (``valid_label_columns``, by default
    label/labels/score/scores) are left out, since a value shared by every row there (a dataset name, a class label)
    would otherwise force batches of one.

    Args:
        precompute_hashes: Hash every value once (64-bit xxhash; needs the ``xxhash`` package), before the first
            epoch, with ``datasets.map`` over ``precompute_num_proc`` processes and ``precompute_batch_size`` rows
            per call; the epochs then compare integers instead of re-reading the dataset's rows. Costs about
            ``len(dataset) * columns * 8`` bytes.
        precompute_num_proc: Hashing processes; None means ``min(8, cpu_count - 1)`` (at least 1).
        precompute_batch_size: Rows per hashing call.
    """

    def __init__(
        self,
        dataset: Sequence[Any],
        batch_size: int,
        drop_last: bool = False,
        valid_label_columns: Sequence[str] | None = None,
        generator: torch.Generator | None = None,
        seed: int = 0,
        precompute_hashes: bool = False,
        precompute_num_proc: int | None = None,
        precompute_batch_size: int = 1000,
        text_columns: list[str] | None = None,
    ) -> None:
        if valid_label_columns is None:
            valid_label_columns = LABEL_COLUMNS
        super().__init__(dataset, batch_size, drop_last, valid_label_columns, generator, seed)
        self.excluded = {DATASET_KEY, *valid_label_columns}
        names = getattr(dataset, "column_names", None)
        if text_columns is None and names is not None:
            text_columns = [name for name in names if name not in self.excluded]
        self.text_columns = text_columns
        self.precompute_hashes = precompute_hashes
        self.precompute_batch_size = precompute_batch_size
        self._row_hashes: list[set[int]] | None = None
        if precompute_hashes:
            if xxhash is None:
                raise ImportError(
                    "NoDuplicatesBatchSampler with precompute_hashes=True requires `xxhash`. "
                    "Install `xxhash` to use this option."
                )
            if precompute_num_proc is None:
                precompute_num_proc = max(1, min(8, (os.cpu_count() or 1) - 1))
        self.precompute_num_proc = precompute_num_proc

    def _row_texts(self) -> list[set[str]]:
        """The text values of every row, read once per epoch (column-wise when the dataset allows it)."""
        if self.text_columns is not None and hasattr(self.dataset, "column_names"):
            columns = [list(self.dataset[name]) for name in self.text_columns]
            return [{value for value in values if isinstance(value, str)} for values in zip(*columns, strict=True)]
        return [self._texts(self.dataset[index]) for index in range(len(self.dataset))]

    def _texts(self, row: dict[str, Any]) -> set[str]:
        columns = self.text_columns or [key for key in row if key not in self.excluded]
        return {row[column] for column in columns if isinstance(row.get(column), str)}

    def _row_values(self) -> list[set[str]] | list[set[int]]:
        """What a batch may not hold twice, per row: the texts, or their hashes (computed once, for every epoch)."""
        if not self.precompute_hashes:
            return self._row_texts()
        if self._row_hashes is None:
            self._row_hashes = self._hash_rows()
        return self._row_hashes

    def _hash_rows(self) -> list[set[int]]:
        """The hashes of every row's texts: by ``datasets.map`` in worker processes, or here for plain sequences."""
        columns = self.text_columns
        if columns is None or not hasattr(self.dataset, "map"):
            return [{_xxhash(text) for text in self._texts(self.dataset[i])} for i in range(len(self.dataset))]
        hashed = self.dataset.map(
            _hash_texts,
            batched=True,
            batch_size=self.precompute_batch_size,
            num_proc=self.precompute_num_proc if len(self.dataset) > 1 else None,
            input_columns=columns,
            remove_columns=list(self.dataset.column_names),
            desc="Hashing dataset values",
        )
        return [set(row) for row in hashed["hashes"]]

    def __iter__(self) -> Iterator[list[int]]:
        texts = self._row_values() if len(self.dataset) else []
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


def _xxhash(text: str) -> int:
    """A text's 64-bit xxhash, as a signed integer (what Arrow's int64 columns store)."""
    value = xxhash.xxh64_intdigest(text.encode("utf-8"))
    return value - (1 << 64) if value >= 1 << 63 else value


def _hash_texts(*columns: list[Any]) -> dict[str, list[list[int]]]:
    """``datasets.map`` function (module level, so worker processes can unpickle it): each row's text hashes."""
    rows = zip(*columns, strict=True)
    return {"hashes": [[_xxhash(value) for value in row if isinstance(value, str)] for row in rows]}


class GroupByLabelBatchSampler(DefaultBatchSampler):
    """Batches made of pairs (or more) of examples sharing a label, for the batch triplet losses.

    The label is ``label_column``, or with ``valid_label_columns`` the first of those columns that the dataset has.
    """

    def __init__(
        self,
        dataset: Sequence[Any],
        batch_size: int,
        drop_last: bool = False,
        valid_label_columns: Sequence[str] | None = None,
        generator: torch.Generator | None = None,
        seed: int = 0,
        label_column: str = "label",
    ) -> None:
        super().__init__(dataset, batch_size, drop_last, valid_label_columns, generator, seed)
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
        flat = [index for p in _permutation(len(pairs), self._generator(offset=1)) for index in pairs[p]]
        for start in range(0, len(flat), self.batch_size):
            batch = flat[start : start + self.batch_size]
            if len(batch) == self.batch_size or not self.drop_last:
                yield batch


class MultiDatasetDefaultBatchSampler(SetEpochMixin, BatchSampler, ABC):
    """Batches of several datasets laid end to end (a ConcatDataset), one dataset per batch; subclass to order them.

    Args:
        dataset: The datasets, concatenated; batch indices are shifted to their place in it.
        batch_samplers: One batch sampler per dataset of ``dataset``, in the same order.
        generator: Used (re-seeded with ``seed + epoch``) for a random order of the datasets' batches.
        seed: Seed of that order.
    """

    def __init__(
        self,
        dataset: ConcatDataset,
        batch_samplers: list[BatchSampler],
        generator: torch.Generator | None = None,
        seed: int = 0,
    ) -> None:
        if len(dataset.datasets) != len(batch_samplers):
            raise ValueError(
                f"{len(batch_samplers)} batch samplers for {len(dataset.datasets)} datasets: one per dataset is needed"
            )
        super().__init__(dataset, batch_size=batch_samplers[0].batch_size, drop_last=batch_samplers[0].drop_last)
        self.dataset = dataset
        self.batch_samplers = batch_samplers
        self.generator = generator
        self.seed = seed

    def set_epoch(self, epoch: int) -> None:
        """Keep the epoch and pass it on to every dataset's sampler."""
        super().set_epoch(epoch)
        for sampler in self.batch_samplers:
            if hasattr(sampler, "set_epoch"):
                sampler.set_epoch(epoch)

    def _offsets(self) -> list[int]:
        """Where each dataset starts in the concatenation."""
        return [0, *accumulate(len(part) for part in self.dataset.datasets)][:-1]

    def _generator(self) -> torch.Generator:
        generator = self.generator if self.generator is not None else torch.Generator()
        return generator.manual_seed(self.seed + self.epoch)

    @abstractmethod
    def __iter__(self) -> Iterator[list[int]]:
        """The batches, as indices into the concatenation."""

    @abstractmethod
    def __len__(self) -> int:
        """The number of batches."""


class RoundRobinBatchSampler(MultiDatasetDefaultBatchSampler):
    """One batch of each dataset in turn, until the one with the fewest batches runs out.

    Every dataset is sampled equally often; the larger ones are not used to the end.
    """

    def __iter__(self) -> Iterator[list[int]]:
        offsets = self._offsets()
        for batches in zip(*(iter(sampler) for sampler in self.batch_samplers), strict=False):
            for offset, batch in zip(offsets, batches, strict=True):
                yield [offset + index for index in batch]

    def __len__(self) -> int:
        return min(len(sampler) for sampler in self.batch_samplers) * len(self.batch_samplers)


class ProportionalBatchSampler(MultiDatasetDefaultBatchSampler):
    """Every batch of every dataset, in a random order: larger datasets come up proportionally more often."""

    def __iter__(self) -> Iterator[list[int]]:
        offsets = self._offsets()
        schedule = [dataset for dataset, sampler in enumerate(self.batch_samplers) for _ in range(len(sampler))]
        iterators = [iter(sampler) for sampler in self.batch_samplers]
        for position in _permutation(len(schedule), self._generator()):
            dataset = schedule[position]
            batch = next(iterators[dataset], None)
            if batch is not None:
                yield [offsets[dataset] + index for index in batch]

    def __len__(self) -> int:
        return sum(len(sampler) for sampler in self.batch_samplers)


__all__ = [
    "BatchSamplers",
    "DefaultBatchSampler",
    "GroupByLabelBatchSampler",
    "MultiDatasetBatchSamplers",
    "MultiDatasetDefaultBatchSampler",
    "NoDuplicatesBatchSampler",
    "ProportionalBatchSampler",
    "RoundRobinBatchSampler",
    "SetEpochMixin",
]
