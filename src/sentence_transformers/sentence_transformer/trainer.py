"""SentenceTransformerTrainer: a thin transformers.Trainer subclass for sentence-embedding losses."""

from __future__ import annotations

import logging
import os
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import torch
from torch import nn
from torch.utils.data import ConcatDataset, DataLoader
from transformers import Trainer, TrainerCallback
from transformers.trainer_utils import EvalLoopOutput

from sentence_transformers.base.sampler import (
    DefaultBatchSampler,
    GroupByLabelBatchSampler,
    MultiDatasetBatchSampler,
    NoDuplicatesBatchSampler,
)
from sentence_transformers.sentence_transformer.data_collator import (
    DATASET_KEY,
    LABEL_COLUMNS,
    SentenceTransformerDataCollator,
    split_features,
)
from sentence_transformers.sentence_transformer.training_args import (
    BatchSamplers,
    SentenceTransformerTrainingArguments,
)

if TYPE_CHECKING:
    from sentence_transformers.sentence_transformer.model import SentenceTransformer

logger = logging.getLogger(__name__)

LossSpec = nn.Module | Callable[[Any], nn.Module] | None


class SentenceTransformerTrainer(Trainer):
    """Train a SentenceTransformer on ``datasets.Dataset`` columns with a loss (or a dict of losses per dataset).

    Column order gives the loss's inputs; a ``label`` or ``score`` column becomes the labels. A ``DatasetDict``
    (or dict of datasets) trains on several datasets, each with its own loss when ``loss`` is a dict; a dict of
    eval datasets reports one ``eval_<name>_loss`` each. A loss may also be a factory ``model -> loss`` (built
    here, and again on the fresh model when ``model_init`` re-creates it at ``train()``). ``evaluator`` (one, or a
    list run as a SequentialEvaluator) runs at every evaluation beside (or instead of) the eval loss and writes
    its files under ``evaluator_output_path`` (``<output_dir>/eval`` unless set otherwise).
    """

    def __init__(
        self,
        model: SentenceTransformer | None = None,
        args: SentenceTransformerTrainingArguments | None = None,
        train_dataset: Any = None,
        eval_dataset: Any = None,
        loss: LossSpec | dict[str, LossSpec] = None,
        evaluator: Any = None,
        data_collator: Any = None,
        callbacks: list[TrainerCallback] | None = None,
        optimizers: tuple[Any, Any] = (None, None),
        model_init: Callable[..., SentenceTransformer] | None = None,
        **kwargs,
    ) -> None:
        args = args or SentenceTransformerTrainingArguments(output_dir="checkpoints/model")
        if not isinstance(args, SentenceTransformerTrainingArguments):
            raise TypeError(f"args must be SentenceTransformerTrainingArguments, got {type(args).__name__}")
        if model is None:
            if model_init is None:
                raise ValueError("SentenceTransformerTrainer needs a model or a model_init")
            self.model_init = model_init
            model = self.call_model_init()
        elif model_init is not None:
            logger.warning("Both model and model_init were given: model_init replaces the model when train() starts")
        collator = data_collator or SentenceTransformerDataCollator(tokenize_fn=model.tokenize, prompts=args.prompts)
        train_dataset = _with_dataset_names(train_dataset)
        eval_dataset = _with_dataset_names(eval_dataset)
        # transformers refuses an eval strategy without an eval dataset; an evaluator alone is enough here.
        strategy = args.eval_strategy
        if evaluator is not None and eval_dataset is None:
            args.eval_strategy = "no"
        super().__init__(
            model=model,
            args=args,
            data_collator=collator,
            train_dataset=train_dataset,
            eval_dataset=eval_dataset,
            callbacks=callbacks,
            optimizers=optimizers,
            **kwargs,
        )
        args.eval_strategy = strategy
        # Set after the parent's __init__, which would otherwise call model_init once more right away.
        self.model_init = model_init
        self._loss_spec = loss
        self.loss = self._prepare_loss(loss, model, rebind=model_init is not None)
        self.evaluator = _as_evaluator(evaluator)
        self.evaluator_output_path: str | None = os.path.join(args.output_dir, "eval") if args.output_dir else None
        self._evaluator_prefix: str | None = None

    def train(self, *args, **kwargs) -> Any:
        """Train, then record what was trained on (losses, datasets, hyperparameters) for the model card."""
        output = super().train(*args, **kwargs)
        self._record_training()
        return output

    def _record_training(self) -> None:
        datasets = self.train_dataset if isinstance(self.train_dataset, dict) else {"train": self.train_dataset}
        losses = self.loss if isinstance(self.loss, dict) else dict.fromkeys(datasets, self.loss)
        self.model.model_card_data["training"] = {
            "datasets": {
                name: {"rows": len(part), "columns": list(part.column_names)} for name, part in datasets.items()
            },
            "losses": {name: type(loss).__name__ for name, loss in losses.items()},
            "hyperparameters": {
                key: getattr(self.args, key)
                for key in ("num_train_epochs", "per_device_train_batch_size", "learning_rate", "warmup_steps", "seed")
            },
            "global_step": self.state.global_step,
        }
        self.model._model_card_text = None

    def _prepare_loss(
        self, loss: Any, model: SentenceTransformer, rebind: bool = False
    ) -> nn.Module | dict[str, nn.Module]:
        """Build the loss (or each dataset's loss) for ``model`` and put it on the training device.

        ``rebind`` (with ``model_init``) points a ready-made loss's ``model`` attributes at ``model``.
        """
        if isinstance(loss, dict):
            return {name: self._prepare_loss(part, model, rebind) for name, part in loss.items()}
        built = _build_loss(loss, model)
        if rebind:
            _point_to_model(built, model)
        return built.to(self.args.device)

    def call_model_init(self, trial: Any = None) -> SentenceTransformer:
        """A fresh model from ``model_init``; the losses are rebuilt (factories) or re-pointed (modules) to it."""
        model = super().call_model_init(trial)
        if not hasattr(self, "loss"):
            return model
        old = self.model
        self.loss = self._prepare_loss(self._loss_spec, model, rebind=True)
        if isinstance(self.data_collator, SentenceTransformerDataCollator) and _bound_to(self.data_collator, old):
            self.data_collator.tokenize_fn = model.tokenize
            self.data_collator._prompt_lengths.clear()
        return model

    def _losses(self) -> list[nn.Module]:
        return list(self.loss.values()) if isinstance(self.loss, dict) else [self.loss]

    def create_optimizer(self, model: nn.Module | None = None) -> torch.optim.Optimizer:
        """The usual optimizer, plus the parameters the losses own (e.g. SoftmaxLoss's classifier)."""
        optimizer = super().create_optimizer(model) if model is not None else super().create_optimizer()
        known = {id(p) for group in optimizer.param_groups for p in group["params"]}
        extra = [p for loss in self._losses() for p in loss.parameters() if p.requires_grad and id(p) not in known]
        extra = list({id(p): p for p in extra}.values())
        if extra:
            optimizer.add_param_group({"params": extra, "weight_decay": self.args.weight_decay})
        return optimizer

    def compute_loss(
        self,
        model: nn.Module,
        inputs: dict[str, Any],
        return_outputs: bool = False,
        num_items_in_batch: Any = None,
    ) -> torch.Tensor | tuple[torch.Tensor, dict[str, Any]]:
        """Split the collated batch back into per-column features and apply the batch's loss."""
        features, labels = split_features(inputs)
        loss_fn = self.loss
        if isinstance(loss_fn, dict):
            name = inputs.get(DATASET_KEY)
            if name not in loss_fn:
                raise ValueError(f"No loss for dataset {name!r}; losses are given for {list(loss_fn)}")
            loss_fn = loss_fn[name]
        loss = loss_fn(features, labels)
        return (loss, {}) if return_outputs else loss

    def prediction_step(
        self, model: nn.Module, inputs: dict[str, Any], prediction_loss_only: bool, ignore_keys: Any = None
    ) -> tuple[torch.Tensor, None, None]:
        """Eval loss only: the model has no logits of its own."""
        inputs = self._prepare_inputs(inputs)
        with torch.no_grad():
            loss = self.compute_loss(model, inputs)
        return loss.detach(), None, None

    def get_train_dataloader(self) -> DataLoader:
        """Batches from the configured batch sampler (or the multi-dataset sampler)."""
        return self._dataloader(self.train_dataset, self.args.per_device_train_batch_size, self.args.seed)

    def get_eval_dataloader(self, eval_dataset: Any = None) -> DataLoader:
        """Evaluation batches, built like the training ones (a name picks one of several eval datasets)."""
        dataset = eval_dataset if eval_dataset is not None else self.eval_dataset
        if isinstance(dataset, str):
            dataset = self.eval_dataset[dataset]
        dataset = _with_dataset_names(dataset) if isinstance(dataset, dict) else dataset
        return self._dataloader(dataset, self.args.per_device_eval_batch_size, self.args.seed)

    def _dataloader(self, dataset: Any, batch_size: int, seed: int) -> DataLoader:
        if dataset is None:
            raise ValueError("The trainer needs a dataset here")
        if isinstance(dataset, dict):
            parts = list(dataset.values())
            offsets = [sum(len(part) for part in parts[:i]) for i in range(len(parts))]
            samplers = [self._batch_sampler(part, batch_size, seed) for part in parts]
            mode = self.args.multi_dataset_batch_sampler.value
            sampler = MultiDatasetBatchSampler(samplers, offsets, mode, seed)
            dataset = ConcatDataset(parts)
        else:
            sampler = self._batch_sampler(dataset, batch_size, seed)
        loader = DataLoader(
            dataset,
            batch_sampler=sampler,
            collate_fn=self.data_collator,
            num_workers=self.args.dataloader_num_workers,
            pin_memory=self.args.dataloader_pin_memory and torch.cuda.is_available(),
        )
        return self.accelerator.prepare(loader)

    def _batch_sampler(self, dataset: Any, batch_size: int, seed: int) -> DefaultBatchSampler:
        drop_last = self.args.dataloader_drop_last
        kind = self.args.batch_sampler
        label_columns = tuple(getattr(self.data_collator, "valid_label_columns", LABEL_COLUMNS))
        if kind == BatchSamplers.NO_DUPLICATES:
            return NoDuplicatesBatchSampler(dataset, batch_size, drop_last, seed, valid_label_columns=label_columns)
        if kind == BatchSamplers.GROUP_BY_LABEL:
            if getattr(dataset, "column_names", None):
                return GroupByLabelBatchSampler(dataset, batch_size, drop_last, seed, valid_label_columns=label_columns)
            return GroupByLabelBatchSampler(dataset, batch_size, drop_last, seed)
        return DefaultBatchSampler(dataset, batch_size, drop_last, seed)

    def evaluate(
        self, eval_dataset: Any = None, ignore_keys: Any = None, metric_key_prefix: str = "eval"
    ) -> dict[str, float]:
        """The eval loss (one per dataset for several) and the evaluator's metrics, logged together.

        With several eval datasets the evaluator runs once, with the first dataset, under the plain prefix.
        """
        dataset = eval_dataset if eval_dataset is not None else self.eval_dataset
        if dataset is None and self.evaluator is not None:
            return self._evaluate_evaluator_only(metric_key_prefix)
        try:
            if not isinstance(dataset, dict):
                self._evaluator_prefix = metric_key_prefix
                return super().evaluate(dataset, ignore_keys, metric_key_prefix)
            metrics: dict[str, float] = {}
            for index, (name, part) in enumerate(_with_dataset_names(dataset).items()):
                self._evaluator_prefix = metric_key_prefix if index == 0 else None
                metrics.update(super().evaluate(part, ignore_keys, f"{metric_key_prefix}_{name}"))
            return metrics
        finally:
            self._evaluator_prefix = None

    def evaluation_loop(self, *args, **kwargs) -> EvalLoopOutput:
        """The eval loss loop, plus the evaluator's metrics when this round should carry them."""
        output = super().evaluation_loop(*args, **kwargs)
        prefix, self._evaluator_prefix = self._evaluator_prefix, None
        if self.evaluator is not None and prefix is not None:
            output.metrics.update(self._evaluator_metrics(prefix))
        return output

    def _evaluate_evaluator_only(self, metric_key_prefix: str) -> dict[str, float]:
        metrics = self._evaluator_metrics(metric_key_prefix)
        self.log(metrics)
        self.control = self.callback_handler.on_evaluate(self.args, self.state, self.control, metrics)
        return metrics

    def _evaluator_metrics(self, prefix: str) -> dict[str, float]:
        """Run the evaluator (files go to ``evaluator_output_path``); a bare float becomes ``evaluator``."""
        output_path = self.evaluator_output_path
        if output_path:
            os.makedirs(output_path, exist_ok=True)
        epoch = int(self.state.epoch or 0)
        scores = self.evaluator(self.model, output_path=output_path, epoch=epoch, steps=self.state.global_step)
        if not isinstance(scores, dict):
            scores = {"evaluator": scores}
        return {
            key if key.startswith(f"{prefix}_") else f"{prefix}_{key}": float(value) for key, value in scores.items()
        }

    def _save(self, output_dir: str | None = None, state_dict: dict[str, Any] | None = None) -> None:
        """Checkpoints are full SentenceTransformer folders, loadable on their own."""
        output_dir = output_dir or self.args.output_dir
        os.makedirs(output_dir, exist_ok=True)
        self.model.save(output_dir)

    def _load_from_checkpoint(self, resume_from_checkpoint: str, model: nn.Module | None = None) -> None:
        """Resume: take the weights of the SentenceTransformer saved in the checkpoint."""
        from sentence_transformers.sentence_transformer.model import SentenceTransformer

        loaded = SentenceTransformer(resume_from_checkpoint, device=str(self.args.device))
        (model or self.model).load_state_dict(loaded.state_dict())

    def _load_best_model(self) -> None:
        """``load_best_model_at_end``: the best checkpoint is a SentenceTransformer folder; take its weights."""
        checkpoint = self.state.best_model_checkpoint
        logger.info(f"Loading best model from {checkpoint} (score: {self.state.best_metric})")
        self._load_from_checkpoint(checkpoint)


def _with_dataset_names(dataset: Any) -> Any:
    """For several datasets, add a ``dataset_name`` column so each batch knows its loss and prompts."""
    if not isinstance(dataset, dict):
        return dataset
    named = {}
    for name, part in dataset.items():
        if DATASET_KEY in getattr(part, "column_names", []):
            named[name] = part
        else:
            named[name] = part.add_column(DATASET_KEY, [name] * len(part))
    return named


def _build_loss(loss: Any, model: SentenceTransformer) -> nn.Module:
    """A loss module as given, built by its factory (``model -> loss``), or the default MNRL for None."""
    if loss is None:
        from sentence_transformers.sentence_transformer.losses.multiple_negatives_ranking import (
            MultipleNegativesRankingLoss,
        )

        return MultipleNegativesRankingLoss(model)
    if isinstance(loss, nn.Module):
        return loss
    if not callable(loss):
        raise TypeError(f"loss must be a torch.nn.Module or a function model -> loss, got {type(loss).__name__}")
    built = loss(model)
    if not isinstance(built, nn.Module):
        raise TypeError(f"The loss factory {loss!r} returned {type(built).__name__}, not a torch.nn.Module")
    return built


def _point_to_model(loss: nn.Module, model: SentenceTransformer) -> None:
    """Point every ``model`` attribute holding a SentenceTransformer inside ``loss`` (nested losses too) at ``model``.

    Other models a loss holds under other names (a teacher, a guide) are left alone.
    """
    from sentence_transformers.sentence_transformer.model import SentenceTransformer

    for module in list(loss.modules()):
        if isinstance(module, SentenceTransformer):
            continue
        child = module._modules.get("model")
        if isinstance(child, SentenceTransformer) and child is not model:
            module._modules["model"] = model


def _bound_to(collator: SentenceTransformerDataCollator, model: Any) -> bool:
    return getattr(collator.tokenize_fn, "__self__", None) is model


def _as_evaluator(evaluator: Any) -> Any:
    """A list of evaluators runs as one SequentialEvaluator."""
    if isinstance(evaluator, (list, tuple)):
        from sentence_transformers.sentence_transformer.evaluation import SequentialEvaluator

        return SequentialEvaluator(evaluator)
    return evaluator
