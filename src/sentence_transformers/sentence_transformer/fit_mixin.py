"""The 2.x ``fit()``: (DataLoader, loss) objectives of InputExamples, handed over to SentenceTransformerTrainer."""

from __future__ import annotations

import logging
import math
import os
import tempfile
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import torch
from torch import nn
from torch.utils.data import DataLoader, IterableDataset

from sentence_transformers.sentence_transformer.readers.input_example import InputExample
from sentence_transformers.util.distributed import (
    broadcast_object,
    distributed_evaluation,
    get_rank,
    is_dist_initialized,
)

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


@dataclass
class _Plan:
    """fit()'s schedule as the evaluation callback needs it, counted in 2.x steps."""

    objectives: int
    steps_per_epoch: int
    evaluation_steps: int
    output_path: str | None
    save_best_model: bool
    checkpoint_path: str | None


def _fit_evaluation(model: SentenceTransformer, plan: _Plan, evaluator: Any, callback: Callable | None) -> Any:
    """The Trainer callback that runs the 2.x evaluation schedule (built on first use: transformers' callbacks
    module is slow to import, and only training needs it)."""
    from transformers import TrainerCallback

    class _FitEvaluation(TrainerCallback):
        """The 2.x evaluation schedule: every ``evaluation_steps`` steps of an epoch and after each epoch.

        Trainer steps are counted in 2.x steps (one batch of every objective). Each evaluation writes the evaluator's
        CSV under ``output_path/eval``, calls ``callback(score, epoch, steps)`` (steps -1 after an epoch) and, with
        ``save_best_model``, saves the best model so far at ``output_path``.
        """

        def __init__(self, model: SentenceTransformer, plan: _Plan, evaluator: Any, callback: Callable | None) -> None:
            self.model, self.plan, self.evaluator, self.callback = model, plan, evaluator, callback
            self.best: float | None = None

        def on_step_end(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
            plan = self.plan
            if state.global_step % plan.objectives:
                return
            epoch, step = divmod(state.global_step // plan.objectives - 1, plan.steps_per_epoch)
            step += 1
            if self.evaluator is not None and plan.evaluation_steps > 0 and step % plan.evaluation_steps == 0:
                self._evaluate(epoch, step)
            if self.evaluator is not None and step == plan.steps_per_epoch:
                self._evaluate(epoch, -1)
            if plan.checkpoint_path and state.global_step == state.max_steps:
                control.should_save = True  # 2.x also checkpoints the final model

        def _evaluate(self, epoch: int, steps: int) -> None:
            """Evaluate (under DDP: on the main process, every process encoding a share) and keep the best model.

            Every process gets the score and calls ``callback``; only the main process writes files.
            """
            output_path = self.plan.output_path
            eval_path = os.path.join(output_path, "eval") if output_path else None
            with distributed_evaluation(self.model) as run_here:
                if run_here:
                    result = self.evaluator(self.model, output_path=eval_path, epoch=epoch, steps=steps)
                    score = primary_score(self.evaluator, result)
            score = broadcast_object(score if run_here else None)
            if self.callback is not None:
                self.callback(score, epoch, steps)
            better = getattr(self.evaluator, "greater_is_better", True)
            if self.best is None or (score > self.best if better else score < self.best):
                self.best = score
                if output_path and self.plan.save_best_model:
                    _save_from_main_process(self.model, output_path)

    return _FitEvaluation(model, plan, evaluator, callback)


def primary_score(evaluator: Any, result: Any) -> float:
    """The one number a 2.x evaluation yields: a float result, or the evaluator's primary metric."""
    if isinstance(result, (int, float)):
        return float(result)
    if not isinstance(result, dict):
        raise TypeError(f"{type(evaluator).__name__} returned {type(result).__name__}; expected a float or a dict")
    key = getattr(evaluator, "primary_metric", None)
    if key in result:
        return float(result[key])
    if len(result) == 1:
        return float(next(iter(result.values())))
    raise ValueError(
        f"{type(evaluator).__name__} returned several metrics ({', '.join(result)}) and its primary_metric "
        f"{key!r} names none of them; set evaluator.primary_metric"
    )


def loader_examples(loader: Any) -> list[InputExample]:
    """The InputExamples a 2.x training loader holds (its dataset, or one pass over its batches)."""
    if getattr(loader, "train_examples", None) is not None:  # NoDuplicatesDataLoader
        return list(loader.train_examples)
    dataset = getattr(loader, "dataset", None)
    if dataset is not None:
        if isinstance(dataset, IterableDataset) or not hasattr(dataset, "__len__"):
            return list(dataset)  # e.g. SentenceLabelDataset
        return [dataset[i] for i in range(len(dataset))]
    # Loaders without a dataset (e.g. ContrastiveTensionDataLoader) build their examples as they go.
    collate_fn = getattr(loader, "collate_fn", None)
    loader.collate_fn = None
    try:
        return [example for batch in loader for example in batch]
    finally:
        loader.collate_fn = collate_fn


def batch_sampler_for(loader: Any) -> str:
    """The batch sampler that reproduces a 2.x loader's batching guarantee."""
    from sentence_transformers.sentence_transformer.datasets import NoDuplicatesDataLoader, SentenceLabelDataset

    if isinstance(loader, NoDuplicatesDataLoader):
        return "no_duplicates"
    if isinstance(getattr(loader, "dataset", None), SentenceLabelDataset):
        return "group_by_label"
    return "batch_sampler"


def fit_objectives(
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
    resume_from_checkpoint: bool = False,
    seed: int = 42,
) -> None:
    """Train with the 2.x API (``model.fit``); the work is done by SentenceTransformerTrainer.

    One 2.x step takes a batch of every objective; here each objective's batch is one Trainer step, in turn
    (round robin), so step counts (warm-up, evaluation, checkpoints) are scaled by the number of objectives.

    Args:
        train_objectives: (DataLoader of InputExamples, loss) pairs; several are sampled in turn, one batch
            each, as many batches per objective as the smallest has.
        evaluator: Evaluates during training; its primary metric picks the best model.
        epochs: Number of epochs.
        steps_per_epoch: Training steps per epoch (default: one pass over the data, shared by the processes
            under torchrun or accelerate launch).
        scheduler: constantlr, warmupconstant, warmuplinear, warmupcosine or warmupcosinewithhardrestarts.
        warmup_steps: Steps of learning-rate warm-up.
        optimizer_class / optimizer_params: The optimizer and its arguments (default AdamW, lr 2e-5, fused on
            CPU and CUDA unless ``foreach`` or ``fused`` is given).
        weight_decay: Weight decay.
        evaluation_steps: Also evaluate every so many steps of an epoch (0: only after each epoch).
        output_path: Where the (best) model is saved; evaluator CSVs go to its ``eval`` folder.
        save_best_model: Keep the model with the best evaluator score at output_path.
        max_grad_norm: Gradient clipping.
        use_amp: Mixed precision (on CUDA).
        callback: Called as callback(score, epoch, steps) after each evaluation (steps -1 after an epoch).
        show_progress_bar: Show progress bars.
        checkpoint_path / checkpoint_save_steps / checkpoint_save_total_limit: Periodic checkpoints.
        resume_from_checkpoint: Continue from the latest ``checkpoint-<step>`` folder under checkpoint_path
            (a warning, and a fresh start, when there is none).
        seed: Seed of the run (data order, initialisation of new layers).
    """
    from datasets import DatasetDict

    from sentence_transformers.sentence_transformer.trainer import SentenceTransformerTrainer
    from sentence_transformers.sentence_transformer.training_args import SentenceTransformerTrainingArguments

    objectives = list(train_objectives)
    if not objectives:
        raise ValueError("fit() needs at least one (DataLoader, loss) objective")
    examples = [loader_examples(loader) for loader, _ in objectives]
    datasets = {f"_dataset_{i}": examples_to_dataset(part) for i, part in enumerate(examples)}
    losses = {name: loss for name, (_, loss) in zip(datasets, objectives, strict=True)}
    samplers = {batch_sampler_for(loader) for loader, _ in objectives}
    if len(samplers) > 1:
        raise ValueError(
            "fit() batches every objective the same way, so a NoDuplicatesDataLoader or SentenceLabelDataset "
            "objective cannot be mixed with other kinds of loaders; train them in separate fit() calls"
        )
    batch_sizes = [getattr(loader, "batch_size", None) or 32 for loader, _ in objectives]
    if len(set(batch_sizes)) > 1:
        logger.warning(
            f"fit() trains every objective at the first one's batch size {batch_sizes[0]}, not {batch_sizes}"
        )
    n = len(objectives)
    if steps_per_epoch is None or steps_per_epoch <= 0:
        sizes = zip(objectives, examples, batch_sizes, strict=True)
        steps_per_epoch = min(_batches(loader, len(part), size) for (loader, _), part, size in sizes)
        # Under torchrun / accelerate launch every process trains on its own share of the batches.
        steps_per_epoch = math.ceil(steps_per_epoch / max(1, int(os.environ.get("WORLD_SIZE", "1"))))
    if steps_per_epoch == 0:
        logger.warning("fit() has no full batch to train on (a loader yields no batches); nothing was trained")
        return
    plan = _Plan(
        objectives=n,
        steps_per_epoch=steps_per_epoch,
        evaluation_steps=evaluation_steps,
        output_path=output_path,
        save_best_model=save_best_model,
        checkpoint_path=checkpoint_path,
    )
    params = optimizer_kwargs(model, optimizer_class, optimizer_params)
    # Without checkpoint_path, the Trainer still wants an output folder: a scratch one, removed afterwards.
    with tempfile.TemporaryDirectory(prefix="sbert-fit-") as scratch:
        args = SentenceTransformerTrainingArguments(
            output_dir=checkpoint_path or scratch,
            num_train_epochs=epochs,
            max_steps=steps_per_epoch * n * epochs,
            per_device_train_batch_size=batch_sizes[0],
            learning_rate=params["lr"],
            weight_decay=weight_decay,
            warmup_steps=warmup_steps * n,
            lr_scheduler_type=scheduler_type(scheduler),
            max_grad_norm=max_grad_norm,
            fp16=use_amp and torch.cuda.is_available(),
            eval_strategy="no",
            save_strategy="steps" if checkpoint_path else "no",
            save_steps=checkpoint_save_steps * n,
            save_total_limit=checkpoint_save_total_limit or None,
            disable_tqdm=not show_progress_bar,
            batch_sampler=samplers.pop(),
            multi_dataset_batch_sampler="round_robin",
            report_to="none",
            seed=seed,
            logging_steps=max(1, steps_per_epoch * n * epochs // 20),
        )
        trainer = SentenceTransformerTrainer(
            model=model,
            args=args,
            train_dataset=next(iter(datasets.values())) if n == 1 else DatasetDict(datasets),
            loss=next(iter(losses.values())) if n == 1 else losses,
            callbacks=[_fit_evaluation(model, plan, evaluator, callback)],
            optimizer_cls_and_kwargs=(optimizer_class, params),
        )
        if not show_progress_bar:
            from transformers import PrinterCallback

            trainer.remove_callback(PrinterCallback)  # 2.x fit() printed nothing without its progress bars
        trainer.train(resume_from_checkpoint=_latest_checkpoint(checkpoint_path) if resume_from_checkpoint else None)
    if output_path is not None and (evaluator is None or not save_best_model):
        _save_from_main_process(model, output_path)


def _latest_checkpoint(checkpoint_path: str | None) -> str | None:
    """The ``checkpoint-<step>`` folder with the highest step under ``checkpoint_path``, or None with a warning."""
    if checkpoint_path is None or not os.path.isdir(checkpoint_path):
        logger.warning(f"Checkpoint directory does not exist or is not a directory: {checkpoint_path}")
        return None
    steps = [
        int(name.rsplit("-", 1)[1])
        for name in os.listdir(checkpoint_path)
        if name.startswith("checkpoint-") and name.rsplit("-", 1)[1].isdigit()
    ]
    if not steps:
        logger.warning(f"No checkpoints found in checkpoint directory: {checkpoint_path}")
        return None
    latest = os.path.join(checkpoint_path, f"checkpoint-{max(steps)}")
    logger.info(f"Resuming from latest checkpoint: {latest}")
    return latest


def _save_from_main_process(model: SentenceTransformer, path: str) -> None:
    """Save ``model`` once: from the main process, the others waiting until it is written (under torchrun)."""
    if get_rank() == 0:
        model.save(path)
    if is_dist_initialized():
        torch.distributed.barrier()


def _batches(loader: Any, examples: int, batch_size: int) -> int:
    """Batches per pass of a 2.x loader (counted from its examples when it has no length)."""
    try:
        return len(loader)
    except TypeError:
        return math.ceil(examples / batch_size)


def optimizer_kwargs(
    model: nn.Module, optimizer_class: type[torch.optim.Optimizer], optimizer_params: dict[str, Any] | None
) -> dict[str, Any]:
    """The 2.x ``fit`` optimizer arguments: lr 2e-5 unless given, and AdamW fused where this torch can (unless
    ``fused`` or ``foreach`` is given)."""
    params = {"lr": 2e-5, **(optimizer_params or {})}
    if (
        optimizer_class is torch.optim.AdamW
        and _fused_adamw_runs_on(model.device)
        and not {"fused", "foreach"} & set(params)
    ):
        # One kernel over all parameters instead of a Python loop per tensor (transformers' default optimizer too).
        # On a 2-core CPU the loop cost all-MiniLM-L6-v2 0.19 s per step, a fifth of the STS training time.
        params["fused"] = True
    return params


def _fused_adamw_runs_on(device: torch.device) -> bool:
    """Whether this torch has a fused AdamW kernel for ``device`` (CUDA always; the CPU from torch 2.4)."""
    return device.type == "cuda" or (device.type == "cpu" and torch.__version__ >= "2.4")


class FitMixin:
    """The 2.x training API of SentenceTransformer: ``fit`` (also ``old_fit``) and ``smart_batching_collate``."""

    fit = fit_objectives
    old_fit = fit  # the name 3.x+ gives the 2.x training method

    def smart_batching_collate(
        self: SentenceTransformer, batch: list[Any]
    ) -> tuple[list[dict[str, torch.Tensor]], torch.Tensor]:
        """A batch of InputExamples → one tokenized features dict per text position, and the labels."""
        columns = list(zip(*[example.texts for example in batch], strict=True))
        features = [self.tokenize(list(texts)) for texts in columns]
        return features, torch.tensor([example.label for example in batch])
