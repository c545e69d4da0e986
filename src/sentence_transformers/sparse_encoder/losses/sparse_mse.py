"""SparseMSELoss: distil a teacher's embeddings (given as labels) into a sparse student."""

from __future__ import annotations

from typing import TYPE_CHECKING

from torch import Tensor

from sentence_transformers.sentence_transformer.losses.embed_distill import split_teacher_embeddings
from sentence_transformers.sentence_transformer.losses.mse import MSELoss

if TYPE_CHECKING:
    from sentence_transformers.sparse_encoder.model import SparseEncoder


class SparseMSELoss(MSELoss):
    """Mean squared error between the student's sparse embeddings and teacher embeddings given as labels.

    Labels of shape ``(batch, vocab)`` are the target of every text column (e.g. a sentence and its
    translation); ``(batch, columns, vocab)`` gives each column its own. Unlike the other sparse losses it may be
    used on its own, or inside :class:`SpladeLoss` (with ``use_document_regularizer_only=True`` for a single
    column) to add sparsity regularization.

    Args:
        model: the student SparseEncoder.
    """

    def __init__(self, model: SparseEncoder) -> None:
        super().__init__(model)

    def compute_loss_from_embeddings(
        self, embeddings: list[Tensor], teacher_embeddings: list[Tensor] | Tensor
    ) -> Tensor:
        """The loss from the student's column embeddings and the teacher's (one tensor per column, or the labels)."""
        if teacher_embeddings is None or isinstance(teacher_embeddings, Tensor):
            # Called by SpladeLoss / CSRLoss with the raw labels.
            teacher_embeddings = split_teacher_embeddings(teacher_embeddings, len(embeddings), type(self).__name__)
        return super().compute_loss_from_embeddings(embeddings, teacher_embeddings)
