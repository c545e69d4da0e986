"""The Trainer callback that records a training run on ``model.model_card_data`` for the card: datasets (with their
statistics and examples), losses and citations, hyperparameters, training logs, evaluation time and durations.

Its own file because transformers' callback module is slow to import and only training needs it.
"""

from __future__ import annotations

import time
from typing import Any

from transformers import TrainerCallback

from sentence_transformers.base.model_card import _softly, format_duration, format_log, get_losses, get_versions

# Arguments about logging, saving, evaluation timing and the output place: they do not change what is learned.
IGNORED_ARGUMENTS = {
    "output_dir",
    "logging_dir",
    "logging_strategy",
    "logging_first_step",
    "logging_steps",
    "evaluation_strategy",
    "eval_strategy",
    "eval_steps",
    "eval_delay",
    "save_strategy",
    "save_steps",
    "save_total_limit",
    "metric_for_best_model",
    "greater_is_better",
    "report_to",
    "samples_per_label",
    "show_progress_bar",
    "do_train",
    "do_eval",
    "do_test",
    "run_name",
    "hub_token",
    "push_to_hub_token",
}


class BaseModelCardCallback(TrainerCallback):
    """Fills the model's card data as training runs; the saved README.md shows it.

    Args:
        default_args_dict: The training arguments' defaults (``args.to_dict()`` of a fresh instance); the card
            lists the hyperparameters that differ from them.
        trainer: The trainer whose datasets and loss the card describes, for trainers that add this callback
            after their ``on_init_end`` event has passed; it then runs when training begins.
    """

    def __init__(self, default_args_dict: dict[str, Any] | None = None, trainer: Any = None) -> None:
        super().__init__()
        self.default_args_dict = default_args_dict or {}
        self.trainer = trainer
        self.start: float | None = None
        self.logs: list[dict[str, Any]] = []
        self._described = False

    def on_init_end(
        self, args: Any, state: Any, control: Any, model: Any = None, trainer: Any = None, **kwargs: Any
    ) -> None:
        """Describe the trainer's datasets, losses (tags, citations) and pick widget examples from its data."""
        trainer = trainer if trainer is not None else self.trainer
        model = model if model is not None else getattr(trainer, "model", None)
        card = getattr(model, "model_card_data", None)
        if trainer is None or card is None or not hasattr(card, "extract_dataset_metadata"):
            return
        self._described = True
        if card.model is None:
            card.register_model(model)
        card.add_tags("generated_from_trainer")
        carbon = [cb for cb in trainer.callback_handler.callbacks if type(cb).__name__ == "CodeCarbonCallback"]
        if carbon:
            card.code_carbon_callback = carbon[0]
        router_mapping = getattr(args, "router_mapping", None)
        for kind, dataset in (("train", trainer.train_dataset), ("eval", trainer.eval_dataset)):
            if dataset:
                current = getattr(card, f"{kind}_datasets")
                described = _softly(
                    lambda d=dataset, c=current, k=kind: card.extract_dataset_metadata(
                        dataset=d, dataset_metadata=c, loss=trainer.loss, dataset_type=k, router_mapping=router_mapping
                    ),
                    f"describing the {kind} datasets",
                )
                setattr(card, f"{kind}_datasets", current if described is None else described)
        card.set_losses(get_losses(trainer.loss))
        if not card.widget and (dataset := trainer.eval_dataset or trainer.train_dataset):
            _softly(lambda: card.set_widget_examples(dataset), "choosing widget examples")

    def on_train_begin(self, args: Any, state: Any, control: Any, model: Any = None, **kwargs: Any) -> None:
        """Record all and non-default hyperparameters and the start time."""
        self.start, self.logs = time.time(), []
        if not self._described and self.trainer is not None:
            self.on_init_end(args, state, control, model=model, trainer=self.trainer)
        card = getattr(model, "model_card_data", None)
        if card is None or not hasattr(card, "all_hyperparameters"):
            return
        settings = {key: value for key, value in args.to_dict().items() if key not in IGNORED_ARGUMENTS}
        card.all_hyperparameters = settings
        card.non_default_hyperparameters = {
            key: value
            for key, value in settings.items()
            if key in self.default_args_dict and value != self.default_args_dict[key]
        }
        card._training_start_time = time.time()

    def on_evaluate(
        self, args: Any, state: Any, control: Any, model: Any = None, metrics: dict[str, float] | None = None, **kwargs
    ) -> None:
        """Add the evaluation loss(es) to the training logs row of this step and count the evaluation time."""
        card = getattr(model, "model_card_data", None)
        if card is None or not hasattr(card, "training_logs") or not metrics:
            return
        losses = {
            " ".join(key.split("_")[1:]): value
            for key, value in metrics.items()
            if key.startswith("eval_") and key.endswith("_loss")
        }
        if list(losses) == ["loss"]:
            losses = {"Validation Loss": losses["loss"]}
        if "eval_runtime" in metrics:
            card.evaluation_duration += metrics["eval_runtime"]
        card._log_row(state.epoch, state.global_step).update(losses)

    def on_log(
        self, args: Any, state: Any, control: Any, model: Any = None, logs: dict[str, float] | None = None, **kwargs
    ) -> None:
        """Add the training loss to the training logs; keep every entry (not the summary) for sbert's log table."""
        if not logs:
            return
        if "train_runtime" not in logs:
            entry = {"epoch": format_log(state.epoch or 0.0), "step": state.global_step}
            self.logs.append(entry | {key: format_log(value) for key, value in logs.items()})
        card = getattr(model, "model_card_data", None)
        if "loss" in logs and card is not None and hasattr(card, "training_logs"):
            card._log_row(state.epoch, state.global_step)["Training Loss"] = logs["loss"]

    def on_train_end(self, args: Any, state: Any, control: Any, model: Any = None, **kwargs: Any) -> None:
        """Store sbert's summary of the run (``model_card_data["training"]``) and drop any stale card text."""
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
        name: {
            "rows": len(part) if hasattr(part, "__len__") else None,
            "columns": list(getattr(part, "column_names", None) or []),
        }
        for name, part in datasets.items()
        if part is not None
    }
    losses = trainer.loss if isinstance(trainer.loss, dict) else dict.fromkeys(datasets, trainer.loss)
    names = {name: " → ".join(type(part).__name__ for part in get_losses(loss)) for name, loss in losses.items()}
    return info, names
