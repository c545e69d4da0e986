"""The data collator: dataset rows → tokenized text columns (in column order) and a label tensor."""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import torch

from sentence_transformers.sentence_transformer.encoding import prompt_length

LABEL_COLUMNS = ("label", "score")
COLUMNS_KEY = "_text_columns"
DATASET_KEY = "dataset_name"


@dataclass
class SentenceTransformerDataCollator:
    """Tokenize every text column of a batch of rows; ``label``/``score`` becomes ``label``.

    Column order is the loss's input order (anchor, positive, negative, …). ``prompts`` takes the forms of
    ``SentenceTransformerTrainingArguments.prompts`` (see ``column_prompt``). A prompted column also carries its
    ``prompt_length`` (in tokens, as ``encode(prompt=...)`` passes it), so that ``Pooling(include_prompt=False)``
    leaves the prompt out in training as it does at inference.

    ``router_mapping`` (``{column: route}`` or ``{dataset_name: {column: route}}``) tokenizes a mapped column
    with ``task=route`` and stamps ``task`` on its features, so a Router sends that column through its route.
    """

    tokenize_fn: Callable[..., dict[str, torch.Tensor]]
    prompts: Any = None
    valid_label_columns: tuple[str, ...] = field(default=LABEL_COLUMNS)
    router_mapping: dict[str, Any] | None = None
    _prompt_lengths: dict[tuple[str, str | None], int] = field(default_factory=dict, init=False, repr=False)

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
        routes = column_routes(self.router_mapping, dataset_name)
        for column in columns:
            texts = [row[column] for row in rows]
            prompt = column_prompt(self.prompts, dataset_name, column)
            if prompt:
                texts = [prompt + text for text in texts]
            task = routes.get(column)
            tokenize = self.tokenize_fn if task is None else functools.partial(self.tokenize_fn, task=task)
            tokenized = dict(tokenize(texts))
            if prompt and "input_ids" in tokenized:
                tokenized["prompt_length"] = self._prompt_length(prompt, task)
            if task is not None:
                tokenized["task"] = task
            for key, value in tokenized.items():
                batch[f"{column}_{key}"] = value
            layout.append((column, list(tokenized)))
        batch[COLUMNS_KEY] = layout
        return batch

    def _prompt_length(self, prompt: str, task: str | None = None) -> int:
        """Tokens of the prompt without the closing special token, as ``encode`` counts them (per route)."""
        if (prompt, task) not in self._prompt_lengths:
            tokenize = self.tokenize_fn if task is None else functools.partial(self.tokenize_fn, task=task)
            self._prompt_lengths[prompt, task] = prompt_length(tokenize, prompt)
        return self._prompt_lengths[prompt, task]


def column_routes(router_mapping: dict[str, Any] | None, dataset_name: str | None) -> dict[str, str]:
    """The ``{column: route}`` table for one dataset: the flat mapping, or the dataset's part of a nested one."""
    if not router_mapping:
        return {}
    if any(isinstance(routes, dict) for routes in router_mapping.values()):
        routes = router_mapping.get(dataset_name) if dataset_name is not None else None
        return routes if isinstance(routes, dict) else {}
    return router_mapping


def column_prompt(prompts: Any, dataset_name: str | None, column: str) -> str | None:
    """The prompt for one column of one dataset.

    ``prompts`` is one string (every column), ``{column: prompt}``, ``{dataset_name: prompt}`` (every column of
    that dataset) or ``{dataset_name: {column: prompt}}``. A dataset-name key wins over a column of the same name.
    """
    if prompts is None or isinstance(prompts, str):
        return prompts
    if not isinstance(prompts, dict):
        raise TypeError(f"prompts must be a str or a dict, got {type(prompts).__name__}")
    if dataset_name is not None and dataset_name in prompts:
        chosen = prompts[dataset_name]
        if isinstance(chosen, str):
            return chosen
        if isinstance(chosen, dict):
            value = chosen.get(column)
            return value if isinstance(value, str) else None
    value = prompts.get(column)
    return value if isinstance(value, str) else None


def split_features(inputs: dict[str, Any]) -> tuple[list[dict[str, Any]], Any]:
    """Undo the collator: one features dict per text column, and the labels (or None)."""
    features = [{key: inputs[f"{column}_{key}"] for key in keys} for column, keys in inputs[COLUMNS_KEY]]
    return features, inputs.get("label")
