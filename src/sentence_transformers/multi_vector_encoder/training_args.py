"""MultiVectorEncoderTrainingArguments: the shared training arguments plus a training-time ``max_length``."""

from __future__ import annotations

import json
from dataclasses import dataclass, field

from sentence_transformers.base.training_args import BaseTrainingArguments


@dataclass
class MultiVectorEncoderTrainingArguments(BaseTrainingArguments):
    r"""TrainingArguments for MultiVectorEncoderTrainer; see ``BaseTrainingArguments`` for the shared arguments.

    Args:
        max_length: Token limit used when tokenizing training (and evaluation-loss) batches, leaving the model's own
            settings (used by evaluators, inference and saving) alone: one int for every column, or a task → limit
            mapping such as ``{"query": 32, "document": 180}`` (the collator makes column 0 the "query" and the
            other columns "document"s unless ``router_mapping`` says otherwise). A JSON string works too (command
            line).
    """

    # str first and None second: HfArgumentParser then reads the value as text (an int or JSON mapping)
    max_length: str | None | int | dict[str, int] = field(
        default=None,
        metadata={
            "help": "Token limit for training tokenization: an int for every column, or a JSON mapping of task "
            '(e.g. "query", "document") to limit. Evaluators, inference and the saved model keep the model\'s own.'
        },
    )

    def __post_init__(self) -> None:
        self.max_length = _max_length(self.max_length)
        super().__post_init__()


def _max_length(value: object) -> int | dict[str, int] | None:
    """``max_length`` as None, a positive int, or a task → positive int dict (from JSON text too)."""
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except json.JSONDecodeError as exc:
            raise ValueError(f"max_length must be an int or a JSON mapping of task to int, got {value!r}.") from exc
    if value is None:
        return None
    limits = value if isinstance(value, dict) else {"": value}
    for task, limit in limits.items():
        if isinstance(limit, bool) or not isinstance(limit, int) or limit < 1:
            where = f" for task {task!r}" if task else ""
            raise ValueError(f"max_length{where} must be a positive integer, got {limit!r}.")
    return value


__all__ = ["MultiVectorEncoderTrainingArguments"]
