"""SparseMarginMSELoss: distil a teacher's positive-minus-negative score margins into a sparse model."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING

from torch import Tensor

from sentence_transformers.sentence_transformer.losses.margin_mse import MarginMSELoss
from sentence_transformers.sparse_encoder.losses._common import refuse_standalone
from sentence_transformers.util.similarity import pairwise_dot_score

if TYPE_CHECKING:
    from sentence_transformers.sparse_encoder.model import SparseEncoder


class SparseMarginMSELoss(MarginMSELoss):
    """Mean squared error between the student's ``sim(query, positive) - sim(query, negative_k)`` and the teacher's.

    Inputs: (query, positive, negative_1, ..., negative_n) columns with the teacher margins (or the teacher's
    scores, positive first) as labels. A base loss: wrap it in :class:`SpladeLoss` or :class:`CSRLoss`.

    Args:
        model: the SparseEncoder to train.
        similarity_fct: pairwise similarity, ``pairwise_dot_score`` by default.
    """

    def __init__(
        self, model: SparseEncoder, similarity_fct: Callable[[Tensor, Tensor], Tensor] = pairwise_dot_score
    ) -> None:
        super().__init__(model, similarity_fct=similarity_fct)

    def forward(self, sentence_features: Iterable[dict[str, Tensor]], labels: Tensor) -> Tensor:
        """Not available: wrap this loss in SpladeLoss or CSRLoss."""
        raise refuse_standalone(self)
