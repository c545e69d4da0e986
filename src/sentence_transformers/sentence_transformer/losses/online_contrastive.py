"""OnlineContrastiveLoss: ContrastiveLoss on the hard pairs of each batch only."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import torch.nn.functional as F
from torch import Tensor, nn

from sentence_transformers.base.losses.merged_forward import embed_columns

from ._loss_utils import check_label_count
from .contrastive import Distance, SiameseDistanceMetric, warn_if_not_binary


class OnlineContrastiveLoss(nn.Module):
    """For (text1, text2) pairs with label 1 (similar) or 0 (dissimilar); only hard pairs contribute.

    Hard positives are similar pairs farther apart than the closest dissimilar pair; hard negatives are dissimilar
    pairs closer than the farthest similar pair. (With no pair of the other kind, the own kind's mean distance is the
    threshold.) Loss: ``sum d^2`` over hard positives ``+ sum relu(margin - d)^2`` over hard negatives. Pairs with
    other labels are ignored.

    Args:
        model: the SentenceTransformer to train.
        distance_metric: a ``SiameseDistanceMetric`` member (or any pairwise distance function).
        margin: the distance beyond which dissimilar pairs no longer count.
    """

    def __init__(
        self,
        model: nn.Module,
        distance_metric: Distance = SiameseDistanceMetric.COSINE_DISTANCE,
        margin: float = 0.5,
    ) -> None:
        super().__init__()
        self.model = model
        self.distance_metric = distance_metric
        self.margin = margin
        self._checked_labels = False

    def forward(
        self, sentence_features: Iterable[dict[str, Tensor]], labels: Tensor, size_average: bool = False
    ) -> Tensor:
        """The loss of one batch of labelled pairs (``size_average`` is accepted and ignored, as upstream)."""
        return self.compute_loss_from_embeddings(embed_columns(self.model, sentence_features), labels)

    def compute_loss_from_embeddings(self, embeddings: list[Tensor], labels: Tensor) -> Tensor:
        """The loss from already computed (text1, text2) embeddings."""
        if len(embeddings) != 2:
            raise ValueError(f"OnlineContrastiveLoss needs 2 columns (text1, text2), got {len(embeddings)}.")
        labels = check_label_count(self, labels, embeddings[0].shape[0])
        warn_if_not_binary(self, labels, "pairs with other labels are ignored.")
        distances = self.distance_metric(embeddings[0], embeddings[1])
        negatives, positives = distances[labels == 0], distances[labels == 1]
        negative_limit = positives.max() if len(positives) else negatives.mean()
        positive_limit = negatives.min() if len(negatives) else positives.mean()
        hard_negatives = negatives[negatives < negative_limit]
        hard_positives = positives[positives > positive_limit]
        return hard_positives.pow(2).sum() + F.relu(self.margin - hard_negatives).pow(2).sum()

    def get_config_dict(self) -> dict[str, Any]:
        """Hyperparameters for the model card."""
        return {"distance_metric": SiameseDistanceMetric.name_of(self.distance_metric), "margin": self.margin}

    @property
    def citation(self) -> None:
        """No paper to cite."""
        return None
