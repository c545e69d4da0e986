"""Small helpers shared by the losses: naming callables for configs, label checks, distributed gathering."""

from __future__ import annotations

import functools
from collections.abc import Callable
from inspect import isclass
from typing import Any

import torch
from torch import Tensor, nn


def check_label_count(loss: nn.Module, labels: Tensor | None, batch_size: int) -> Tensor:
    """Return ``labels`` flattened to one value per example, or raise if the count does not match the batch."""
    name = type(loss).__name__
    if labels is None:
        raise ValueError(f"{name} needs one label per example, but labels is None.")
    if labels.numel() != batch_size:
        raise ValueError(
            f"{name} expects {batch_size} labels (one per example), got {labels.numel()} with shape "
            f"{tuple(labels.shape)}."
        )
    return labels.view(-1)


def fullname(obj: Any) -> str:
    """``module.ClassName`` of an object or class, e.g. ``torch.nn.modules.loss.MSELoss`` (builtins: just the name)."""
    cls = obj if isclass(obj) else type(obj)
    module = cls.__module__
    if module is None or module == "builtins":
        return cls.__qualname__
    return f"{module}.{cls.__qualname__}"


def callable_name(fn: Callable[..., Any]) -> str:
    """Readable name of a scoring function for a config dict: ``cos_sim``, ``f(a=1)`` for partials.

    ``model.similarity`` (a bound method that dispatches on the model's ``similarity_fn_name``) is reported as the
    function it resolves to.
    """
    if isinstance(fn, functools.partial):
        inner = getattr(fn.func, "__name__", type(fn.func).__name__)
        args = ", ".join(f"{key}={value!r}" for key, value in fn.keywords.items())
        return f"{inner}({args})" if args else inner
    name = getattr(fn, "__name__", type(fn).__name__)
    owner = getattr(fn, "__self__", None)
    if name in ("similarity", "similarity_pairwise") and hasattr(owner, "similarity_fn_name"):
        from sentence_transformers.util.similarity import SimilarityFunction

        resolve = SimilarityFunction.to_similarity_fn
        if name == "similarity_pairwise":
            resolve = SimilarityFunction.to_similarity_pairwise_fn
        return resolve(owner.similarity_fn_name).__name__
    return name


def distributed_rank_and_world() -> tuple[int, int]:
    """``(rank, world_size)`` of the current process; ``(0, 1)`` when torch.distributed is not initialised."""
    if torch.distributed.is_available() and torch.distributed.is_initialized():
        return torch.distributed.get_rank(), torch.distributed.get_world_size()
    return 0, 1


def gather_with_grad(tensor: Tensor) -> Tensor:
    """Concatenate ``tensor`` from every process (rank order), keeping gradients; the tensor itself when alone."""
    _, world_size = distributed_rank_and_world()
    if world_size == 1:
        return tensor
    import torch.distributed.nn

    return torch.cat(torch.distributed.nn.all_gather(tensor), dim=0)


def embedding_dimension(model: nn.Module) -> int:
    """The model's sentence embedding size, from whichever name the model offers."""
    for method_name in ("get_embedding_dimension", "get_sentence_embedding_dimension"):
        method = getattr(model, method_name, None)
        if callable(method) and method() is not None:
            return int(method())
    raise ValueError(f"Cannot tell the embedding dimension of {type(model).__name__}; pass it explicitly.")
