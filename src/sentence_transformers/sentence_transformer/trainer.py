"""SentenceTransformerTrainer: the shared BaseTrainer for SentenceTransformer models (default loss: CoSENTLoss)."""

from __future__ import annotations

import logging

from torch import nn

from sentence_transformers.base.trainer import BaseTrainer
from sentence_transformers.sentence_transformer.data_collator import SentenceTransformerDataCollator
from sentence_transformers.sentence_transformer.model import SentenceTransformer
from sentence_transformers.sentence_transformer.model_card import SentenceTransformerModelCardData
from sentence_transformers.sentence_transformer.model_card_callback import SentenceTransformerModelCardCallback
from sentence_transformers.sentence_transformer.training_args import SentenceTransformerTrainingArguments

logger = logging.getLogger(__name__)


class SentenceTransformerTrainer(BaseTrainer):
    """Train a SentenceTransformer on ``datasets.Dataset`` columns with a loss (or a dict of losses per dataset).

    Column order gives the loss's inputs; a ``label`` or ``score`` column becomes the labels. A ``DatasetDict``
    (or dict of datasets) trains on several datasets, each with its own loss when ``loss`` is a dict; a dict of
    eval datasets reports one ``eval_<name>_loss`` each. A loss may also be a factory ``model -> loss`` (built
    here, and again on the fresh model when ``model_init`` re-creates it at ``train()``); without one,
    ``get_default_loss`` gives CoSENTLoss. ``evaluator`` (one, or a list run as a SequentialEvaluator) runs at every
    evaluation beside (or instead of) the eval loss and writes its files under ``evaluator_output_path``
    (``<output_dir>/eval`` unless set otherwise). A loss returning a dict of named terms trains on their sum and logs
    each term (``track_loss_components``).

    ``args.router_mapping`` sends each column through its Router route (required when the model has a Router);
    ``args.learning_rate_mapping`` gives the parameters matching a pattern their own learning rate.
    ``processing_class`` (by default the model's tokenizer), ``compute_metrics``, ``optimizer_cls_and_kwargs`` and
    ``preprocess_logits_for_metrics`` go to ``transformers.Trainer``; the model has no logits, so ``compute_metrics``
    never runs (use an evaluator).
    """

    model_class = SentenceTransformer
    model_card_data_class = SentenceTransformerModelCardData
    model_card_callback_class = SentenceTransformerModelCardCallback
    data_collator_class = SentenceTransformerDataCollator
    training_args_class = SentenceTransformerTrainingArguments

    def get_default_loss(self, model: SentenceTransformer) -> nn.Module:
        """The loss used when none is given: CoSENTLoss (pairs of texts with a similarity score)."""
        from sentence_transformers.sentence_transformer.losses.cosent import CoSENTLoss

        loss = CoSENTLoss(model)
        logger.info(f"No `loss` passed, using `{type(loss).__name__}` as a default option.")
        return loss


__all__ = ["SentenceTransformerTrainer"]
