"""GradCache: train with a large batch while holding activations for only one mini-batch at a time.

A cached loss (1) embeds every column in mini-batches without gradients, (2) computes the loss on those detached
embeddings and back-propagates it only as far as the embeddings, keeping their gradients, then (3) when the caller
runs ``loss.backward()``, re-embeds each mini-batch with gradients and pushes the cached embedding gradient
through it. Step (3) replays the random state of step (1), so dropout draws the same masks and the gradients equal
those of the uncached loss. See Gao et al., "Scaling Deep Contrastive Learning Batch Size under Memory Limited
Setup" (2021).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from contextlib import nullcontext
from functools import partial
from typing import Any

import torch
from torch import Tensor, nn
from torch.utils.checkpoint import get_device_states, set_device_states
from tqdm import tqdm

Range = tuple[int, int]


class RandContext:
    """The CPU and CUDA random states at creation; entering it restores them (and puts them back on exit)."""

    def __init__(self, *tensors: Any) -> None:
        self.cpu_state = torch.get_rng_state()
        cuda_tensors = [t for t in tensors if isinstance(t, Tensor) and t.device.type == "cuda"]
        self.devices, self.device_states = get_device_states(*cuda_tensors)

    def __enter__(self) -> None:
        self._fork = torch.random.fork_rng(devices=self.devices, enabled=True)
        self._fork.__enter__()
        torch.set_rng_state(self.cpu_state)
        set_device_states(self.devices, self.device_states)

    def __exit__(self, *exc_info: Any) -> None:
        self._fork.__exit__(*exc_info)
        self._fork = None


def uses_gradient_cache(loss: Any) -> bool:
    """Whether ``loss`` defers its model backward to a hook on the loss tensor it returns (GradCache).

    Wrappers that swap ``model.forward`` only while the loss runs (MatryoshkaLoss, AdaptiveLayerLoss) miss the
    re-embedding that such a loss does during ``backward()``, so they must treat it differently. A loss says so
    with a ``uses_gradient_cache`` attribute: True on :class:`CachedLossMixin`, per instance where caching is
    optional (MegaBatchMarginLoss), forwarded by wrappers around a cached loss.
    """
    return bool(getattr(loss, "uses_gradient_cache", False))


def has_static_embedding_input(model: Any) -> bool:
    """Whether the model's input module is a StaticEmbedding, directly or as the first module of a Router route.

    Its features are one flat token stream plus ``offsets`` rather than a padded ``(batch, tokens)`` grid, which
    code that slices, pads or merges batches has to know about.
    """
    from sentence_transformers.base.modules.router import Router
    from sentence_transformers.sentence_transformer.modules.static_embedding import StaticEmbedding

    model = getattr(model, "module", model)  # DistributedDataParallel
    model = getattr(model, "_orig_mod", model)  # torch.compile
    try:
        first = next(iter(model.children()))
    except StopIteration:
        return False
    if isinstance(first, Router):
        return any(len(route) and isinstance(route[0], StaticEmbedding) for route in first.sub_modules.values())
    return isinstance(first, StaticEmbedding)


def _is_flat_static(features: dict[str, Any]) -> bool:
    """StaticEmbedding input: one flat ``input_ids`` stream plus the ``offsets`` where each text starts."""
    ids = features.get("input_ids")
    return isinstance(ids, Tensor) and ids.ndim == 1 and isinstance(features.get("offsets"), Tensor)


def batch_size_of(features: dict[str, Any]) -> int:
    """Number of texts in a tokenized batch."""
    if _is_flat_static(features):
        return len(features["offsets"])
    for key in ("input_ids", "attention_mask"):
        if isinstance(features.get(key), Tensor) and features[key].ndim > 0:
            return features[key].shape[0]
    for value in features.values():
        if isinstance(value, Tensor) and value.ndim > 0:
            return value.shape[0]
    raise ValueError(f"Cannot tell the batch size of features with keys {sorted(features)}: no batched tensor.")


def _token_counts(features: dict[str, Any]) -> list[int]:
    """Tokens (not padding) of each text."""
    if _is_flat_static(features):
        ends = torch.cat([features["offsets"][1:], features["offsets"].new_tensor([len(features["input_ids"])])])
        return (ends - features["offsets"]).tolist()
    mask = features.get("attention_mask")
    if not isinstance(mask, Tensor) or mask.ndim != 2:
        raise ValueError(
            "mini_batch_num_tokens needs an 'attention_mask' (or StaticEmbedding offsets) to count tokens."
        )
    return mask.sum(dim=1).tolist()


def minibatch_ranges(features: dict[str, Any], mini_batch_size: int, mini_batch_num_tokens: int | None) -> list[Range]:
    """Consecutive ``(begin, end)`` row ranges: ``mini_batch_size`` rows each, or packed to a token budget."""
    batch_size = batch_size_of(features)
    if mini_batch_num_tokens is None:
        return [(begin, min(begin + mini_batch_size, batch_size)) for begin in range(0, batch_size, mini_batch_size)]
    ranges, begin, used = [], 0, 0
    for row, count in enumerate(_token_counts(features)):
        if row > begin and used + count > mini_batch_num_tokens:
            ranges.append((begin, row))
            begin, used = row, 0
        used += count
    if begin < batch_size:
        ranges.append((begin, batch_size))
    return ranges


def slice_features(features: dict[str, Any], begin: int, end: int) -> dict[str, Any]:
    """Rows ``begin:end`` of a tokenized batch, with padding columns that no kept row uses trimmed off the end."""
    if _is_flat_static(features):
        return _slice_flat_static(features, begin, end)
    batch_size = batch_size_of(features)
    mask = features.get("attention_mask")
    width, keep = None, None
    if isinstance(mask, Tensor) and mask.ndim == 2:
        width = mask.shape[1]
        used = mask[begin:end].bool().any(dim=0).nonzero()
        keep = int(used.max()) + 1 if len(used) else width
    result = {}
    for key, value in features.items():
        if not isinstance(value, Tensor) or value.ndim == 0 or value.shape[0] != batch_size:
            result[key] = value
        elif width is not None and value.ndim >= 2 and value.shape[1] == width:
            result[key] = value[begin:end, :keep]
        else:
            result[key] = value[begin:end]
    return result


def _slice_flat_static(features: dict[str, Any], begin: int, end: int) -> dict[str, Any]:
    """Rows ``begin:end`` of a StaticEmbedding batch: the token span of those texts and re-based offsets."""
    offsets, ids = features["offsets"], features["input_ids"]
    start = int(offsets[begin])
    stop = int(offsets[end]) if end < len(offsets) else len(ids)
    result = dict(features)
    result["input_ids"] = ids[start:stop]
    result["offsets"] = offsets[begin:end] - start
    return result


def check_mini_batching(mini_batch_size: int, mini_batch_num_tokens: int | None) -> None:
    """Raise a ValueError unless ``mini_batch_size`` is a positive integer and ``mini_batch_num_tokens`` is None or
    positive: the two knobs of every cached (GradCache) loss."""
    if not isinstance(mini_batch_size, int) or mini_batch_size < 1:
        raise ValueError(f"mini_batch_size must be a positive integer, got {mini_batch_size!r}.")
    if mini_batch_num_tokens is not None and mini_batch_num_tokens < 1:
        raise ValueError(f"mini_batch_num_tokens must be a positive integer or None, got {mini_batch_num_tokens!r}.")


class CachedLossMixin:
    """Adds ``forward_cached`` to a loss; the loss implements ``calculate_loss`` on the cached embeddings.

    ``calculate_loss(reps, labels, with_backward)`` gets, per column, the list of its mini-batch embeddings (leaf
    tensors; ``torch.cat`` them for the full column). With ``with_backward=True`` it must call ``backward()`` on (parts
    of) its loss, so that each mini-batch embedding gets a ``.grad``, and return the loss value; chunking that backward
    keeps the loss stage's memory bounded too. Wrappers such as MatryoshkaLoss recognise a cached loss with
    :func:`uses_gradient_cache` and may wrap ``calculate_loss``.

    ``embed_minibatch`` yields ``(embeddings, ..., random_state)``; a loss whose mini-batches carry more than the
    embeddings (CachedGISTEmbedLoss: its guide's embeddings) yields them in between and turns them into the second
    argument of ``calculate_loss`` with ``loss_inputs``.
    """

    uses_gradient_cache: bool = True

    model: nn.Module
    mini_batch_size: int
    mini_batch_num_tokens: int | None = None
    show_progress_bar: bool = False

    def calculate_loss(
        self, reps: list[list[Tensor]], labels: Tensor | None = None, with_backward: bool = False
    ) -> Tensor:
        """The loss on the mini-batch embeddings of every column."""
        raise NotImplementedError

    def embed_minibatch(
        self,
        sentence_feature: dict[str, Tensor],
        begin: int,
        end: int,
        with_grad: bool,
        copy_random_state: bool,
        random_state: RandContext | None = None,
    ) -> tuple[Tensor, RandContext | None]:
        """Embed rows ``begin:end`` of one column: ``(embeddings, random state before the forward or None)``.

        ``random_state`` replays a state taken earlier (so dropout draws the same masks); ``copy_random_state``
        takes one now, for a later replay.
        """
        batch = slice_features(sentence_feature, begin, end)
        with nullcontext() if random_state is None else random_state:
            with nullcontext() if with_grad else torch.no_grad():
                state = RandContext(*batch.values()) if copy_random_state else None
                return self.model(batch)["sentence_embedding"], state

    def embed_minibatch_iter(
        self,
        sentence_feature: dict[str, Tensor],
        with_grad: bool,
        copy_random_state: bool,
        random_states: list[RandContext | None] | None = None,
        ranges: list[Range] | None = None,
    ) -> Iterator[tuple[Any, ...]]:
        """:meth:`embed_minibatch` over every mini-batch of one column (``ranges``, or split by the size settings)."""
        if ranges is None:
            ranges = minibatch_ranges(sentence_feature, self.mini_batch_size, self.mini_batch_num_tokens)
        for index, (begin, end) in enumerate(
            tqdm(ranges, desc="Embed mini-batches", disable=not self.show_progress_bar)
        ):
            state = None if random_states is None else random_states[index]
            yield self.embed_minibatch(sentence_feature, begin, end, with_grad, copy_random_state, state)

    def loss_inputs(self, labels: Tensor | None, extras: list[list[tuple[Any, ...]]]) -> Any:
        """The second argument of ``calculate_loss``: the labels, unless mini-batches carry more (see class doc)."""
        return labels

    def calculate_loss_and_cache_gradients(
        self, reps: list[list[Tensor]], labels: Any
    ) -> tuple[Tensor, list[list[Tensor]]]:
        """Step (2): the loss (detached, to hook the replay on) and the gradient of each mini-batch embedding."""
        loss = self.calculate_loss(reps, labels, with_backward=True)
        unused = [str(index) for index, chunks in enumerate(reps) if any(chunk.grad is None for chunk in chunks)]
        if unused:
            raise ValueError(
                f"{type(self).__name__} did not use input column(s) {', '.join(unused)}; remove them from the data."
            )
        return loss.detach().requires_grad_(), [[chunk.grad for chunk in chunks] for chunks in reps]

    def forward_cached(self, sentence_features: Iterable[dict[str, Tensor]], labels: Tensor | None = None) -> Tensor:
        """The loss over the whole batch; its ``backward()`` re-embeds mini-batch by mini-batch (step 3)."""
        features = list(sentence_features)
        ranges = [minibatch_ranges(f, self.mini_batch_size, self.mini_batch_num_tokens) for f in features]
        training = torch.is_grad_enabled()
        reps, states, extras = [], [], []
        for column, column_ranges in zip(features, ranges, strict=True):  # step (1)
            outputs = list(self.embed_minibatch_iter(column, False, training, ranges=column_ranges))
            reps.append([output[0].detach().requires_grad_(training) for output in outputs])
            states.append([output[-1] for output in outputs])
            extras.append([output[1:-1] for output in outputs])
        inputs = self.loss_inputs(labels, extras)
        if not training:
            return self.calculate_loss(reps, inputs)
        loss, grads = self.calculate_loss_and_cache_gradients(reps, inputs)
        replay = partial(self._replay, features=features, ranges=ranges, states=states, grads=grads)
        loss.register_hook(replay)
        return loss

    def _replay(
        self,
        grad_output: Tensor,
        features: list[dict[str, Any]],
        ranges: list[list[Range]],
        states: list[list[RandContext | None]],
        grads: list[list[Tensor]],
    ) -> None:
        """Step (3): re-embed each mini-batch with gradients and back-propagate the cached embedding gradient."""
        with torch.enable_grad():
            for column, column_ranges, column_states, column_grads in zip(features, ranges, states, grads, strict=True):
                outputs = self.embed_minibatch_iter(column, True, False, column_states, column_ranges)
                for output, grad in zip(outputs, column_grads, strict=True):
                    rep = output[0]
                    if not rep.requires_grad:
                        continue  # a frozen model: nothing to train
                    dtype = torch.promote_types(torch.promote_types(rep.dtype, grad.dtype), torch.float32)
                    surrogate = (rep.to(dtype) * grad.to(dtype)).sum() * grad_output.to(dtype)
                    surrogate.backward()
