"""BatchHardTripletLoss: for each anchor, its furthest positive against its closest negative in the batch.

Also home of the all-pairs distance functions and label masks the other batch triplet losses share.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from sentence_transformers.sentence_transformer.losses._loss_utils import check_label_count
from sentence_transformers.sentence_transformer.losses.triplet import HERMANS_2017
from sentence_transformers.util.similarity import cos_sim

PairwiseDistance = Callable[[Tensor], Tensor]


class BatchHardTripletLossDistanceFunction:
    """All-pairs distance matrices [batch, batch] of one batch of embeddings."""

    @staticmethod
    def cosine_distance(embeddings: Tensor) -> Tensor:
        """1 - cosine similarity of every pair."""
        return 1 - cos_sim(embeddings, embeddings)

    @staticmethod
    def euclidean_distance(embeddings: Tensor, squared: bool = False) -> Tensor:
        """L2 distance of every pair, from the Gram matrix; exact zeros get a zero (not NaN) gradient."""
        with torch.autocast(device_type=embeddings.device.type, enabled=False):
            if embeddings.dtype in (torch.float16, torch.bfloat16):
                embeddings = embeddings.float()
            gram = embeddings @ embeddings.T
        norms = gram.diagonal()
        squared_distances = (norms.unsqueeze(0) - 2.0 * gram + norms.unsqueeze(1)).clamp(min=0)
        if squared:
            return squared_distances
        is_zero = squared_distances == 0
        safe = torch.where(is_zero, torch.ones_like(squared_distances), squared_distances)
        return torch.where(is_zero, torch.zeros_like(squared_distances), safe.sqrt())

    # upstream's historical spelling
    eucledian_distance = euclidean_distance


def same_label_mask(labels: Tensor) -> Tensor:
    """[batch, batch] bool: True where rows i and j share a label (the diagonal included)."""
    return labels.unsqueeze(0) == labels.unsqueeze(1)


def positive_pair_mask(labels: Tensor) -> Tensor:
    """[batch, batch] bool: True where i != j share a label."""
    eye = torch.eye(labels.numel(), dtype=torch.bool, device=labels.device)
    return same_label_mask(labels) & ~eye


def negative_pair_mask(labels: Tensor) -> Tensor:
    """[batch, batch] bool: True where i and j have different labels."""
    return ~same_label_mask(labels)


def triplet_mask(labels: Tensor) -> Tensor:
    """[batch, batch, batch] bool: True at (a, p, n) when a, p, n are distinct, label(a) == label(p) != label(n)."""
    # n != a and n != p follow from the labels: n's label differs from theirs
    return positive_pair_mask(labels).unsqueeze(2) & negative_pair_mask(labels).unsqueeze(1)


def hardest_pairs(distances: Tensor, labels: Tensor) -> tuple[Tensor, Tensor]:
    """Per anchor, the largest positive distance (0 if none) and the smallest negative distance."""
    hardest_positive = (distances * positive_pair_mask(labels).float()).max(dim=1).values
    # push same-label entries above every real distance of the row so the minimum picks a negative
    row_max = distances.max(dim=1, keepdim=True).values
    hardest_negative = (distances + row_max * same_label_mask(labels).float()).min(dim=1).values
    return hardest_positive, hardest_negative


class BatchTripletLossBase(nn.Module):
    """What the batch triplet losses share: one text column with integer labels, an all-pairs distance matrix.

    Subclasses implement ``loss_from_distances``.
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
        return self.loss_from_distances(self.distance_metric(embeddings[0]), labels)

    def loss_from_distances(self, distances: Tensor, labels: Tensor) -> Tensor:
        """The loss from the [batch, batch] distance matrix and the labels."""
        raise NotImplementedError

    def get_config_dict(self) -> dict[str, Any]:
        """Settings shown in model cards."""
        return {"distance_metric": metric_name(self.distance_metric), "margin": self.triplet_margin}

    @property
    def citation(self) -> str:
        """BibTeX of the paper behind the loss."""
        return HERMANS_2017


class BatchHardTripletLoss(BatchTripletLossBase):
    """Batch-hard triplet loss (Hermans et al., 2017) on (text, integer label) batches.

    For every anchor: ``max(hardest positive distance - hardest negative distance + margin, 0)``, averaged
    over the batch. Batches should hold several texts per label.

    Args:
        model: The SentenceTransformer to train.
        distance_metric: A function from [batch, dim] embeddings to a [batch, batch] distance matrix
            (see :class:`BatchHardTripletLossDistanceFunction`); Euclidean by default.
        margin: The margin of the hinge.
    """

    get_triplet_mask = staticmethod(triplet_mask)
    get_anchor_positive_triplet_mask = staticmethod(positive_pair_mask)
    get_anchor_negative_triplet_mask = staticmethod(negative_pair_mask)

    def compute_loss_from_embeddings(self, embeddings: list[Tensor], labels: Tensor) -> Tensor:
        """The loss from already computed embeddings (one column)."""
        return self.batch_hard_triplet_loss(labels, embeddings[0])

    def batch_hard_triplet_loss(self, labels: Tensor, embeddings: Tensor) -> Tensor:
        """The batch-hard hinge loss of one ``[batch, dim]`` embedding matrix and its ``[batch]`` labels."""
        labels = check_label_count(self, labels, embeddings.shape[0])
        # explicit class: subclasses (the soft-margin loss) override loss_from_distances but keep this hinge
        return BatchHardTripletLoss.loss_from_distances(self, self.distance_metric(embeddings), labels)

    def loss_from_distances(self, distances: Tensor, labels: Tensor) -> Tensor:
        """Hinge between each anchor's hardest positive and hardest negative, averaged."""
        positive, negative = hardest_pairs(distances, labels)
        return F.relu(positive - negative + self.triplet_margin).mean()


def metric_name(metric: Callable[..., Tensor]) -> str:
    """A distance function's name for configs."""
    return getattr(metric, "__name__", str(metric))
