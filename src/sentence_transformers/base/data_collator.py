"""The training data collator shared by model types: rows → preprocessed input columns, labels, prompts and routes.

Every input column is preprocessed with ``model.preprocess`` (SentenceTransformer, SparseEncoder); a model type that
preprocesses elsewhere (CrossEncoder: in its losses) subclasses it.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import torch

from sentence_transformers.base.encoding import input_modality, prompt_length
from sentence_transformers.util.dataset import DEFAULT_LABEL_COLUMNS

logger = logging.getLogger(__name__)

LABEL_COLUMNS = DEFAULT_LABEL_COLUMNS
COLUMNS_KEY = "_text_columns"
DATASET_KEY = "dataset_name"
#: The non-text modalities whose columns are checked against ``model.modalities`` before preprocessing.
MEDIA_MODALITIES = ("image", "audio", "video")

# Column names whose usual place in the loss's input order is known: (name, index, the group to select).
_USUAL_COLUMN_ORDER = {
    group[index]: (index, group)
    for group in (
        ["anchor", "positive", "negative"],
        ["question", "answer"],
        ["query", "response"],
        ["hypothesis", "entailment", "contradiction"],
    )
    for index in range(len(group))
}


@dataclass
class BaseDataCollator:
    """Preprocess every input column of a batch of rows; the first ``valid_label_columns`` column becomes ``label``.

    Column order is the loss's input order (anchor, positive, negative, …): a dataset with "answer" before
    "question" trains MultipleNegativesRankingLoss to find questions for answers, so a column named out of its usual
    place is warned about once (``maybe_warn_about_column_order``).

    Args:
        preprocess_fn: ``model.preprocess``: inputs (with ``prompt=``, ``task=`` and, when set, ``max_length=``) →
            features; with a prompt, the features carry its ``prompt_length`` so that ``Pooling(include_prompt=False)``
            leaves the prompt out in training as at inference.
        valid_label_columns: The columns that may hold the labels; the first one present is used.
        router_mapping: ``{column: route}`` or ``{dataset_name: {column: route}}``: a mapped column is preprocessed
            with ``task=route``, stamped on its features, so a Router sends it through that route.
        prompts: The forms of ``SentenceTransformerTrainingArguments.prompts`` (see ``column_prompt``).
        max_length: A token limit for every column (int) or per route (``{route: limit}``), passed on as
            ``max_length`` instead of the model's own.
        tokenize_fn: The 5.x form, ``model.tokenize``: texts → features; the prompt is then prepended here.
    """

    preprocess_fn: Callable[..., dict[str, Any]] | None = None
    valid_label_columns: list[str] = field(default_factory=lambda: list(DEFAULT_LABEL_COLUMNS))
    router_mapping: dict[str, str] | dict[str, dict[str, str]] | None = field(default_factory=dict, repr=False)
    prompts: str | dict[str, str] | dict[str, dict[str, str]] | None = field(default=None, repr=False)
    max_length: int | dict[str, int] | None = field(default=None, repr=False)
    tokenize_fn: Callable[..., dict[str, torch.Tensor]] | None = field(default=None, repr=False)
    _prompt_lengths: dict[tuple[str, str | None], int] = field(default_factory=dict, init=False, repr=False)
    _warned_columns: set[tuple[str, ...]] = field(default_factory=set, init=False, repr=False)

    def __post_init__(self) -> None:
        if self.preprocess_fn is None and self.tokenize_fn is None:
            raise TypeError(f"{type(self).__name__} needs a preprocess_fn, e.g. model.preprocess")

    def __call__(self, rows: list[dict[str, Any]]) -> dict[str, Any]:
        if not rows:
            return {}
        columns = list(rows[0])
        batch: dict[str, Any] = {}
        dataset_name = rows[0].get(DATASET_KEY)
        if DATASET_KEY in columns:
            columns.remove(DATASET_KEY)
            batch[DATASET_KEY] = dataset_name
        if tuple(columns) not in self._warned_columns:
            self.maybe_warn_about_column_order(columns)
        label_column = next((c for c in self.valid_label_columns if c in columns), None)
        if label_column is not None:
            columns.remove(label_column)
            labels = [row[label_column] for row in rows]
            batch["label"] = torch.stack(labels) if isinstance(labels[0], torch.Tensor) else torch.tensor(labels)
        if dataset_name is None and _nested(self.prompts):
            raise ValueError(
                "The prompts provided to the trainer are a nested dictionary. In this setting, the first level of "
                "the dictionary should map to dataset names and the second level to column names. However, as the "
                "provided dataset is a not a DatasetDict, no dataset names can be inferred. The keys to the provided "
                f"prompts dictionary are {list(self.prompts)!r}"
            )
        layout = []
        routes = column_routes(self.router_mapping, dataset_name)
        for position, column in enumerate(columns):
            task = self._get_task_for_column(column, position, routes)
            prompt = column_prompt(self.prompts, dataset_name, column)
            inputs = [row[column] for row in rows]
            self._check_modalities(column, inputs)
            features = self._preprocess(inputs, prompt, task)
            if task is not None:
                features["task"] = task
            for key, value in features.items():
                batch[f"{column}_{key}"] = value
            layout.append((column, list(features)))
        batch[COLUMNS_KEY] = layout
        return batch

    def _check_modalities(self, column: str, inputs: list[Any]) -> None:
        """Raise a ValueError naming the modality when a column holds images (audio, video) that the model behind
        ``preprocess_fn`` does not take, instead of the error its text tokenizer would give."""
        model = getattr(self.preprocess_fn, "__self__", None)
        supported = getattr(model, "modalities", None)
        if not supported or all(isinstance(item, str) for item in inputs):
            return
        for row, item in enumerate(inputs):
            found = input_modality(item, supported)
            if found in MEDIA_MODALITIES and found not in supported:
                raise ValueError(
                    f"Modality {found!r} is not supported by this {type(model).__name__} model "
                    f"(model.modalities == {list(supported)}): column {column!r} holds {type(item).__name__} "
                    f"inputs (row {row} of the batch). Train a model whose modalities include {found!r} (e.g. a CLIP "
                    "model for images), or remove the column from the dataset."
                )

    def _preprocess(self, inputs: list[Any], prompt: str | None, task: str | None) -> dict[str, Any]:
        """One column's features, from ``preprocess_fn`` or (5.x) from ``tokenize_fn`` with the prompt prepended."""
        options: dict[str, Any] = {}
        max_length = self._max_length(task)
        if max_length is not None:  # only when set, so that functions without the keyword keep working
            options["max_length"] = max_length
        if self.preprocess_fn is not None:
            return dict(self.preprocess_fn(inputs, prompt=prompt, task=task, **options))
        tokenize = self.tokenize_fn if task is None else functools.partial(self.tokenize_fn, task=task)
        features = dict(tokenize([prompt + text for text in inputs] if prompt else inputs, **options))
        if prompt and "input_ids" in features:
            features["prompt_length"] = self._prompt_length(prompt, task)
        return features

    def _get_task_for_column(
        self, column_name: str, column_position: int, router_mapping: dict[str, str]
    ) -> str | None:
        """The task (route) a column is preprocessed with: its ``router_mapping`` entry; model types may add
        defaults by position (a multi-vector model's first column is the query)."""
        return router_mapping.get(column_name)

    def _get_max_length_for_task(self, task: str | None) -> int | None:
        """Upstream's name of ``_max_length``."""
        return self._max_length(task)

    def _max_length(self, task: str | None) -> int | None:
        """``max_length`` for a column: an int applies to every column, a dict is read by route."""
        if isinstance(self.max_length, int):
            return self.max_length
        if isinstance(self.max_length, dict) and task is not None:
            return self.max_length.get(task)
        return None

    def _prompt_length(self, prompt: str, task: str | None = None) -> int:
        """Tokens of the prompt without the closing special token, as ``encode`` counts them (per route)."""
        if (prompt, task) not in self._prompt_lengths:
            tokenize = self.tokenize_fn if task is None else functools.partial(self.tokenize_fn, task=task)
            self._prompt_lengths[prompt, task] = prompt_length(tokenize, prompt)
        return self._prompt_lengths[prompt, task]

    def maybe_warn_about_column_order(self, column_names: list[str]) -> None:
        """Warn (once per column list) when a column such as "positive" is not where losses expect it."""
        for column_name, (expected_idx, group) in _USUAL_COLUMN_ORDER.items():
            if column_name in column_names and column_names.index(column_name) != expected_idx:
                logger.warning(
                    f"Column {column_name!r} is at index {column_names.index(column_name)}, whereas "
                    f"a column with this name is usually expected at index {expected_idx}. Note that the column "
                    "order can be important for some losses, e.g. MultipleNegativesRankingLoss will always "
                    "consider the first column as the anchor and the second as the positive, regardless of "
                    "the dataset column names. Consider renaming the columns to match the expected order, e.g.:\n"
                    f"dataset = dataset.select_columns({group})"
                )
                break
        self._warned_columns.add(tuple(column_names))


def _nested(prompts: Any) -> bool:
    """Whether prompts are given per dataset (``{dataset_name: {column: prompt}}``), judged by the first value."""
    return isinstance(prompts, dict) and bool(prompts) and isinstance(next(iter(prompts.values())), dict)


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
