"""BaseTrainer: the one trainer of every model type, a thin transformers.Trainer subclass.

A model type's trainer is a subclass that names its parts (``model_class``, ``training_args_class``,
``data_collator_class``, the model card classes) and overrides the hooks where it differs (``get_default_loss``,
``collect_features``, ``loss_options``).
"""

from __future__ import annotations

import inspect
import logging
import os
import re
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from functools import partial
from typing import Any

import torch
from datasets import Dataset, DatasetDict, IterableDataset, IterableDatasetDict, Value
from torch import nn
from torch.nn.parallel import DistributedDataParallel
from torch.utils.data import BatchSampler, ConcatDataset, DataLoader
from transformers import (
    EvalPrediction,
    FeatureExtractionMixin,
    PreTrainedTokenizerBase,
    ProcessorMixin,
    Trainer,
    TrainerCallback,
)
from transformers.image_processing_utils import BaseImageProcessor
from transformers.trainer_pt_utils import nested_gather
from transformers.trainer_utils import EvalLoopOutput

from sentence_transformers.base.data_collator import (
    COLUMNS_KEY,
    DATASET_KEY,
    LABEL_COLUMNS,
    BaseDataCollator,
    split_features,
)
from sentence_transformers.base.model import BaseModel
from sentence_transformers.base.model_card import BaseModelCardData
from sentence_transformers.base.model_card_callback import BaseModelCardCallback
from sentence_transformers.base.modules.router import Router
from sentence_transformers.base.sampler import (
    DefaultBatchSampler,
    GroupByLabelBatchSampler,
    MultiDatasetDefaultBatchSampler,
    NoDuplicatesBatchSampler,
    ProportionalBatchSampler,
    RoundRobinBatchSampler,
)
from sentence_transformers.base.training_args import (
    BaseTrainingArguments,
    BatchSamplers,
    MultiDatasetBatchSamplers,
)
from sentence_transformers.util.decorators import deprecated_kwargs
from sentence_transformers.util.distributed import broadcast_object, distributed_evaluation, get_world_size

logger = logging.getLogger(__name__)

LossSpec = nn.Module | Callable[[Any], nn.Module] | None
ProcessingClass = PreTrainedTokenizerBase | BaseImageProcessor | FeatureExtractionMixin | ProcessorMixin

# Column names the trainer adds to batches itself; a dataset may not use them.
RESERVED_COLUMNS = ("return_loss", DATASET_KEY)
# The feature keys that mark a column's features in a collated batch without a layout (an upstream-style collator).
FEATURE_SUFFIXES = (
    "input_ids",
    "sentence_embedding",
    "pixel_values",
    "input_features",
    "input_values",
    "pixel_values_videos",
)


class BaseTrainer(Trainer):
    """Train a model on ``datasets.Dataset`` columns with a loss (or a dict of losses per dataset).

    Column order gives the loss's inputs; a ``label`` or ``score`` column becomes the labels. A ``DatasetDict``
    (or dict of datasets) trains on several datasets, each with its own loss when ``loss`` is a dict; a dict of
    eval datasets reports one ``eval_<name>_loss`` each. A loss may also be a factory ``model -> loss`` (built
    here, and again on the fresh model when ``model_init`` re-creates it at ``train()``); without one,
    ``get_default_loss`` gives the model type's default. ``evaluator`` (one, or a list run as a SequentialEvaluator)
    runs at every evaluation beside (or instead of) the eval loss and writes its files under ``evaluator_output_path``
    (``<output_dir>/eval`` unless set otherwise). A loss returning a dict of named terms trains on their sum and logs
    each term (``track_loss_components``).

    ``args.router_mapping`` sends each column through its Router route (required when the model has a Router);
    ``args.learning_rate_mapping`` gives the parameters matching a pattern their own learning rate.
    ``processing_class`` (by default the model's tokenizer), ``compute_metrics``, ``optimizer_cls_and_kwargs`` and
    ``preprocess_logits_for_metrics`` go to ``transformers.Trainer``; the model has no logits, so ``compute_metrics``
    never runs (use an evaluator).
    """

    model_class: type[BaseModel] = BaseModel
    model_card_data_class: type[BaseModelCardData] = BaseModelCardData
    model_card_callback_class: type[BaseModelCardCallback] = BaseModelCardCallback
    data_collator_class: type[BaseDataCollator] = BaseDataCollator
    training_args_class: type[BaseTrainingArguments] = BaseTrainingArguments

    @deprecated_kwargs(tokenizer="processing_class")
    def __init__(
        self,
        model: BaseModel | None = None,
        args: BaseTrainingArguments | None = None,
        train_dataset: Any = None,
        eval_dataset: Any = None,
        loss: LossSpec | dict[str, LossSpec] = None,
        evaluator: Any = None,
        data_collator: Any = None,
        processing_class: ProcessingClass | None = None,
        model_init: Callable[..., BaseModel] | None = None,
        compute_metrics: Callable[[EvalPrediction], dict] | None = None,
        callbacks: list[TrainerCallback] | None = None,
        optimizers: tuple[Any, Any] = (None, None),
        optimizer_cls_and_kwargs: tuple[type[torch.optim.Optimizer], dict[str, Any]] | None = None,
        preprocess_logits_for_metrics: Callable[[torch.Tensor, torch.Tensor], torch.Tensor] | None = None,
        **kwargs,
    ) -> None:
        if args is not None and not isinstance(args, self.training_args_class):
            cls = self.training_args_class
            raise ValueError(
                f"Please pass an instance of `{cls.__module__}.{cls.__qualname__}` as the `args` argument."
            )
        _distribute_on_cpu(args)
        # Built before transformers sets up the devices: building arguments resets accelerate's state.
        defaults = self.training_args_class(output_dir="unused").to_dict()
        if args is None:
            logger.info(f"No `args` passed, using `{self.training_args_class.__name__}(output_dir=tmp_trainer)`.")
            args = self.training_args_class(output_dir="tmp_trainer")
        model = self._initial_model(model, model_init)
        if compute_metrics is not None:
            logger.warning(
                f"`compute_metrics` is currently not compatible with the {type(self).__name__}. Please use the "
                "`evaluator` argument instead for detailed evaluation metrics, or the `eval_dataset` argument for "
                "the evaluation loss."
            )
        if processing_class is None and isinstance(getattr(model, "processor", None), ProcessingClass):
            processing_class = model.processor
        collator = data_collator or self.get_data_collator(model=model, args=args, processing_class=processing_class)
        train_dataset, eval_dataset = _as_dataset_dict(train_dataset), _as_dataset_dict(eval_dataset)
        self._check_datasets(args, train_dataset, eval_dataset, loss, evaluator)
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
            processing_class=processing_class,
            compute_metrics=compute_metrics,
            callbacks=callbacks,
            optimizers=optimizers,
            optimizer_cls_and_kwargs=optimizer_cls_and_kwargs,
            preprocess_logits_for_metrics=preprocess_logits_for_metrics,
            **kwargs,
        )
        args.eval_strategy = strategy
        # Set after the parent's __init__, which would otherwise call model_init once more right away.
        self.model_init = model_init
        self.accum_loss_components: dict[str, dict[str, torch.Tensor]] = {"train": {}, "eval": {}}
        self.can_return_loss = True  # every batch gives a loss, with or without labels
        self._loss_spec = loss
        self.loss = self._prepare_losses(loss, model, rebind=model_init is not None)
        self.evaluator = _as_evaluator(evaluator)
        self.evaluator_output_path: str | None = os.path.join(args.output_dir, "eval") if args.output_dir else None
        self._evaluator_prefix: str | None = None
        self.train_dataset = self.preprocess_dataset(self.train_dataset, dataset_name="train")
        self.eval_dataset = self.preprocess_dataset(self.eval_dataset, dataset_name="eval")
        self.add_model_card_callback(defaults)

    def _initial_model(self, model: BaseModel | None, model_init: Callable[..., BaseModel] | None) -> BaseModel:
        """The model given, or one from ``model_init``."""
        if model is None:
            if model_init is None:
                raise RuntimeError(f"`{type(self).__name__}` requires either a `model` or `model_init` argument")
            self.model_init = model_init
            return self.call_model_init()
        if model_init is not None:
            logger.warning(
                f"`{type(self).__name__}` requires either a `model` or `model_init` argument, but not both. "
                "`model_init` will overwrite your model when calling the `train` method."
            )
        return model

    def _check_datasets(
        self,
        args: BaseTrainingArguments,
        train_dataset: Any,
        eval_dataset: Any,
        loss: Any,
        evaluator: Any,
    ) -> None:
        """The mistakes worth naming before transformers (or the first batch) trips over them."""
        if eval_dataset is None and evaluator is None and args.eval_strategy != "no":
            raise ValueError(
                f"You have set `args.eval_strategy` to {args.eval_strategy}, but you didn't provide an `eval_dataset` "
                f"or an `evaluator`. Either provide an `eval_dataset` or an `evaluator` to `{type(self).__name__}`, "
                "or set `args.eval_strategy='no'` to skip evaluation."
            )
        if not isinstance(loss, dict):
            return
        for name, dataset in (("train", train_dataset), ("eval", eval_dataset)):
            if dataset is None:
                continue
            if not isinstance(dataset, dict):
                raise ValueError(
                    f"If the provided `loss` is a dict, then the `{name}_dataset` must be a `DatasetDict`."
                )
            if missing := sorted(set(dataset) - set(loss)):
                raise ValueError(
                    f"If the provided `loss` is a dict, then all keys from the `{name}_dataset` dictionary must occur "
                    f"in `loss` also. Currently, {missing} occur{'s' if len(missing) == 1 else ''} in `{name}_dataset` "
                    "but not in `loss`."
                )

    def get_data_collator(
        self,
        model: BaseModel,
        args: BaseTrainingArguments,
        processing_class: ProcessingClass | None = None,
    ) -> BaseDataCollator:
        """The default collator: preprocesses with the model, applying ``args.prompts`` and ``args.router_mapping``.

        ``processing_class`` is there for subclasses (the model preprocesses its own inputs); override this method
        for a collator of your own.
        """
        if not args.router_mapping and any(isinstance(module, Router) for module in model.children()):
            raise ValueError(
                "You are using a Router module in your model, but you did not provide a `router_mapping` in the "
                "training arguments. This means that the Router module will not be able to route the inputs to "
                "the correct submodules. Please provide a `router_mapping` that maps column names to routes, "
                "e.g. {'column_one': 'query', 'column_two': 'document', 'column_three': 'document'}."
            )
        return self.data_collator_class(
            preprocess_fn=model.preprocess,
            router_mapping=args.router_mapping,
            prompts=args.prompts,
            max_length=getattr(args, "max_length", None),
        )

    def add_model_card_callback(self, default_args_dict: dict[str, Any]) -> None:
        """Add the callback that records the training run for the model card (override to leave it out).

        ``default_args_dict`` (a fresh ``training_args_class``'s ``to_dict()``) tells which arguments were changed.
        """
        callback = self.model_card_callback_class(default_args_dict)
        if hasattr(callback, "trainer"):
            callback.trainer = self
        self.add_callback(callback)
        callback.on_init_end(self.args, self.state, self.control, model=self.model, trainer=self)

    def get_default_loss(self, model: BaseModel) -> nn.Module:
        """The loss used when none is given; each model type names its own."""
        raise NotImplementedError(f"{type(self).__name__} has no default loss; pass `loss=`")

    def prepare_loss(self, loss: Callable[[BaseModel], nn.Module] | nn.Module, model: BaseModel) -> nn.Module:
        """A loss module (as given, or built by its factory ``model -> loss``) on the training device."""
        return _build_loss(loss, model).to(self.args.device)

    def override_model_in_loss(self, loss: nn.Module, model: BaseModel) -> nn.Module:
        """Point every ``model`` attribute holding a ``model_class`` instance inside ``loss`` (nested losses too) at
        ``model``, e.g. the fresh one from ``model_init``; teachers and guides held under other names stay."""
        _point_to_model(loss, model, self.model_class)
        return loss

    def _prepare_losses(self, loss: Any, model: BaseModel, rebind: bool = False) -> nn.Module | dict[str, nn.Module]:
        """Build the loss (or each dataset's loss; the default one for None) for ``model``.

        ``rebind`` (with ``model_init``) points a ready-made loss's ``model`` attributes at ``model``.
        """
        if loss is None:
            loss = self.get_default_loss(model)
        if isinstance(loss, dict):
            return {name: self._prepare_losses(part, model, rebind) for name, part in loss.items()}
        built = self.prepare_loss(loss, model)
        return self.override_model_in_loss(built, model) if rebind else built

    def call_model_init(self, trial: Any = None) -> BaseModel:
        """A fresh model from ``model_init``; the losses are rebuilt (factories) or re-pointed (modules) to it."""
        model = super().call_model_init(trial)
        if not hasattr(self, "loss"):
            return model
        old = self.model
        self.loss = self._prepare_losses(self._loss_spec, model, rebind=True)
        collator = self.data_collator
        if isinstance(collator, BaseDataCollator):
            if _bound_to(collator.preprocess_fn, old):
                collator.preprocess_fn = getattr(model, collator.preprocess_fn.__name__)
            if _bound_to(getattr(collator, "tokenize_fn", None), old):
                collator.tokenize_fn = model.tokenize
            collator._prompt_lengths.clear()
        return model

    def _losses(self) -> list[nn.Module]:
        return list(self.loss.values()) if isinstance(self.loss, dict) else [self.loss]

    def create_optimizer(self, model: nn.Module | None = None) -> torch.optim.Optimizer:
        """The usual optimizer, plus the parameters the losses own (e.g. SoftmaxLoss's classifier).

        With ``args.learning_rate_mapping``, the parameters matching a pattern move to groups of their own with
        that learning rate (keeping their weight decay); the scheduler then scales each group's rate.
        """
        fresh = self.optimizer is None
        optimizer = super().create_optimizer(model) if model is not None else super().create_optimizer()
        known = {id(p) for group in optimizer.param_groups for p in group["params"]}
        extra = [p for loss in self._losses() for p in loss.parameters() if p.requires_grad and id(p) not in known]
        extra = list({id(p): p for p in extra}.values())
        if extra:
            optimizer.add_param_group({"params": extra, "weight_decay": self.args.weight_decay})
        if fresh and self.args.learning_rate_mapping:
            self._apply_learning_rate_mapping(optimizer)
        return optimizer

    def _named_trainable_parameters(self) -> dict[str, nn.Parameter]:
        """Parameter names as the loss sees them (``model.0.auto_model...``; ``<dataset>.…`` for a dict of losses)."""
        losses = self.loss if isinstance(self.loss, dict) else {"": self.loss}
        sources = [(f"{key}." if key else "", loss) for key, loss in losses.items()] + [("model.", self.model)]
        named: dict[str, nn.Parameter] = {}
        seen: set[int] = set()
        for prefix, owner in sources:
            for name, param in owner.named_parameters():
                if param.requires_grad and id(param) not in seen:
                    seen.add(id(param))
                    named[prefix + name] = param
        return named

    def _apply_learning_rate_mapping(self, optimizer: torch.optim.Optimizer) -> None:
        """Move the parameters each pattern matches into groups with its learning rate (the last match wins)."""
        named = self._named_trainable_parameters()
        chosen: dict[int, str] = {}
        for pattern in self.args.learning_rate_mapping:
            matches = [p for name, p in named.items() if re.search(pattern, name)]
            if not matches:
                raise ValueError(
                    f"No parameters found matching the pattern '{pattern}' in the model. Please check the pattern "
                    f"and ensure it matches some of the model's parameters (names look like {list(named)[:3]})."
                )
            chosen.update(dict.fromkeys(map(id, matches), pattern))
        moved: dict[tuple[str, float], list[nn.Parameter]] = {}
        for group in optimizer.param_groups:
            keep = []
            for param in group["params"]:
                if id(param) in chosen:
                    moved.setdefault((chosen[id(param)], group.get("weight_decay", 0.0)), []).append(param)
                else:
                    keep.append(param)
            group["params"] = keep
        optimizer.param_groups[:] = [group for group in optimizer.param_groups if group["params"]]
        for (pattern, weight_decay), params in moved.items():
            lr = self.args.learning_rate_mapping[pattern]
            optimizer.add_param_group({"params": params, "lr": lr, "weight_decay": weight_decay})

    def training_step(
        self, model: nn.Module, inputs: dict[str, Any], num_items_in_batch: torch.Tensor | int | None = None
    ) -> torch.Tensor:
        """One forward and backward pass; under DDP the losses embed through the DDP wrapper (see ``_ddp_losses``)."""
        if not isinstance(model, DistributedDataParallel):
            return super().training_step(model, inputs, num_items_in_batch)
        params = self._loss_only_parameters()
        if not getattr(self, "_loss_parameters_synced", False):
            self._loss_parameters_synced = True
            with torch.no_grad():
                for param in params:
                    torch.distributed.broadcast(param.data, src=0)  # start every process from rank 0's values
        with _ddp_losses(self._losses(), self.model, model):
            loss = super().training_step(model, inputs, num_items_in_batch)
        for param in params:  # DDP averages the model's gradients only
            if param.grad is None:
                param.grad = torch.zeros_like(param)  # every process must join every all_reduce
            torch.distributed.all_reduce(param.grad)
            param.grad.div_(get_world_size())
        return loss

    def _loss_only_parameters(self) -> list[nn.Parameter]:
        """Trainable parameters that the losses own outside the model (e.g. SoftmaxLoss's classifier)."""
        in_model = {id(param) for param in self.model.parameters()}
        params = [p for loss in self._losses() for p in loss.parameters() if p.requires_grad and id(p) not in in_model]
        return list({id(param): param for param in params}.values())

    def compute_loss(
        self,
        model: nn.Module,
        inputs: dict[str, Any],
        return_outputs: bool = False,
        num_items_in_batch: Any = None,
    ) -> torch.Tensor | tuple[torch.Tensor, dict[str, Any]]:
        """Split the collated batch back into per-column features and apply the batch's loss.

        A loss returning a dict of named terms trains on their sum; ``track_loss_components`` logs each one.
        """
        inputs = dict(inputs)
        name = inputs.pop(DATASET_KEY, None)
        options = self.loss_options(inputs)
        features, labels = self.collect_features(inputs)
        loss_fn = self.loss
        if isinstance(loss_fn, dict):
            if name not in loss_fn:
                raise ValueError(f"No loss for dataset {name!r}; losses are given for {list(loss_fn)}")
            loss_fn = loss_fn[name]
        loss = loss_fn(features, labels, **_accepted_options(loss_fn, options))
        if isinstance(loss, dict):  # losses made of named terms (e.g. GlobalOrthogonalRegularizationLoss)
            self.track_loss_components(loss)
            loss = torch.stack(list(loss.values())).sum()
        return (loss, {}) if return_outputs else loss

    def loss_options(self, inputs: dict[str, Any]) -> dict[str, Any]:
        """Keyword arguments for the loss that the batch carries (removed from ``inputs``); none by default.

        A loss whose ``forward`` does not take an option is called without it, with a warning (once).
        """
        return {}

    def collect_features(self, inputs: dict[str, Any]) -> tuple[list[dict[str, Any]], torch.Tensor | None]:
        """A collated batch → one features dict per input column (in column order), and the labels (or None).

        The collator's batches say which keys belong to which column; other batches (a collator of your own) are
        split by the feature keys (``<column>_input_ids``, ``<column>_pixel_values`` …) that open each column.
        """
        if COLUMNS_KEY in inputs:
            return split_features(inputs)
        features, seen = [], set()
        for key in inputs:
            suffix = next((suffix for suffix in FEATURE_SUFFIXES if key.endswith(f"_{suffix}")), None)
            prefix = key[: -len(suffix)] if suffix else None
            if prefix is None or prefix in seen:
                continue
            seen.add(prefix)
            features.append({k[len(prefix) :]: value for k, value in inputs.items() if k.startswith(prefix)})
        return features, inputs.get("label")

    def track_loss_components(self, loss: dict[str, torch.Tensor]) -> None:
        """Add each named term of a loss to this phase's (train or eval) running sums, which ``log`` averages.

        With ``args.logging_nan_inf_filter``, a NaN or infinite term counts as its running average instead.
        """
        sums = self.accum_loss_components["train" if self.model.training else "eval"]
        steps = sums.get("steps")
        value = torch.tensor(0.0)
        for key, value in loss.items():
            value = value.detach()  # keep no autograd graph alive until the next log
            if self.args.logging_nan_inf_filter and not torch.isfinite(value).all():
                seen = key in sums and steps is not None and bool(steps)
                value = sums[key] / steps if seen else torch.zeros_like(value)
            sums[key] = sums[key] + value if key in sums else value
        sums["steps"] = (steps if steps is not None else torch.tensor(0, device=value.device)) + 1

    def log(self, logs: dict[str, float], start_time: float | None = None) -> None:
        """Log, with the averages of the loss terms since the last log beside the training (or eval) loss."""
        phase = "train" if "loss" in logs else "eval" if "eval_loss" in logs else None
        if phase is not None:
            logs = {**logs, **self._loss_component_logs(phase)}
        super().log(logs, start_time)

    def _loss_component_logs(self, phase: str) -> dict[str, float]:
        """The average of each tracked loss term (over all processes) since the last log; the sums restart."""
        sums = self.accum_loss_components[phase]
        if "steps" not in sums:
            return {}
        gathered = nested_gather(sums, parallel_mode=self.args.parallel_mode)
        steps = gathered["steps"].sum().item()
        prefix = "eval_" if phase == "eval" else ""
        logs = {
            f"{prefix}{key}": round((value.sum() / steps).item(), 4)
            for key, value in gathered.items()
            if key != "steps"
        }
        for key in sums:
            sums[key] = torch.zeros_like(sums[key])
        return logs if steps else {}

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
        dataset = self.preprocess_dataset(_as_dataset_dict(dataset), dataset_name="eval")
        return self._dataloader(dataset, self.args.per_device_eval_batch_size, self.args.seed)

    def _dataloader(self, dataset: Any, batch_size: int, seed: int) -> DataLoader:
        if dataset is None:
            raise ValueError("The trainer needs a dataset here")
        if isinstance(dataset, IterableDatasetDict):
            raise ValueError(
                "Sentence Transformers is not compatible with IterableDatasetDict. Please use a DatasetDict instead."
            )
        if isinstance(dataset, IterableDataset):
            return self._iterable_dataloader(dataset, batch_size)
        generator = torch.Generator().manual_seed(seed)
        options = {
            "batch_size": batch_size,
            "drop_last": self.args.dataloader_drop_last,
            "valid_label_columns": list(getattr(self.data_collator, "valid_label_columns", LABEL_COLUMNS)),
            "generator": generator,
            "seed": seed,
        }
        if isinstance(dataset, dict):
            samplers = [self.get_batch_sampler(part, **options) for part in dataset.values()]
            dataset = ConcatDataset(list(dataset.values()))
            sampler = self.get_multi_dataset_batch_sampler(dataset, samplers, generator=generator, seed=seed)
        else:
            sampler = self.get_batch_sampler(dataset, **options)
        loader = DataLoader(
            dataset,
            batch_sampler=sampler,
            collate_fn=self.data_collator,
            num_workers=self.args.dataloader_num_workers,
            pin_memory=self.args.dataloader_pin_memory and torch.cuda.is_available(),
        )
        return self.accelerator.prepare(loader)

    def _iterable_dataloader(self, dataset: IterableDataset, batch_size: int) -> DataLoader:
        """Batches in the stream's order: a streamed dataset cannot be shuffled or deduplicated by a batch sampler."""
        if self.args.batch_sampler != BatchSamplers.BATCH_SAMPLER:
            logger.warning("When using an IterableDataset, you cannot specify a batch sampler.")
        loader = DataLoader(
            dataset,
            batch_size=batch_size,
            drop_last=self.args.dataloader_drop_last,
            collate_fn=self.data_collator,
            num_workers=self.args.dataloader_num_workers,
            pin_memory=self.args.dataloader_pin_memory and torch.cuda.is_available(),
        )
        return self.accelerator.prepare(loader)

    def get_batch_sampler(
        self,
        dataset: Any,
        batch_size: int,
        drop_last: bool,
        valid_label_columns: list[str] | None = None,
        generator: torch.Generator | None = None,
        seed: int = 0,
    ) -> BatchSampler:
        """The batch sampler ``args.batch_sampler`` names (or builds: a sampler class or function); override freely."""
        kind = self.args.batch_sampler
        options = {"valid_label_columns": valid_label_columns, "generator": generator, "seed": seed}
        if callable(kind):  # a sampler class or factory (the enum names are not callable)
            return kind(dataset, batch_size=batch_size, drop_last=drop_last, **options)
        if kind in (BatchSamplers.NO_DUPLICATES, BatchSamplers.NO_DUPLICATES_HASHED):
            hashed = kind == BatchSamplers.NO_DUPLICATES_HASHED
            return NoDuplicatesBatchSampler(dataset, batch_size, drop_last, precompute_hashes=hashed, **options)
        if kind == BatchSamplers.GROUP_BY_LABEL:
            if not getattr(dataset, "column_names", None):
                options["valid_label_columns"] = None  # plain rows: the "label" key
            return GroupByLabelBatchSampler(dataset, batch_size, drop_last, **options)
        return DefaultBatchSampler(dataset, batch_size, drop_last, **options)

    def get_multi_dataset_batch_sampler(
        self,
        dataset: ConcatDataset,
        batch_samplers: list[BatchSampler],
        generator: torch.Generator | None = None,
        seed: int = 0,
    ) -> BatchSampler:
        """The sampler interleaving several datasets' batches, as ``args.multi_dataset_batch_sampler`` says."""
        kind = self.args.multi_dataset_batch_sampler
        if callable(kind):
            return kind(dataset, batch_samplers=batch_samplers, generator=generator, seed=seed)
        chosen: type[MultiDatasetDefaultBatchSampler] = (
            RoundRobinBatchSampler if kind == MultiDatasetBatchSamplers.ROUND_ROBIN else ProportionalBatchSampler
        )
        return chosen(dataset, batch_samplers, generator=generator, seed=seed)

    def evaluate(
        self, eval_dataset: Any = None, ignore_keys: Any = None, metric_key_prefix: str = "eval"
    ) -> dict[str, float]:
        """The eval loss (one per dataset for several) and the evaluator's metrics, logged together.

        With several eval datasets the evaluator runs once, with the first dataset, under the plain prefix.
        """
        dataset = eval_dataset if eval_dataset is not None else self.eval_dataset
        dataset = self.preprocess_dataset(_as_dataset_dict(dataset), dataset_name="eval")
        if dataset is None and self.evaluator is not None:
            return self._evaluate_evaluator_only(metric_key_prefix)
        try:
            if not isinstance(dataset, dict):
                self._evaluator_prefix = metric_key_prefix
                return super().evaluate(dataset, ignore_keys, metric_key_prefix)
            metrics: dict[str, float] = {}
            for index, (name, part) in enumerate(self.preprocess_dataset(dataset, dataset_name="eval").items()):
                self._evaluator_prefix = metric_key_prefix if index == 0 else None
                metrics.update(super().evaluate(part, ignore_keys, f"{metric_key_prefix}_{name}"))
            return metrics
        finally:
            self._evaluator_prefix = None

    def evaluation_loop(
        self,
        dataloader: DataLoader,
        description: str,
        prediction_loss_only: bool | None = None,
        ignore_keys: list[str] | None = None,
        metric_key_prefix: str = "eval",
    ) -> EvalLoopOutput:
        """The eval loss loop, plus the evaluator's metrics when this round should carry them."""
        output = super().evaluation_loop(
            dataloader,
            description,
            prediction_loss_only=prediction_loss_only,
            ignore_keys=ignore_keys,
            metric_key_prefix=metric_key_prefix,
        )
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
        """Run the evaluator (files go to ``evaluator_output_path``); a bare float becomes ``evaluator``.

        Under DDP it runs once, on the main process, while every process encodes a share of its texts; all
        processes get its metrics (so they agree on the best checkpoint).
        """
        # Sharing works through ``model.encode``; a model type without it evaluates on the main process alone.
        sharded = not self.is_fsdp_enabled and not self.is_deepspeed_enabled and hasattr(self.model, "encode")
        with distributed_evaluation(self.model, enabled=sharded) as run_here:
            scores = self._run_evaluator() if run_here else {}
        scores = broadcast_object(scores)
        return {
            key if key.startswith(f"{prefix}_") else f"{prefix}_{key}": float(value) for key, value in scores.items()
        }

    def _run_evaluator(self) -> dict[str, Any]:
        """The evaluator's scores as a dict; its files are written by the main process only."""
        output_path = self.evaluator_output_path if self.is_world_process_zero() else None
        if output_path:
            os.makedirs(output_path, exist_ok=True)
        epoch = int(self.state.epoch or 0)
        scores = self.evaluator(self.model, output_path=output_path, epoch=epoch, steps=self.state.global_step)
        return scores if isinstance(scores, dict) else {"evaluator": scores}

    def preprocess_dataset(self, dataset: Any = None, dataset_name: str | None = None) -> Any:
        """Check a dataset's column names and, where batches need it, add a lazy ``dataset_name`` column.

        ``dataset_name`` ("train", "eval") names the dataset in errors. A dataset is preprocessed once.
        """
        if dataset is None or getattr(dataset, "_sentence_transformers_preprocessed", False):
            return dataset
        self.validate_column_names(dataset, dataset_name=dataset_name)
        if self.should_dataset_name_column_be_added(dataset, self.args, self.loss):
            dataset = self.add_dataset_name_column(dataset)
            dataset._sentence_transformers_preprocessed = True
        return dataset

    def should_dataset_name_column_be_added(
        self, dataset: Any, args: BaseTrainingArguments, loss: nn.Module | dict[str, nn.Module]
    ) -> bool:
        """Whether batches must say their dataset: several datasets, with a loss or prompts per dataset (a dict), or
        a router_mapping per dataset."""
        if not isinstance(dataset, (DatasetDict, IterableDatasetDict)):
            return False
        mapping = args.router_mapping
        nested_routes = isinstance(mapping, dict) and bool(mapping) and isinstance(next(iter(mapping.values())), dict)
        return isinstance(loss, dict) or isinstance(args.prompts, dict) and bool(args.prompts) or nested_routes

    def add_dataset_name_column(self, dataset: Any, dataset_name: str | None = None) -> Any:
        """A ``dataset_name`` column on every row, computed as rows are read (nothing is copied).

        A DatasetDict gets each dataset's own key (in place, as transformers keeps the dict); a Dataset gets
        ``dataset_name`` on top of any transform it has; an IterableDataset is mapped.
        """
        if isinstance(dataset, (DatasetDict, IterableDatasetDict)):
            for name, part in dataset.items():
                dataset[name] = self.add_dataset_name_column(part, dataset_name=name)
            return dataset
        if dataset_name is None:
            return dataset
        add_name = partial(self.add_dataset_name_transform, dataset_name=dataset_name)
        if isinstance(dataset, Dataset):
            return dataset.with_transform(partial(add_name, **dataset._format_kwargs))
        if isinstance(dataset, IterableDataset):
            features = dataset.features
            if features is not None:
                features[DATASET_KEY] = Value("string")
            return dataset.map(add_name, batched=True, features=features)
        raise ValueError(
            "Unsupported `dataset` type. Use a Dataset, DatasetDict, IterableDataset, or IterableDatasetDict."
        )

    @staticmethod
    def add_dataset_name_transform(
        batch: dict[str, list[Any]],
        dataset_name: str | None = None,
        transform: Callable[[dict[str, list[Any]]], dict[str, list[Any]]] | None = None,
        **kwargs,
    ) -> dict[str, list[Any]]:
        """A batch (after the dataset's own ``transform``, if any) with a ``dataset_name`` column added.

        The transform (or ``map`` function) behind ``add_dataset_name_column``; other format options are ignored.
        """
        if transform is not None:
            batch = transform(batch)
        if not batch or not next(iter(batch.values())) or dataset_name is None:
            return batch
        batch[DATASET_KEY] = [dataset_name] * len(next(iter(batch.values())))
        return batch

    def validate_column_names(self, dataset: Any, dataset_name: str | None = None) -> None:
        """Refuse the columns the trainer adds to batches itself (``return_loss``, ``dataset_name``)."""
        if isinstance(dataset, dict):
            for name, part in dataset.items():
                self.validate_column_names(part, dataset_name=name)
            return
        if overlap := [column for column in getattr(dataset, "column_names", None) or [] if column in RESERVED_COLUMNS]:
            raise ValueError(
                f"The following column names are invalid in your {dataset_name + ' ' if dataset_name else ''}dataset: "
                f"{overlap}. Avoid using these column names, as they are reserved for internal use."
            )

    def _save(self, output_dir: str | None = None, state_dict: dict[str, Any] | None = None) -> None:
        """Checkpoints are full model folders, loadable on their own; written by the main process only
        (``args.should_save``: transformers calls this on every process)."""
        if not self.args.should_save:
            return
        output_dir = output_dir or self.args.output_dir
        os.makedirs(output_dir, exist_ok=True)
        self.model.save(output_dir)
        if self.processing_class is not None and self.processing_class is not getattr(self.model, "processor", None):
            self.processing_class.save_pretrained(output_dir)

    def _load_from_checkpoint(self, resume_from_checkpoint: str, model: nn.Module | None = None) -> None:
        """Resume: take the weights of the ``model_class`` model saved in the checkpoint."""
        loaded = self.model_class(resume_from_checkpoint, device=str(self.args.device))
        (model or self.model).load_state_dict(loaded.state_dict())

    def _load_best_model(self) -> None:
        """``load_best_model_at_end``: the best checkpoint is a model folder; take its weights."""
        checkpoint = self.state.best_model_checkpoint
        logger.info(f"Loading best model from {checkpoint} (score: {self.state.best_metric})")
        self._load_from_checkpoint(checkpoint)


def _distribute_on_cpu(args: BaseTrainingArguments | None) -> None:
    """Under torchrun (or ``accelerate launch`` without ``--cpu``) on a machine with no accelerator, have accelerate
    run DDP over the CPU processes (gloo), as ``use_cpu=True`` would; it would otherwise train each process on its
    own, unsynchronised, every one of them saving. ``args`` already set up for a single process is set up again.
    """
    already_cpu = os.environ.get("ACCELERATE_USE_CPU", "").lower() in ("1", "true", "yes")
    if int(os.environ.get("WORLD_SIZE", "1")) <= 1 or already_cpu:
        return
    if (args is not None and args.use_cpu) or torch.cuda.is_available():
        return
    accelerator = getattr(torch, "accelerator", None)  # torch >= 2.6: any device type torch knows of
    if accelerator is not None and accelerator.is_available():
        return
    os.environ["ACCELERATE_USE_CPU"] = "true"
    if args is not None and "_setup_devices" in args.__dict__:
        del args.__dict__["_setup_devices"]  # transformers' cached device set-up: redo it now
        _ = args.device


class _DistributedModel(nn.Module):
    """Stands in for the model inside a loss during a DDP training step.

    Calling it runs the DistributedDataParallel wrapper, so that backward passes average the gradients over the
    processes; any other attribute (``tokenize``, ``device``, ``module``...) is the model's own.
    """

    def __init__(self, wrapped: DistributedDataParallel, model: nn.Module) -> None:
        super().__init__()
        self.wrapped = wrapped
        self.__dict__["module"] = model  # not registered: the parameters are counted once, under ``wrapped``

    def forward(self, *args: Any, **kwargs: Any) -> Any:
        return self.wrapped(*args, **kwargs)

    def __getattr__(self, name: str) -> Any:
        try:
            return super().__getattr__(name)
        except AttributeError:
            return getattr(self.__dict__["module"], name)

    def __getitem__(self, index: Any) -> Any:
        return self.__dict__["module"][index]

    def __len__(self) -> int:
        return len(self.__dict__["module"])

    def __iter__(self) -> Iterator[nn.Module]:
        return iter(self.__dict__["module"])


@contextmanager
def _ddp_losses(losses: list[nn.Module], model: nn.Module, wrapped: DistributedDataParallel) -> Iterator[None]:
    """Within the block, every ``model`` attribute of the losses (nested ones too) that holds ``model`` calls the
    DDP ``wrapped`` model instead. Teachers and guides, held under other names, are left alone.

    A loss calling the bare model would compute gradients that DDP never averages, so the processes would drift
    apart. The block spans the backward pass too, which cached (GradCache) losses run their forward passes in.
    """
    proxy = _DistributedModel(wrapped, model)
    swapped = [
        module
        for loss in losses
        for module in loss.modules()
        if module is not model and module._modules.get("model") is model
    ]
    swapped = list({id(module): module for module in swapped}.values())
    for module in swapped:
        module._modules["model"] = proxy
    try:
        yield
    finally:
        for module in swapped:
            module._modules["model"] = model


def _as_dataset_dict(dataset: Any) -> Any:
    """A plain dict of datasets becomes a DatasetDict (an IterableDatasetDict for streamed ones)."""
    if not isinstance(dataset, dict) or isinstance(dataset, (DatasetDict, IterableDatasetDict)):
        return dataset
    if dataset and all(isinstance(part, IterableDataset) for part in dataset.values()):
        return IterableDatasetDict(dataset)
    return DatasetDict(dataset)


def _build_loss(loss: Any, model: BaseModel) -> nn.Module:
    """A loss module as given, or built by its factory (``model -> loss``)."""
    if isinstance(loss, nn.Module):
        return loss
    if not callable(loss):
        raise TypeError(f"loss must be a torch.nn.Module or a function model -> loss, got {type(loss).__name__}")
    built = loss(model)
    if not isinstance(built, nn.Module):
        raise TypeError(f"The loss factory {loss!r} returned {type(built).__name__}, not a torch.nn.Module")
    return built


def _point_to_model(loss: nn.Module, model: BaseModel, model_class: type[BaseModel]) -> None:
    """Point every ``model`` attribute holding a ``model_class`` instance inside ``loss`` (nested losses too) at
    ``model``.

    Other models a loss holds under other names (a teacher, a guide) are left alone.
    """
    for module in list(loss.modules()):
        if isinstance(module, model_class):
            continue
        child = module._modules.get("model")
        if isinstance(child, model_class) and child is not model:
            module._modules["model"] = model


def _accepted_options(loss_fn: nn.Module, options: dict[str, Any]) -> dict[str, Any]:
    """The ``options`` that ``loss_fn.forward`` takes; a loss written without them gets none (warned about once)."""
    if not options:
        return options
    parameters = inspect.signature(loss_fn.forward).parameters.values()
    if any(parameter.kind is inspect.Parameter.VAR_KEYWORD for parameter in parameters):
        return options
    names = {parameter.name for parameter in parameters}
    if all(key in names for key in options):
        return options
    if type(loss_fn) not in _WARNED_LOSSES:
        _WARNED_LOSSES.add(type(loss_fn))
        logger.warning(
            f"The `prompt` and `task` parameters could not be passed to {type(loss_fn).__name__}. "
            "These parameters are required for advanced preprocessing in losses. "
            "Please update your loss function to accept `prompt` and `task` keyword arguments."
        )
    return {key: value for key, value in options.items() if key in names}


_WARNED_LOSSES: set[type] = set()


def _bound_to(function: Any, model: Any) -> bool:
    """Whether ``function`` is a method of ``model`` (the collator's ``model.preprocess``, say)."""
    return function is not None and getattr(function, "__self__", None) is model


def _as_evaluator(evaluator: Any) -> Any:
    """A list of evaluators runs as one SequentialEvaluator."""
    if isinstance(evaluator, (list, tuple)):
        from sentence_transformers.base.evaluation.sequential import SequentialEvaluator

        return SequentialEvaluator(evaluator)
    return evaluator
