"""Small helpers shared by the losses: naming callables for configs, label checks, distributed gathering."""

from __future__ import annotations

import torch
from torch import Tensor, nn

from sentence_transformers.util.distributed import all_gather, get_rank


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


def gather_rows(tensors: list[Tensor], enabled: bool = True, with_grad: bool = True) -> tuple[list[Tensor], int]:
    """Each tensor concatenated over all processes in rank order, and the row where this process's rows start.

    With ``with_grad`` the gradient of every process's loss flows back into each process's own rows (summed, so
    that DDP's gradient averaging yields the gradient of the mean loss over the global batch). Not ``enabled``, or
    not distributed: the tensors themselves and offset 0. Every process must pass the same shapes.
    """
    if not enabled or not tensors:
        return tensors, 0
    gathered = [all_gather(tensor, with_grad=with_grad) for tensor in tensors]
    return gathered, get_rank() * tensors[0].shape[0]


def cut_graph(tensors: list[Tensor]) -> list[Tensor]:
    """Leaf copies of ``tensors`` that collect gradients, to be sent on by :func:`backward_from_cut`.

    A chunked loss back-propagates each chunk into the leaves and then the total through ``tensors`` once, so a
    gather (a collective in its backward) is crossed once per step rather than once per chunk.
    """
    return [tensor.detach().requires_grad_(tensor.requires_grad) for tensor in tensors]


def backward_from_cut(tensors: list[Tensor], leaves: list[Tensor]) -> None:
    """Back-propagate the gradients collected on the :func:`cut_graph` ``leaves`` through ``tensors``.

    A leaf without a gradient sends zeros, so that every process runs the same collectives.
    """
    pairs = [
        (tensor, leaf.grad if leaf.grad is not None else torch.zeros_like(leaf))
        for tensor, leaf in zip(tensors, leaves, strict=True)
        if tensor.requires_grad
    ]
    if pairs:
        outputs, grads = zip(*pairs, strict=True)
        torch.autograd.backward(list(outputs), list(grads))


def embedding_dimension(model: nn.Module) -> int:
    """The model's sentence embedding size, from whichever name the model offers."""
    for method_name in ("get_embedding_dimension", "get_sentence_embedding_dimension"):
        method = getattr(model, method_name, None)
        if callable(method) and method() is not None:
            return int(method())
    raise ValueError(f"Cannot tell the embedding dimension of {type(model).__name__}; pass it explicitly.")
