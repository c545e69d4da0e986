"""SparseAnglELoss: CoSENT on the angle similarity, for sparse models."""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING

from torch import Tensor

from sentence_transformers.sentence_transformer.losses.angle import ANGLE_CITATION
from sentence_transformers.sparse_encoder.losses._common import refuse_standalone
from sentence_transformers.sparse_encoder.losses.sparse_cosent import SparseCoSENTLoss
from sentence_transformers.util.similarity import pairwise_angle_sim

if TYPE_CHECKING:
    from sentence_transformers.sparse_encoder.model import SparseEncoder


class SparseAnglELoss(SparseCoSENTLoss):
    """SparseCoSENTLoss with ``pairwise_angle_sim`` (AnglE), which keeps a gradient where the cosine saturates.

    Inputs: (text1, text2) pairs with float similarity labels. A base loss: wrap it in :class:`SpladeLoss` or
    :class:`CSRLoss`.

    Args:
        model: the SparseEncoder to train.
        scale: multiplies the similarities (``1 / temperature``).
    """

    def __init__(self, model: SparseEncoder, scale: float = 20.0) -> None:
        super().__init__(model, scale, similarity_fct=pairwise_angle_sim)

    def forward(self, sentence_features: Iterable[dict[str, Tensor]], labels: Tensor) -> Tensor:
        """Not available: wrap this loss in SpladeLoss or CSRLoss."""
        raise refuse_standalone(self)

    @property
    def citation(self) -> str:
        """BibTeX of AnglE (Li and Li, 2024)."""
        return ANGLE_CITATION
