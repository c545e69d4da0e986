"""SentenceTransformerTrainingArguments: transformers.TrainingArguments plus batch sampling and prompts."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from enum import Enum
from typing import Any

from transformers import TrainingArguments


class BatchSamplers(str, Enum):
    """How one dataset is cut into batches."""

    BATCH_SAMPLER = "batch_sampler"
    NO_DUPLICATES = "no_duplicates"
    GROUP_BY_LABEL = "group_by_label"


class MultiDatasetBatchSamplers(str, Enum):
    """How batches of several datasets are interleaved (each batch comes from one dataset)."""

    ROUND_ROBIN = "round_robin"
    PROPORTIONAL = "proportional"


@dataclass
class SentenceTransformerTrainingArguments(TrainingArguments):
    r"""TrainingArguments with the sentence-embedding extras.

    Args:
        batch_sampler: "batch_sampler" (shuffled), "no_duplicates" (no text twice in a batch, for in-batch
            negatives) or "group_by_label" (several examples per label, for the batch triplet losses); or a
            ``DefaultBatchSampler`` subclass, or a function taking its arguments, for a sampler of your own.
        multi_dataset_batch_sampler: "proportional" (batches in proportion to dataset sizes) or "round_robin"
            (one batch of each in turn, until the smallest runs out); or a ``MultiDatasetDefaultBatchSampler``
            subclass (or a function taking its arguments).
        prompts: Text prepended to the inputs in training and evaluation: one string (every column),
            ``{column: prompt}``, ``{dataset_name: prompt}`` (every column of that dataset) or
            ``{dataset_name: {column: prompt}}``; the dataset-name forms are for a DatasetDict. Pooling with
            ``include_prompt=False`` leaves the prompt's tokens out, as ``encode(prompt=...)`` does. On a command
            line (``transformers.HfArgumentParser``), a JSON object gives the mapping forms, any other text one prompt.
        router_mapping: Dataset column → Router route (e.g. ``{"question": "query", "answer": "document"}``), or
            ``{dataset_name: {column: route}}`` for several datasets: each column is tokenized and embedded
            through its route. Needed when the model has a Router. A JSON string works too (command line).
        learning_rate_mapping: Regular expression → learning rate, e.g. ``{r"sub_modules\.query": 1e-3}``: the
            parameters whose names (as the loss sees them, e.g. ``model.2.sub_modules.query.0.linear.weight``)
            match get that learning rate; the last matching pattern wins. A JSON string works too.
    """

    batch_sampler: BatchSamplers | str = field(default=BatchSamplers.BATCH_SAMPLER)
    multi_dataset_batch_sampler: MultiDatasetBatchSamplers | str = field(default=MultiDatasetBatchSamplers.PROPORTIONAL)
    # Typed as a string for HfArgumentParser; a dict is accepted too (dataclasses do not check types).
    prompts: str | None = field(default=None, metadata={"help": "A prompt for every column, or a JSON mapping."})
    router_mapping: str | None | dict[str, str] | dict[str, dict[str, str]] = field(
        default_factory=dict,
        metadata={"help": 'JSON mapping of column → Router route, e.g. {"question": "query"}, or per dataset.'},
    )
    learning_rate_mapping: str | None | dict[str, float] = field(
        default_factory=dict,
        metadata={"help": 'JSON mapping of parameter-name regex → learning rate, e.g. {"dense": 1e-3}.'},
    )

    def __post_init__(self) -> None:
        if isinstance(self.prompts, str) and self.prompts.lstrip().startswith("{"):
            try:
                self.prompts = json.loads(self.prompts)
            except json.JSONDecodeError as exc:
                raise ValueError(f"prompts looks like JSON but does not parse: {exc}") from exc
        self.router_mapping = _router_mapping(self.router_mapping)
        self.learning_rate_mapping = _learning_rate_mapping(self.learning_rate_mapping)
        # Strings name the built-in samplers; a sampler class or factory is used as given.
        if isinstance(self.batch_sampler, str):
            self.batch_sampler = BatchSamplers(self.batch_sampler)
        if isinstance(self.multi_dataset_batch_sampler, str):
            self.multi_dataset_batch_sampler = MultiDatasetBatchSamplers(self.multi_dataset_batch_sampler)
        # Text columns are tokenized by the collator, so the dataset must keep them all.
        self.remove_unused_columns = False
        self.prediction_loss_only = True
        super().__post_init__()

    def to_dict(self) -> dict[str, Any]:
        """The arguments as a dict; a sampler class or function (not serializable) is left out."""
        values = super().to_dict()
        for key in ("batch_sampler", "multi_dataset_batch_sampler"):
            if callable(values.get(key)):
                del values[key]
        return values


def _json_mapping(value: Any, name: str, meaning: str) -> dict[str, Any]:
    """A dict, from a dict or its JSON text (None and "" mean empty); else a ValueError saying what is expected."""
    if value is None or value == "":
        return {}
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except json.JSONDecodeError as exc:
            raise ValueError(f"{name} must be a dict (or its JSON text) mapping {meaning}; got {value!r}") from exc
    if not isinstance(value, dict):
        raise ValueError(f"{name} must be a dict mapping {meaning}; got {type(value).__name__}")
    return dict(value)


def _router_mapping(value: Any) -> dict[str, Any]:
    """``{column: route}`` or ``{dataset_name: {column: route}}``, checked."""
    mapping = _json_mapping(value, "router_mapping", "dataset columns to Router routes")
    nested = any(isinstance(route, dict) for route in mapping.values())
    for key, route in mapping.items():
        routes = route.values() if nested and isinstance(route, dict) else [route]
        if not all(isinstance(name, str) for name in routes):
            raise ValueError(
                f"router_mapping[{key!r}] must be a route name (str), or for every dataset a dict column → route; "
                f"got {route!r}"
            )
    return mapping


def _learning_rate_mapping(value: Any) -> dict[str, float]:
    """``{parameter-name regex: learning rate}``, checked: valid patterns and numeric rates."""
    mapping = _json_mapping(value, "learning_rate_mapping", "parameter-name patterns to learning rates")
    checked = {}
    for pattern, rate in mapping.items():
        try:
            re.compile(pattern)
        except re.error as exc:
            raise ValueError(f"learning_rate_mapping pattern {pattern!r} is not a valid regular expression") from exc
        if isinstance(rate, bool) or not isinstance(rate, (int, float)):
            raise ValueError(f"learning_rate_mapping[{pattern!r}] must be a number, got {rate!r}")
        checked[pattern] = float(rate)
    return checked
