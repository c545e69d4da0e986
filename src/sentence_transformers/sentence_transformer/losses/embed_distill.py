"""EmbedDistillLoss: pull the student's embeddings towards pre-computed teacher embeddings (Kim et al., 2023)."""

from __future__ import annotations

import os
from collections.abc import Iterable
from typing import Any, Literal

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from sentence_transformers.base.losses.merged_forward import embed_columns

from ._loss_utils import embedding_dimension

DistanceMetric = Literal["mse", "l2", "cosine"]
DISTANCE_METRICS = ("mse", "l2", "cosine")

EMBED_DISTILL_CITATION = """
@article{kim2023embeddistill,
    title={EmbedDistill: A Geometric Knowledge Distillation for Information Retrieval},
    author={Kim, Seungyeon and Rawat, Ankit Singh and Zaheer, Manzil and Jayasumana, Sadeep and Sadhanala, Veeranjaneyulu and Jitkrittum, Wittawat and Menon, Aditya Krishna and Fergus, Rob and Kumar, Sanjiv},
    year={2023},
    eprint={2301.12005},
    archivePrefix={arXiv},
    primaryClass={cs.IR}
}
"""  # noqa: E501


def split_teacher_embeddings(
    labels: Tensor | None, num_columns: int, loss_name: str = "EmbedDistillLoss"
) -> list[Tensor]:
    """One teacher batch per text column: 2-D labels ``(batch, dim)`` are shared, ``(batch, columns, dim)`` split.

    Shared by the losses that take teacher embeddings as labels (EmbedDistillLoss, MSELoss); ``loss_name`` names
    the loss in the errors.
    """
    if labels is None:
        raise ValueError(
            f"{loss_name} needs pre-computed teacher embeddings as labels; compute them once with the teacher "
            "and add them as a 'label' column (e.g. with dataset.map)."
        )
    labels = labels.detach()
    if labels.dim() == 2:
        return [labels] * num_columns
    if labels.dim() != 3:
        raise ValueError(
            f"Teacher embeddings (labels) must be 2-D (batch, dim) or 3-D (batch, columns, dim), got {labels.dim()}-D."
        )
    if labels.shape[1] != num_columns:
        raise ValueError(
            f"The labels hold {labels.shape[1]} teacher column(s) but there are {num_columns} text column(s): pass "
            f"labels of shape (batch, {num_columns}, dim), or (batch, dim) to share one teacher embedding."
        )
    return list(labels.unbind(dim=1))


class EmbedDistillLoss(nn.Module):
    """Distance between each text column's student embeddings and teacher embeddings given as labels, averaged.

    The embedding-matching part of EmbedDistill (Eq. 7/8 of the paper), offline: the teacher embeddings are
    computed beforehand (with the teacher's prompts and settings) and stored as the ``label`` column. Labels of
    shape ``(batch, dim)`` are the target of every text column (e.g. a sentence and its translations); labels of
    shape ``(batch, columns, dim)`` give each column its own target.

    Args:
        model: The student SentenceTransformer.
        distance_metric: ``"cosine"`` (1 - cosine similarity, the default), ``"l2"`` (Euclidean distance, as in
            the paper) or ``"mse"`` (mean squared error over all values).
        projection_dim: When the teacher's dimension differs from the student's, learn a linear map from the
            student embeddings to this size. It is trained with the loss but not saved with the model; use
            :meth:`save_projection` / :meth:`load_projection` to keep it between runs.
    """

    def __init__(
        self,
        model: nn.Module,
        distance_metric: DistanceMetric = "cosine",
        projection_dim: int | None = None,
    ) -> None:
        super().__init__()
        if distance_metric not in DISTANCE_METRICS:
            raise ValueError(f"distance_metric must be one of {DISTANCE_METRICS}, got {distance_metric!r}.")
        self.model = model
        self.distance_metric = distance_metric
        self.projection_dim = projection_dim
        self.projection: nn.Linear | None = None
        if projection_dim is not None:
            device = getattr(model, "device", None)
            self.projection = nn.Linear(embedding_dimension(model), projection_dim, device=device)

    def forward(self, sentence_features: Iterable[dict[str, Tensor]], labels: Tensor | None) -> Tensor:
        """The mean over the text columns of the distance to the teacher embeddings."""
        features = list(sentence_features)
        # check before running the model
        teacher_embeddings = split_teacher_embeddings(labels, len(features), type(self).__name__)
        return self.compute_loss_from_embeddings(embed_columns(self.model, features), teacher_embeddings)

    def compute_loss_from_embeddings(self, embeddings: list[Tensor], teacher_embeddings: list[Tensor]) -> Tensor:
        """The loss from already computed student embeddings and their teacher targets, one tensor per column."""
        losses = []
        for student, teacher in zip(embeddings, teacher_embeddings, strict=True):
            teacher = teacher.to(device=student.device, dtype=student.dtype)
            if self.projection is not None:
                student = self.projection(student)
            losses.append(self.distance(student, teacher))
        return torch.stack(losses).mean()

    def distance(self, student: Tensor, teacher: Tensor) -> Tensor:
        """The configured distance between two ``(batch, dim)`` batches, averaged over the batch."""
        if self.distance_metric == "mse":
            return F.mse_loss(student, teacher)
        if self.distance_metric == "l2":
            return (student - teacher).norm(dim=-1).mean()
        return (1 - F.cosine_similarity(student, teacher, dim=-1)).mean()

    def save_projection(self, path: str | os.PathLike) -> None:
        """Write the projection's weights (safetensors) so that a later run, e.g. a second stage, can reuse them."""
        if self.projection is None:
            raise ValueError("This EmbedDistillLoss has no projection to save; construct it with projection_dim=...")
        from safetensors.torch import save_file

        state = {name: tensor.detach().contiguous() for name, tensor in self.projection.state_dict().items()}
        save_file(state, os.fspath(path))

    def load_projection(self, path: str | os.PathLike) -> None:
        """Load weights written by :meth:`save_projection`, creating the projection when there is none yet."""
        from safetensors.torch import load_file

        state = load_file(os.fspath(path))
        out_features, in_features = state["weight"].shape
        if self.projection is None:
            student_dim = embedding_dimension(self.model)
            if in_features != student_dim:
                raise ValueError(
                    f"The saved projection maps {in_features}-dim embeddings, but the student's are {student_dim}-dim."
                )
            self.projection = nn.Linear(in_features, out_features, device=getattr(self.model, "device", None))
            self.projection_dim = out_features
        elif (self.projection.in_features, self.projection.out_features) != (in_features, out_features):
            raise ValueError(
                f"The saved projection maps {in_features} -> {out_features} dims, but this loss's maps "
                f"{self.projection.in_features} -> {self.projection.out_features}."
            )
        self.projection.load_state_dict(state)

    def get_config_dict(self) -> dict[str, Any]:
        """Hyperparameters for the model card."""
        return {"distance_metric": self.distance_metric, "projection_dim": self.projection_dim}

    @property
    def citation(self) -> str:
        """BibTeX of EmbedDistill (Kim et al., 2023)."""
        return EMBED_DISTILL_CITATION
