"""MSELoss: the logit of each pair regressed onto a target score (a teacher's, or a gold label)."""

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


class MSELoss(nn.Module):
    """Mean squared error between each pair's (activated) logit and its label; used to distill a teacher reranker.

    Mind the scale: if the teacher's scores went through a sigmoid, pass ``activation_fn=nn.Sigmoid()``.

    Args:
        model: the CrossEncoder to train (``num_labels=1``).
        activation_fn: applied to the logits before the loss (identity by default).
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
        self, inputs: list[list[str]], labels: Tensor, prompt: str | None = None, task: str | None = None
    ) -> Tensor:
        """The loss of one batch of (query, document) columns with target scores."""
        pairs = check_pair_columns(self, inputs)
        logits = self.activation_fn(score_pairs(self.model, pairs, prompt, task).view(-1))
        labels = check_label_count(self, logits, labels)
        return self.loss_fct(logits, labels.detach().float())

    def get_config_dict(self) -> dict[str, Any]:
        """Settings shown on the model card."""
        return {"activation_fn": fullname(self.activation_fn)}
