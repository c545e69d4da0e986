"""MultipleNegativesRankingLoss: pick the anchor's positive out of sampled in-batch and given hard negatives."""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

import torch
from torch import Tensor, nn

from sentence_transformers.cross_encoder.losses._common import (
    SIGMOID,
    require_cross_encoder,
    require_one_label,
    score_pairs,
)
from sentence_transformers.util.misc import fullname

if TYPE_CHECKING:
    from sentence_transformers.cross_encoder.model import CrossEncoder


class MultipleNegativesRankingLoss(nn.Module):
    """InfoNCE for rerankers: for (anchor, positive[, negative...]) columns, score the anchor with its positive,
    with ``num_negatives`` candidates of *other* rows (any column but the anchor) and with its own hard negatives,
    then apply cross-entropy with the positive as the right answer over the (activated, scaled) logits.

    Args:
        model: the CrossEncoder to train (``num_labels=1``).
        num_negatives: in-batch negatives sampled per anchor; None (or more than there are) takes them all.
        scale: the activated logits are multiplied by it (skipped when 0).
        activation_fn: applied to the logits before scaling, sigmoid by default (skipped when None).
    """

    def __init__(
        self,
        model: CrossEncoder,
        num_negatives: int | None = 4,
        scale: int = 10.0,
        activation_fn: nn.Module | None = SIGMOID,
    ) -> None:
        super().__init__()
        self.model = model
        self.num_negatives = num_negatives
        self.scale = scale
        self.activation_fn = activation_fn
        self.cross_entropy_loss = nn.CrossEntropyLoss()
        require_cross_encoder(self)
        require_one_label(self)

    def call_model_with_columns(
        self, anchors: list[str], candidates: list[str], prompt: str | None = None, task: str | None = None
    ) -> Tensor:
        """The logit of each (anchor, candidate) row."""
        return self.call_model_with_pairs(list(zip(anchors, candidates, strict=True)), prompt=prompt, task=task)

    def call_model_with_pairs(
        self, pairs: list[list[str]], prompt: str | None = None, task: str | None = None
    ) -> Tensor:
        """The logit of each pair, as a ``(len(pairs),)`` tensor."""
        return score_pairs(self.model, pairs, prompt, task).squeeze(1)

    def get_in_batch_negatives(self, anchors: list[str], candidates: list[list[str]]) -> Iterator[list[str]]:
        """Yield columns of in-batch negatives: the k-th yield holds each anchor's k-th negative.

        An anchor's candidates are the texts of every candidate column in other rows; ``num_negatives`` of them are
        drawn at random without replacement, or all are taken when there are no more than that.
        """
        batch_size, num_columns = len(anchors), len(candidates)
        flat = [text for column in candidates for text in column]  # column-major: index = column * batch + row
        other_rows = ~torch.eye(batch_size, dtype=torch.bool).repeat(1, num_columns)
        available = len(flat) - num_columns
        if self.num_negatives is not None and self.num_negatives < available:
            chosen = torch.multinomial(other_rows.float(), self.num_negatives)
        else:
            chosen = torch.arange(len(flat)).repeat(batch_size, 1)[other_rows].reshape(batch_size, -1)
        for column in chosen.T:
            yield [flat[index] for index in column]

    def calculate_loss(self, logits: list[Tensor], batch_size: int) -> Tensor:
        """Cross-entropy with the positive first: ``logits`` are the per-column logits, concatenated column by column
        (possibly split into other chunks) into ``(1 + negatives) * batch_size`` values."""
        scores = torch.cat(logits, dim=0).reshape(-1, batch_size).T  # (batch, 1 + negatives)
        if self.activation_fn is not None:
            scores = self.activation_fn(scores)
        if self.scale:
            scores = scores * self.scale
        target = torch.zeros(batch_size, dtype=torch.long, device=scores.device)
        return self.cross_entropy_loss(scores, target)

    def forward(
        self, inputs: list[list[str]], labels: Tensor, prompt: str | None = None, task: str | None = None
    ) -> Tensor:
        """The loss of one batch of (anchor, positive, negative...) columns; ``labels`` are not used."""
        anchors = inputs[0]
        scores = [self.call_model_with_columns(anchors, inputs[1], prompt=prompt, task=task)]
        # in-batch negatives (drawn after the positives' forward pass), then the hard negatives
        for column in [*self.get_in_batch_negatives(anchors, inputs[1:]), *inputs[2:]]:
            scores.append(self.call_model_with_columns(anchors, column, prompt=prompt, task=task))
        return self.calculate_loss(scores, len(anchors))

    def get_config_dict(self) -> dict[str, Any]:
        """Settings shown on the model card."""
        return {"scale": self.scale, "num_negatives": self.num_negatives, "activation_fn": fullname(self.activation_fn)}
