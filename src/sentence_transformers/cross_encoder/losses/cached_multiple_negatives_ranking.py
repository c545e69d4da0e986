"""CachedMultipleNegativesRankingLoss: MultipleNegativesRankingLoss with GradCache, for large batches in bounded memory.

(1) Score every pair in mini-batches without gradients, (2) compute the loss on those detached logits and keep the
gradient of each logit, (3) when ``backward()`` runs, score each mini-batch again with gradients (replaying its random
state, so dropout draws the same masks) and push the kept gradient through it. The values and gradients equal the
uncached loss's; the cost is a second forward pass.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import nullcontext
from functools import partial
from typing import TYPE_CHECKING, Any

import torch
from torch import Tensor, nn
from tqdm import trange

from sentence_transformers.base.losses.gradcache import CachedLossMixin, RandContext
from sentence_transformers.cross_encoder.losses._common import SIGMOID
from sentence_transformers.cross_encoder.losses.multiple_negatives_ranking import MultipleNegativesRankingLoss
from sentence_transformers.util.tensor import batch_to_device

if TYPE_CHECKING:
    from sentence_transformers.cross_encoder.model import CrossEncoder


class CachedMultipleNegativesRankingLoss(MultipleNegativesRankingLoss):
    """:class:`MultipleNegativesRankingLoss` whose pairs are scored ``mini_batch_size`` at a time with GradCache.

    Args:
        model: the CrossEncoder to train (``num_labels=1``).
        num_negatives: in-batch negatives sampled per anchor; None (or more than there are) takes them all.
        scale: the activated logits are multiplied by it (skipped when 0).
        activation_fn: applied to the logits before scaling, sigmoid by default (skipped when None).
        mini_batch_size: pairs per forward pass; bounds the memory, not the result.
        show_progress_bar: show a bar over the mini-batches.
    """

    uses_gradient_cache = True  # back-propagates from a hook on the returned loss (see gradcache)

    def __init__(
        self,
        model: CrossEncoder,
        num_negatives: int | None = 4,
        scale: float = 10.0,
        activation_fn: nn.Module | None = SIGMOID,
        mini_batch_size: int = 32,
        show_progress_bar: bool = False,
    ) -> None:
        super().__init__(model, num_negatives=num_negatives, scale=scale, activation_fn=activation_fn)
        self.mini_batch_size = mini_batch_size
        self.show_progress_bar = show_progress_bar

    def predict_minibatch(
        self,
        pairs: list[list[str]],
        with_grad: bool,
        copy_random_state: bool,
        random_state: RandContext | None = None,
        prompt: str | None = None,
        task: str | None = None,
    ) -> tuple[Tensor, RandContext | None]:
        """The logits of one mini-batch of pairs, and the random state before its forward pass when asked.

        The pairs are tokenized and moved to the device first, so that the random state covers that device.
        """
        features = batch_to_device(self.model.preprocess(pairs, prompt=prompt, task=task), self.model.device)
        with nullcontext() if random_state is None else random_state:
            with nullcontext() if with_grad else torch.no_grad():
                state = RandContext(*features.values()) if copy_random_state else None
                return self.model(features)["scores"].squeeze(1), state

    def predict_minibatch_iter(
        self,
        pairs: list[list[str]],
        with_grad: bool,
        copy_random_state: bool,
        random_states: list[RandContext] | None = None,
        prompt: str | None = None,
        task: str | None = None,
    ) -> Iterator[tuple[Tensor, RandContext | None]]:
        """:meth:`predict_minibatch` over consecutive slices of ``mini_batch_size`` pairs."""
        starts = trange(
            0, len(pairs), self.mini_batch_size, desc="Predict mini-batches", disable=not self.show_progress_bar
        )
        for index, begin in enumerate(starts):
            state = None if random_states is None else random_states[index]
            yield self.predict_minibatch(
                pairs[begin : begin + self.mini_batch_size], with_grad, copy_random_state, state, prompt, task
            )

    def embed_minibatch_iter(
        self,
        sentence_feature: dict[str, Any],
        with_grad: bool,
        copy_random_state: bool,
        random_states: list[RandContext] | None = None,
        ranges: list[tuple[int, int]] | None = None,
    ) -> Iterator[tuple[Tensor, RandContext | None]]:
        """The GradCache replay's view of this loss: one "column", the flat pair list with its prompt and task.

        ``ranges`` is not used: the pairs are sliced by count (``mini_batch_size``).
        """
        yield from self.predict_minibatch_iter(
            sentence_feature["pairs"],
            with_grad,
            copy_random_state,
            random_states,
            prompt=sentence_feature["prompt"],
            task=sentence_feature["task"],
        )

    def calculate_loss_and_cache_gradients(self, logits: list[Tensor], batch_size: int) -> tuple[Tensor, list[Tensor]]:
        """Step (2): the loss (detached, to hang the replay on) and the gradient of each mini-batch's logits."""
        loss = self.calculate_loss(logits, batch_size)
        loss.backward()
        return loss.detach().requires_grad_(), [chunk.grad for chunk in logits]

    def forward(
        self, inputs: list[list[str]], labels: Tensor | None = None, prompt: str | None = None, task: str | None = None
    ) -> Tensor:
        """The loss of one batch of (anchor, positive, negative...) columns; its ``backward()`` runs step (3)."""
        anchors, batch_size = inputs[0], len(inputs[0])
        columns = [inputs[1], *self.get_in_batch_negatives(anchors, inputs[1:]), *inputs[2:]]
        pairs = [pair for column in columns for pair in zip(anchors, column, strict=True)]
        training = torch.is_grad_enabled()
        logits, states = [], []
        for chunk, state in self.predict_minibatch_iter(pairs, False, training, prompt=prompt, task=task):
            logits.append(chunk.detach().requires_grad_())
            states.append(state)
        if not training:
            return self.calculate_loss(logits, batch_size)
        loss, grads = self.calculate_loss_and_cache_gradients(logits, batch_size)
        column = {"pairs": pairs, "prompt": prompt, "task": task}
        # the shared replay only needs this loss's model and embed_minibatch_iter
        replay = partial(
            CachedLossMixin._replay, self, features=[column], ranges=[None], states=[states], grads=[grads]
        )
        loss.register_hook(replay)
        return loss

    def get_config_dict(self) -> dict[str, Any]:
        """Settings shown on the model card."""
        return {**super().get_config_dict(), "mini_batch_size": self.mini_batch_size}
