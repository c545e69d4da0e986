"""BinaryCrossEntropyLoss: one logit per pair, trained towards a 0/1 (or 0..1) label."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from torch import Tensor, nn

from sentence_transformers.cross_encoder.losses._common import (
    IDENTITY,
    check_label_count,
    check_pair_columns,
    require_cross_encoder,
    require_one_label,
    score_pairs,
)
from sentence_transformers.util.misc import fullname

if TYPE_CHECKING:
    from sentence_transformers.cross_encoder.model import CrossEncoder


class BinaryCrossEntropyLoss(nn.Module):
    """Binary cross-entropy on the logit of each (anchor, candidate) pair.

    Labels are 1 for a relevant pair and 0 for an irrelevant one, or a similarity between 0 and 1. The model needs
    ``num_labels=1``.

    Args:
        model: the CrossEncoder to train.
        activation_fn: applied to the logits before the loss (identity by default; the loss adds the sigmoid).
        pos_weight: weight of the positive class, a tensor such as ``torch.tensor(4)``.
        **kwargs: passed on to :class:`torch.nn.BCEWithLogitsLoss`.
    """

    def __init__(
        self,
        model: CrossEncoder,
        activation_fn: nn.Module = IDENTITY,
        pos_weight: Tensor | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__()
        self.model = model
        self.activation_fn = activation_fn
        self.pos_weight = pos_weight
        self.bce_with_logits_loss = nn.BCEWithLogitsLoss(pos_weight=pos_weight, **kwargs)
        require_cross_encoder(self)
        require_one_label(self)

    def forward(
        self, inputs: list[list[str]], labels: Tensor, prompt: str | None = None, task: str | None = None
    ) -> Tensor:
        """The loss of one batch of (anchor, candidate) columns."""
        pairs = check_pair_columns(self, inputs)
        logits = self.activation_fn(score_pairs(self.model, pairs, prompt, task).view(-1))
        labels = check_label_count(self, logits, labels)
        return self.bce_with_logits_loss(logits, labels.float())

    def get_config_dict(self) -> dict[str, Any]:
        """Settings shown on the model card."""
        return {
            "activation_fn": fullname(self.activation_fn),
            "pos_weight": None if self.pos_weight is None else self.pos_weight.item(),
        }
