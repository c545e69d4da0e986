"""Warm the SpladeLoss regularizer weights up from 0 during the first part of training."""

from __future__ import annotations

import logging
from enum import Enum
from typing import TYPE_CHECKING, Any

from transformers.trainer_callback import TrainerCallback, TrainerControl, TrainerState

from sentence_transformers.sparse_encoder.losses.splade import SpladeLoss

if TYPE_CHECKING:
    from sentence_transformers.sparse_encoder.training_args import SparseEncoderTrainingArguments

logger = logging.getLogger(__name__)


class SchedulerType(Enum):
    """How the regularizer weights grow during the warmup."""

    LINEAR = "linear"
    QUADRATIC = "quadratic"


class SpladeRegularizerWeightSchedulerCallback(TrainerCallback):
    """Raise SpladeLoss's ``document_regularizer_weight`` and ``query_regularizer_weight`` from 0 to the values
    the loss was built with, over the first ``warmup_ratio`` of the training steps.

    At step ``s`` of ``W = int(total_steps * warmup_ratio)`` warmup steps a weight is ``max * s / W`` (linear) or
    ``max * (s / W) ** 2`` (quadratic, as in the SPLADE papers); from step ``W`` on it is ``max``. The current
    weights are added to the training logs. :class:`~sentence_transformers.sparse_encoder.SparseEncoderTrainer`
    adds this callback by itself when it trains with a SpladeLoss.

    Args:
        loss: the SpladeLoss (or CachedSpladeLoss) whose weights to schedule.
        scheduler_type: ``"linear"`` or ``"quadratic"`` (or a :class:`SchedulerType`); an unknown name falls back
            to quadratic with a warning.
        warmup_ratio: share of the training steps, in (0, 1], until the full weights are reached; a value outside
            falls back to 1/3 with a warning.
    """

    def __init__(
        self,
        loss: SpladeLoss,
        scheduler_type: str | SchedulerType = SchedulerType.QUADRATIC,
        warmup_ratio: float = 1 / 3,
    ) -> None:
        super().__init__()
        if not isinstance(loss, SpladeLoss):
            raise ValueError(
                f"SpladeRegularizerWeightSchedulerCallback schedules the weights of a SpladeLoss, got "
                f"{type(loss).__name__}."
            )
        if not isinstance(scheduler_type, SchedulerType):
            try:
                scheduler_type = SchedulerType(str(scheduler_type).lower())
            except ValueError:
                logger.warning(
                    "Unknown scheduler_type %r (expected one of %s); using 'quadratic'.",
                    scheduler_type,
                    [kind.value for kind in SchedulerType],
                )
                scheduler_type = SchedulerType.QUADRATIC
        if not 0 < warmup_ratio <= 1:
            logger.warning("warmup_ratio must be in (0, 1], got %r; using 1/3.", warmup_ratio)
            warmup_ratio = 1 / 3
        self.loss = loss
        self.scheduler_type = scheduler_type
        self.warmup_ratio = warmup_ratio
        self.max_document_regularizer_weight = loss.document_regularizer_weight
        self.max_query_regularizer_weight = loss.query_regularizer_weight
        self._current_document_regularizer_weight = 0.0
        self._current_query_regularizer_weight = None if self.max_query_regularizer_weight is None else 0.0
        self.total_steps: int | None = None
        self.warmup_steps: int | None = None

    def on_train_begin(
        self, args: SparseEncoderTrainingArguments, state: TrainerState, control: TrainerControl, **kwargs: Any
    ) -> None:
        """Work out the warmup length from the planned number of steps and start the weights at their current
        (initially zero) values."""
        if getattr(state, "max_steps", 0) and state.max_steps > 0:
            self.total_steps = state.max_steps
        elif hasattr(state, "num_update_steps_per_epoch") and hasattr(state, "num_train_epochs"):
            self.total_steps = state.num_update_steps_per_epoch * state.num_train_epochs
        else:
            logger.warning(
                "The number of training steps is unknown, so the SpladeLoss regularizer weights stay unscheduled."
            )
            return
        self.warmup_steps = max(int(self.total_steps * self.warmup_ratio), 1)
        self.loss.document_regularizer_weight = self._current_document_regularizer_weight
        self.loss.query_regularizer_weight = self._current_query_regularizer_weight

    def _calculate_weight_value(self, step: int, max_value: float | None) -> float | None:
        """The scheduled weight at ``step`` for a weight whose full value is ``max_value``."""
        if max_value is None or self.warmup_steps is None or step >= self.warmup_steps:
            return max_value
        progress = step / self.warmup_steps
        if self.scheduler_type == SchedulerType.LINEAR:
            return max_value * progress
        return max_value * progress**2

    def on_step_begin(
        self, args: SparseEncoderTrainingArguments, state: TrainerState, control: TrainerControl, **kwargs: Any
    ) -> None:
        """Set the loss's weights for the step about to run."""
        if self.total_steps is None or self.warmup_steps is None:
            return
        document = self._calculate_weight_value(state.global_step, self.max_document_regularizer_weight)
        query = self._calculate_weight_value(state.global_step, self.max_query_regularizer_weight)
        self.loss.document_regularizer_weight = document
        self.loss.query_regularizer_weight = query
        self._current_document_regularizer_weight = document
        self._current_query_regularizer_weight = query

    def on_log(
        self,
        args: SparseEncoderTrainingArguments,
        state: TrainerState,
        control: TrainerControl,
        model: Any = None,
        logs: dict[str, Any] | None = None,
        **kwargs: Any,
    ) -> None:
        """Add the current weights to the logged values."""
        if logs is None:
            return
        logs["document_regularizer_weight"] = self._current_document_regularizer_weight
        if self._current_query_regularizer_weight is not None:
            logs["query_regularizer_weight"] = self._current_query_regularizer_weight
