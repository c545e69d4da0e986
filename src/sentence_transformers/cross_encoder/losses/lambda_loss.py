"""LambdaLoss: pairwise logistic loss over a query's documents, weighted to optimise NDCG (Wang et al., 2018)."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any, Literal

import torch
from torch import Tensor, nn

from sentence_transformers.cross_encoder.losses._common import IDENTITY, RankedLists, require_one_label
from sentence_transformers.util.misc import fullname

if TYPE_CHECKING:
    from sentence_transformers.cross_encoder.model import CrossEncoder

LAMBDA_LOSS_CITATION = """
@inproceedings{wang2018lambdaloss,
  title={The LambdaLoss Framework for Ranking Metric Optimization},
  author={Wang, Xuanhui and Li, Cheng and Golbandi, Nadav and Bendersky, Michael and Najork, Marc},
  booktitle={Proceedings of the 27th ACM international conference on information and knowledge management},
  pages={1313--1322},
  year={2018}
}
"""


class BaseWeightingScheme(nn.Module):
    """The weight of each pair of ranks (i, j) in LambdaLoss, from the documents as the model ranks them.

    ``forward(gain, discount, true_sorted)`` gets, per query, the normalised gain ``(2^label - 1) / maxDCG`` of the
    document at each predicted rank, the rank discounts ``log2(1 + rank)`` (shape ``(1, max_docs)``) and the labels
    in predicted order; it returns weights that broadcast to ``(queries, max_docs, max_docs)``.
    """

    def forward(self, gain: Tensor, discount: Tensor, true_sorted: Tensor) -> Tensor:
        """The pair weights."""
        raise NotImplementedError


class NoWeightingScheme(BaseWeightingScheme):
    """Every pair weighs 1: a plain RankNet-style pairwise loss."""

    def forward(self, gain: Tensor, discount: Tensor, true_sorted: Tensor) -> Tensor:
        """The pair weights: 1."""
        return torch.tensor(1.0, device=gain.device)


class NDCGLoss1Scheme(BaseWeightingScheme):
    """NDCG-Loss1: the gain of the higher document over its discount. A loose bound; Loss2 and Loss2++ do better."""

    def forward(self, gain: Tensor, discount: Tensor, true_sorted: Tensor) -> Tensor:
        """The pair weights ``G_i / D_i``."""
        return (gain / discount)[:, :, None]


class NDCGLoss2Scheme(BaseWeightingScheme):
    """NDCG-Loss2: a tighter bound on NDCG, weighting a pair by how far apart its ranks are.

    ``|1/D(|i-j|) - 1/D(|i-j|+1)| * |G_i - G_j|`` with ``D(r)`` the discount of rank r; zero on the diagonal.
    """

    def forward(self, gain: Tensor, discount: Tensor, true_sorted: Tensor) -> Tensor:
        """The pair weights."""
        ranks = torch.arange(gain.shape[1], device=gain.device)
        distance = (ranks[:, None] - ranks[None, :]).abs()
        # discount[0, r - 1] is D(r); the diagonal (distance 0) is zeroed below
        nearer = discount[0, (distance - 1).clamp(min=0)].abs()
        farther = discount[0, distance].abs()
        deltas = (nearer.reciprocal() - farther.reciprocal()).abs().masked_fill(distance == 0, 0.0)
        return deltas[None, :, :] * (gain[:, :, None] - gain[:, None, :]).abs()


class LambdaRankScheme(BaseWeightingScheme):
    """LambdaRank: ``|1/D_i - 1/D_j| * |G_i - G_j|``, the NDCG change of swapping the two (a coarse bound)."""

    def forward(self, gain: Tensor, discount: Tensor, true_sorted: Tensor) -> Tensor:
        """The pair weights."""
        inverse = discount.reciprocal()
        return (inverse[:, :, None] - inverse[:, None, :]).abs() * (gain[:, :, None] - gain[:, None, :]).abs()


class NDCGLoss2PPScheme(BaseWeightingScheme):
    """NDCG-Loss2++: ``mu * NDCG-Loss2 + LambdaRank``, the strongest in the LambdaLoss paper.

    Args:
        mu: weight of the NDCG-Loss2 part.
    """

    def __init__(self, mu: float = 10.0) -> None:
        super().__init__()
        self.mu = mu
        self.ndcg_loss2 = NDCGLoss2Scheme()
        self.lambda_rank = LambdaRankScheme()

    def forward(self, gain: Tensor, discount: Tensor, true_sorted: Tensor) -> Tensor:
        """The pair weights."""
        ndcg_weights = self.ndcg_loss2(gain, discount, true_sorted)
        return self.mu * ndcg_weights + self.lambda_rank(gain, discount, true_sorted)


DEFAULT_WEIGHTING_SCHEME = NDCGLoss2PPScheme()


class LambdaLoss(nn.Module):
    """LambdaLoss for (query, [documents]) rows with one (binary or graded) label per document.

    Documents are ranked by the model; every pair whose labels differ contributes ``-weight * log2 sigmoid(sigma *
    (s_higher - s_lower))``, with the weight from ``weighting_scheme``; the loss is the mean over contributing pairs.
    Lists may differ in length.

    Args:
        model: the CrossEncoder to train (``num_labels=1``).
        weighting_scheme: NoWeightingScheme, NDCGLoss1Scheme, NDCGLoss2Scheme, LambdaRankScheme or NDCGLoss2PPScheme
            (the default); None means no weighting.
        k: only pairs with at least one document in the model's top k count (NDCG@k); None counts all.
        sigma: scale of the score differences inside the sigmoid.
        eps: lower bound of the ideal DCG, against division by zero.
        reduction_log: "binary" (log2) or "natural" (ln).
        activation_fn: applied to the logits first (identity by default, also when None).
        mini_batch_size: pairs per forward pass; None (or 0) means as many as there are queries, a negative value
            all pairs at once.
    """

    def __init__(
        self,
        model: CrossEncoder,
        weighting_scheme: BaseWeightingScheme | None = DEFAULT_WEIGHTING_SCHEME,
        k: int | None = None,
        sigma: float = 1.0,
        eps: float = 1e-10,
        reduction_log: Literal["natural", "binary"] = "binary",
        activation_fn: nn.Module | None = IDENTITY,
        mini_batch_size: int | None = None,
    ) -> None:
        super().__init__()
        self.model = model
        self.weighting_scheme = weighting_scheme or NoWeightingScheme()
        self.k = k
        self.sigma = sigma
        self.eps = eps
        self.reduction_log = reduction_log
        self.activation_fn = activation_fn or nn.Identity()
        self.mini_batch_size = mini_batch_size
        require_one_label(self, "supports")

    def forward(
        self,
        inputs: list[list[str] | list[list[str]]],
        labels: list[Tensor],
        prompt: str | None = None,
        task: str | None = None,
    ) -> Tensor:
        """The loss of one batch: ``inputs`` is ``[queries, documents_per_query]``, ``labels`` a tensor per query."""
        lists = RankedLists(self, inputs, labels, "LambdaLoss")
        logits = lists.matrix(lists.logits(self, prompt, task, self.mini_batch_size), -1e16)
        return self._pairwise_loss(logits, lists.label_matrix(float("-inf")))

    def _pairwise_loss(self, logits: Tensor, labels: Tensor) -> Tensor:
        """The loss from ``(queries, max_docs)`` logits and labels, padding labelled ``-inf``."""
        num_docs = logits.shape[1]
        sorted_logits, order = logits.sort(descending=True, dim=-1)
        ideal_labels = labels.sort(descending=True, dim=-1).values.clamp(min=0.0)
        labels_by_pred = labels.gather(1, order)
        label_diffs = labels_by_pred[:, :, None] - labels_by_pred[:, None, :]
        pairs = torch.isfinite(label_diffs)  # both documents real
        if not isinstance(self.weighting_scheme, NDCGLoss1Scheme):
            pairs = pairs & (label_diffs > 0)  # ordered: i should rank above j
        k = self.k or num_docs
        in_top_k = torch.zeros((num_docs, num_docs), dtype=torch.bool, device=logits.device)
        in_top_k[:k, :] = True
        in_top_k[:, :k] = True

        labels_by_pred = labels_by_pred.clamp(min=0.0)
        ranks = torch.arange(1, num_docs + 1, device=logits.device).float()
        discount = torch.log2(1.0 + ranks)[None, :]
        ideal_dcg = ((torch.pow(2, ideal_labels) - 1) / discount)[:, :k].sum(dim=-1).clamp(min=self.eps)
        gain = (torch.pow(2, labels_by_pred) - 1) / ideal_dcg[:, None]
        weights = self.weighting_scheme(gain, discount, labels_by_pred)

        # log-sigmoid of the clamped differences: no underflow, and gradients survive badly misordered pairs
        diffs = (sorted_logits[:, :, None] - sorted_logits[:, None, :]).clamp(min=-1e8, max=1e8).nan_to_num(nan=0.0)
        losses = weights * nn.functional.logsigmoid(self.sigma * diffs)
        if self.reduction_log == "binary":
            losses = losses / math.log(2)
        selected = losses[pairs & in_top_k]
        return -selected.sum() / max(selected.numel(), 1)

    def get_config_dict(self) -> dict[str, Any]:
        """Settings shown on the model card."""
        return {
            "weighting_scheme": fullname(self.weighting_scheme),
            "k": self.k,
            "sigma": self.sigma,
            "eps": self.eps,
            "reduction_log": self.reduction_log,
            "activation_fn": fullname(self.activation_fn),
            "mini_batch_size": self.mini_batch_size,
        }

    @property
    def citation(self) -> str:
        """BibTeX of the paper that introduced the loss."""
        return LAMBDA_LOSS_CITATION
