"""SentenceTransformerTrainer: a thin transformers.Trainer subclass for sentence-embedding losses."""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any

import torch
from torch import nn
from torch.utils.data import ConcatDataset, DataLoader
from transformers import Trainer, TrainerCallback

from sentence_transformers.sentence_transformer.training.arguments import (
    BatchSamplers,
    SentenceTransformerTrainingArguments,
)
from sentence_transformers.sentence_transformer.training.data_collator import (
    DATASET_KEY,
    SentenceTransformerDataCollator,
    split_features,
)
from sentence_transformers.sentence_transformer.training.samplers import (
    DefaultBatchSampler,
    GroupByLabelBatchSampler,
    MultiDatasetBatchSampler,
    NoDuplicatesBatchSampler,
)

if TYPE_CHECKING:
    from sentence_transformers.sentence_transformer.model import SentenceTransformer


class SentenceTransformerTrainer(Trainer):
    """Train a SentenceTransformer on ``datasets.Dataset`` columns with a loss (or a dict of losses per dataset).

    Column order gives the loss's inputs; a ``label`` or ``score`` column becomes the labels. A ``DatasetDict``
    (or dict of datasets) trains on several datasets, each with its own loss when ``loss`` is a dict.
    ``evaluator`` runs at every evaluation beside (or instead of) the eval loss.
    """

    def __init__(
        self,
        model: SentenceTransformer | None = None,
        args: SentenceTransformerTrainingArguments | None = None,
        train_dataset: Any = None,
        eval_dataset: Any = None,
        loss: nn.Module | dict[str, nn.Module] | None = None,
        evaluator: Any = None,
        data_collator: Any = None,
        callbacks: list[TrainerCallback] | None = None,
        optimizers: tuple[Any, Any] = (None, None),
        **kwargs,
    ) -> None:
        if model is None:
            raise ValueError("SentenceTransformerTrainer needs a model")
        args = args or SentenceTransformerTrainingArguments(output_dir="checkpoints/model")
        if not isinstance(args, SentenceTransformerTrainingArguments):
            raise TypeError(f"args must be SentenceTransformerTrainingArguments, got {type(args).__name__}")
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
        self.loss = self._prepare_loss(loss, model)
        self.evaluator = evaluator

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

    def _prepare_loss(self, loss: Any, model: SentenceTransformer) -> nn.Module | dict[str, nn.Module]:
        if loss is None:
            from sentence_transformers.sentence_transformer.losses.multiple_negatives_ranking_loss import (
                MultipleNegativesRankingLoss,
            )

            loss = MultipleNegativesRankingLoss(model)
        if isinstance(loss, dict):
            return {name: part.to(self.args.device) for name, part in loss.items()}
        return loss.to(self.args.device)

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
        """Evaluation batches, built like the training ones."""
        dataset = eval_dataset if eval_dataset is not None else self.eval_dataset
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
        if kind == BatchSamplers.NO_DUPLICATES:
            return NoDuplicatesBatchSampler(dataset, batch_size, drop_last, seed)
        if kind == BatchSamplers.GROUP_BY_LABEL:
            return GroupByLabelBatchSampler(dataset, batch_size, drop_last, seed)
        return DefaultBatchSampler(dataset, batch_size, drop_last, seed)

    def evaluate(
        self, eval_dataset: Any = None, ignore_keys: Any = None, metric_key_prefix: str = "eval"
    ) -> dict[str, float]:
        """The eval loss (when there is an eval dataset) and the evaluator's metrics, logged together."""
        if self.evaluator is None:
            return super().evaluate(eval_dataset, ignore_keys, metric_key_prefix)
        metrics: dict[str, float] = {}
        if eval_dataset is not None or self.eval_dataset is not None:
            metrics = super().evaluate(eval_dataset, ignore_keys, metric_key_prefix)
        scores = self.evaluator(self.model, epoch=int(self.state.epoch or 0), steps=self.state.global_step)
        scores = {f"{metric_key_prefix}_{key}": float(value) for key, value in scores.items()}
        self.log(scores)
        metrics.update(scores)
        # Callbacks (and the end of this evaluation round) see the evaluator's metrics too.
        self.control = self.callback_handler.on_evaluate(self.args, self.state, self.control, metrics)
        return metrics

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
