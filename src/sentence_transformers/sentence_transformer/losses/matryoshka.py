"""MatryoshkaLoss: train embeddings whose leading dimensions are good embeddings on their own."""

from __future__ import annotations

import logging
import random
from collections.abc import Callable, Iterable, Sequence
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from sentence_transformers.base.losses.gradcache import uses_gradient_cache
from sentence_transformers.sentence_transformer.losses._loss_utils import embedding_dimension

logger = logging.getLogger(__name__)


def shrink(tensor: Tensor, dim: int) -> Tensor:
    """The first ``dim`` values of each embedding (the last axis of ``tensor``), L2-normalized."""
    if dim > tensor.shape[-1]:
        raise ValueError(f"Matryoshka dimension {dim} exceeds the embedding dimension {tensor.shape[-1]}")
    return F.normalize(tensor[..., :dim], p=2, dim=-1)


def choose_indices(count: int, n_per_step: int) -> list[int]:
    """Ascending indices of the ``n_per_step`` randomly chosen items out of ``count`` (all when ``n_per_step`` <= 0)."""
    indices = list(range(count))
    if 0 < n_per_step < count:
        indices = sorted(random.sample(indices, n_per_step))
    return indices


class ForwardDecorator:
    """Stands in for ``model.forward``: runs the model on the first pass, then replays its outputs truncated.

    The inner loss calls the model in the same order for every dimension, so call ``i`` of a later pass reuses
    the output of call ``i`` of the first pass; one forward pass (and one autograd graph) serves every dimension.
    """

    def __init__(self, fn: Callable[..., dict[str, Any]]) -> None:
        self.fn = fn
        self.recorded: list[tuple[dict[str, Any], Tensor]] = []
        self.recording = True
        self.dim: int | None = None
        self.position = 0

    def set_dim(self, dim: int) -> None:
        """Start the pass for ``dim``; every pass after the first replays."""
        if self.dim is not None:
            self.recording = False
        self.dim = dim
        self.position = 0

    def __call__(self, features: dict[str, Any], **kwargs) -> dict[str, Any]:
        if self.recording:
            output = self.fn(features, **kwargs)
            self.recorded.append((output, output["sentence_embedding"]))
        elif self.position < len(self.recorded):
            output = self.recorded[self.position][0]
        else:
            raise RuntimeError("The inner loss called the model more often for this dimension than for the first one")
        full = self.recorded[self.position][1]
        self.position += 1
        return {**output, "sentence_embedding": shrink(full, self.dim)}


class MatryoshkaLoss(nn.Module):
    """Apply ``loss`` to embeddings truncated to each of ``matryoshka_dims`` and sum the weighted results.

    Embeddings are truncated and L2-normalized before the inner loss sees them (at the full size too). The
    model runs once per step whatever the number of dimensions. Losses with gradient caching (those with
    ``uses_gradient_cache = True`` and a ``calculate_loss(reps, ..., with_backward=...)`` method, such as the
    Cached* losses) are supported by truncating their cached embeddings instead.

    Args:
        model: The SentenceTransformer to train.
        loss: Any loss over that model (e.g. MultipleNegativesRankingLoss, CoSENTLoss).
        matryoshka_dims: Dimensions to train, e.g. [768, 512, 256, 128, 64]; include the full size.
        matryoshka_weights: Weight of each dimension's loss; 1 for all by default.
        n_dims_per_step: Train only this many randomly chosen dimensions per step; -1 (default) trains all.
    """

    def __init__(
        self,
        model: nn.Module,
        loss: nn.Module,
        matryoshka_dims: Sequence[int],
        matryoshka_weights: Sequence[float] | None = None,
        n_dims_per_step: int = -1,
    ) -> None:
        super().__init__()
        self.model = model
        self.loss = loss
        dims, weights = _check_dims(model, matryoshka_dims, matryoshka_weights)
        # largest first: the first pass records the outputs that later (smaller) passes truncate
        pairs = sorted(zip(dims, weights, strict=True), key=lambda pair: pair[0], reverse=True)
        self.matryoshka_dims: tuple[int, ...] = tuple(dim for dim, _ in pairs)
        self.matryoshka_weights: tuple[float, ...] = tuple(weight for _, weight in pairs)
        self.n_dims_per_step = n_dims_per_step

    @property
    def uses_gradient_cache(self) -> bool:
        """Whether the inner loss caches gradients (then this loss does too)."""
        return uses_gradient_cache(self.loss)

    def chosen_indices(self) -> list[int]:
        """Indices of the dimensions to train this step, largest dimension first."""
        return choose_indices(len(self.matryoshka_dims), self.n_dims_per_step)

    def forward(self, sentence_features: Iterable[dict[str, Tensor]], labels: Tensor | None) -> Tensor:
        """Sum of ``weight * loss`` over the chosen dimensions, from one forward pass of the model."""
        sentence_features = list(sentence_features)
        if self.uses_gradient_cache:
            return self._forward_cached(sentence_features, labels)
        original = self.model.__dict__.get("forward")
        replay = ForwardDecorator(self.model.forward)
        self.model.forward = replay
        try:
            total = 0.0
            for index in self.chosen_indices():
                dim = self.matryoshka_dims[index]
                replay.set_dim(dim)
                total = total + self.matryoshka_weights[index] * self.loss(sentence_features, self._labels(labels, dim))
        finally:
            _restore(self.model, "forward", original)
        return total

    def _labels(self, labels: Tensor | None, dim: int) -> Tensor | None:
        """Truncate labels that are embeddings themselves (e.g. MSELoss's teacher embeddings)."""
        full = _embedding_dimension(self.model)
        if isinstance(labels, Tensor) and labels.ndim in (2, 3) and full is not None and labels.shape[-1] == full:
            return labels[..., :dim]
        return labels

    def _forward_cached(self, sentence_features: list[dict[str, Tensor]], labels: Tensor | None) -> Tensor:
        """Let the cached inner loss embed once, and wrap its loss computation with the truncation."""
        original = self.loss.__dict__.get("calculate_loss")
        self.loss.calculate_loss = CachedLossDecorator(
            self.loss.calculate_loss, self.matryoshka_dims, self.matryoshka_weights, self.n_dims_per_step
        )
        try:
            return self.loss(sentence_features, labels)
        finally:
            _restore(self.loss, "calculate_loss", original)

    def get_config_dict(self) -> dict[str, Any]:
        """Settings shown in model cards."""
        return {
            "loss": type(self.loss).__name__,
            "matryoshka_dims": self.matryoshka_dims,
            "matryoshka_weights": self.matryoshka_weights,
            "n_dims_per_step": self.n_dims_per_step,
        }

    @property
    def citation(self) -> str:
        """BibTeX of the paper behind the loss."""
        return KUSUPATI_2022


class CachedLossDecorator:
    """Wraps a cached loss's ``calculate_loss(reps, *args, with_backward=...)`` to sum over truncated reps.

    ``reps`` is a list (per column) of lists (per mini-batch) of detached embeddings that require grad. For
    each chosen dimension the inner loss runs on truncated copies; their gradients are carried back to ``reps``
    (scaled by the dimension's weight) so the caller's gradient cache holds the weighted sum over dimensions.
    """

    def __init__(
        self,
        fn: Callable[..., Tensor],
        matryoshka_dims: Sequence[int],
        matryoshka_weights: Sequence[float],
        n_dims_per_step: int = -1,
    ) -> None:
        self.fn = fn
        self.matryoshka_dims = matryoshka_dims
        self.matryoshka_weights = matryoshka_weights
        self.n_dims_per_step = n_dims_per_step

    def __call__(self, reps: list[list[Tensor]], *args, with_backward: bool = False, **kwargs) -> Tensor:
        total = 0.0
        for index in choose_indices(len(self.matryoshka_dims), self.n_dims_per_step):
            dim, weight = self.matryoshka_dims[index], self.matryoshka_weights[index]
            truncated = [[shrink(rep, dim) for rep in column] for column in reps]
            if not with_backward:
                total = total + weight * self.fn(truncated, *args, **kwargs)
                continue
            leaves = [[rep.detach().requires_grad_() for rep in column] for column in truncated]
            total = total + weight * self.fn(leaves, *args, with_backward=True, **kwargs)
            pairs = [
                (t, leaf.grad) for tc, lc in zip(truncated, leaves, strict=True) for t, leaf in zip(tc, lc, strict=True)
            ]
            pairs = [(t, grad) for t, grad in pairs if grad is not None]
            if pairs:
                torch.autograd.backward([t for t, _ in pairs], [weight * grad for _, grad in pairs])
        return total


def _check_dims(
    model: nn.Module, dims: Sequence[int], weights: Sequence[float] | None
) -> tuple[list[int], list[float]]:
    """Validate the dimensions and weights; warn when the full dimension is not trained."""
    dims = list(dims or [])
    if not dims:
        raise ValueError("matryoshka_dims must list at least one dimension, e.g. [768, 512, 256]")
    if any(isinstance(dim, bool) or not isinstance(dim, int) or dim <= 0 for dim in dims):
        raise ValueError(f"matryoshka_dims must be positive integers, got {dims}")
    weights = [1] * len(dims) if weights is None else list(weights)
    if len(weights) != len(dims):
        raise ValueError(f"matryoshka_weights has {len(weights)} values but matryoshka_dims has {len(dims)}")
    full = _embedding_dimension(model)
    if full is not None:
        if max(dims) > full:
            raise ValueError(f"matryoshka_dims {dims} exceed the model's embedding dimension {full}")
        if full not in dims:
            logger.warning(
                "The model's embedding dimension %d is not in matryoshka_dims %s: it is not trained", full, dims
            )
    return dims, weights


def _embedding_dimension(model: nn.Module) -> int | None:
    """The model's embedding size, or None when no module knows it."""
    try:
        return embedding_dimension(model)
    except ValueError:
        return None


def _restore(owner: Any, name: str, original: Any) -> None:
    """Undo an instance-level override: put back the previous instance attribute, or drop ours."""
    if original is None:
        owner.__dict__.pop(name, None)
    else:
        setattr(owner, name, original)


KUSUPATI_2022 = """
@misc{kusupati2024matryoshka,
    title={Matryoshka Representation Learning},
    author={Aditya Kusupati and Gantavya Bhatt and Aniket Rege and Matthew Wallingford and Aditya Sinha and Vivek Ramanujan and William Howard-Snyder and Kaifeng Chen and Sham Kakade and Prateek Jain and Ali Farhadi},
    year={2024},
    eprint={2205.13147},
    archivePrefix={arXiv},
    primaryClass={cs.LG}
}
"""  # noqa: E501
