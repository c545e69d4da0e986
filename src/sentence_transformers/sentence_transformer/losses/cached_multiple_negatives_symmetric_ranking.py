"""CachedMultipleNegativesSymmetricRankingLoss: the symmetric in-batch loss with GradCache, for huge batches."""

from __future__ import annotations

from collections.abc import Callable

from torch import Tensor, nn

from sentence_transformers.util.similarity import cos_sim

from .cached_multiple_negatives_ranking import CachedMultipleNegativesRankingLoss


class CachedMultipleNegativesSymmetricRankingLoss(CachedMultipleNegativesRankingLoss):
    """MultipleNegativesSymmetricRankingLoss whose memory grows with ``mini_batch_size``, not with the batch size.

    The same as ``CachedMultipleNegativesRankingLoss(model, directions=("query_to_doc", "doc_to_query"),
    partition_mode="per_direction")``: loss and gradients equal those of MultipleNegativesSymmetricRankingLoss.
    """

    def __init__(
        self,
        model: nn.Module,
        scale: float = 20.0,
        similarity_fct: Callable[[Tensor, Tensor], Tensor] = cos_sim,
        mini_batch_size: int = 32,
        mini_batch_num_tokens: int | None = None,
        gather_across_devices: bool = False,
        show_progress_bar: bool = False,
    ) -> None:
        super().__init__(
            model,
            scale=scale,
            similarity_fct=similarity_fct,
            mini_batch_size=mini_batch_size,
            mini_batch_num_tokens=mini_batch_num_tokens,
            gather_across_devices=gather_across_devices,
            directions=("query_to_doc", "doc_to_query"),
            partition_mode="per_direction",
            show_progress_bar=show_progress_bar,
        )
