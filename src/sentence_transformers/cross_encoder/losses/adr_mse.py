"""ADRMSELoss: discounted squared error between a document's true rank and its differentiable approximate rank."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import torch
from torch import Tensor, nn

from sentence_transformers.cross_encoder.losses._common import IDENTITY, RankedLists, require_one_label
from sentence_transformers.util.misc import fullname

if TYPE_CHECKING:
    from sentence_transformers.cross_encoder.model import CrossEncoder

ADR_MSE_CITATION = """
@inproceedings{schlatt2025rankdistillm,
    title={Rank-DistiLLM: Closing the Effectiveness Gap Between Cross-Encoders and LLMs for Passage Re-ranking},
    author={Schlatt, Ferdinand and Fröbe, Maik and Scells, Harrisen and Zhuang, Shengyao and Koopman, Bevan and Zuccon, Guido and Stein, Benno and Potthast, Martin and Hagen, Matthias},
    booktitle={Advances in Information Retrieval (ECIR 2025)},
    year={2025},
    doi={10.1007/978-3-031-88714-7_31},
}
"""  # noqa: E501


class ADRMSELoss(nn.Module):
    """Approx Discounted Rank MSE (Rank-DistiLLM) for (query, [documents]) rows with one label per document.

    A document's true rank comes from the labels (higher label, better rank; ties share their average rank), its
    approximate rank from the logits: ``1 + sum_{j != i} sigmoid(alpha * (s_j - s_i))``. The loss is the mean over
    documents of ``(true_rank - approx_rank)^2 / log2(1 + true_rank)``. Lists may differ in length.

    Args:
        model: the CrossEncoder to train (``num_labels=1``).
        alpha: sharpness of the sigmoid in the approximate rank.
        activation_fn: applied to the logits first (identity by default, also when None).
        mini_batch_size: pairs per forward pass; None (or 0) means as many as there are queries, a negative value
            all pairs at once.
    """

    def __init__(
        self,
        model: CrossEncoder,
        alpha: float = 1.0,
        activation_fn: nn.Module | None = IDENTITY,
        mini_batch_size: int | None = None,
    ) -> None:
        super().__init__()
        self.model = model
        self.alpha = alpha
        self.activation_fn = activation_fn or nn.Identity()
        self.mini_batch_size = mini_batch_size
        require_one_label(self, "supports")

    def approximate_ranks(self, scores: Tensor, mask: Tensor) -> Tensor:
        """Differentiable ranks ``1 + sum_{j != i} sigmoid(alpha * (s_j - s_i))`` over the real documents j."""
        beats = torch.sigmoid(self.alpha * (scores[:, None, :] - scores[:, :, None])) * mask[:, None, :].float()
        return 1.0 + beats.sum(dim=2) - 0.5 * mask.float()  # the j == i term is sigmoid(0) = 0.5

    @staticmethod
    def _true_ranks(labels: Tensor, mask: Tensor) -> Tensor:
        """Ranks from labels (1 = highest label) among the real documents; tied documents share their mean rank."""
        others, own, real = labels[:, None, :], labels[:, :, None], mask[:, None, :]
        higher = ((others > own) & real).sum(dim=-1).float()
        tied = ((others == own) & real).sum(dim=-1).float()  # includes the document itself
        return higher + (tied + 1.0) / 2.0

    def forward(
        self,
        inputs: list[list[str] | list[list[str]]],
        labels: list[Tensor],
        prompt: str | None = None,
        task: str | None = None,
    ) -> Tensor:
        """The loss of one batch: ``inputs`` is ``[queries, documents_per_query]``, ``labels`` a tensor per query."""
        error = "ADRMSELoss expects `labels` to be a list of per-query Tensors (list[Tensor]), but got a single Tensor."
        lists = RankedLists(self, inputs, labels, "ADRMSELoss", error)
        logits = lists.matrix(lists.logits(self, prompt, task, self.mini_batch_size), -1e16)
        mask = lists.mask
        target = self._true_ranks(lists.label_matrix(0.0), mask)
        errors = (1.0 / torch.log2(target + 1.0)) * (target - self.approximate_ranks(logits, mask)) ** 2
        return (errors * mask.float()).sum() / mask.sum()

    def get_config_dict(self) -> dict[str, Any]:
        """Settings shown on the model card."""
        return {
            "alpha": self.alpha,
            "activation_fn": fullname(self.activation_fn),
            "mini_batch_size": self.mini_batch_size,
        }

    @property
    def citation(self) -> str:
        """BibTeX of the paper that introduced the loss."""
        return ADR_MSE_CITATION
