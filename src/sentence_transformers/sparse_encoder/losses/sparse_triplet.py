"""SparseTripletLoss: anchor closer to its positive than to its negative by a margin, for sparse models."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING

from torch import Tensor

from sentence_transformers.sentence_transformer.losses.triplet import TripletDistanceMetric, TripletLoss
from sentence_transformers.sparse_encoder.losses._common import refuse_standalone

if TYPE_CHECKING:
    from sentence_transformers.sparse_encoder.model import SparseEncoder


class SparseTripletLoss(TripletLoss):
    """``mean(relu(d(anchor, positive) - d(anchor, negative) + triplet_margin))`` on sparse embeddings.

    Inputs: (anchor, positive, negative) columns, no labels. A base loss: wrap it in :class:`SpladeLoss` or
    :class:`CSRLoss`.

    Args:
        model: the SparseEncoder to train.
        distance_metric: row-wise distance (see ``TripletDistanceMetric``); Euclidean by default.
        triplet_margin: how much further the negative must be than the positive.
    """

    def __init__(
        self,
        model: SparseEncoder,
        distance_metric: Callable[[Tensor, Tensor], Tensor] = TripletDistanceMetric.EUCLIDEAN,
        triplet_margin: float = 5,
    ) -> None:
        super().__init__(model, distance_metric=distance_metric, triplet_margin=triplet_margin)

    def forward(self, sentence_features: Iterable[dict[str, Tensor]], labels: Tensor | None = None) -> Tensor:
        """Not available: wrap this loss in SpladeLoss or CSRLoss."""
        raise refuse_standalone(self)
