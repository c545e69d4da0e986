"""MultiVectorMarginMSELoss: distil a teacher's positive-minus-negative score margins into MaxSim margins."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any

import torch
from torch import Tensor, nn

from sentence_transformers.multi_vector_encoder.losses.multiple_negatives_ranking import (
    default_scorer,
    embed_documents,
    embed_query,
)
from sentence_transformers.util.misc import similarity_fct_name

if TYPE_CHECKING:
    from sentence_transformers.multi_vector_encoder.model import MultiVectorEncoder

HOFSTAETTER_CITATION = """
@misc{hofstaetter2020improving,
    title={Improving Efficient Neural Ranking Models with Cross-Architecture Knowledge Distillation},
    author={Sebastian Hofstätter and Sophia Althammer and Michael Schröder and Mete Sertkan and Allan Hanbury},
    year={2020},
    eprint={2010.02666},
    archivePrefix={arXiv},
    primaryClass={cs.IR}
}
"""


class MultiVectorMarginMSELoss(nn.Module):
    """Mean squared error between the student's ``MaxSim(q, pos) - MaxSim(q, neg_k)`` and the teacher's margins.

    Inputs: (query, positive, negative_1, ..., negative_k) columns. Labels: the teacher margins ``(batch, k)``
    (``(batch,)`` with one negative), or the teacher's raw scores ``(batch, k + 1)``, positive first, which are
    turned into margins here.

    Args:
        model: the MultiVectorEncoder to train.
        similarity_fct: pairwise score of matched ``(query_i, document_i)`` rows (keywords ``queries_mask``,
            ``documents_mask``), returning ``(batch,)``; ``colbert_scores_pairwise`` by default.
        mini_batch_size: rows per forward pass while embedding the documents.
    """

    def __init__(
        self,
        model: MultiVectorEncoder,
        *,
        similarity_fct: Callable[..., Tensor] | None = None,
        mini_batch_size: int | None = None,
    ) -> None:
        super().__init__()
        self.model = model
        self.similarity_fct = (
            similarity_fct if similarity_fct is not None else default_scorer("colbert_scores_pairwise")
        )
        self.mini_batch_size = mini_batch_size
        self.loss_function = nn.MSELoss()

    def get_config_dict(self) -> dict[str, Any]:
        """The settings shown in model cards."""
        return {"similarity_fct": similarity_fct_name(self.similarity_fct), "mini_batch_size": self.mini_batch_size}

    def forward(self, sentence_features: Iterable[dict[str, Tensor]], labels: Tensor) -> Tensor:
        """MSE of the student margins against the teacher margins."""
        features = [dict(column) for column in sentence_features]
        if len(features) < 3:
            raise ValueError(
                f"{type(self).__name__} needs (query, positive, negative[, ...]) columns, got {len(features)} "
                "column(s)."
            )
        queries, queries_mask = embed_query(self.model, features[0])
        documents, masks = embed_documents(self.model, features[1:], self.mini_batch_size)
        targets = teacher_margins(labels, len(queries), len(documents) - 1, type(self).__name__)

        def score(index: int) -> Tensor:
            return self.similarity_fct(
                queries, documents[index], queries_mask=queries_mask, documents_mask=masks[index]
            )

        positive = score(0)
        margins = torch.stack([positive - score(index) for index in range(1, len(documents))], dim=1)
        return self.loss_function(margins, targets.detach().to(margins.dtype))

    @property
    def citation(self) -> str:
        """Hofstätter et al. (2020), Margin-MSE."""
        return HOFSTAETTER_CITATION


def teacher_margins(labels: Tensor, batch_size: int, num_negatives: int, loss_name: str) -> Tensor:
    """The teacher margins as ``(batch, num_negatives)``, from margins (flat with one negative) or raw scores."""
    if labels.ndim == 1:
        if num_negatives != 1:
            raise ValueError(
                f"{loss_name} got 1-D labels (shape {tuple(labels.shape)}) but {num_negatives} negative columns; "
                "1-D margins only work with exactly one negative column."
            )
        labels = labels.unsqueeze(1)
    if tuple(labels.shape) == (batch_size, num_negatives + 1):
        labels = labels[:, :1] - labels[:, 1:]
    if tuple(labels.shape) != (batch_size, num_negatives):
        raise ValueError(
            f"{loss_name} got labels of shape {tuple(labels.shape)}, expected teacher margins "
            f"{(batch_size, num_negatives)} or teacher scores {(batch_size, num_negatives + 1)} for "
            f"{num_negatives} negative column(s)."
        )
    return labels


__all__ = ["MultiVectorMarginMSELoss"]
