"""BatchSemiHardTripletLoss: each positive pair is contrasted with its closest negative that is still further away."""

from __future__ import annotations

import torch
from torch import Tensor

from sentence_transformers.sentence_transformer.losses._loss_utils import check_label_count
from sentence_transformers.sentence_transformer.losses.batch_hard_triplet import (
    BatchTripletLossBase,
    positive_pair_mask,
    same_label_mask,
)


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


class BatchSemiHardTripletLoss(BatchTripletLossBase):
    """Batch semi-hard triplet loss on (text, integer label) batches.

    For every positive pair (a, p): ``max(d(a, p) - d(a, n) + margin, 0)`` with n the semi-hard negative
    (see :func:`semi_hard_negatives`), averaged over the positive pairs.

    Args:
        model: The SentenceTransformer to train.
        distance_metric: [batch, dim] embeddings → [batch, batch] distances; Euclidean by default.
        margin: The margin of the hinge.
    """

    @property
    def margin(self) -> float:
        """Upstream's name of the margin for this loss."""
        return self.triplet_margin

    def compute_loss_from_embeddings(self, embeddings: list[Tensor], labels: Tensor) -> Tensor:
        """The loss from already computed embeddings (one column)."""
        return self.batch_semi_hard_triplet_loss(labels, embeddings[0])

    def batch_semi_hard_triplet_loss(self, labels: Tensor, embeddings: Tensor) -> Tensor:
        """The semi-hard loss of one ``[batch, dim]`` embedding matrix and its ``[batch]`` labels."""
        labels = check_label_count(self, labels, embeddings.shape[0])
        return self.loss_from_distances(self.distance_metric(embeddings), labels)

    def loss_from_distances(self, distances: Tensor, labels: Tensor) -> Tensor:
        """Hinge of each positive pair against its semi-hard negative, averaged over positive pairs."""
        hinge = (distances - semi_hard_negatives(distances, labels) + self.margin).clamp(min=0)
        positives = positive_pair_mask(labels)
        total = torch.where(positives, hinge, torch.zeros_like(hinge)).sum()
        return total / positives.sum().float().clamp(min=1e-16)
