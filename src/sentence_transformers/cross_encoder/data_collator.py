"""The CrossEncoder data collator: rows → text columns (untokenized), labels, and the batch's prompt and route.

CrossEncoder losses build their own (query, document) pairs and tokenize them in their ``forward``, so the texts
pass through as lists of strings.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from typing import Any

import torch

from sentence_transformers.base.data_collator import DATASET_KEY, BaseDataCollator

_PER_COLUMN_PROMPTS = (
    "CrossEncoder prompts cannot be per-column. Inputs from multiple columns are combined into pairs, so only a "
    "single prompt string or a per-dataset mapping of prompt strings is supported. For example: prompts='Search: ' "
    "or prompts={'dataset_a': 'Search: ', 'dataset_b': 'Retrieve: '}"
)
_PER_COLUMN_ROUTES = (
    "CrossEncoder router_mapping cannot be per-column. Inputs from multiple columns are combined into pairs, so "
    "only a per-dataset mapping of task strings is supported. For example: "
    "router_mapping={'dataset_a': 'rerank', 'dataset_b': 'rerank'}"
)


@dataclass
class CrossEncoderDataCollator(BaseDataCollator):
    """Collate rows for CrossEncoder losses: each text column as a list of strings, in column order.

    The first of ``valid_label_columns`` present becomes ``label`` (a tensor; a list of tensors when each row holds
    a list, as for the listwise losses). ``prompts`` (one string, or per dataset) and ``router_mapping`` (per
    dataset) resolve to one ``prompt`` and one ``task`` for the batch, which the trainer passes to the loss.
    ``preprocess_fn`` (``model.preprocess``) is kept for subclasses that tokenize here; this collator does not.

    Column order matters: a dataset with "answer" before "question" trains MultipleNegativesRankingLoss to find
    questions for answers.
    """

    def __post_init__(self) -> None:
        if isinstance(self.prompts, dict) and any(isinstance(value, dict) for value in self.prompts.values()):
            raise ValueError(_PER_COLUMN_PROMPTS)
        if isinstance(self.router_mapping, dict) and any(
            isinstance(value, dict) for value in self.router_mapping.values()
        ):
            raise ValueError(_PER_COLUMN_ROUTES)

    def __call__(self, rows: list[dict[str, Any]]) -> dict[str, Any]:
        if not rows:
            return {}
        columns = list(rows[0])
        batch: dict[str, Any] = {}
        if DATASET_KEY in columns:
            columns.remove(DATASET_KEY)
            batch[DATASET_KEY] = rows[0][DATASET_KEY]
        label_column = next((column for column in self.valid_label_columns if column in columns), None)
        if label_column is not None:
            columns.remove(label_column)
            batch["label"] = _labels([row[label_column] for row in rows])
        dataset_name = batch.get(DATASET_KEY)
        if prompt := _per_dataset(self.prompts, dataset_name):
            batch["prompt"] = prompt
        if task := _per_dataset(self.router_mapping, dataset_name):
            batch["task"] = task
        for column in columns:
            batch[column] = [row[column] for row in rows]
        return batch


def _labels(values: list[Any]) -> torch.Tensor | list[torch.Tensor]:
    """One tensor of the labels, or a tensor per row when each row holds several (a list of document labels)."""
    if isinstance(values[0], Collection) and not isinstance(values[0], str):
        return [torch.as_tensor(value) for value in values]
    return torch.tensor(values)


def _per_dataset(setting: str | dict[str, str] | None, dataset_name: str | None) -> str | None:
    """A setting given once (a string) or per dataset (a dict read with the batch's dataset name)."""
    if not setting:
        return None
    if isinstance(setting, str):
        return setting
    if isinstance(setting, dict) and dataset_name is not None:
        return setting.get(dataset_name)
    return None


__all__ = ["CrossEncoderDataCollator"]
