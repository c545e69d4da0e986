"""CoSENTLoss: rank the pair similarities in the order of their gold scores."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

import torch
from torch import Tensor, nn

from sentence_transformers.base.losses.merged_forward import embed_columns
from sentence_transformers.util.misc import similarity_fct_name
from sentence_transformers.util.similarity import pairwise_cos_sim

from ._loss_utils import check_label_count

COSENT_CITATION = """
@article{10531646,
    author={Huang, Xiang and Peng, Hao and Zou, Dongcheng and Liu, Zhiwei and Li, Jianxin and Liu, Kay and Wu, Jia
        and Su, Jianlin and Yu, Philip S.},
    journal={IEEE/ACM Transactions on Audio, Speech, and Language Processing},
    title={CoSENT: Consistent Sentence Embedding via Similarity Ranking},
    year={2024},
    doi={10.1109/TASLP.2024.3402087}
}
"""


def cosent_from_scores(scores: Tensor, labels: Tensor) -> Tensor:
    """``log(1 + sum over pairs (i, j) with labels[i] > labels[j] of exp(scores[j] - scores[i]))``.

    Sorted by label, the pairs that penalise item ``j`` are the suffix of strictly higher labels, so a reversed
    log-cumsum-exp gives every term in O(n log n) time and O(n) memory instead of the n x n score matrix.
    """
    if scores.dtype in (torch.float16, torch.bfloat16):
        scores = scores.float()
    labels, order = labels.sort()
    scores = scores[order]
    suffix = torch.logcumsumexp(-scores.flip(0), dim=0).flip(0)  # suffix[k] = log sum_{i >= k} exp(-scores[i])
    suffix = torch.cat([suffix, scores.new_full((1,), -torch.inf)])
    first_higher = torch.searchsorted(labels, labels, right=True)
    terms = scores + suffix[first_higher]
    return torch.logsumexp(torch.cat([scores.new_zeros(1), terms]), dim=0)


class CoSENTLoss(nn.Module):
    """For (text1, text2) pairs with float labels: every pair with a higher label should get a higher similarity.

    Loss: ``log(1 + sum exp(s(k, l) - s(i, j)))`` over all pairs of pairs where the label of (i, j) is greater than
    that of (k, l), with ``s = scale * similarity``. Only the order of the labels matters, not their values.

    Args:
        model: the SentenceTransformer to train.
        scale: multiplies the similarities (``1 / temperature``).
        similarity_fct: pairwise similarity, ``pairwise_cos_sim`` by default.
    """

    def __init__(
        self,
        model: nn.Module,
        scale: float = 20.0,
        similarity_fct: Callable[[Tensor, Tensor], Tensor] = pairwise_cos_sim,
    ) -> None:
        super().__init__()
        self.model = model
        self.scale = scale
        self.similarity_fct = similarity_fct

    def forward(self, sentence_features: Iterable[dict[str, Tensor]], labels: Tensor) -> Tensor:
        """The loss of one batch of pairs."""
        return self.compute_loss_from_embeddings(embed_columns(self.model, sentence_features), labels)

    def compute_loss_from_embeddings(self, embeddings: list[Tensor], labels: Tensor) -> Tensor:
        """The loss from already computed (text1, text2) embeddings."""
        if len(embeddings) != 2:
            raise ValueError(f"{type(self).__name__} needs 2 columns (text1, text2), got {len(embeddings)}.")
        labels = check_label_count(self, labels, embeddings[0].shape[0])
        if labels.dtype == torch.bool:
            labels = labels.int()
        scores = self.similarity_fct(embeddings[0], embeddings[1]) * self.scale
        return cosent_from_scores(scores, labels)

    def get_config_dict(self) -> dict[str, Any]:
        """Hyperparameters for the model card."""
        return {"scale": self.scale, "similarity_fct": similarity_fct_name(self.similarity_fct)}

    @property
    def citation(self) -> str:
        """BibTeX of CoSENT."""
        return COSENT_CITATION
