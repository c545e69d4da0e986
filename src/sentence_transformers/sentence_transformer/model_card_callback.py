"""The Trainer callback that records a training run (datasets, losses, hyperparameters, logs, time) for the card.

Its own file because transformers' callback module is slow to import and only training needs it; the upstream
path ``sentence_transformer.model_card`` re-exports it on first use.
"""

from __future__ import annotations

import time
from typing import Any

from transformers import TrainerCallback

from sentence_transformers.sentence_transformer.model_card import format_duration, format_log, get_losses, get_versions

# Arguments about logging, saving and the output place: they do not change what is learned, so the card omits them.
IGNORED_ARGUMENTS = {
    "output_dir",
    "logging_dir",
    "logging_strategy",
    "logging_first_step",
    "logging_steps",
    "eval_strategy",
    "eval_steps",
    "save_strategy",
    "save_steps",
    "save_total_limit",
    "report_to",
    "run_name",
    "hub_token",
    "push_to_hub_token",
    "show_progress_bar",
    "do_train",
    "do_eval",
}


class SentenceTransformerModelCardCallback(TrainerCallback):
    """Fills ``model.model_card_data["training"]`` as training runs; the saved README.md shows it.

    Args:
        default_args_dict: The training arguments' defaults (``args.to_dict()`` of a fresh instance); the card
            lists the hyperparameters that differ from them. Without it, every hyperparameter counts as set.
        trainer: The trainer whose datasets and loss the card describes; the SentenceTransformerTrainer passes it.
    """

    def __init__(self, default_args_dict: dict[str, Any] | None = None, trainer: Any = None) -> None:
        super().__init__()
        self.default_args_dict = default_args_dict or {}
        self.trainer = trainer
        self.start: float | None = None
        self.logs: list[dict[str, Any]] = []

    def on_train_begin(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        self.start, self.logs = time.time(), []

    def on_log(self, args: Any, state: Any, control: Any, logs: dict[str, Any] | None = None, **kwargs: Any) -> None:
        """Keep the training-loss and evaluation entries (not the end-of-run summary)."""
        if logs and "train_runtime" not in logs:
            entry = {"epoch": format_log(state.epoch or 0.0), "step": state.global_step}
            self.logs.append(entry | {key: format_log(value) for key, value in logs.items()})

    def on_train_end(self, args: Any, state: Any, control: Any, model: Any = None, **kwargs: Any) -> None:
        if model is None or getattr(model, "model_card_data", None) is None:
            return
        model.model_card_data["training"] = self.training_record(args, state)
        model._model_card_text = None

    def training_record(self, args: Any, state: Any) -> dict[str, Any]:
        """What the card says about this run: datasets, losses, hyperparameters, steps, logs, duration, versions."""
        settings = {key: value for key, value in args.to_dict().items() if key not in IGNORED_ARGUMENTS}
        changed = {
            key: value
            for key, value in settings.items()
            if key not in self.default_args_dict or self.default_args_dict[key] != value
        }
        record: dict[str, Any] = {
            "datasets": {},
            "losses": {},
            "hyperparameters": changed,
            "global_step": state.global_step,
            "logs": list(self.logs),
            "versions": get_versions(),
        }
        if self.start is not None:
            record["duration"] = format_duration(time.time() - self.start)
        if self.trainer is not None:
            record["datasets"], record["losses"] = _datasets_and_losses(self.trainer)
        return record


def _datasets_and_losses(trainer: Any) -> tuple[dict[str, Any], dict[str, str]]:
    """Each training dataset's size and columns, and the loss(es) it trains with (wrapped losses named too)."""
    datasets = trainer.train_dataset if isinstance(trainer.train_dataset, dict) else {"train": trainer.train_dataset}
    info = {
        name: {"rows": len(part), "columns": list(getattr(part, "column_names", []))}
        for name, part in datasets.items()
        if part is not None
    }
    losses = trainer.loss if isinstance(trainer.loss, dict) else dict.fromkeys(datasets, trainer.loss)
    names = {name: " → ".join(type(part).__name__ for part in get_losses(loss)) for name, loss in losses.items()}
    return info, names


ModelCardCallback = SentenceTransformerModelCardCallback  # the name of earlier versions
