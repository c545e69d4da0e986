"""SparseCoSENTLoss: CoSENT (order the pair similarities like their gold scores) for sparse models."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING

from torch import Tensor

from sentence_transformers.sentence_transformer.losses.cosent import CoSENTLoss
from sentence_transformers.sparse_encoder.losses._common import refuse_standalone
from sentence_transformers.util.similarity import pairwise_cos_sim

if TYPE_CHECKING:
    from sentence_transformers.sparse_encoder.model import SparseEncoder


class SparseCoSENTLoss(CoSENTLoss):
    """CoSENT for (text1, text2) pairs with float labels: every pair with a higher label should score higher.

    ``log(1 + sum exp(s(k, l) - s(i, j)))`` over the pairs of pairs whose label of (i, j) exceeds that of (k, l),
    with ``s = scale * similarity_fct``. As the loss is trained on cosine similarity, constructing it sets the
    model's ``similarity_fn_name`` to ``"cosine"``. A base loss: wrap it in :class:`SpladeLoss` (typically with
    ``use_document_regularizer_only=True``) or :class:`CSRLoss`.

    Args:
        model: the SparseEncoder to train.
        scale: multiplies the similarities (``1 / temperature``).
        similarity_fct: pairwise similarity, ``pairwise_cos_sim`` by default.
    """

    def __init__(
        self,
        model: SparseEncoder,
        scale: float = 20.0,
        similarity_fct: Callable[[Tensor, Tensor], Tensor] = pairwise_cos_sim,
    ) -> None:
        model.similarity_fn_name = "cosine"
        super().__init__(model, scale=scale, similarity_fct=similarity_fct)

    def forward(self, sentence_features: Iterable[dict[str, Tensor]], labels: Tensor) -> Tensor:
        """Not available: wrap this loss in SpladeLoss or CSRLoss."""
        raise refuse_standalone(self)
