"""BatchAllTripletLoss: the triplet hinge over every valid (anchor, positive, negative) triple in the batch."""

from __future__ import annotations

import torch
from torch import Tensor

from sentence_transformers.sentence_transformer.losses._loss_utils import check_label_count
from sentence_transformers.sentence_transformer.losses.batch_hard_triplet import (
    BatchTripletLossBase,
    positive_pair_mask,
)


class BatchAllTripletLoss(BatchTripletLossBase):
    """Batch-all triplet loss on (text, integer label) batches.

    Every triple (a, p, n) with label(a) == label(p), a != p and label(n) != label(a) contributes
    ``max(d(a, p) - d(a, n) + margin, 0)``; the sum is divided by the number of triples whose hinge is still
    active (> 0), so solved triples do not dilute the average.

    Args:
        model: The SentenceTransformer to train.
        distance_metric: [batch, dim] embeddings → [batch, batch] distances; Euclidean by default.
        margin: The margin of the hinge.
    """

    def compute_loss_from_embeddings(self, embeddings: list[Tensor], labels: Tensor) -> Tensor:
        """The loss from already computed embeddings (one column)."""
        return self.batch_all_triplet_loss(labels, embeddings[0])

    def batch_all_triplet_loss(self, labels: Tensor, embeddings: Tensor) -> Tensor:
        """The batch-all loss of one ``[batch, dim]`` embedding matrix and its ``[batch]`` labels."""
        labels = check_label_count(self, labels, embeddings.shape[0])
        return self.loss_from_distances(self.distance_metric(embeddings), labels)

    def loss_from_distances(self, distances: Tensor, labels: Tensor) -> Tensor:
        """Hinge over every valid triple, divided by the number of triples still active."""
        anchors, positives = positive_pair_mask(labels).nonzero(as_tuple=True)
        # one row per (anchor, positive) pair, one column per candidate negative
        hinge = distances[anchors, positives].unsqueeze(1) - distances[anchors] + self.triplet_margin
        is_negative = labels[anchors].unsqueeze(1) != labels.unsqueeze(0)
        hinge = torch.where(is_negative, hinge.clamp(min=0), torch.zeros_like(hinge))
        active = (hinge > 1e-16).sum()
        return hinge.sum() / (active + 1e-16)
