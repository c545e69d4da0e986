"""BatchAllTripletLoss: the triplet hinge over every valid (anchor, positive, negative) triple in the batch."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import torch
from torch import Tensor, nn

from sentence_transformers.sentence_transformer.losses._loss_utils import check_label_count
from sentence_transformers.sentence_transformer.losses.batch_hard_triplet_loss import (
    BatchHardTripletLossDistanceFunction,
    PairwiseDistance,
    metric_name,
    positive_pair_mask,
)
from sentence_transformers.sentence_transformer.losses.triplet_loss import HERMANS_2017


class BatchAllTripletLoss(nn.Module):
    """Batch-all triplet loss on (text, integer label) batches.

    Every triple (a, p, n) with label(a) == label(p), a != p and label(n) != label(a) contributes
    ``max(d(a, p) - d(a, n) + margin, 0)``; the sum is divided by the number of triples whose hinge is still
    active (> 0), so solved triples do not dilute the average.

    Args:
        model: The SentenceTransformer to train.
        distance_metric: [batch, dim] embeddings → [batch, batch] distances; Euclidean by default.
        margin: The margin of the hinge.
    """

    def __init__(
        self,
        model: nn.Module,
        distance_metric: PairwiseDistance = BatchHardTripletLossDistanceFunction.euclidean_distance,
        margin: float = 5,
    ) -> None:
        super().__init__()
        if not callable(distance_metric):
            raise TypeError(f"distance_metric must be a function of one embedding matrix, got {distance_metric!r}")
        self.model = model
        self.distance_metric = distance_metric
        self.triplet_margin = margin

    @property
    def sentence_embedder(self) -> nn.Module:
        """Upstream's name for ``model``."""
        return self.model

    def forward(self, sentence_features: Iterable[dict[str, Tensor]], labels: Tensor) -> Tensor:
        """Embed the single text column and compute the loss against ``labels``."""
        embeddings = self.model(next(iter(sentence_features)))["sentence_embedding"]
        return self.compute_loss_from_embeddings([embeddings], labels)

    def compute_loss_from_embeddings(self, embeddings: list[Tensor], labels: Tensor) -> Tensor:
        """The loss from already computed embeddings (one column)."""
        labels = check_label_count(self, labels, embeddings[0].shape[0])
        distances = self.distance_metric(embeddings[0])
        anchors, positives = positive_pair_mask(labels).nonzero(as_tuple=True)
        # one row per (anchor, positive) pair, one column per candidate negative
        hinge = distances[anchors, positives].unsqueeze(1) - distances[anchors] + self.triplet_margin
        is_negative = labels[anchors].unsqueeze(1) != labels.unsqueeze(0)
        hinge = torch.where(is_negative, hinge.clamp(min=0), torch.zeros_like(hinge))
        active = (hinge > 1e-16).sum()
        return hinge.sum() / (active + 1e-16)

    def get_config_dict(self) -> dict[str, Any]:
        """Settings shown in model cards."""
        return {"distance_metric": metric_name(self.distance_metric), "margin": self.triplet_margin}

    @property
    def citation(self) -> str:
        """BibTeX of the paper behind the loss."""
        return HERMANS_2017
