"""torch.distributed helpers that also work (as no-ops) in a single, non-distributed process."""

from __future__ import annotations

import functools
import logging
import pickle
import traceback
from collections.abc import Iterator
from contextlib import contextmanager, nullcontext
from typing import Any

import numpy as np
import torch
from torch import Tensor

from sentence_transformers.util.environment import is_dist_initialized
from sentence_transformers.util.misc import disable_logging
from sentence_transformers.util.tensor import _move_tensors_to_cpu, _move_tensors_to_device

__all__ = [
    "all_gather",
    "all_gather_padded",
    "all_gather_with_grad",
    "broadcast_object",
    "disable_logging",
    "distributed_evaluation",
    "get_rank",
    "get_world_size",
    "is_dist_initialized",
]

logger = logging.getLogger(__name__)


@functools.cache
def _warn_once(message: str) -> None:
    """Log ``message`` as a warning the first time only."""
    logger.warning(message)


def get_rank() -> int:
    """Rank of this process in the default process group; 0 when torch.distributed is not initialized."""
    return torch.distributed.get_rank() if is_dist_initialized() else 0


def get_world_size() -> int:
    """Number of processes in the default process group; 1 when torch.distributed is not initialized."""
    return torch.distributed.get_world_size() if is_dist_initialized() else 1


class _AllGatherWithGrad(torch.autograd.Function):
    """Concatenate every rank's rows; backward hands each rank the sum, over all ranks, of its rows' gradients.

    That sum is the gradient of the sum of all ranks' losses; DDP's averaging of the parameter gradients then
    turns it into the gradient of their mean.
    """

    @staticmethod
    def forward(ctx: Any, tensor: Tensor) -> Tensor:
        tensor = tensor.contiguous()
        gathered = [torch.empty_like(tensor) for _ in range(torch.distributed.get_world_size())]
        torch.distributed.all_gather(gathered, tensor)
        ctx.rows = tensor.shape[0]
        return torch.cat(gathered, dim=0)

    @staticmethod
    def backward(ctx: Any, grad: Tensor) -> Tensor:
        grad = grad.contiguous()
        if torch.distributed.get_backend() in ("nccl", "xccl"):
            local = grad.new_empty((ctx.rows, *grad.shape[1:]))
            torch.distributed.reduce_scatter_tensor(local, grad)
            return local
        grad = grad.clone()  # gloo and others lack reduce_scatter: sum everything, keep this rank's rows
        torch.distributed.all_reduce(grad)
        start = torch.distributed.get_rank() * ctx.rows
        return grad[start : start + ctx.rows]


def all_gather(tensor: Tensor, with_grad: bool = False) -> Tensor:
    """Concatenate ``tensor`` from every rank along dim 0, in rank order.

    The local rank's slice always keeps its gradient; ``with_grad=True`` also backpropagates into the other ranks'
    slices (each rank receives the sum of the gradients all ranks' losses send its rows). Every rank must pass a
    tensor of the same shape. Without an initialized process group the tensor itself is returned (with a one-time
    warning).
    """
    if not is_dist_initialized():
        _warn_once(
            "Trying to gather while torch.distributed is not available or has not been initialized, returning the "
            "original (local) tensor. This is expected if you are only using one GPU; consider not using gathering "
            "to remove this warning."
        )
        return tensor
    if with_grad:
        return _AllGatherWithGrad.apply(tensor)
    gathered = [torch.zeros_like(tensor) for _ in range(torch.distributed.get_world_size())]
    torch.distributed.all_gather(gathered, tensor.contiguous())
    gathered[torch.distributed.get_rank()] = tensor  # keep the local slice's autograd history
    return torch.cat(gathered, dim=0)


def all_gather_with_grad(tensor: Tensor) -> Tensor:
    """:func:`all_gather` with gradients flowing back into every rank's slice."""
    return all_gather(tensor, with_grad=True)


def broadcast_object(obj: Any, src: int = 0) -> Any:
    """``obj`` as process ``src`` holds it, returned on every process (it must pickle); ``obj`` when alone."""
    if get_world_size() == 1:
        return obj
    holder = [obj]
    with torch.inference_mode(False):
        torch.distributed.broadcast_object_list(holder, src=src)
    return holder[0]


def all_gather_padded(tensor: Tensor, mask: Tensor, with_grad: bool = False) -> tuple[Tensor, Tensor]:
    """Gather ``(B, T, D)`` token embeddings and their ``(B, T)`` mask from every rank, whose ``T`` may differ.

    Both are first zero-padded (mask False/0) along the token axis to the largest ``T`` of any rank, as all_gather
    needs equal shapes. ``with_grad`` applies to the embeddings only; the mask carries no gradient.

    Returns:
        ``(sum B, T_max, D)`` embeddings and ``(sum B, T_max)`` mask; the inputs themselves when not distributed.
    """
    if is_dist_initialized():
        width = torch.tensor(tensor.size(1), device=tensor.device)
        torch.distributed.all_reduce(width, op=torch.distributed.ReduceOp.MAX)
        missing = int(width.item()) - tensor.size(1)
        if missing > 0:
            tensor = torch.nn.functional.pad(tensor, (0, 0, 0, missing))
            mask = torch.nn.functional.pad(mask, (0, missing))
    return all_gather(tensor, with_grad=with_grad), all_gather(mask)


def _join_outputs(outputs: list[Any]) -> Any:
    """Join the per-rank ``encode`` results of consecutive input shards into one result, in order."""
    first = outputs[0]
    if isinstance(first, Tensor):
        return torch.cat(outputs)
    if isinstance(first, np.ndarray):
        return np.concatenate(outputs)
    return [item for output in outputs for item in output]


class _ShardedEncode:
    """Stands in for ``model.encode`` on rank 0: splits the inputs over all ranks, which encode their shard with the
    model's own ``encode`` and send the (CPU) result back; rank 0 joins them in input order."""

    def __init__(self, model: Any) -> None:
        self.model = model
        self.encode = model.encode  # the original, bound before distributed_evaluation replaces it
        self.rank = get_rank()
        self.world_size = get_world_size()

    def __call__(self, inputs: Any, *args, **kwargs) -> Any:
        """Encode ``inputs`` across all ranks; single inputs and unpicklable arguments are encoded locally."""
        if not isinstance(inputs, list) or not inputs:
            return self.encode(inputs, *args, **kwargs)
        kwargs["show_progress_bar"] = False
        size, remainder = divmod(len(inputs), self.world_size)
        messages, start = [], 0
        for rank in range(self.world_size):
            end = start + size + (rank < remainder)
            messages.append(("encode", (inputs[start:end], args, kwargs)))
            start = end
        try:
            pickle.dumps(messages)
        except Exception:  # noqa: BLE001 - e.g. a tensor on an exotic device or a lambda in kwargs
            return self.encode(inputs, *args, **kwargs)
        results = self._encode_and_gather(self._scatter(messages)[1])
        errors = [f"Rank {rank}:\n{error}" for rank, (_, error) in enumerate(results) if error is not None]
        if errors:
            raise RuntimeError("Distributed evaluator inference failed:\n" + "\n".join(errors))
        output = _join_outputs([output for output, _ in results if output is not None])
        device = getattr(self.model, "device", torch.device("cpu"))
        return _move_tensors_to_device(output, device) if torch.device(device).type != "cpu" else output

    def _scatter(self, messages: list[Any] | None = None) -> tuple[str, Any]:
        """Rank 0 sends one ``(command, payload)`` message to each rank; every rank returns its own."""
        received: list[Any] = [None]
        with torch.inference_mode(False):
            torch.distributed.scatter_object_list(received, messages, src=0)
        return received[0]

    def _encode_and_gather(self, payload: tuple[list[Any], tuple, dict[str, Any]]) -> list[Any] | None:
        """Encode this rank's shard and gather every rank's ``(output, error)`` on rank 0 (None elsewhere)."""
        inputs, args, kwargs = payload
        try:
            result = (_move_tensors_to_cpu(self.encode(inputs, *args, **kwargs)) if inputs else None, None)
            pickle.dumps(result)
        except Exception:  # noqa: BLE001 - reported to rank 0, which raises it
            result = (None, traceback.format_exc())
        gathered = [None] * self.world_size if self.rank == 0 else None
        with torch.inference_mode(False):
            torch.distributed.gather_object(result, gathered, dst=0)
        return gathered

    def serve(self) -> None:
        """On ranks other than 0: encode shards until rank 0 says stop (re-raising a rank 0 failure)."""
        while True:
            command, payload = self._scatter()
            if command == "stop":
                if payload is not None:
                    raise RuntimeError(f"Distributed evaluator failed on rank 0:\n{payload}")
                return
            self._encode_and_gather(payload)

    def stop(self, error: str | None) -> None:
        """Release the serving ranks, passing rank 0's traceback along if the evaluator failed."""
        self._scatter([("stop", error)] * self.world_size)


@contextmanager
def distributed_evaluation(model: Any, enabled: bool = True) -> Iterator[bool]:
    """Run an evaluator once under DDP while every rank shares its encoding work; yields whether to run it here.

    Rank 0 yields True and, during the block, its ``model.encode`` of a list splits the inputs over all ranks. The
    other ranks serve those shards until rank 0 leaves the block, then yield False. Logs below WARNING are silenced
    on ranks other than 0. Not distributed, or ``enabled=False``: yields True on every rank, nothing shared.
    """
    is_main = get_rank() == 0
    with nullcontext() if is_main else disable_logging(logging.INFO):
        if not enabled or get_world_size() == 1:
            yield True
            return
        sharded = _ShardedEncode(model)
        if not is_main:
            sharded.serve()
            yield False
            return
        had_own_encode = "encode" in vars(model)
        model.encode = sharded
        error = None
        try:
            yield True
        except BaseException:
            error = traceback.format_exc()
            raise
        finally:
            if had_own_encode:
                model.encode = sharded.encode
            else:
                del model.encode
            sharded.stop(error)
