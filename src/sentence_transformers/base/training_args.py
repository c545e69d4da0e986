"""BaseTrainingArguments: transformers.TrainingArguments plus batch sampling, prompts, routes and learning rates.

Every model type's training arguments are this class under their own name.
"""

from __future__ import annotations

import json
import logging
import re
from dataclasses import dataclass, field
from typing import Any

from transformers import TrainingArguments
from transformers.utils import ExplicitEnum

logger = logging.getLogger(__name__)

_ROUTER_MAPPING_ERROR = (
    "The `router_mapping` argument must be a dictionary mapping dataset column names to Router routes, like 'query' "
    "or 'document'. A stringified dictionary also works."
)
_LEARNING_RATE_MAPPING_ERROR = (
    "The `learning_rate_mapping` argument must be a dictionary mapping parameter name regular expressions to "
    "learning rates. A stringified dictionary also works."
)


class BatchSamplers(ExplicitEnum):
    """How one dataset is cut into batches.

    ``NO_DUPLICATES_HASHED`` is ``NO_DUPLICATES`` with ``precompute_hashes=True``: every value is hashed once
    (xxhash, in ``datasets.map`` worker processes) before the first epoch, so the duplicate checks compare integers.
    """

    BATCH_SAMPLER = "batch_sampler"
    NO_DUPLICATES = "no_duplicates"
    NO_DUPLICATES_HASHED = "no_duplicates_hashed"
    GROUP_BY_LABEL = "group_by_label"


class MultiDatasetBatchSamplers(ExplicitEnum):
    """How batches of several datasets are interleaved (each batch comes from one dataset)."""

    ROUND_ROBIN = "round_robin"
    PROPORTIONAL = "proportional"


@dataclass
class BaseTrainingArguments(TrainingArguments):
    r"""TrainingArguments with the Sentence Transformers extras, shared by every model type.

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
        warmup_ratio: Deprecated (transformers 5 dropped it; kept so that code written for transformers 4 runs): the
            fraction of the training steps to warm the learning rate up over. Given while ``warmup_steps`` is 0, it
            moves into ``warmup_steps`` (which takes a fraction below 1 as a ratio) with a warning; given beside a
            ``warmup_steps``, ``warmup_steps`` wins.
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
    warmup_ratio: float | None = field(
        default=None,
        metadata={"help": "Deprecated: use `warmup_steps` (a float below 1 is a ratio of the training steps)."},
    )

    def __post_init__(self) -> None:
        self._move_warmup_ratio()
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

    def _move_warmup_ratio(self) -> None:
        """transformers 5 reads a warmup ratio from ``warmup_steps`` (a float below 1): move ``warmup_ratio`` there."""
        if self.warmup_ratio is None:
            return
        if self.warmup_steps != 0:
            logger.warning(
                f"Both `warmup_ratio` ({self.warmup_ratio}) and `warmup_steps` ({self.warmup_steps}) are set: "
                "`warmup_steps` is used and `warmup_ratio` is ignored."
            )
            return
        self.warmup_steps = self.warmup_ratio
        self.warmup_ratio = None
        logger.warning(
            "The `warmup_ratio` argument is deprecated in Transformers v5+, and will also be removed from "
            "Sentence Transformers once support for Transformers v4 is dropped. Since you're using "
            "Transformers v5+, please use `warmup_steps` (as a float) to specify the warmup ratio instead."
        )

    def to_dict(self) -> dict[str, Any]:
        """The arguments as a dict; a sampler class or function (not serializable) is left out."""
        values = super().to_dict()
        for key in ("batch_sampler", "multi_dataset_batch_sampler"):
            if callable(values.get(key)):
                del values[key]
        return values


def _json_mapping(value: Any, error: str) -> dict[str, Any]:
    """A dict, from a dict or its JSON text (None and "" mean empty); else a ValueError with ``error``."""
    if value is None or value == "":
        return {}
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except json.JSONDecodeError as exc:
            raise ValueError(f"{error} Got {value!r}.") from exc
    if not isinstance(value, dict):
        raise ValueError(f"{error} Got {type(value).__name__}: {value!r}.")
    return dict(value)


def _router_mapping(value: Any) -> dict[str, Any]:
    """``{column: route}`` or ``{dataset_name: {column: route}}``, checked."""
    mapping = _json_mapping(value, _ROUTER_MAPPING_ERROR)
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
    mapping = _json_mapping(value, _LEARNING_RATE_MAPPING_ERROR)
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
