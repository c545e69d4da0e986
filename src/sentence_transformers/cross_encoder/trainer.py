"""CrossEncoderTrainer: the shared BaseTrainer for CrossEncoder models.

What differs from SentenceTransformer training: the collator passes the text columns through untokenized (the losses
build pairs and tokenize them), the batch's prompt and route go to the loss as ``prompt=`` and ``task=``, and the
default loss is BinaryCrossEntropyLoss (one label) or CrossEntropyLoss (several).
"""

from __future__ import annotations

import logging
from typing import Any

import torch
from datasets import DatasetDict, IterableDataset, IterableDatasetDict
from torch import nn

from sentence_transformers.base.trainer import BaseTrainer
from sentence_transformers.cross_encoder.data_collator import CrossEncoderDataCollator
from sentence_transformers.cross_encoder.model import CrossEncoder
from sentence_transformers.cross_encoder.model_card import CrossEncoderModelCardData
from sentence_transformers.cross_encoder.model_card_callback import CrossEncoderModelCardCallback
from sentence_transformers.cross_encoder.training_args import CrossEncoderTrainingArguments
from sentence_transformers.util.misc import fullname

logger = logging.getLogger(__name__)

# Batch keys the collator adds beside the text columns and the labels; the trainer hands them to the loss.
LOSS_OPTIONS = ("prompt", "task")


class CrossEncoderTrainer(BaseTrainer):
    """Train a CrossEncoder on ``datasets.Dataset`` columns with a CrossEncoder loss (or a dict of them per dataset).

    The arguments are BaseTrainer's (``model``, ``args``, ``train_dataset``, ``eval_dataset``, ``loss``,
    ``evaluator``, ``data_collator``, ``processing_class``, ``model_init``, ``compute_metrics``, ``callbacks``,
    ``optimizers``, ``optimizer_cls_and_kwargs``, ``preprocess_logits_for_metrics``). Without a ``loss``,
    BinaryCrossEntropyLoss trains a one-label model and CrossEntropyLoss a model with several labels. The text
    columns reach the loss as lists of strings, so streamed datasets (``IterableDataset``) are not supported.
    """

    model_class = CrossEncoder
    model_card_data_class = CrossEncoderModelCardData
    model_card_callback_class = CrossEncoderModelCardCallback
    data_collator_class = CrossEncoderDataCollator
    training_args_class = CrossEncoderTrainingArguments

    def _check_datasets(self, args: Any, train_dataset: Any, eval_dataset: Any, loss: Any, evaluator: Any) -> None:
        """BaseTrainer's checks, and no streamed datasets: accelerate concatenates a stream's batches as tensors,
        and these batches hold strings."""
        for name, dataset in (("train_dataset", train_dataset), ("eval_dataset", eval_dataset)):
            if _streamed(dataset):
                raise ValueError(
                    f"CrossEncoderTrainer does not support an IterableDataset for the `{name}`. "
                    "Please convert the dataset to a `Dataset` or `DatasetDict` before passing it to the trainer."
                )
        super()._check_datasets(args, train_dataset, eval_dataset, loss, evaluator)

    def get_default_loss(self, model: CrossEncoder) -> nn.Module:
        """BinaryCrossEntropyLoss for a one-label model, CrossEntropyLoss for several labels."""
        from sentence_transformers.cross_encoder.losses import BinaryCrossEntropyLoss, CrossEntropyLoss

        loss = BinaryCrossEntropyLoss(model) if model.num_labels == 1 else CrossEntropyLoss(model)
        logger.info(f"No `loss` passed, using `{fullname(loss)}` as a default option.")
        return loss

    def loss_options(self, inputs: dict[str, Any]) -> dict[str, Any]:
        """The batch's ``prompt`` and ``task`` (router route), which CrossEncoder losses preprocess their pairs with."""
        return {key: inputs.pop(key) for key in LOSS_OPTIONS if key in inputs}

    def collect_features(self, inputs: dict[str, Any]) -> tuple[list[list[Any]], torch.Tensor | None]:
        """The text columns (lists of strings, in column order) and the labels (or None)."""
        inputs = dict(inputs)
        labels = inputs.pop("label", None)
        return list(inputs.values()), labels

    def should_dataset_name_column_be_added(
        self, dataset: Any, args: CrossEncoderTrainingArguments, loss: nn.Module | dict[str, nn.Module]
    ) -> bool:
        """Whether batches must say their dataset: several datasets with a loss, prompt or route per dataset."""
        if not isinstance(dataset, (DatasetDict, IterableDatasetDict)):
            return False
        per_dataset = [loss, args.prompts, args.router_mapping]
        return any(isinstance(setting, dict) and bool(setting) for setting in per_dataset)


def _streamed(dataset: Any) -> bool:
    """Whether ``dataset`` is (or a dict of datasets holds) an IterableDataset."""
    if isinstance(dataset, dict):
        return any(isinstance(part, IterableDataset) for part in dataset.values())
    return isinstance(dataset, IterableDataset)


__all__ = ["CrossEncoderTrainer"]
