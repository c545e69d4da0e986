"""SentenceTransformerTrainingArguments: transformers.TrainingArguments plus batch sampling and prompts."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from enum import Enum

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
    """TrainingArguments with the sentence-embedding extras.

    Args:
        batch_sampler: "batch_sampler" (shuffled), "no_duplicates" (no text twice in a batch, for in-batch
            negatives) or "group_by_label" (several examples per label, for the batch triplet losses).
        multi_dataset_batch_sampler: "proportional" (batches in proportion to dataset sizes) or "round_robin"
            (one batch of each in turn, until the smallest runs out).
        prompts: Text prepended to the inputs in training and evaluation: one string (every column),
            ``{column: prompt}``, ``{dataset_name: prompt}`` (every column of that dataset) or
            ``{dataset_name: {column: prompt}}``; the dataset-name forms are for a DatasetDict. Pooling with
            ``include_prompt=False`` leaves the prompt's tokens out, as ``encode(prompt=...)`` does. On a command
            line (``transformers.HfArgumentParser``), a JSON object gives the mapping forms, any other text one prompt.
    """

    batch_sampler: BatchSamplers | str = field(default=BatchSamplers.BATCH_SAMPLER)
    multi_dataset_batch_sampler: MultiDatasetBatchSamplers | str = field(default=MultiDatasetBatchSamplers.PROPORTIONAL)
    # Typed as a string for HfArgumentParser; a dict is accepted too (dataclasses do not check types).
    prompts: str | None = field(default=None, metadata={"help": "A prompt for every column, or a JSON mapping."})

    def __post_init__(self) -> None:
        if isinstance(self.prompts, str) and self.prompts.lstrip().startswith("{"):
            try:
                self.prompts = json.loads(self.prompts)
            except json.JSONDecodeError as exc:
                raise ValueError(f"prompts looks like JSON but does not parse: {exc}") from exc
        self.batch_sampler = BatchSamplers(self.batch_sampler)
        self.multi_dataset_batch_sampler = MultiDatasetBatchSamplers(self.multi_dataset_batch_sampler)
        # Text columns are tokenized by the collator, so the dataset must keep them all.
        self.remove_unused_columns = False
        self.prediction_loss_only = True
        super().__post_init__()
