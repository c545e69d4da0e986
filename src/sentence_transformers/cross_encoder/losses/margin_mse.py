"""MarginMSELoss: distill a teacher's score margins between a positive and each negative document."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import torch
from torch import Tensor, nn

from sentence_transformers.cross_encoder.losses._common import (
    IDENTITY,
    require_cross_encoder,
    require_one_label,
    score_pairs,
)
from sentence_transformers.util.misc import fullname

if TYPE_CHECKING:
    from sentence_transformers.cross_encoder.model import CrossEncoder

MARGIN_MSE_CITATION = """
@misc{hofstätter2021improving,
    title={Improving Efficient Neural Ranking Models with Cross-Architecture Knowledge Distillation},
    author={Sebastian Hofstätter and Sophia Althammer and Michael Schröder and Mete Sertkan and Allan Hanbury},
    year={2021},
    eprint={2010.02666},
    archivePrefix={arXiv},
    primaryClass={cs.IR}
}
"""


def teacher_margins(labels: Tensor | list[Tensor], batch_size: int, num_negatives: int) -> Tensor:
    """The labels as ``(batch, num_negatives)`` margins ``score(positive) - score(negative_k)``.

    Accepts the margins themselves (``(batch,)`` with one negative) or the teacher's scores ``(batch, 1 + n)``,
    positive first; a list of per-example tensors is stacked first.
    """
    if isinstance(labels, list):
        labels = torch.stack(labels)
    if labels.shape == (batch_size, num_negatives + 1):
        labels = labels[:, :1] - labels[:, 1:]
    if labels.shape == (batch_size,):
        labels = labels.unsqueeze(1)
    if labels.shape != (batch_size, num_negatives):
        raise ValueError(
            f"Labels shape {labels.shape} does not match expected shape {(batch_size, num_negatives)}. "
            "Ensure that your dataset labels/scores are 1) lists of differences between positive scores and "
            "negatives scores (length `num_negatives`), or 2) lists of positive and negative scores "
            "(length `num_negatives + 1`)."
        )
    return labels


class MarginMSELoss(nn.Module):
    """For (query, positive, negative_1, ..., negative_n) columns with the teacher's margins (or scores) as labels.

    The student's margin ``score(query, positive) - score(query, negative_k)`` is regressed onto the teacher's with
    mean squared error, so only score differences are distilled. Neither document has to be truly relevant.

    Args:
        model: the CrossEncoder to train (``num_labels=1``).
        activation_fn: applied to each logit before taking margins (identity by default).
        **kwargs: passed on to :class:`torch.nn.MSELoss`.
    """

    def __init__(self, model: CrossEncoder, activation_fn: nn.Module = IDENTITY, **kwargs: Any) -> None:
        super().__init__()
        self.model = model
        self.activation_fn = activation_fn
        self.loss_fct = nn.MSELoss(**kwargs)
        require_cross_encoder(self)
        require_one_label(self)

    def forward(
        self,
        inputs: list[list[str]],
        labels: Tensor | list[Tensor],
        prompt: str | None = None,
        task: str | None = None,
    ) -> Tensor:
        """The loss of one batch of (query, positive, negative...) columns."""
        anchors, positives, negatives = inputs[0], inputs[1], inputs[2:]
        targets = teacher_margins(labels, len(anchors), len(negatives))
        positive_logits = self.logits_from_pairs(list(zip(anchors, positives, strict=True)), prompt, task)
        negative_logits = [
            self.logits_from_pairs(list(zip(anchors, docs, strict=True)), prompt, task) for docs in negatives
        ]
        margins = positive_logits.unsqueeze(1) - torch.stack(negative_logits, dim=1)
        return self.loss_fct(margins, targets.detach().float())

    def logits_from_pairs(
        self, pairs: list[tuple[str, str]], prompt: str | None = None, task: str | None = None
    ) -> Tensor:
        """The activated logit of each (query, document) pair."""
        return self.activation_fn(score_pairs(self.model, pairs, prompt, task).view(-1))

    def get_config_dict(self) -> dict[str, Any]:
        """Settings shown on the model card."""
        return {"activation_fn": fullname(self.activation_fn)}

    @property
    def citation(self) -> str:
        """BibTeX of the paper that introduced the loss."""
        return MARGIN_MSE_CITATION
