"""Inference in worker processes: one per device (several CPU workers on a machine without accelerators); the
workers run any model type's inference method (``encode``, ``predict``) on chunks of the inputs."""

from __future__ import annotations

import math
import os
import queue
import sys
import time
import traceback
from typing import TYPE_CHECKING, Any, NoReturn

import torch

from sentence_transformers.base import encoding

if TYPE_CHECKING:
    from sentence_transformers.sentence_transformer.model import SentenceTransformer

_POLL_SECONDS = 0.1  # how often a wait for results checks that every worker is still alive
_STOP_GRACE_SECONDS = 10.0  # how long a normal stop lets idle workers finish before terminating them
_KILL_GRACE_SECONDS = 2.0  # how long a terminated worker gets to exit before it is killed


def default_devices() -> list[str]:
    """Every CUDA device when there are some, else four CPU workers."""
    if torch.cuda.is_available():
        return [f"cuda:{index}" for index in range(torch.cuda.device_count())]
    return ["cpu"] * 4


def start_pool(model: SentenceTransformer, target_devices: list[str] | None = None) -> dict[str, Any]:
    """Start one spawned worker per target device, each holding a copy of the model."""
    devices = list(target_devices) if target_devices else default_devices()
    cpu_workers = sum(1 for device in devices if str(device).startswith("cpu"))
    threads = max(1, (os.cpu_count() or 1) // max(1, cpu_workers))
    context = torch.multiprocessing.get_context("spawn")
    inputs, outputs = context.Queue(), context.Queue()
    model.to("cpu")
    model.share_memory()
    processes = []
    for device in devices:
        process = context.Process(
            target=_worker, args=(str(device), model, inputs, outputs, threads), daemon=True, name=f"sbert-{device}"
        )
        process.start()
        processes.append(process)
    return {
        "input": inputs,
        "output": outputs,
        "processes": processes,
        "dimension": (getattr(model, "get_embedding_dimension", None) or (lambda: None))(),
    }


def stop_pool(pool: dict[str, Any]) -> None:
    """Stop the workers and release the queues; harmless on a pool that is already stopped.

    Idle, healthy workers get a clean exit (a None each). A pool whose worker died, or whose last encode did not
    finish, is torn down at once: its input queue may hold a backlog, or a lock held by the dead worker."""
    processes = pool.get("processes")
    if not processes:
        return
    if not pool.get("busy") and not _dead_workers(processes):
        for _ in processes:
            pool["input"].put(None)
        deadline = time.monotonic() + _STOP_GRACE_SECONDS
        for process in processes:
            process.join(timeout=max(0.0, deadline - time.monotonic()))
    _terminate(processes)
    _release_queues(pool)
    processes.clear()


def encode_in_pool(
    pool: dict[str, Any],
    sentences: Any,
    prompt: str | None,
    chunk_size: int | None,
    options: encoding.EncodeOptions,
    **kwargs,
) -> Any:
    """Split the inputs into chunks, let the workers encode them, and reassemble them in the caller's order."""
    if not pool.get("processes"):
        raise ValueError("This pool has no running workers (was it stopped?)")
    _check_workers(pool)
    inputs, single = encoding.as_input_list(sentences)
    if not inputs:
        return encoding.convert([], options, pool.get("dimension"))
    worker_kwargs = {
        "prompt": prompt,
        "batch_size": options.batch_size,
        "output_value": options.output_value,
        "normalize_embeddings": options.normalize_embeddings,
        "truncate_dim": options.truncate_dim,
        "convert_to_numpy": False,
        "convert_to_tensor": options.output_value == "sentence_embedding",  # one tensor per chunk, not rows
        "show_progress_bar": False,
        **kwargs,
    }
    ordered = run_in_pool(pool, inputs, "encode", worker_kwargs, chunk_size)
    if options.output_value == "sentence_embedding":
        output = encoding.convert(torch.cat(ordered), options, None)
    else:
        output = encoding.convert([row for rows in ordered for row in rows], options, None)
    return output[0] if single else output


def run_in_pool(
    pool: dict[str, Any], inputs: list[Any], method: str, kwargs: dict[str, Any], chunk_size: int | None = None
) -> list[Any]:
    """Split ``inputs`` into chunks, have the workers call ``model.<method>(chunk, **kwargs)`` (``encode`` for a
    SentenceTransformer, ``predict`` for a CrossEncoder), and return the chunks' results in the caller's order."""
    if not pool.get("processes"):
        raise ValueError("This pool has no running workers (was it stopped?)")
    _check_workers(pool)
    if chunk_size is not None and chunk_size <= 0:
        raise ValueError(f"chunk_size must be a positive integer, got {chunk_size}.")
    size = chunk_size or max(1, min(math.ceil(len(inputs) / len(pool["processes"]) / 10), 5000))
    chunks = [inputs[start : start + size] for start in range(0, len(inputs), size)]
    pool["busy"] = True  # until every chunk is back: a stop in between must not wait on the backlog
    for chunk_id, chunk in enumerate(chunks):
        pool["input"].put((chunk_id, chunk, method, kwargs))
    results = _collect(pool, len(chunks))
    return [results[chunk_id] for chunk_id in range(len(chunks))]


def _collect(pool: dict[str, Any], count: int) -> dict[int, list[Any]]:
    """Wait for every chunk; a worker's error is raised here once all chunks are in, so the pool stays usable.

    A dead worker's chunks never come back, so the wait checks the workers between short polls and gives up (and
    tears the pool down) as soon as one has died."""
    results: dict[int, list[Any]] = {}
    error = None
    while len(results) < count:
        _check_workers(pool, collecting=True)
        try:
            chunk_id, rows, failure = pool["output"].get(timeout=_POLL_SECONDS)
        except queue.Empty:
            continue
        results[chunk_id] = rows if rows is not None else []
        error = error or failure
    pool["busy"] = False
    if error:
        raise RuntimeError(f"Encoding failed in a worker process:\n{error}")
    return results


def _dead_workers(processes: list[Any]) -> list[str]:
    """Describe each worker that has exited (workers only exit when a stop asks them to)."""
    return [
        f"{process.name} (pid {process.pid}, exit code {process.exitcode})"
        for process in processes
        if not process.is_alive()
    ]


def _check_workers(pool: dict[str, Any], collecting: bool = False) -> None:
    """Raise if the pool cannot be trusted any more: a worker died (its chunks are lost, and it may have died holding
    a queue's lock; the survivors are stopped at once), or a new call finds an earlier one's chunks still queued."""
    if pool.get("broken"):
        raise RuntimeError(pool["broken"])
    if pool.get("busy") and not collecting:
        # the workers still hold chunks of an earlier, interrupted call: their results would be taken for this one's
        raise RuntimeError("An earlier encode in this pool was interrupted: stop the pool and start a new one")
    dead = _dead_workers(pool["processes"])
    if not dead:
        return
    pool["broken"] = (
        f"Encoding worker(s) {', '.join(dead)} died before finishing their chunks; the pool's other workers were "
        "stopped: call stop_multi_process_pool and start a new pool"
    )
    _terminate(pool["processes"])
    _release_queues(pool)
    raise RuntimeError(pool["broken"])


def _terminate(processes: list[Any]) -> None:
    """Terminate the workers that are still running and wait for them; kill any that ignore the request."""
    for process in processes:
        if process.is_alive():
            process.terminate()
    for process in processes:
        process.join(timeout=_KILL_GRACE_SECONDS)
        if process.is_alive():
            process.kill()
            process.join(timeout=_KILL_GRACE_SECONDS)


def _release_queues(pool: dict[str, Any]) -> None:
    """Close both queues without waiting for their feeder threads: data nobody will read must not block exit."""
    for name in ("input", "output"):
        pool[name].cancel_join_thread()
        pool[name].close()


def _worker(device: str, model: SentenceTransformer, inputs: Any, outputs: Any, threads: int) -> None:
    """Encode chunks until told to stop (None); report failures instead of dying."""
    torch.set_num_threads(threads)
    model.to(device)
    while True:
        task = inputs.get()
        if task is None:
            _leave(outputs)
        chunk_id, chunk, method, kwargs = task
        try:
            rows = getattr(model, method)(chunk, **kwargs)
            if isinstance(rows, torch.Tensor):
                rows = rows.cpu()
            else:
                rows = [row.cpu() if isinstance(row, torch.Tensor) else row for row in rows]
            outputs.put((chunk_id, rows, None))
        except Exception as exc:  # noqa: BLE001 - every failure must reach the caller
            outputs.put((chunk_id, None, f"{type(exc).__name__}: {exc}\n{traceback.format_exc()}"))


def _leave(outputs: Any) -> NoReturn:
    """Exit a worker at once: an interpreter with torch loaded takes seconds to tear itself down, which every stop
    would wait for. The results are flushed first; nothing else in a worker needs cleaning up."""
    outputs.close()
    outputs.join_thread()
    for stream in (sys.stdout, sys.stderr):
        if stream is not None:
            stream.flush()
    os._exit(0)
