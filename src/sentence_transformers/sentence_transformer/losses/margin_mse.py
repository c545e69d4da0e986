"""MarginMSELoss: match the student's positive-minus-negative score margin to a teacher's (e.g. a cross-encoder)."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

import torch
from torch import Tensor, nn

from sentence_transformers.base.losses.merged_forward import embed_columns
from sentence_transformers.util.misc import similarity_fct_name
from sentence_transformers.util.similarity import pairwise_dot_score

MARGIN_MSE_CITATION = """
@misc{hofstatter2021improving,
    title={Improving Efficient Neural Ranking Models with Cross-Architecture Knowledge Distillation},
    author={Sebastian Hofst{\\"a}tter and Sophia Althammer and Michael Schr{\\"o}der and Mete Sertkan and
        Allan Hanbury},
    year={2021},
    eprint={2010.02666},
    archivePrefix={arXiv},
    primaryClass={cs.IR}
}
"""


def margin_targets(labels: Tensor, batch_size: int, num_negatives: int) -> Tensor:
    """Teacher margins as ``(batch, num_negatives)``.

    Accepts the margins themselves (``(batch,)`` for one negative, or ``(batch, num_negatives)``), or the teacher's
    raw scores ``(batch, 1 + num_negatives)``, positive first, from which the margins are taken.
    """
    if labels.shape == (batch_size, num_negatives + 1):
        labels = labels[:, :1] - labels[:, 1:]
    elif labels.shape == (batch_size,):
        labels = labels.unsqueeze(1)
    if labels.shape != (batch_size, num_negatives):
        raise ValueError(
            f"MarginMSELoss labels must be teacher margins of shape ({batch_size}, {num_negatives}) "
            f"(or ({batch_size},) for one negative) or teacher scores of shape ({batch_size}, {num_negatives + 1}); "
            f"got {tuple(labels.shape)}."
        )
    return labels.detach()


class MarginMSELoss(nn.Module):
    """For (query, positive, negative_1, ..., negative_n) columns with teacher margins as labels.

    The student's margin is ``sim(query, positive) - sim(query, negative_k)``; the loss is the mean squared error
    against the teacher's margin (labels), so only score differences are distilled, not their scale.

    Args:
        model: the SentenceTransformer to train.
        similarity_fct: pairwise similarity, ``pairwise_dot_score`` by default.
    """

    def __init__(
        self, model: nn.Module, similarity_fct: Callable[[Tensor, Tensor], Tensor] = pairwise_dot_score
    ) -> None:
        super().__init__()
        self.model = model
        self.similarity_fct = similarity_fct
        self.loss_fct = nn.MSELoss()

    def forward(self, sentence_features: Iterable[dict[str, Tensor]], labels: Tensor) -> Tensor:
        """The loss of one batch."""
        return self.compute_loss_from_embeddings(embed_columns(self.model, sentence_features), labels)

    def compute_loss_from_embeddings(self, embeddings: list[Tensor], labels: Tensor) -> Tensor:
        """The loss from already computed (query, positive, negatives...) embeddings."""
        if len(embeddings) < 3:
            raise ValueError(f"MarginMSELoss needs (query, positive, negative, ...) columns, got {len(embeddings)}.")
        query, positive, negatives = embeddings[0], embeddings[1], embeddings[2:]
        targets = margin_targets(labels, query.shape[0], len(negatives))
        positive_scores = self.similarity_fct(query, positive)
        margins = torch.stack([positive_scores - self.similarity_fct(query, negative) for negative in negatives], dim=1)
        return self.loss_fct(margins, targets.to(margins.dtype))

    def get_config_dict(self) -> dict[str, Any]:
        """Hyperparameters for the model card."""
        return {"similarity_fct": similarity_fct_name(self.similarity_fct)}

    @property
    def citation(self) -> str:
        """BibTeX of Hofstätter et al. (2021)."""
        return MARGIN_MSE_CITATION
