"""CrossEncoderTrainingArguments: the shared training arguments, read for pairs.

A CrossEncoder scores its input columns as one pair, so ``prompts`` is one string or ``{dataset_name: prompt}`` and
``router_mapping`` is ``{dataset_name: route}`` (the collator refuses per-column forms).
"""

from __future__ import annotations

from dataclasses import dataclass

from sentence_transformers.base.training_args import BaseTrainingArguments


@dataclass
class CrossEncoderTrainingArguments(BaseTrainingArguments):
    r"""TrainingArguments for CrossEncoderTrainer; see ``BaseTrainingArguments`` for each argument.

    Differences: ``prompts`` is one prompt for every pair or ``{dataset_name: prompt}``, and ``router_mapping``
    maps dataset names to Router routes (``{"dataset_a": "slow"}``): the columns of a row form one pair, so neither
    can be given per column.
    """


__all__ = ["CrossEncoderTrainingArguments"]
