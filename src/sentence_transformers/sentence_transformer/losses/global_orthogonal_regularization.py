"""GlobalOrthogonalRegularizationLoss: spread unrelated embeddings out over the space (Zhang et al., 2017)."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any, Literal

import torch
from torch import Tensor, nn

from sentence_transformers.base.losses.merged_forward import embed_columns
from sentence_transformers.util.misc import similarity_fct_name
from sentence_transformers.util.similarity import cos_sim

GOR_CITATION = """
@misc{zhang2017learningspreadoutlocalfeature,
      title={Learning Spread-out Local Feature Descriptors},
      author={Xu Zhang and Felix X. Yu and Sanjiv Kumar and Shih-Fu Chang},
      year={2017},
      eprint={1708.06320},
      archivePrefix={arXiv},
      primaryClass={cs.CV},
      url={https://arxiv.org/abs/1708.06320},
}
"""


class GlobalOrthogonalRegularizationLoss(nn.Module):
    """Penalise a high mean and a high second moment of the similarities between different texts of a column.

    For the ``n`` embeddings of one column with pairwise similarities ``s_ij`` (``i != j``) and dimension ``d``:
    ``M1 = mean(s_ij)`` and ``M2 = mean(s_ij ** 2)``; the mean term is ``M1 ** 2`` and the second moment term is
    ``relu(M2 - 1 / d)`` (random unit vectors have ``M2`` of about ``1 / d``). Each column is regularised on its own
    and the columns' terms are averaged (or summed), so any dataset layout works and labels are ignored.

    The forward returns a dict ``{"gor_mean": ..., "gor_second_moment": ...}`` of the weighted terms (a term with
    weight 0 or None is left out). It is meant to go alongside a main loss such as MultipleNegativesRankingLoss,
    e.g. by adding :meth:`compute_loss_from_embeddings` to it or by multi-dataset training.

    Args:
        model: The SentenceTransformer to train.
        similarity_fct: Pairwise similarity of two embedding batches; cosine similarity by default.
        mean_weight: Weight of the mean term; 0 or None drops it.
        second_moment_weight: Weight of the second moment term; 0 or None drops it. EmbeddingGemma uses only
            this term (``mean_weight=0``) with ``aggregation="sum"``.
        aggregation: Combine the columns' terms by ``"mean"`` (default) or ``"sum"``.
    """

    def __init__(
        self,
        model: nn.Module,
        similarity_fct: Callable[[Tensor, Tensor], Tensor] = cos_sim,
        mean_weight: float | None = 1.0,
        second_moment_weight: float | None = 1.0,
        aggregation: Literal["mean", "sum"] = "mean",
    ) -> None:
        super().__init__()
        if not mean_weight and not second_moment_weight:
            raise ValueError("At least one of mean_weight and second_moment_weight must be non-zero.")
        if aggregation not in ("mean", "sum"):
            raise ValueError(f"aggregation must be 'mean' or 'sum', got {aggregation!r}.")
        self.model = model
        self.similarity_fct = similarity_fct
        self.mean_weight = mean_weight
        self.second_moment_weight = second_moment_weight
        self.aggregation = aggregation

    def forward(
        self, sentence_features: Iterable[dict[str, Tensor]], labels: Tensor | None = None
    ) -> dict[str, Tensor]:
        """The weighted GOR terms over every input column (labels are ignored)."""
        return self.compute_loss_from_embeddings(embed_columns(self.model, sentence_features))

    def compute_loss_from_embeddings(self, embeddings: list[Tensor], labels: Tensor | None = None) -> dict[str, Tensor]:
        """The weighted terms from already computed embeddings, one ``(batch, dim)`` tensor per column."""
        mean_terms, second_moment_terms = zip(*(self.compute_gor(column) for column in embeddings), strict=True)
        results = {}
        if self.mean_weight:
            results["gor_mean"] = self.mean_weight * self._aggregate(mean_terms)
        if self.second_moment_weight:
            results["gor_second_moment"] = self.second_moment_weight * self._aggregate(second_moment_terms)
        return results

    def _aggregate(self, terms: Iterable[Tensor]) -> Tensor:
        stacked = torch.stack(list(terms))
        return stacked.sum() if self.aggregation == "sum" else stacked.mean()

    def compute_gor(self, embeddings: Tensor) -> tuple[Tensor, Tensor]:
        """The unweighted ``(mean term, second moment term)`` of one column's ``(batch, dim)`` embeddings."""
        batch_size, dim = embeddings.shape[0], embeddings.shape[-1]
        similarities = self.similarity_fct(embeddings, embeddings)
        off_diagonal = ~torch.eye(batch_size, dtype=torch.bool, device=similarities.device)
        similarities = similarities * off_diagonal
        pairs = max(batch_size * (batch_size - 1), 1)  # a batch of one gives 0 for both terms, not nan
        mean_term = (similarities.sum() / pairs) ** 2
        second_moment_term = torch.relu(similarities.pow(2).sum() / pairs - 1.0 / dim)
        return mean_term, second_moment_term

    def get_config_dict(self) -> dict[str, Any]:
        """Hyperparameters for the model card."""
        return {
            "similarity_fct": similarity_fct_name(self.similarity_fct),
            "mean_weight": self.mean_weight,
            "second_moment_weight": self.second_moment_weight,
            "aggregation": self.aggregation,
        }

    @property
    def citation(self) -> str:
        """BibTeX of spread-out feature descriptors (Zhang et al., 2017)."""
        return GOR_CITATION
