"""PListMLELoss: the Plackett-Luce likelihood of the labelled document order, weighted by rank (Position-Aware)."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import torch
from torch import Tensor, nn

from sentence_transformers.cross_encoder.losses._common import IDENTITY, RankedLists, require_one_label
from sentence_transformers.util.misc import fullname

if TYPE_CHECKING:
    from sentence_transformers.cross_encoder.model import CrossEncoder

PLIST_MLE_CITATION = """
@inproceedings{lan2014position,
  title={Position-Aware ListMLE: A Sequential Learning Process for Ranking},
  author={Lan, Yanyan and Zhu, Yadong and Guo, Jiafeng and Niu, Shuzi and Cheng, Xueqi},
  booktitle={UAI},
  volume={14},
  pages={449--458},
  year={2014}
}
"""


class PListMLELambdaWeight(nn.Module):
    """Weight of each rank position in PListMLELoss.

    Args:
        rank_discount_fn: maps the ``(queries, max_docs)`` boolean mask of real documents to weights of the same shape
            (zero on padding). None gives ``2^(n - rank) - 1`` for a list of ``n`` documents, ranks from 1, so the
            first choices weigh most.
    """

    def __init__(self, rank_discount_fn: Callable[[Tensor], Tensor] | None = None) -> None:
        super().__init__()
        self.rank_discount_fn = rank_discount_fn

    def forward(self, mask: Tensor) -> Tensor:
        """The weight of each position, zero on padding.

        The default weights of a list longer than 127 are all divided by a common power of two, which keeps them
        and their sum finite in float32 and leaves the normalised weights unchanged.
        """
        if self.rank_discount_fn is not None:
            return self.rank_discount_fn(mask)
        lengths = mask.sum(dim=1, keepdim=True)
        ranks = torch.arange(1, mask.shape[1] + 1, device=mask.device).expand_as(mask)
        shift = (lengths - 127).clamp_min(0)
        weights = torch.pow(2.0, lengths - ranks - shift) - torch.pow(2.0, -shift)
        return weights * mask


DEFAULT_LAMBDA_WEIGHT = PListMLELambdaWeight()


class PListMLELoss(nn.Module):
    """Position-Aware ListMLE for (query, [documents]) rows with one label per document.

    The loss is the negative log-likelihood, under the Plackett-Luce model of the logits, of picking the documents in
    their true order (their input order, or sorted by label with ``respect_input_order=False``); each step's term is
    weighted by ``lambda_weight`` (normalised per query), or unweighted with None (plain ListMLE). Averaged over
    queries; lists may differ in length.

    Args:
        model: the CrossEncoder to train (``num_labels=1``).
        lambda_weight: the position weights; None for ListMLE.
        activation_fn: applied to the logits first (identity by default, also when None).
        mini_batch_size: pairs per forward pass; None (or 0) means as many as there are queries, a negative value
            all pairs at once.
        respect_input_order: take the documents' input order as the true ranking (True), or sort them by label.
    """

    def __init__(
        self,
        model: CrossEncoder,
        lambda_weight: PListMLELambdaWeight | None = DEFAULT_LAMBDA_WEIGHT,
        activation_fn: nn.Module | None = IDENTITY,
        mini_batch_size: int | None = None,
        respect_input_order: bool = True,
    ) -> None:
        super().__init__()
        self.model = model
        self.lambda_weight = lambda_weight
        self.activation_fn = activation_fn or nn.Identity()
        self.mini_batch_size = mini_batch_size
        self.respect_input_order = respect_input_order
        self.eps = 1e-10
        require_one_label(self, "supports")

    def forward(
        self,
        inputs: list[list[str] | list[list[str]]],
        labels: list[Tensor],
        prompt: str | None = None,
        task: str | None = None,
    ) -> Tensor:
        """The loss of one batch: ``inputs`` is ``[queries, documents_per_query]``, ``labels`` a tensor per query."""
        lists = RankedLists(self, inputs, labels, "PListMLELoss")
        logits = lists.matrix(lists.logits(self, prompt, task, self.mini_batch_size), 1e-16)
        mask = lists.mask
        if not self.respect_input_order:
            order = lists.label_matrix(float("-inf")).sort(descending=True, dim=1).indices
            logits, mask = logits.gather(1, order), mask.gather(1, order)
        log_probs = self._plackett_luce_log_probs(logits, mask)
        if self.lambda_weight is not None:
            weights = self.lambda_weight(lists.mask)
            log_probs = log_probs * weights / (weights.sum(dim=1, keepdim=True) + self.eps)
        per_query = -log_probs.masked_fill(~mask, 0.0).sum(dim=1)
        if not torch.any(per_query):
            return torch.tensor(0.0, device=self.model.device, requires_grad=True)
        return per_query.mean()

    @staticmethod
    def _plackett_luce_log_probs(logits: Tensor, mask: Tensor) -> Tensor:
        """log P(pick document i among those not yet picked), for each position i of each row."""
        scores = logits.masked_fill(~mask, torch.finfo(logits.dtype).min)
        remaining = torch.logcumsumexp(scores.flip(1), dim=1).flip(1)  # logsumexp over positions i..end
        return logits - remaining

    def get_config_dict(self) -> dict[str, Any]:
        """Settings shown on the model card."""
        return {
            "lambda_weight": None if self.lambda_weight is None else fullname(self.lambda_weight),
            "activation_fn": fullname(self.activation_fn),
            "mini_batch_size": self.mini_batch_size,
            "respect_input_order": self.respect_input_order,
        }

    @property
    def citation(self) -> str:
        """BibTeX of the paper that introduced the loss."""
        return PLIST_MLE_CITATION
