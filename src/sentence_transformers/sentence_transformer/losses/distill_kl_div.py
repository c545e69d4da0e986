"""DistillKLDivLoss: make the student's score distribution over candidates match a teacher's (KL divergence)."""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable
from typing import Any

import torch
from torch import Tensor, nn

from sentence_transformers.base.losses.merged_forward import embed_columns
from sentence_transformers.util.misc import similarity_fct_name
from sentence_transformers.util.similarity import pairwise_dot_score

DISTILL_KL_CITATION = """
@misc{lin2020distillingdenserepresentationsranking,
    title={Distilling Dense Representations for Ranking using Tightly-Coupled Teachers},
    author={Sheng-Chieh Lin and Jheng-Hong Yang and Jimmy Lin},
    year={2020},
    eprint={2010.11386},
    archivePrefix={arXiv},
    primaryClass={cs.IR},
    url={https://arxiv.org/abs/2010.11386},
}
"""


class DistillKLDivLoss(nn.Module):
    """For (query, candidate_1, ..., candidate_n) columns, n >= 2, with the teacher's scores ``(batch, n)`` as labels.

    Loss: ``KL(softmax(teacher / T_teacher) || softmax(student / T_student))`` averaged over the batch and multiplied
    by ``T_student ** 2`` so that the gradient scale does not depend on the temperature.

    Args:
        model: the SentenceTransformer to train.
        similarity_fct: pairwise similarity, ``pairwise_dot_score`` by default.
        temperature: softens both distributions; the default for the two below.
        student_temperature: the student's temperature (default: ``temperature``).
        teacher_temperature: the teacher's temperature (default: ``temperature``).
    """

    def __init__(
        self,
        model: nn.Module,
        similarity_fct: Callable[[Tensor, Tensor], Tensor] = pairwise_dot_score,
        temperature: float = 1.0,
        student_temperature: float | None = None,
        teacher_temperature: float | None = None,
    ) -> None:
        super().__init__()
        self.model = model
        self.similarity_fct = similarity_fct
        self.temperature = temperature
        self.student_temperature = temperature if student_temperature is None else student_temperature
        self.teacher_temperature = temperature if teacher_temperature is None else teacher_temperature
        for name in ("temperature", "student_temperature", "teacher_temperature"):
            value = getattr(self, name)
            if not 0 < value < math.inf:
                raise ValueError(f"{name} must be a positive finite number, got {value!r}.")
        self.loss_fct = nn.KLDivLoss(reduction="batchmean")

    def forward(self, sentence_features: Iterable[dict[str, Tensor]], labels: Tensor) -> Tensor:
        """The loss of one batch."""
        return self.compute_loss_from_embeddings(embed_columns(self.model, sentence_features), labels)

    def compute_loss_from_embeddings(self, embeddings: list[Tensor], labels: Tensor) -> Tensor:
        """The loss from already computed (query, candidates...) embeddings."""
        if len(embeddings) < 3:
            raise ValueError(
                f"DistillKLDivLoss needs a query and at least 2 candidate columns, got {len(embeddings)} column(s): "
                "a softmax over a single candidate is constant."
            )
        query, candidates = embeddings[0], embeddings[1:]
        if labels is None or labels.shape != (query.shape[0], len(candidates)):
            shape = None if labels is None else tuple(labels.shape)
            expected = (query.shape[0], len(candidates))
            raise ValueError(f"DistillKLDivLoss needs teacher scores (labels) of shape {expected}, got {shape}.")
        teacher = labels.detach()
        if bool(teacher.isnan().any()):
            raise ValueError("DistillKLDivLoss: the teacher scores contain NaN.")
        student = torch.stack([self.similarity_fct(query, candidate) for candidate in candidates], dim=1)
        student_log_probs = torch.log_softmax(student / self.student_temperature, dim=1)
        teacher_probs = torch.softmax(teacher.to(student.dtype) / self.teacher_temperature, dim=1)
        return self.loss_fct(student_log_probs, teacher_probs) * self.student_temperature**2

    def get_config_dict(self) -> dict[str, Any]:
        """Hyperparameters for the model card (separate temperatures only when they differ)."""
        config: dict[str, Any] = {
            "similarity_fct": similarity_fct_name(self.similarity_fct),
            "temperature": self.temperature,
        }
        if self.student_temperature != self.temperature:
            config["student_temperature"] = self.student_temperature
        if self.teacher_temperature != self.temperature:
            config["teacher_temperature"] = self.teacher_temperature
        return config

    @property
    def citation(self) -> str:
        """BibTeX of Lin et al. (2020)."""
        return DISTILL_KL_CITATION
