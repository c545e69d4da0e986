"""The 2.x ``fit()``: (DataLoader, loss) objectives of InputExamples, handed over to SentenceTransformerTrainer."""

from __future__ import annotations

import logging
import os
import tempfile
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any

import torch
from torch import nn
from torch.utils.data import DataLoader
from transformers import TrainerCallback

from sentence_transformers.sentence_transformer.readers.input_example import InputExample

if TYPE_CHECKING:
    from sentence_transformers.sentence_transformer.model import SentenceTransformer

logger = logging.getLogger(__name__)

SCHEDULERS = {
    "constantlr": "constant",
    "warmupconstant": "constant_with_warmup",
    "warmuplinear": "linear",
    "warmupcosine": "cosine",
    "warmupcosinewithhardrestarts": "cosine_with_restarts",
}


def examples_to_dataset(examples: Iterable[InputExample]) -> Any:
    """InputExamples → a datasets.Dataset with columns text_0, text_1, … and label."""
    from datasets import Dataset

    examples = list(examples)
    if not examples:
        raise ValueError("fit() got an objective with no training examples")
    if not all(isinstance(example, InputExample) for example in examples):
        raise TypeError("fit() expects DataLoaders over InputExample objects")
    width = len(examples[0].texts)
    columns: dict[str, list[Any]] = {f"text_{i}": [e.texts[i] for e in examples] for i in range(width)}
    columns["label"] = [e.label for e in examples]
    return Dataset.from_dict(columns)


def scheduler_type(name: str) -> str:
    """The transformers scheduler name for a 2.x scheduler name."""
    key = name.lower()
    if key not in SCHEDULERS:
        raise ValueError(f"Unknown scheduler {name!r}; choose one of {', '.join(SCHEDULERS)}")
    return SCHEDULERS[key]


class _EvaluatorCallback(TrainerCallback):
    """Calls the 2.x callback(score, epoch, steps) and keeps the best model at output_path."""

    def __init__(self, model: SentenceTransformer, evaluator: Any, callback: Callable | None, best_path: str | None):
        self.model, self.evaluator, self.callback, self.best_path = model, evaluator, callback, best_path
        self.best: float | None = None

    def on_evaluate(self, args: Any, state: Any, control: Any, metrics: dict[str, float] | None = None, **kw) -> None:
        key = f"eval_{self.evaluator.primary_metric}" if getattr(self.evaluator, "primary_metric", None) else None
        if not metrics or key not in metrics:
            return
        score = metrics[key]
        if self.callback is not None:
            self.callback(score, int(state.epoch or 0), state.global_step)
        better = getattr(self.evaluator, "greater_is_better", True)
        if self.best_path and (self.best is None or (score > self.best if better else score < self.best)):
            self.best = score
            self.model.save(self.best_path)


def fit(
    model: SentenceTransformer,
    train_objectives: Iterable[tuple[DataLoader, nn.Module]],
    evaluator: Any = None,
    epochs: int = 1,
    steps_per_epoch: int | None = None,
    scheduler: str = "WarmupLinear",
    warmup_steps: int = 10000,
    optimizer_class: type[torch.optim.Optimizer] = torch.optim.AdamW,
    optimizer_params: dict[str, Any] | None = None,
    weight_decay: float = 0.01,
    evaluation_steps: int = 0,
    output_path: str | None = None,
    save_best_model: bool = True,
    max_grad_norm: float = 1,
    use_amp: bool = False,
    callback: Callable[[float, int, int], None] | None = None,
    show_progress_bar: bool = True,
    checkpoint_path: str | None = None,
    checkpoint_save_steps: int = 500,
    checkpoint_save_total_limit: int = 0,
    seed: int = 42,
) -> None:
    """Train with the 2.x arguments; see ``SentenceTransformer.fit``."""
    from datasets import DatasetDict

    from sentence_transformers.sentence_transformer.training.arguments import SentenceTransformerTrainingArguments
    from sentence_transformers.sentence_transformer.training.trainer import SentenceTransformerTrainer

    objectives = list(train_objectives)
    if not objectives:
        raise ValueError("fit() needs at least one (DataLoader, loss) objective")
    datasets = {f"_dataset_{i}": examples_to_dataset(loader.dataset) for i, (loader, _) in enumerate(objectives)}
    losses = {name: loss for name, (_, loss) in zip(datasets, objectives, strict=True)}
    single = len(objectives) == 1
    batch_size = objectives[0][0].batch_size or 32
    params = {"lr": 2e-5, **(optimizer_params or {})}
    steps = _total_steps(objectives, epochs, steps_per_epoch)
    args = SentenceTransformerTrainingArguments(
        output_dir=checkpoint_path or tempfile.mkdtemp(prefix="sbert-fit-"),
        num_train_epochs=epochs,
        max_steps=steps if steps_per_epoch else -1,
        per_device_train_batch_size=batch_size,
        learning_rate=params["lr"],
        weight_decay=weight_decay,
        warmup_steps=warmup_steps,
        lr_scheduler_type=scheduler_type(scheduler),
        max_grad_norm=max_grad_norm,
        fp16=use_amp and torch.cuda.is_available(),
        eval_strategy="steps" if evaluator is not None and evaluation_steps > 0 else "no",
        eval_steps=evaluation_steps or None,
        save_strategy="steps" if checkpoint_path else "no",
        save_steps=checkpoint_save_steps,
        save_total_limit=checkpoint_save_total_limit or None,
        disable_tqdm=not show_progress_bar,
        multi_dataset_batch_sampler="round_robin",
        report_to="none",
        seed=seed,
        logging_steps=max(1, steps // 20),
    )
    best_path = output_path if evaluator is not None and save_best_model else None
    evaluator_callback = _EvaluatorCallback(model, evaluator, callback, best_path) if evaluator is not None else None
    trainer = SentenceTransformerTrainer(
        model=model,
        args=args,
        train_dataset=next(iter(datasets.values())) if single else DatasetDict(datasets),
        loss=next(iter(losses.values())) if single else losses,
        evaluator=evaluator,
        callbacks=[evaluator_callback] if evaluator_callback else None,
        optimizer_cls_and_kwargs=(optimizer_class, params),
    )
    trainer.train()
    if evaluator is not None:
        trainer.evaluate()
    if output_path is not None and (evaluator is None or not save_best_model):
        model.save(output_path)
    elif best_path is not None and not os.path.isdir(best_path):
        model.save(best_path)


def _total_steps(objectives: list[tuple[DataLoader, nn.Module]], epochs: int, steps_per_epoch: int | None) -> int:
    if steps_per_epoch:
        return steps_per_epoch * epochs
    smallest = min(len(loader) for loader, _ in objectives)
    return smallest * len(objectives) * epochs
