"""MultiVectorDistillKLDivLoss: match a student's MaxSim score distribution over candidates to a teacher's."""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any

import torch.nn.functional as F
from torch import Tensor, nn

from sentence_transformers.multi_vector_encoder.losses.multiple_negatives_ranking import (
    default_scorer,
    embed_documents,
    embed_query,
)
from sentence_transformers.util.misc import check_teacher_targets, similarity_fct_name
from sentence_transformers.util.tensor import stack_padded_token_embeddings

if TYPE_CHECKING:
    from sentence_transformers.multi_vector_encoder.model import MultiVectorEncoder

COLBERTV2_CITATION = """
@inproceedings{santhanam-etal-2022-colbertv2,
    title = "ColBERTv2: Effective and Efficient Retrieval via Lightweight Late Interaction",
    author = "Santhanam, Keshav and Khattab, Omar and Saad-Falcon, Jon and Potts, Christopher and Zaharia, Matei",
    booktitle = "Proceedings of the 2022 Conference of the North American Chapter of the Association for
        Computational Linguistics: Human Language Technologies",
    year = "2022",
    publisher = "Association for Computational Linguistics",
}
"""


def check_temperature(label: str, value: float) -> float:
    """A temperature must be a positive, finite number."""
    if not 0 < value < math.inf:
        raise ValueError(f"{label} must be a positive finite number, got {value}.")
    return value


class MultiVectorDistillKLDivLoss(nn.Module):
    """``KL(softmax(teacher / T_t) || softmax(student / T_s)) * T_s ** 2`` over each query's candidate documents.

    The student's scores are MaxSim scores (``colbert_kd_scores``) of the query against its own N candidates; the
    KL divergence is averaged over the queries of the batch.

    Inputs: (query, document_1, ..., document_N) columns, N >= 2, with the teacher's scores ``(batch, N)`` as labels.

    Args:
        model: the MultiVectorEncoder to train.
        similarity_fct: scores queries ``(Q, q_tokens, dim)`` against their stacked candidates
            ``(Q, N, d_tokens, dim)`` and returns ``(Q, N)``; ``colbert_kd_scores`` by default.
        temperature: divides both sides' scores before the softmax; the default of the two below.
        student_temperature: the student's temperature (default: ``temperature``); the loss is multiplied by its
            square so that gradient sizes stay comparable across temperatures.
        teacher_temperature: the teacher's temperature (default: ``temperature``).
        mini_batch_size: rows per forward pass while embedding the documents.
    """

    def __init__(
        self,
        model: MultiVectorEncoder,
        *,
        similarity_fct: Callable[..., Tensor] | None = None,
        temperature: float = 1.0,
        student_temperature: float | None = None,
        teacher_temperature: float | None = None,
        mini_batch_size: int | None = None,
    ) -> None:
        super().__init__()
        self.model = model
        self.similarity_fct = similarity_fct if similarity_fct is not None else default_scorer("colbert_kd_scores")
        self.temperature = check_temperature("temperature", temperature)
        self.student_temperature = check_temperature(
            "student_temperature", temperature if student_temperature is None else student_temperature
        )
        self.teacher_temperature = check_temperature(
            "teacher_temperature", temperature if teacher_temperature is None else teacher_temperature
        )
        self.mini_batch_size = mini_batch_size
        self.loss_function = nn.KLDivLoss(reduction="batchmean", log_target=True)
        self._teacher_checked = False

    def get_config_dict(self) -> dict[str, Any]:
        """The settings shown in model cards; a side's temperature only where it differs from ``temperature``."""
        config: dict[str, Any] = {
            "similarity_fct": similarity_fct_name(self.similarity_fct),
            "temperature": self.temperature,
        }
        for side in ("student_temperature", "teacher_temperature"):
            if getattr(self, side) != self.temperature:
                config[side] = getattr(self, side)
        config["mini_batch_size"] = self.mini_batch_size
        return config

    def forward(self, sentence_features: Iterable[dict[str, Tensor]], labels: Tensor) -> Tensor:
        """The temperature-scaled KL divergence between teacher and student distributions, averaged over queries."""
        features = [dict(column) for column in sentence_features]
        if len(features) < 3:
            raise ValueError(
                f"{type(self).__name__} needs a query column and at least 2 candidate document columns, got "
                f"{len(features)} column(s): over a single candidate the softmax is constant and nothing is learned."
            )
        queries, queries_mask = embed_query(self.model, features[0])
        num_candidates = len(features) - 1
        if tuple(labels.shape) != (len(queries), num_candidates):
            raise ValueError(
                f"{type(self).__name__} needs teacher scores of shape (batch_size, N) = "
                f"({len(queries)}, {num_candidates}), got {tuple(labels.shape)}."
            )
        documents, documents_mask = stack_padded_token_embeddings(
            *embed_documents(self.model, features[1:], self.mini_batch_size)
        )
        scores = self.similarity_fct(queries, documents, queries_mask=queries_mask, documents_mask=documents_mask)
        student = F.log_softmax(scores / self.student_temperature, dim=-1)
        teacher = F.log_softmax(labels.detach() / self.teacher_temperature, dim=-1)
        if not self._teacher_checked:
            self._teacher_checked = True
            check_teacher_targets(teacher.exp(), labels, self.teacher_temperature, type(self).__name__)
        return self.loss_function(student, teacher) * self.student_temperature**2

    @property
    def citation(self) -> str:
        """ColBERTv2 (Santhanam et al., 2022), which trains late interaction by KL distillation."""
        return COLBERTV2_CITATION


__all__ = ["MultiVectorDistillKLDivLoss"]
