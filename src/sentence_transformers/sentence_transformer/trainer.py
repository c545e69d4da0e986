"""SentenceTransformerTrainer: a thin transformers.Trainer subclass for sentence-embedding losses."""

from __future__ import annotations

import logging
import os
import re
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

import torch
from torch import nn
from torch.nn.parallel import DistributedDataParallel
from torch.utils.data import BatchSampler, ConcatDataset, DataLoader
from transformers import Trainer, TrainerCallback
from transformers.trainer_utils import EvalLoopOutput

from sentence_transformers.base.modules.router import Router
from sentence_transformers.base.sampler import (
    DefaultBatchSampler,
    GroupByLabelBatchSampler,
    MultiDatasetDefaultBatchSampler,
    NoDuplicatesBatchSampler,
    ProportionalBatchSampler,
    RoundRobinBatchSampler,
)
from sentence_transformers.sentence_transformer.data_collator import (
    DATASET_KEY,
    LABEL_COLUMNS,
    SentenceTransformerDataCollator,
    split_features,
)
from sentence_transformers.sentence_transformer.model_card_callback import SentenceTransformerModelCardCallback
from sentence_transformers.sentence_transformer.training_args import (
    BatchSamplers,
    MultiDatasetBatchSamplers,
    SentenceTransformerTrainingArguments,
)
from sentence_transformers.util.distributed import broadcast_object, distributed_evaluation, get_world_size

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

    ``args.router_mapping`` sends each column through its Router route (required when the model has a Router);
    ``args.learning_rate_mapping`` gives the parameters matching a pattern their own learning rate.
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
        if args is not None and not isinstance(args, SentenceTransformerTrainingArguments):
            raise TypeError(f"args must be SentenceTransformerTrainingArguments, got {type(args).__name__}")
        _distribute_on_cpu(args)
        # Built before transformers sets up the devices: building arguments resets accelerate's state.
        defaults = SentenceTransformerTrainingArguments(output_dir="unused").to_dict()
        args = args or SentenceTransformerTrainingArguments(output_dir="checkpoints/model")
        if model is None:
            if model_init is None:
                raise ValueError("SentenceTransformerTrainer needs a model or a model_init")
            self.model_init = model_init
            model = self.call_model_init()
        elif model_init is not None:
            logger.warning("Both model and model_init were given: model_init replaces the model when train() starts")
        collator = data_collator or self.get_data_collator(model, args)
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
        self.add_callback(SentenceTransformerModelCardCallback(default_args_dict=defaults, trainer=self))

    def get_data_collator(
        self, model: SentenceTransformer, args: SentenceTransformerTrainingArguments
    ) -> SentenceTransformerDataCollator:
        """The default collator: tokenizes with the model, applying ``args.prompts`` and ``args.router_mapping``."""
        if not args.router_mapping and any(isinstance(module, Router) for module in model.children()):
            raise ValueError(
                "The model has a Router module but the training arguments have no `router_mapping`, so the Router "
                "cannot tell which route each dataset column takes. Set router_mapping to map column names to "
                "routes, e.g. {'question': 'query', 'answer': 'document'}."
            )
        return SentenceTransformerDataCollator(
            tokenize_fn=model.tokenize, prompts=args.prompts, router_mapping=args.router_mapping
        )

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
                    f"learning_rate_mapping pattern {pattern!r} matches no trainable parameter; names look like "
                    f"{list(named)[:3]}"
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
        """Split the collated batch back into per-column features and apply the batch's loss."""
        features, labels = split_features(inputs)
        loss_fn = self.loss
        if isinstance(loss_fn, dict):
            name = inputs.get(DATASET_KEY)
            if name not in loss_fn:
                raise ValueError(f"No loss for dataset {name!r}; losses are given for {list(loss_fn)}")
            loss_fn = loss_fn[name]
        loss = loss_fn(features, labels)
        if isinstance(loss, dict):  # losses made of named terms (e.g. GlobalOrthogonalRegularizationLoss)
            loss = torch.stack(list(loss.values())).sum()
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
        if kind == BatchSamplers.NO_DUPLICATES:
            return NoDuplicatesBatchSampler(dataset, batch_size, drop_last, **options)
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
        """Run the evaluator (files go to ``evaluator_output_path``); a bare float becomes ``evaluator``.

        Under DDP it runs once, on the main process, while every process encodes a share of its texts; all
        processes get its metrics (so they agree on the best checkpoint).
        """
        sharded = not self.is_fsdp_enabled and not self.is_deepspeed_enabled
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

    def _save(self, output_dir: str | None = None, state_dict: dict[str, Any] | None = None) -> None:
        """Checkpoints are full SentenceTransformer folders, loadable on their own; written by the main process only
        (``args.should_save``: transformers calls this on every process)."""
        if not self.args.should_save:
            return
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


def _distribute_on_cpu(args: SentenceTransformerTrainingArguments | None) -> None:
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
