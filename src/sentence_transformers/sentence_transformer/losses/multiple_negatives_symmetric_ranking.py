"""MultipleNegativesSymmetricRankingLoss: in-batch negatives in both directions (anchor→positive, positive→anchor)."""

from __future__ import annotations

from collections.abc import Callable

from torch import Tensor, nn

from sentence_transformers.util.similarity import cos_sim

from .multiple_negatives_ranking import MultipleNegativesRankingLoss


class MultipleNegativesSymmetricRankingLoss(MultipleNegativesRankingLoss):
    """The mean of two in-batch cross-entropies: each anchor picks its positive among all candidates, and each
    positive picks its anchor among all anchors.

    The same as ``MultipleNegativesRankingLoss(model, directions=("query_to_doc", "doc_to_query"),
    partition_mode="per_direction")``. Hard-negative columns join the first term only.
    """

    def __init__(
        self,
        model: nn.Module,
        scale: float = 20.0,
        similarity_fct: Callable[[Tensor, Tensor], Tensor] = cos_sim,
        gather_across_devices: bool = False,
    ) -> None:
        super().__init__(
            model,
            scale=scale,
            similarity_fct=similarity_fct,
            gather_across_devices=gather_across_devices,
            directions=("query_to_doc", "doc_to_query"),
            partition_mode="per_direction",
        )
