"""SparseEncoderTrainer: the shared BaseTrainer for SparseEncoder models.

What differs from SentenceTransformer training: the default loss is SpladeLoss over
SparseMultipleNegativesRankingLoss, and a SpladeLoss gets a SpladeRegularizerWeightSchedulerCallback (its
regularizer weights warm up from 0) unless one is given.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from torch import nn

from sentence_transformers.base.trainer import BaseTrainer
from sentence_transformers.sparse_encoder.data_collator import SparseEncoderDataCollator
from sentence_transformers.sparse_encoder.model import SparseEncoder
from sentence_transformers.sparse_encoder.model_card import SparseEncoderModelCardData
from sentence_transformers.sparse_encoder.model_card_callback import SparseEncoderModelCardCallback
from sentence_transformers.sparse_encoder.training_args import SparseEncoderTrainingArguments

logger = logging.getLogger(__name__)


class SparseEncoderTrainer(BaseTrainer):
    """Train a SparseEncoder on ``datasets.Dataset`` columns with a sparse loss (or a dict of them per dataset).

    The arguments are BaseTrainer's (``model``, ``args``, ``train_dataset``, ``eval_dataset``, ``loss``,
    ``evaluator``, ``data_collator``, ``processing_class``, ``model_init``, ``compute_metrics``, ``callbacks``,
    ``optimizers``, ``optimizer_cls_and_kwargs``, ``preprocess_logits_for_metrics``), used as for a
    SentenceTransformer. Without a ``loss``, SpladeLoss(SparseMultipleNegativesRankingLoss) with query and document
    regularizer weights 5e-5 and 3e-5 trains the model.
    """

    model_class = SparseEncoder
    model_card_data_class = SparseEncoderModelCardData
    model_card_callback_class = SparseEncoderModelCardCallback
    data_collator_class = SparseEncoderDataCollator
    training_args_class = SparseEncoderTrainingArguments

    def get_default_loss(self, model: SparseEncoder) -> nn.Module:
        """SpladeLoss over SparseMultipleNegativesRankingLoss (the weights are worth tuning for your task)."""
        from sentence_transformers.sparse_encoder.losses import SparseMultipleNegativesRankingLoss, SpladeLoss

        logger.info(
            "No `loss` passed, using `SpladeLoss` with `SparseMultipleNegativesRankingLoss` as the default. "
            "Note: `query_regularizer_weight` and `document_regularizer_weight` are sensitive parameters "
            "and should be tuned for your task."
        )
        return SpladeLoss(
            model=model,
            loss=SparseMultipleNegativesRankingLoss(model=model),
            query_regularizer_weight=5e-5,
            document_regularizer_weight=3e-5,
        )

    def prepare_loss(self, loss: Callable[[SparseEncoder], nn.Module] | nn.Module, model: SparseEncoder) -> nn.Module:
        """BaseTrainer's, then a SpladeLoss's weight scheduler is placed right after transformers' flow callback
        (created when none was given for this loss), so it updates the weights before the other callbacks run."""
        from sentence_transformers.sparse_encoder.callbacks.splade_callbacks import (
            SpladeRegularizerWeightSchedulerCallback,
        )
        from sentence_transformers.sparse_encoder.losses import SpladeLoss

        loss = super().prepare_loss(loss, model)
        if not isinstance(loss, SpladeLoss):
            return loss
        callbacks = self.callback_handler.callbacks
        index = next(
            (
                i
                for i, callback in enumerate(callbacks)
                if isinstance(callback, SpladeRegularizerWeightSchedulerCallback) and callback.loss is loss
            ),
            None,
        )
        if index is not None and index <= 1:
            return loss
        if index is not None:
            callback = callbacks.pop(index)
        else:
            logger.warning(
                "SpladeLoss detected without SpladeRegularizerWeightSchedulerCallback. Adding default "
                "SpladeRegularizerWeightSchedulerCallback to gradually increase weight values from 0 to their maximum."
            )
            callback = SpladeRegularizerWeightSchedulerCallback(loss=loss)
        callbacks.insert(1, callback)
        return loss


__all__ = ["SparseEncoderTrainer"]
