"""CachedGISTEmbedLoss: GISTEmbedLoss with gradient caching (GradCache), so big batches fit in little memory."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import torch
from torch import Tensor, nn

from sentence_transformers.base.losses.gradcache import (
    CachedLossMixin,
    RandContext,
    check_mini_batching,
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
        if isinstance(mini_batch_size, bool):
            raise ValueError(f"mini_batch_size must be a positive integer, got {mini_batch_size!r}.")
        check_mini_batching(mini_batch_size, mini_batch_num_tokens)
        self.mini_batch_size = mini_batch_size
        self.mini_batch_num_tokens = mini_batch_num_tokens
        self.show_progress_bar = show_progress_bar

    def forward(self, sentence_features: Iterable[dict[str, Tensor]], labels: Tensor | None = None) -> Tensor:
        """The loss value; back-propagating it (``loss.backward()``) fills the model's gradients."""
        return self.forward_cached(sentence_features, labels)

    def embed_minibatch(
        self,
        sentence_feature: dict[str, Tensor],
        begin: int,
        end: int,
        with_grad: bool,
        copy_random_state: bool,
        random_state: RandContext | None = None,
    ) -> tuple[Tensor, Tensor | None, RandContext | None]:
        """Rows ``begin:end`` of one column: ``(model embeddings, guide embeddings, random state)``.

        The guide only runs in the pass without gradients; the replay with gradients needs the model's alone
        (the guide's were used up computing the cached gradients), so it yields None there.
        """
        reps, state = super().embed_minibatch(sentence_feature, begin, end, with_grad, copy_random_state, random_state)
        if with_grad:
            return reps, None, state
        with torch.no_grad():
            guide_input = self.guide_features(slice_features(sentence_feature, begin, end))
            guide_reps = self.guide(guide_input)["sentence_embedding"]
        return reps, guide_reps, state

    def loss_inputs(self, labels: Tensor | None, extras: list[list[tuple[Any, ...]]]) -> list[list[Tensor]]:
        """The guide's mini-batch embeddings of every column: the ``reps_guided`` of :meth:`calculate_loss`."""
        return [[extra[0] for extra in column] for column in extras]

    def calculate_loss_and_cache_gradients(
        self, reps: list[list[Tensor]], reps_guided: list[list[Tensor]]
    ) -> tuple[Tensor, list[list[Tensor]]]:
        """The loss (detached) and the gradient of each mini-batch embedding of the model."""
        return super().calculate_loss_and_cache_gradients(reps, reps_guided)

    def calculate_loss(
        self, reps: list[list[Tensor]], reps_guided: list[list[Tensor]], with_backward: bool = False
    ) -> Tensor:
        """The loss from per-column lists of the model's and the guide's mini-batch embeddings.

        With ``with_backward`` it back-propagates chunk by chunk, filling the ``.grad`` of ``reps``.
        """
        if len(reps) != len(reps_guided):
            raise ValueError(f"reps and reps_guided must have the same length, got {len(reps)} and {len(reps_guided)}")
        embeddings = [torch.cat(column) for column in reps]
        guide_embeddings = [torch.cat(column) for column in reps_guided]
        return self.ranking_loss(embeddings, guide_embeddings, self.mini_batch_size, with_backward=with_backward)

    def get_config_dict(self) -> dict[str, Any]:
        """Settings shown in model cards."""
        config = super().get_config_dict()
        return {**config, "mini_batch_size": self.mini_batch_size, "mini_batch_num_tokens": self.mini_batch_num_tokens}
