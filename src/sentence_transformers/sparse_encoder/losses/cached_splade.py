"""CachedSpladeLoss: SpladeLoss with GradCache, for batches larger than the memory allows."""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

import torch
from torch import Tensor, nn

from sentence_transformers.base.losses.gradcache import CachedLossMixin, check_mini_batching
from sentence_transformers.sparse_encoder.losses.splade import SPLADE_CITATION, SpladeLoss

if TYPE_CHECKING:
    from sentence_transformers.sparse_encoder.model import SparseEncoder

GRADCACHE_CITATION = """
@misc{gao2021scaling,
    title={Scaling Deep Contrastive Learning Batch Size under Memory Limited Setup},
    author={Luyu Gao and Yunyi Zhang and Jiawei Han and Jamie Callan},
    year={2021},
    eprint={2101.06983},
    archivePrefix={arXiv},
    primaryClass={cs.LG}
}
"""


def _terms_around_total(total: Tensor, values: dict[str, float]) -> dict[str, Tensor]:
    """The loss terms as tensors that sum to ``total`` (up to rounding), with ``total``'s gradient on the first term.

    After GradCache only ``total`` connects to the model; the trainer sums the terms for its backward pass and logs
    them one by one, so the first term is rebuilt as ``total - (the others)`` and the others are plain values.
    """
    dtype = torch.promote_types(total.dtype, torch.float32)
    terms = {key: torch.tensor(value, device=total.device, dtype=dtype) for key, value in values.items()}
    first, *others = terms
    rest = sum((terms[key] for key in others), start=torch.zeros((), device=total.device, dtype=dtype))
    terms[first] = total.to(dtype) - rest
    return terms


class CachedSpladeLoss(CachedLossMixin, SpladeLoss):
    """:class:`SpladeLoss` whose memory grows with ``mini_batch_size``, not with the batch size (GradCache).

    The columns are embedded in mini-batches without gradients; the base loss and the regularizers are computed
    on the whole batch of those embeddings and back-propagated to them; ``loss.backward()`` then re-embeds each
    mini-batch with gradients (replaying its dropout) and pushes the cached embedding gradients through the model.
    The loss and the gradients equal those of SpladeLoss, at the cost of a second forward pass. Only the embedding
    is mini-batched: the base loss's score matrix still covers the whole batch.

    Args:
        model, loss, document_regularizer_weight, query_regularizer_weight, document_regularizer, query_regularizer,
            document_regularizer_threshold, query_regularizer_threshold, use_document_regularizer_only: as in
            SpladeLoss.
        mini_batch_size: texts per forward pass; the memory knob.
        mini_batch_num_tokens: when set, pack the mini-batches up to this many (non-padding) tokens instead.
        show_progress_bar: show progress over the mini-batches.
    """

    def __init__(
        self,
        model: SparseEncoder,
        loss: nn.Module,
        document_regularizer_weight: float,
        query_regularizer_weight: float | None = None,
        document_regularizer: nn.Module | None = None,
        query_regularizer: nn.Module | None = None,
        document_regularizer_threshold: int | None = None,
        query_regularizer_threshold: int | None = None,
        use_document_regularizer_only: bool = False,
        mini_batch_size: int = 32,
        mini_batch_num_tokens: int | None = None,
        show_progress_bar: bool = False,
    ) -> None:
        super().__init__(
            model=model,
            loss=loss,
            document_regularizer_weight=document_regularizer_weight,
            query_regularizer_weight=query_regularizer_weight,
            document_regularizer=document_regularizer,
            query_regularizer=query_regularizer,
            document_regularizer_threshold=document_regularizer_threshold,
            query_regularizer_threshold=query_regularizer_threshold,
            use_document_regularizer_only=use_document_regularizer_only,
        )
        check_mini_batching(mini_batch_size, mini_batch_num_tokens)
        self.mini_batch_size = mini_batch_size
        self.mini_batch_num_tokens = mini_batch_num_tokens
        self.show_progress_bar = show_progress_bar
        self._component_values: dict[str, float] = {}

    def calculate_loss(
        self, reps: list[list[Tensor]], labels: Tensor | None = None, *, with_backward: bool = False
    ) -> Tensor:
        """The total loss (base loss + weighted regularizers) on the mini-batch embeddings of every column.

        The value of each term is kept for :meth:`forward`; with ``with_backward`` the total is back-propagated
        to the embeddings and returned detached.
        """
        terms = self._loss_terms([torch.cat(chunks) for chunks in reps], labels)
        self._component_values = {key: float(value.detach()) for key, value in terms.items()}
        total = sum(terms.values())
        if with_backward:
            total.backward()
            total = total.detach()
        return total

    def forward(
        self, sentence_features: Iterable[dict[str, Tensor]], labels: Tensor | None = None
    ) -> dict[str, Tensor]:
        """The loss terms of one batch, as SpladeLoss returns them; their sum carries the (cached) gradient."""
        features = list(sentence_features)
        self._check_columns(len(features))
        total = self.forward_cached(features, labels)
        return _terms_around_total(total, self._component_values)

    def get_config_dict(self) -> dict[str, Any]:
        """Settings shown on the model card."""
        return {
            **super().get_config_dict(),
            "mini_batch_size": self.mini_batch_size,
            "mini_batch_num_tokens": self.mini_batch_num_tokens,
        }

    @property
    def citation(self) -> str:
        """BibTeX of GradCache (Gao et al., 2021) and SPLADE++ (Formal et al., 2022)."""
        return GRADCACHE_CITATION + SPLADE_CITATION
