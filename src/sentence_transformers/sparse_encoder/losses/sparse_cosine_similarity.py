"""SparseCosineSimilarityLoss: regress the cosine similarity of two sparse embeddings onto a gold score."""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING

from torch import Tensor, nn

from sentence_transformers.sentence_transformer.losses.cosine_similarity import CosineSimilarityLoss
from sentence_transformers.sparse_encoder.losses._common import refuse_standalone

if TYPE_CHECKING:
    from sentence_transformers.sparse_encoder.model import SparseEncoder


class SparseCosineSimilarityLoss(CosineSimilarityLoss):
    """``loss_fct(cos_score_transformation(cos(u, v)), label)`` for (text1, text2) pairs with float labels.

    As the loss is trained on cosine similarity, constructing it sets the model's ``similarity_fn_name`` to
    ``"cosine"``. A base loss: wrap it in :class:`SpladeLoss` (typically with ``use_document_regularizer_only=True``)
    or :class:`CSRLoss`.

    Args:
        model: the SparseEncoder to train.
        loss_fct: compares the (transformed) cosine similarities with the labels; ``nn.MSELoss()`` by default.
        cos_score_transformation: applied to the cosine similarities first; identity by default.
    """

    def __init__(
        self,
        model: SparseEncoder,
        loss_fct: nn.Module | None = None,
        cos_score_transformation: nn.Module | None = None,
    ) -> None:
        model.similarity_fn_name = "cosine"
        super().__init__(model, loss_fct=loss_fct, cos_score_transformation=cos_score_transformation)

    def forward(self, sentence_features: Iterable[dict[str, Tensor]], labels: Tensor) -> Tensor:
        """Not available: wrap this loss in SpladeLoss or CSRLoss."""
        raise refuse_standalone(self)
