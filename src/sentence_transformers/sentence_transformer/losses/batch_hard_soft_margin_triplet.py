"""BatchHardSoftMarginTripletLoss: batch-hard triplets with a soft (softplus) margin instead of a fixed one."""

from __future__ import annotations

from typing import Any

import torch.nn.functional as F
from torch import Tensor, nn

from sentence_transformers.sentence_transformer.losses._loss_utils import check_label_count
from sentence_transformers.sentence_transformer.losses.batch_hard_triplet import (
    BatchHardTripletLoss,
    BatchHardTripletLossDistanceFunction,
    PairwiseDistance,
    hardest_pairs,
    metric_name,
)


class BatchHardSoftMarginTripletLoss(BatchHardTripletLoss):
    """``mean(softplus(hardest positive distance - hardest negative distance))`` on (text, label) batches.

    No margin to tune: the softplus keeps pushing apart triplets that are already separated, only less.

    Args:
        model: The SentenceTransformer to train.
        distance_metric: [batch, dim] embeddings → [batch, batch] distances; Euclidean by default.
    """

    def __init__(
        self,
        model: nn.Module,
        distance_metric: PairwiseDistance = BatchHardTripletLossDistanceFunction.euclidean_distance,
    ) -> None:
        super().__init__(model, distance_metric=distance_metric)

    def compute_loss_from_embeddings(self, embeddings: list[Tensor], labels: Tensor) -> Tensor:
        """The loss from already computed embeddings (one column)."""
        return self.batch_hard_triplet_soft_margin_loss(labels, embeddings[0])

    def batch_hard_triplet_soft_margin_loss(self, labels: Tensor, embeddings: Tensor) -> Tensor:
        """The soft-margin batch-hard loss of one ``[batch, dim]`` embedding matrix and its ``[batch]`` labels."""
        labels = check_label_count(self, labels, embeddings.shape[0])
        return self.loss_from_distances(self.distance_metric(embeddings), labels)

    def loss_from_distances(self, distances: Tensor, labels: Tensor) -> Tensor:
        """Softplus of each anchor's hardest-positive minus hardest-negative distance, averaged."""
        positive, negative = hardest_pairs(distances, labels)
        return F.softplus(positive - negative).mean()

    def get_config_dict(self) -> dict[str, Any]:
        """Settings shown in model cards."""
        return {"distance_metric": metric_name(self.distance_metric)}
