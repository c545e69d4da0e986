"""BatchSemiHardTripletLoss: each positive pair is contrasted with its closest negative that is still further away."""

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
    same_label_mask,
)
from sentence_transformers.sentence_transformer.losses.triplet_loss import HERMANS_2017


def semi_hard_negatives(distances: Tensor, labels: Tensor) -> Tensor:
    """[batch, batch]: for anchor a and any j, the smallest negative distance d(a, n) > d(a, j).

    When no negative of a lies beyond d(a, j), the largest negative distance of a is used instead (the
    FaceNet / TensorFlow-addons rule); an anchor without negatives falls back to its row minimum.
    """
    same = same_label_mask(labels)
    size = distances.shape[0]
    sorted_negatives = distances.masked_fill(same, torch.inf).sort(dim=1, stable=True).values
    # first negative strictly further than each d(a, j); past the end means "none"
    index = torch.searchsorted(sorted_negatives.detach().contiguous(), distances.detach().contiguous(), right=True)
    beyond = sorted_negatives.gather(1, index.clamp(max=size - 1))
    row_min = distances.min(dim=1, keepdim=True).values
    has_negative = (~same).any(dim=1, keepdim=True)
    largest = distances.masked_fill(same, -torch.inf).max(dim=1, keepdim=True).values
    fallback = torch.where(has_negative, largest, row_min).expand_as(distances)
    return torch.where(torch.isfinite(beyond), beyond, fallback)


class BatchSemiHardTripletLoss(nn.Module):
    """Batch semi-hard triplet loss on (text, integer label) batches.

    For every positive pair (a, p): ``max(d(a, p) - d(a, n) + margin, 0)`` with n the semi-hard negative
    (see :func:`semi_hard_negatives`), averaged over the positive pairs.

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
        self.margin = margin

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
        hinge = (distances - semi_hard_negatives(distances, labels) + self.margin).clamp(min=0)
        positives = positive_pair_mask(labels)
        total = torch.where(positives, hinge, torch.zeros_like(hinge)).sum()
        return total / positives.sum().float().clamp(min=1e-16)

    def get_config_dict(self) -> dict[str, Any]:
        """Settings shown in model cards."""
        return {"distance_metric": metric_name(self.distance_metric), "margin": self.margin}

    @property
    def citation(self) -> str:
        """BibTeX of the paper behind the loss."""
        return HERMANS_2017
