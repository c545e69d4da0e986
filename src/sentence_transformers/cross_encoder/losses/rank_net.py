"""RankNetLoss: LambdaLoss with every pair weighing the same."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Literal

from torch import nn

from sentence_transformers.cross_encoder.losses._common import IDENTITY
from sentence_transformers.cross_encoder.losses.lambda_loss import LambdaLoss, NoWeightingScheme

if TYPE_CHECKING:
    from sentence_transformers.cross_encoder.model import CrossEncoder

RANK_NET_CITATION = """
@inproceedings{burges2005learning,
  title={Learning to Rank using Gradient Descent},
  author={Burges, Chris and Shaked, Tal and Renshaw, Erin and Lazier, Ari and Deeds, Matt and Hamilton, Nicole and Hullender, Greg},
  booktitle={Proceedings of the 22nd international conference on Machine learning},
  pages={89--96},
  year={2005}
}
"""  # noqa: E501


class RankNetLoss(LambdaLoss):
    """RankNet: the mean of ``-log2 sigmoid(sigma * (s_i - s_j))`` over every document pair where i's label is higher.

    Args:
        model: the CrossEncoder to train (``num_labels=1``).
        k: only pairs with at least one document in the model's top k count; None counts all.
        sigma: scale of the score differences inside the sigmoid.
        eps: lower bound of the ideal DCG (unused by the unweighted loss, kept for LambdaLoss).
        reduction_log: "binary" (log2) or "natural" (ln).
        activation_fn: applied to the logits first (identity by default, also when None).
        mini_batch_size: pairs per forward pass; None (or 0) means as many as there are queries, a negative value
            all pairs at once.
    """

    def __init__(
        self,
        model: CrossEncoder,
        k: int | None = None,
        sigma: float = 1.0,
        eps: float = 1e-10,
        reduction_log: Literal["natural", "binary"] = "binary",
        activation_fn: nn.Module | None = IDENTITY,
        mini_batch_size: int | None = None,
    ) -> None:
        super().__init__(
            model,
            weighting_scheme=NoWeightingScheme(),
            k=k,
            sigma=sigma,
            eps=eps,
            reduction_log=reduction_log,
            activation_fn=activation_fn,
            mini_batch_size=mini_batch_size,
        )

    def get_config_dict(self) -> dict[str, Any]:
        """Settings shown on the model card (no ``weighting_scheme``)."""
        config = super().get_config_dict()
        del config["weighting_scheme"]
        return config

    @property
    def citation(self) -> str:
        """BibTeX of the paper that introduced the loss."""
        return RANK_NET_CITATION
