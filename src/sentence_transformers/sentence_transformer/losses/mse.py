"""MSELoss: distil a teacher's embeddings into the student (e.g. to make a model multilingual)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from torch import Tensor, nn

from sentence_transformers.base.losses.merged_forward import embed_columns

from ._citations import MULTILINGUAL_SBERT_CITATION
from ._loss_utils import embedding_dimension
from .embed_distill import split_teacher_embeddings


class MSELoss(nn.Module):
    """Mean squared error between the student's embeddings and teacher embeddings given as labels.

    Each text column (e.g. an English sentence and its translation) is compared with the same teacher embedding
    (2-D labels) or with its own (labels of shape ``(batch, columns, dim)``); the column losses are averaged.

    Args:
        model: the student SentenceTransformer.
        projection_dim: when the teacher's dimension differs from the student's, learn a linear projection of the
            student embeddings to this size (trained with the loss, not saved with the model).
    """

    def __init__(self, model: nn.Module, projection_dim: int | None = None) -> None:
        super().__init__()
        self.model = model
        self.projection_dim = projection_dim
        self.projection: nn.Linear | None = None
        if projection_dim is not None:
            device = getattr(model, "device", None)
            self.projection = nn.Linear(embedding_dimension(model), projection_dim, device=device)
        self.loss_fct = nn.MSELoss()

    def forward(self, sentence_features: Iterable[dict[str, Tensor]], labels: Tensor) -> Tensor:
        """The mean over the text columns of the MSE against the teacher embeddings."""
        embeddings = embed_columns(self.model, sentence_features)
        return self.compute_loss_from_embeddings(embeddings, labels)

    def compute_loss_from_embeddings(self, embeddings: list[Tensor], labels: Tensor) -> Tensor:
        """The loss from already computed student embeddings, one tensor per column."""
        teachers = split_teacher_embeddings(labels, len(embeddings), "MSELoss")
        losses = []
        for student, teacher in zip(embeddings, teachers, strict=True):
            if self.projection is not None:
                student = self.projection(student)
            losses.append(self.loss_fct(student, teacher.to(device=student.device, dtype=student.dtype)))
        return sum(losses) / len(losses)

    def get_config_dict(self) -> dict[str, Any]:
        """Hyperparameters for the model card."""
        return {"projection_dim": self.projection_dim}

    @property
    def citation(self) -> str:
        """BibTeX of multilingual knowledge distillation (Reimers and Gurevych, 2020)."""
        return MULTILINGUAL_SBERT_CITATION
