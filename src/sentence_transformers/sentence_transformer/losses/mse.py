"""MSELoss: distil a teacher's embeddings into the student (e.g. to make a model multilingual)."""

from __future__ import annotations

from typing import Any

from torch import nn

from ._citations import MULTILINGUAL_SBERT_CITATION
from .embed_distill import EmbedDistillLoss


class MSELoss(EmbedDistillLoss):
    """Mean squared error between the student's embeddings and teacher embeddings given as labels.

    :class:`EmbedDistillLoss` with ``distance_metric="mse"``. Each text column (e.g. an English sentence and its
    translation) is compared with the same teacher embedding (2-D labels) or with its own (labels of shape
    ``(batch, columns, dim)``); the column losses are averaged.

    Args:
        model: the student SentenceTransformer.
        projection_dim: when the teacher's dimension differs from the student's, learn a linear projection of the
            student embeddings to this size (trained with the loss, not saved with the model; see
            :meth:`save_projection` / :meth:`load_projection`).
    """

    def __init__(self, model: nn.Module, projection_dim: int | None = None) -> None:
        super().__init__(model, distance_metric="mse", projection_dim=projection_dim)

    def get_config_dict(self) -> dict[str, Any]:
        """Hyperparameters for the model card."""
        return {"projection_dim": self.projection_dim}

    @property
    def citation(self) -> str:
        """BibTeX of multilingual knowledge distillation (Reimers and Gurevych, 2020)."""
        return MULTILINGUAL_SBERT_CITATION
