"""The data collator: dataset rows → tokenized text columns (in column order) and a label tensor."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import torch

LABEL_COLUMNS = ("label", "score")
COLUMNS_KEY = "_text_columns"
DATASET_KEY = "dataset_name"


@dataclass
class SentenceTransformerDataCollator:
    """Tokenize every text column of a batch of rows; ``label``/``score`` becomes ``label``.

    Column order is the loss's input order (anchor, positive, negative, …). Prompts may be one string,
    ``{column: prompt}`` or ``{dataset_name: {column: prompt}}``.
    """

    tokenize_fn: Callable[[list[str]], dict[str, torch.Tensor]]
    prompts: Any = None
    valid_label_columns: tuple[str, ...] = field(default=LABEL_COLUMNS)

    def __call__(self, rows: list[dict[str, Any]]) -> dict[str, Any]:
        columns = list(rows[0])
        batch: dict[str, Any] = {}
        dataset_name = rows[0].get(DATASET_KEY)
        if DATASET_KEY in columns:
            columns.remove(DATASET_KEY)
            batch[DATASET_KEY] = dataset_name
        label_column = next((c for c in self.valid_label_columns if c in columns), None)
        if label_column is not None:
            columns.remove(label_column)
            batch["label"] = torch.tensor([row[label_column] for row in rows])
        layout = []
        for column in columns:
            texts = [row[column] for row in rows]
            prompt = self._prompt(dataset_name, column)
            if prompt:
                texts = [prompt + text for text in texts]
            tokenized = self.tokenize_fn(texts)
            for key, value in tokenized.items():
                batch[f"{column}_{key}"] = value
            layout.append((column, list(tokenized)))
        batch[COLUMNS_KEY] = layout
        return batch

    def _prompt(self, dataset_name: str | None, column: str) -> str | None:
        prompts = self.prompts
        if prompts is None or isinstance(prompts, str):
            return prompts
        if dataset_name is not None and isinstance(prompts.get(dataset_name), dict):
            prompts = prompts[dataset_name]
        value = prompts.get(column)
        return value if isinstance(value, str) else None


def split_features(inputs: dict[str, Any]) -> tuple[list[dict[str, Any]], Any]:
    """Undo the collator: one features dict per text column, and the labels (or None)."""
    features = [{key: inputs[f"{column}_{key}"] for key in keys} for column, keys in inputs[COLUMNS_KEY]]
    return features, inputs.get("label")
