"""SparseDistillKLDivLoss: match the student's score distribution over candidates to a teacher's."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING

from torch import Tensor

from sentence_transformers.sentence_transformer.losses.distill_kl_div import DistillKLDivLoss
from sentence_transformers.sparse_encoder.losses._common import refuse_standalone
from sentence_transformers.util.similarity import pairwise_dot_score

if TYPE_CHECKING:
    from sentence_transformers.sparse_encoder.model import SparseEncoder


class SparseDistillKLDivLoss(DistillKLDivLoss):
    """``KL(softmax(teacher / T_teacher) || softmax(student / T_student)) * T_student ** 2`` over the candidates.

    Inputs: (query, candidate_1, ..., candidate_n) columns, n >= 2, with the teacher's scores ``(batch, n)`` as
    labels. A base loss: wrap it in :class:`SpladeLoss` or :class:`CSRLoss`.

    Args:
        model: the SparseEncoder to train.
        similarity_fct: pairwise similarity, ``pairwise_dot_score`` by default.
        temperature: softens both distributions (2.0 by default); the default for the two below.
        student_temperature: the student's temperature (default: ``temperature``).
        teacher_temperature: the teacher's temperature (default: ``temperature``).
    """

    def __init__(
        self,
        model: SparseEncoder,
        similarity_fct: Callable[[Tensor, Tensor], Tensor] = pairwise_dot_score,
        temperature: float = 2.0,
        student_temperature: float | None = None,
        teacher_temperature: float | None = None,
    ) -> None:
        super().__init__(
            model,
            similarity_fct=similarity_fct,
            temperature=temperature,
            student_temperature=student_temperature,
            teacher_temperature=teacher_temperature,
        )

    def forward(self, sentence_features: Iterable[dict[str, Tensor]], labels: Tensor) -> Tensor:
        """Not available: wrap this loss in SpladeLoss or CSRLoss."""
        raise refuse_standalone(self)
