"""CosineSimilarityLoss: regress the cosine similarity of a text pair onto a gold score."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import torch
from torch import Tensor, nn

from sentence_transformers.base.losses.merged_forward import embed_columns
from sentence_transformers.util.misc import fullname

from ._citations import SBERT_CITATION
from ._loss_utils import check_label_count


class CosineSimilarityLoss(nn.Module):
    """``loss_fct(cos_score_transformation(cos(u, v)), label)`` for (text1, text2) pairs with a float label.

    The default is the mean squared error between the cosine similarity and the label (e.g. an STS score scaled to
    [0, 1]).

    Args:
        model: the SentenceTransformer to train.
        loss_fct: compares the (transformed) cosine similarities with the labels; ``nn.MSELoss()`` by default.
        cos_score_transformation: applied to the cosine similarities first; identity by default.
    """

    def __init__(
        self,
        model: nn.Module,
        loss_fct: nn.Module | None = None,
        cos_score_transformation: nn.Module | None = None,
    ) -> None:
        super().__init__()
        self.model = model
        self.loss_fct = loss_fct if loss_fct is not None else nn.MSELoss()
        if cos_score_transformation is None:
            cos_score_transformation = nn.Identity()
        self.cos_score_transformation = cos_score_transformation

    def forward(self, sentence_features: Iterable[dict[str, Tensor]], labels: Tensor) -> Tensor:
        """The loss of one batch of pairs."""
        return self.compute_loss_from_embeddings(embed_columns(self.model, sentence_features), labels)

    def compute_loss_from_embeddings(self, embeddings: list[Tensor], labels: Tensor) -> Tensor:
        """The loss from already computed (text1, text2) embeddings."""
        if len(embeddings) != 2:
            raise ValueError(f"CosineSimilarityLoss needs 2 columns (text1, text2), got {len(embeddings)}.")
        labels = check_label_count(self, labels, embeddings[0].shape[0])
        scores = self.cos_score_transformation(torch.cosine_similarity(embeddings[0], embeddings[1]))
        return self.loss_fct(scores, labels.to(scores.dtype))

    def get_config_dict(self) -> dict[str, Any]:
        """Hyperparameters for the model card."""
        return {
            "loss_fct": fullname(self.loss_fct),
            "cos_score_transformation": fullname(self.cos_score_transformation),
        }

    @property
    def citation(self) -> str:
        """BibTeX of Sentence-BERT."""
        return SBERT_CITATION
