"""CachedGISTEmbedLoss: GISTEmbedLoss with gradient caching (GradCache), so big batches fit in little memory."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import torch
from torch import Tensor, nn

from sentence_transformers.base.losses.gradcache import (
    CachedLossMixin,
    minibatch_ranges,
    slice_features,
)
from sentence_transformers.sentence_transformer.losses.gist_embed import GISTEmbedLoss, MarginStrategy


class CachedGISTEmbedLoss(CachedLossMixin, GISTEmbedLoss):
    """GISTEmbedLoss computed with GradCache (Gao et al., 2021): same loss and gradients, memory of a mini-batch.

    The guide embeds every column in mini-batches (no gradients); the model does too, first without gradients to
    get the loss and its gradient with respect to every embedding, then again mini-batch by mini-batch (same
    random state, hence same dropout) when the returned loss is back-propagated with ``loss.backward()``.

    Args:
        model / guide / temperature / margin_strategy / margin / contrast_anchors / contrast_positives /
            gather_across_devices: As in :class:`GISTEmbedLoss`.
        mini_batch_size: Rows per forward pass (and anchors per loss chunk); the memory knob. Does not change
            the loss.
        mini_batch_num_tokens: Instead of a row count, pack mini-batches up to this many (non-padding) tokens.
        show_progress_bar: Show progress over the mini-batches.
    """

    def __init__(
        self,
        model: nn.Module,
        guide: nn.Module,
        temperature: float = 0.01,
        mini_batch_size: int = 32,
        mini_batch_num_tokens: int | None = None,
        show_progress_bar: bool = False,
        margin_strategy: MarginStrategy = "absolute",
        margin: float = 0.0,
        contrast_anchors: bool = True,
        contrast_positives: bool = True,
        gather_across_devices: bool = False,
    ) -> None:
        super().__init__(
            model,
            guide,
            temperature=temperature,
            margin_strategy=margin_strategy,
            margin=margin,
            contrast_anchors=contrast_anchors,
            contrast_positives=contrast_positives,
            gather_across_devices=gather_across_devices,
        )
        if isinstance(mini_batch_size, bool) or not isinstance(mini_batch_size, int) or mini_batch_size < 1:
            raise ValueError(f"mini_batch_size must be a positive integer, got {mini_batch_size!r}")
        if mini_batch_num_tokens is not None and mini_batch_num_tokens < 1:
            raise ValueError(f"mini_batch_num_tokens must be a positive integer or None, got {mini_batch_num_tokens!r}")
        self.mini_batch_size = mini_batch_size
        self.mini_batch_num_tokens = mini_batch_num_tokens
        self.show_progress_bar = show_progress_bar
        self._guide_reps: list[list[Tensor]] | None = None

    def forward(self, sentence_features: Iterable[dict[str, Tensor]], labels: Tensor | None = None) -> Tensor:
        """The loss value; back-propagating it (``loss.backward()``) fills the model's gradients."""
        features = list(sentence_features)
        self._guide_reps = [self.embed_with_guide(column) for column in features]
        try:
            return self.forward_cached(features, labels)
        finally:
            self._guide_reps = None

    def embed_with_guide(self, features: dict[str, Tensor]) -> list[Tensor]:
        """The guide's embeddings of one column, mini-batch by mini-batch, without gradients."""
        ranges = minibatch_ranges(features, self.mini_batch_size, self.mini_batch_num_tokens)
        with torch.no_grad():
            return [
                self.guide(self.guide_features(slice_features(features, *span)))["sentence_embedding"]
                for span in ranges
            ]

    def calculate_loss(
        self, reps: list[list[Tensor]], labels: Tensor | None = None, with_backward: bool = False
    ) -> Tensor:
        """The loss from per-column lists of mini-batch embeddings; with ``with_backward`` it fills their ``.grad``.

        The guide's embeddings of the same batch come from :meth:`forward`.
        """
        if self._guide_reps is None:
            raise RuntimeError("calculate_loss runs inside forward(), which embeds the batch with the guide first")
        embeddings = [torch.cat(column) for column in reps]
        guide_embeddings = [torch.cat(column) for column in self._guide_reps]
        return self.ranking_loss(embeddings, guide_embeddings, self.mini_batch_size, with_backward=with_backward)

    def get_config_dict(self) -> dict[str, Any]:
        """Settings shown in model cards."""
        config = super().get_config_dict()
        return {**config, "mini_batch_size": self.mini_batch_size, "mini_batch_num_tokens": self.mini_batch_num_tokens}
