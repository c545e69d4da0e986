"""ContrastiveLoss (Hadsell et al. 2006) and the distance metrics it and OnlineContrastiveLoss use."""

from __future__ import annotations

import warnings
from collections.abc import Callable, Iterable
from typing import Any

import torch.nn.functional as F
from torch import Tensor, nn

from sentence_transformers.base.losses.merged_forward import embed_columns

from ._citations import HADSELL_CITATION
from ._loss_utils import check_label_count

Distance = Callable[[Tensor, Tensor], Tensor]


def _euclidean(x: Tensor, y: Tensor) -> Tensor:
    return F.pairwise_distance(x, y, p=2)


def _manhattan(x: Tensor, y: Tensor) -> Tensor:
    return F.pairwise_distance(x, y, p=1)


def _cosine_distance(x: Tensor, y: Tensor) -> Tensor:
    return 1 - F.cosine_similarity(x, y)


class SiameseDistanceMetric:
    """Pairwise distances between row ``i`` of ``x`` and row ``i`` of ``y``: ``SiameseDistanceMetric.EUCLIDEAN(x, y)``.

    EUCLIDEAN and MANHATTAN are the L2 and L1 distances (as ``F.pairwise_distance``, with its small epsilon);
    COSINE_DISTANCE is ``1 - cosine similarity``.
    """

    EUCLIDEAN = staticmethod(_euclidean)
    MANHATTAN = staticmethod(_manhattan)
    COSINE_DISTANCE = staticmethod(_cosine_distance)

    @classmethod
    def name_of(cls, metric: Distance) -> str:
        """``SiameseDistanceMetric.NAME`` for a member, else the function's own name."""
        for name in ("EUCLIDEAN", "MANHATTAN", "COSINE_DISTANCE"):
            if getattr(cls, name) is metric:
                return f"SiameseDistanceMetric.{name}"
        return getattr(metric, "__name__", str(metric))


def warn_if_not_binary(loss: nn.Module, labels: Tensor, consequence: str) -> None:
    """Warn (once per loss object) when labels other than 0 and 1 appear."""
    if getattr(loss, "_checked_labels", False):
        return
    loss._checked_labels = True
    if bool(((labels != 0) & (labels != 1)).any()):
        warnings.warn(f"{type(loss).__name__} expects labels 0 or 1; {consequence}", UserWarning, stacklevel=3)


class ContrastiveLoss(nn.Module):
    """For (text1, text2) pairs with label 1 (similar) or 0 (dissimilar).

    Per pair: ``0.5 * (label * d^2 + (1 - label) * relu(margin - d)^2)`` with ``d`` the distance: similar pairs are
    pulled together, dissimilar pairs pushed until they are at least ``margin`` apart.

    Args:
        model: the SentenceTransformer to train.
        distance_metric: a ``SiameseDistanceMetric`` member (or any pairwise distance function).
        margin: the distance beyond which dissimilar pairs no longer count.
        size_average: mean over the batch if True, else the sum.
    """

    def __init__(
        self,
        model: nn.Module,
        distance_metric: Distance = SiameseDistanceMetric.COSINE_DISTANCE,
        margin: float = 0.5,
        size_average: bool = True,
    ) -> None:
        super().__init__()
        self.model = model
        self.distance_metric = distance_metric
        self.margin = margin
        self.size_average = size_average
        self._checked_labels = False

    def forward(self, sentence_features: Iterable[dict[str, Tensor]], labels: Tensor) -> Tensor:
        """The loss of one batch of labelled pairs."""
        return self.compute_loss_from_embeddings(embed_columns(self.model, sentence_features), labels)

    def compute_loss_from_embeddings(self, embeddings: list[Tensor], labels: Tensor) -> Tensor:
        """The loss from already computed (text1, text2) embeddings."""
        if len(embeddings) != 2:
            raise ValueError(f"ContrastiveLoss needs 2 columns (text1, text2), got {len(embeddings)}.")
        labels = check_label_count(self, labels, embeddings[0].shape[0])
        warn_if_not_binary(self, labels, "other values weight the two terms as label and 1 - label.")
        distances = self.distance_metric(embeddings[0], embeddings[1])
        labels = labels.to(distances.dtype)
        losses = 0.5 * (labels * distances.pow(2) + (1 - labels) * F.relu(self.margin - distances).pow(2))
        return losses.mean() if self.size_average else losses.sum()

    def get_config_dict(self) -> dict[str, Any]:
        """Hyperparameters for the model card."""
        return {
            "distance_metric": SiameseDistanceMetric.name_of(self.distance_metric),
            "margin": self.margin,
            "size_average": self.size_average,
        }

    @property
    def citation(self) -> str:
        """BibTeX of Hadsell, Chopra and LeCun (2006)."""
        return HADSELL_CITATION
