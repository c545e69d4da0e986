"""CrossEntropyLoss: ``num_labels`` logits per pair, trained towards a class label."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from torch import Tensor, nn

from sentence_transformers.cross_encoder.losses._common import (
    IDENTITY,
    check_pair_columns,
    require_cross_encoder,
    score_pairs,
)

if TYPE_CHECKING:
    from sentence_transformers.cross_encoder.model import CrossEncoder


class CrossEntropyLoss(nn.Module):
    """Cross-entropy over the model's ``num_labels`` logits of each (input_A, input_B) pair, e.g. for NLI.

    Labels are class indices (or class probabilities); there must be as many classes as ``model.num_labels``.

    Args:
        model: the CrossEncoder to train.
        activation_fn: applied to the logits before the loss (identity by default).
        **kwargs: passed on to :class:`torch.nn.CrossEntropyLoss`.
    """

    def __init__(self, model: CrossEncoder, activation_fn: nn.Module = IDENTITY, **kwargs: Any) -> None:
        super().__init__()
        self.model = model
        self.activation_fn = activation_fn
        self.ce_loss = nn.CrossEntropyLoss(**kwargs)
        require_cross_encoder(self)

    def forward(
        self, inputs: list[list[str]], labels: Tensor, prompt: str | None = None, task: str | None = None
    ) -> Tensor:
        """The loss of one batch of (input_A, input_B) columns."""
        pairs = check_pair_columns(self, inputs)
        logits = self.activation_fn(score_pairs(self.model, pairs, prompt, task))
        if not labels.is_floating_point() and labels.shape == (logits.shape[0], 1):
            labels = labels.view(-1)  # class indices given as a column
        return self.ce_loss(logits, labels)
