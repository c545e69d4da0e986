"""MultiVectorEncoderTrainer: the shared BaseTrainer for MultiVectorEncoder (late-interaction) models.

What differs from SentenceTransformer training: the collator gives every column a query or document task, the
arguments take a training-time ``max_length``, and the default loss is MultiVectorMultipleNegativesRankingLoss.
"""

from __future__ import annotations

import logging

from torch import nn

from sentence_transformers.base.trainer import BaseTrainer
from sentence_transformers.multi_vector_encoder.data_collator import MultiVectorEncoderDataCollator
from sentence_transformers.multi_vector_encoder.model import MultiVectorEncoder
from sentence_transformers.multi_vector_encoder.model_card import (
    MultiVectorEncoderModelCardCallback,
    MultiVectorEncoderModelCardData,
)
from sentence_transformers.multi_vector_encoder.training_args import MultiVectorEncoderTrainingArguments

logger = logging.getLogger(__name__)


class MultiVectorEncoderTrainer(BaseTrainer):
    """Train a MultiVectorEncoder on ``datasets.Dataset`` columns with a multi-vector loss (or a dict of them).

    The arguments are BaseTrainer's (``model``, ``args``, ``train_dataset``, ``eval_dataset``, ``loss``,
    ``evaluator``, ``data_collator``, ``processing_class``, ``model_init``, ``compute_metrics``, ``callbacks``,
    ``optimizers``, ``optimizer_cls_and_kwargs``, ``preprocess_logits_for_metrics``), used as for a
    SentenceTransformer. Datasets hold (query, positive[, negatives ...]) columns, or (query, document_1, ...,
    document_N) with a teacher-score label column for distillation. Without a ``loss``,
    MultiVectorMultipleNegativesRankingLoss trains the model.
    """

    model_class = MultiVectorEncoder
    model_card_data_class = MultiVectorEncoderModelCardData
    model_card_callback_class = MultiVectorEncoderModelCardCallback
    data_collator_class = MultiVectorEncoderDataCollator
    training_args_class = MultiVectorEncoderTrainingArguments

    def get_default_loss(self, model: MultiVectorEncoder) -> nn.Module:
        """MultiVectorMultipleNegativesRankingLoss (in-batch negatives on MaxSim scores)."""
        from sentence_transformers.multi_vector_encoder.losses import MultiVectorMultipleNegativesRankingLoss

        logger.info(
            "No `loss` passed, using `MultiVectorMultipleNegativesRankingLoss` as the default. Pass `loss=` for "
            "distillation (MultiVectorDistillKLDivLoss, MultiVectorMarginMSELoss) or larger batches "
            "(CachedMultiVectorMultipleNegativesRankingLoss)."
        )
        return MultiVectorMultipleNegativesRankingLoss(model=model)


__all__ = ["MultiVectorEncoderTrainer"]
