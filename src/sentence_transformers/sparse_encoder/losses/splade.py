"""SpladeLoss: a ranking/distillation base loss plus FLOPS sparsity regularization of queries and documents."""

from __future__ import annotations

import logging
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

import torch
from torch import Tensor, nn

from sentence_transformers.base.losses.merged_forward import embed_columns
from sentence_transformers.sparse_encoder.losses.csr import CSRLoss, CSRReconstructionLoss
from sentence_transformers.sparse_encoder.losses.flops import FlopsLoss

if TYPE_CHECKING:
    from sentence_transformers.sparse_encoder.model import SparseEncoder

logger = logging.getLogger(__name__)

SPLADE_CITATION = """
@misc{formal2022distillationhardnegativesampling,
    title={From Distillation to Hard Negative Sampling: Making Sparse Neural IR Models More Effective},
    author={Thibault Formal and Carlos Lassance and Benjamin Piwowarski and St{\\'e}phane Clinchant},
    year={2022},
    eprint={2205.04733},
    archivePrefix={arXiv},
    primaryClass={cs.IR},
    url={https://arxiv.org/abs/2205.04733},
}
"""


class SpladeLoss(nn.Module):
    """Train a SPLADE model: ``base loss + lambda_d * FLOPS(documents) [+ lambda_q * FLOPS(queries)]``.

    The columns are embedded once; the base loss (one of the ``Sparse*Loss`` classes, anything with a
    ``compute_loss_from_embeddings(embeddings, labels)`` method) scores them, and the regularizers penalise dense
    embeddings: the first column counts as the queries, all the others (positives and negatives) as documents.
    The forward pass returns the terms as a dict (``base_loss`` or the base loss's own keys,
    ``document_regularizer_loss``, ``query_regularizer_loss``), which the trainer sums and logs one by one.

    The regularizer weights are usually warmed up from 0 over the first part of training, which the trainer does
    with :class:`~sentence_transformers.sparse_encoder.callbacks.SpladeRegularizerWeightSchedulerCallback`.

    Args:
        model: the SparseEncoder to train.
        loss: the base loss (e.g. SparseMultipleNegativesRankingLoss, SparseMarginMSELoss,
            SparseDistillKLDivLoss); not a regularizer and not a CSR loss.
        document_regularizer_weight: weight of the document regularizer ("lambda_d" / "lambda_c" in papers).
        query_regularizer_weight: weight of the query regularizer ("lambda_q"); None applies none, which suits
            inference-free setups where queries are not encoded by the model.
        document_regularizer: regularizer of the documents instead of the default :class:`FlopsLoss`.
        query_regularizer: regularizer of the queries instead of the default :class:`FlopsLoss`.
        document_regularizer_threshold: ``threshold`` of the default document FlopsLoss: only documents with more
            active dimensions than this are penalised.
        query_regularizer_threshold: the same for the default query FlopsLoss.
        use_document_regularizer_only: treat every column as a document (symmetric data such as text pairs):
            one regularizer over all embeddings with ``document_regularizer_weight``, no query regularizer.
    """

    def __init__(
        self,
        model: SparseEncoder,
        loss: nn.Module,
        document_regularizer_weight: float,
        query_regularizer_weight: float | None = None,
        document_regularizer: nn.Module | None = None,
        query_regularizer: nn.Module | None = None,
        document_regularizer_threshold: int | None = None,
        query_regularizer_threshold: int | None = None,
        use_document_regularizer_only: bool = False,
    ) -> None:
        super().__init__()
        if isinstance(loss, FlopsLoss | CSRReconstructionLoss | CSRLoss | SpladeLoss):
            raise ValueError(
                f"{type(loss).__name__} cannot be the base loss of SpladeLoss: pass a ranking or distillation loss "
                "such as SparseMultipleNegativesRankingLoss (regularizers go in document_regularizer / "
                "query_regularizer)."
            )
        if not callable(getattr(loss, "compute_loss_from_embeddings", None)):
            raise ValueError(
                f"SpladeLoss needs a base loss with a compute_loss_from_embeddings(embeddings, labels) method, which "
                f"{type(loss).__name__} does not have; use one of the Sparse*Loss classes."
            )
        self.model = model
        self.loss = loss
        self.document_regularizer_weight = document_regularizer_weight
        self.query_regularizer_weight = query_regularizer_weight
        self.use_document_regularizer_only = use_document_regularizer_only
        if document_regularizer is None:
            document_regularizer = FlopsLoss(model, threshold=document_regularizer_threshold)
        self.document_regularizer = document_regularizer
        if query_regularizer is None and not use_document_regularizer_only:
            query_regularizer = FlopsLoss(model, threshold=query_regularizer_threshold)
        self.query_regularizer = query_regularizer

        if use_document_regularizer_only:
            if query_regularizer_weight is not None:
                logger.warning(
                    "use_document_regularizer_only=True regularizes every column as a document, so "
                    "query_regularizer_weight=%r is ignored (set to None).",
                    query_regularizer_weight,
                )
                self.query_regularizer_weight = None
        elif query_regularizer_weight is None:
            logger.warning(
                "query_regularizer_weight is None, so the queries are not regularized. That is right for "
                "inference-free models (queries not encoded by the model); otherwise give it a positive value."
            )

    def forward(
        self, sentence_features: Iterable[dict[str, Tensor]], labels: Tensor | None = None
    ) -> dict[str, Tensor]:
        """The loss terms of one batch: the base loss and the weighted regularizers."""
        features = list(sentence_features)
        self._check_columns(len(features))
        # With every column a document the first one is as wide as the others, so it may share their forward pass.
        embeddings = embed_columns(self.model, features, separate_first=not self.use_document_regularizer_only)
        return self._loss_terms(embeddings, labels)

    def _loss_terms(self, embeddings: list[Tensor], labels: Tensor | None) -> dict[str, Tensor]:
        """The loss terms from already computed column embeddings (first column: queries)."""
        self._check_columns(len(embeddings))
        base_loss = self.loss.compute_loss_from_embeddings(embeddings, labels)
        terms = dict(base_loss) if isinstance(base_loss, dict) else {"base_loss": base_loss}

        documents = embeddings if self.use_document_regularizer_only else embeddings[1:]
        document_loss = self.document_regularizer.compute_loss_from_embeddings(torch.cat(documents))
        terms["document_regularizer_loss"] = document_loss * self.document_regularizer_weight
        if self.query_regularizer_weight is not None and self.query_regularizer is not None:
            query_loss = self.query_regularizer.compute_loss_from_embeddings(embeddings[0])
            terms["query_regularizer_loss"] = query_loss * self.query_regularizer_weight
        return terms

    def _check_columns(self, count: int) -> None:
        """Refuse inputs without a document column (unless every column counts as a document)."""
        if count == 0 or (count < 2 and not self.use_document_regularizer_only):
            raise ValueError(
                f"SpladeLoss got {count} input column(s): it regularizes the first column as queries and the others "
                "as documents, so it needs at least 2; for single-column data pass use_document_regularizer_only=True."
            )

    def get_config_dict(self) -> dict[str, Any]:
        """Settings shown on the model card (regularizers named only when they are not the default FlopsLoss)."""
        config: dict[str, Any] = {
            "loss": self.loss,
            "document_regularizer_weight": self.document_regularizer_weight,
        }
        if self.query_regularizer_weight is not None:
            config["query_regularizer_weight"] = self.query_regularizer_weight
        for role in ("document", "query"):
            regularizer = getattr(self, f"{role}_regularizer", None)
            if regularizer is None:
                continue
            if not isinstance(regularizer, FlopsLoss):
                config[f"{role}_regularizer"] = type(regularizer).__name__
            if getattr(regularizer, "threshold", None) is not None:
                config[f"{role}_regularizer_threshold"] = regularizer.threshold
        return config

    @property
    def citation(self) -> str:
        """BibTeX of SPLADE++ (Formal et al., 2022)."""
        return SPLADE_CITATION
