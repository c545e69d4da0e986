"""TripletLoss: pull each anchor toward its positive and push it away from its negative by a margin."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

import torch.nn.functional as F
from torch import Tensor, nn

from sentence_transformers.util.similarity import pairwise_cos_sim, pairwise_euclidean_sim, pairwise_manhattan_sim

DistanceFunction = Callable[[Tensor, Tensor], Tensor]


class TripletDistanceMetric:
    """Row-wise distances for :class:`TripletLoss` (row ``i`` of x against row ``i`` of y); bigger is further."""

    @staticmethod
    def COSINE(x: Tensor, y: Tensor) -> Tensor:
        """1 - cosine similarity."""
        return 1 - pairwise_cos_sim(x, y)

    @staticmethod
    def EUCLIDEAN(x: Tensor, y: Tensor) -> Tensor:
        """L2 distance."""
        return -pairwise_euclidean_sim(x, y)

    @staticmethod
    def MANHATTAN(x: Tensor, y: Tensor) -> Tensor:
        """L1 distance."""
        return -pairwise_manhattan_sim(x, y)


def distance_metric_name(metric: DistanceFunction) -> str:
    """``TripletDistanceMetric.X`` for a known metric, else the function's name (for configs and model cards)."""
    for name in ("COSINE", "EUCLIDEAN", "MANHATTAN"):
        if metric is getattr(TripletDistanceMetric, name):
            return f"TripletDistanceMetric.{name}"
    return getattr(metric, "__name__", str(metric))


class TripletLoss(nn.Module):
    """``mean(max(d(anchor, positive) - d(anchor, negative) + margin, 0))`` over (anchor, positive, negative) rows.

    Args:
        model: The SentenceTransformer to train.
        distance_metric: A function of two [batch, dim] tensors giving [batch] distances
            (see :class:`TripletDistanceMetric`); Euclidean by default.
        triplet_margin: How much further the negative must be from the anchor than the positive.

    Inputs: (anchor, positive, negative) text columns; no labels.
    """

    def __init__(
        self,
        model: nn.Module,
        distance_metric: DistanceFunction = TripletDistanceMetric.EUCLIDEAN,
        triplet_margin: float = 5,
    ) -> None:
        super().__init__()
        if not callable(distance_metric):
            raise TypeError(f"distance_metric must be a function of two tensors, got {distance_metric!r}")
        self.model = model
        self.distance_metric = distance_metric
        self.triplet_margin = triplet_margin

    def forward(self, sentence_features: Iterable[dict[str, Tensor]], labels: Tensor | None = None) -> Tensor:
        """Embed the three columns and return the mean hinge loss."""
        embeddings = [self.model(features)["sentence_embedding"] for features in sentence_features]
        return self.compute_loss_from_embeddings(embeddings, labels)

    def compute_loss_from_embeddings(self, embeddings: list[Tensor], labels: Tensor | None = None) -> Tensor:
        """The loss from already computed [anchor, positive, negative] embeddings."""
        if len(embeddings) != 3:
            raise ValueError(f"TripletLoss needs 3 columns (anchor, positive, negative), got {len(embeddings)}")
        anchor, positive, negative = embeddings
        margins = self.distance_metric(anchor, positive) - self.distance_metric(anchor, negative) + self.triplet_margin
        return F.relu(margins).mean()

    def get_config_dict(self) -> dict[str, Any]:
        """Settings shown in model cards."""
        return {"distance_metric": distance_metric_name(self.distance_metric), "triplet_margin": self.triplet_margin}

    @property
    def citation(self) -> str:
        """BibTeX of the paper behind the loss."""
        return HERMANS_2017


HERMANS_2017 = """
@misc{hermans2017defense,
    title={In Defense of the Triplet Loss for Person Re-Identification},
    author={Alexander Hermans and Lucas Beyer and Bastian Leibe},
    year={2017},
    eprint={1703.07737},
    archivePrefix={arXiv},
    primaryClass={cs.CV}
}
"""
