"""SparseMultipleNegativesRankingLoss: in-batch negatives (InfoNCE) on dot products of sparse embeddings."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Literal

from torch import Tensor

from sentence_transformers.sentence_transformer.losses.multiple_negatives_ranking import (
    Direction,
    MultipleNegativesRankingLoss,
)
from sentence_transformers.sparse_encoder.losses._common import refuse_standalone
from sentence_transformers.util.similarity import dot_score

if TYPE_CHECKING:
    from sentence_transformers.sparse_encoder.model import SparseEncoder


class SparseMultipleNegativesRankingLoss(MultipleNegativesRankingLoss):
    """MultipleNegativesRankingLoss for sparse models: each anchor must rank its own positive above the other
    positives and all hard negatives of the batch.

    The same loss as :class:`~sentence_transformers.sentence_transformer.losses.MultipleNegativesRankingLoss`
    with sparse-friendly defaults: dot-product similarity and ``scale=1`` (SPLADE scores are unnormalised).
    It is a base loss: wrap it in :class:`SpladeLoss` or :class:`CSRLoss`, which add the sparsity terms.

    Inputs: (anchor, positive[, negative_1, ..., negative_n]) columns, no labels.

    Args:
        model: the SparseEncoder to train.
        scale: multiplies the similarities (``1 / temperature``); with cosine similarity use e.g. 20.
        similarity_fct: matrix similarity, ``dot_score`` by default.
        gather_across_devices, directions, partition_mode, hardness_mode, hardness_strength: as in
            MultipleNegativesRankingLoss.
    """

    def __init__(
        self,
        model: SparseEncoder,
        scale: float = 1.0,
        similarity_fct: Callable[[Tensor, Tensor], Tensor] = dot_score,
        gather_across_devices: bool = False,
        directions: tuple[Direction, ...] = ("query_to_doc",),
        partition_mode: Literal["joint", "per_direction"] = "joint",
        hardness_mode: Literal["in_batch_negatives", "hard_negatives", "all_negatives"] | None = None,
        hardness_strength: float = 0.0,
    ) -> None:
        super().__init__(
            model,
            scale=scale,
            similarity_fct=similarity_fct,
            gather_across_devices=gather_across_devices,
            directions=directions,
            partition_mode=partition_mode,
            hardness_mode=hardness_mode,
            hardness_strength=hardness_strength,
        )

    def forward(self, sentence_features: Iterable[dict[str, Tensor]], labels: Tensor | None = None) -> Tensor:
        """Not available: wrap this loss in SpladeLoss or CSRLoss."""
        raise refuse_standalone(self)
