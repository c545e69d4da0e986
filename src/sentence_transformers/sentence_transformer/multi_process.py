"""Encoding in worker processes: one per device (several CPU workers on a machine without accelerators)."""

from __future__ import annotations

import math
import os
import queue
import traceback
from typing import TYPE_CHECKING, Any

import torch

from sentence_transformers.sentence_transformer import encoding

if TYPE_CHECKING:
    from sentence_transformers.sentence_transformer.model import SentenceTransformer

_POLL_SECONDS = 1.0


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
        "dimension": model.get_sentence_embedding_dimension(),
    }


def stop_pool(pool: dict[str, Any]) -> None:
    """Ask each worker to exit, wait for it, terminate stragglers, and close the queues."""
    processes = pool["processes"]
    for _ in processes:
        pool["input"].put(None)
    for process in processes:
        process.join(timeout=10)
        if process.is_alive():
            process.terminate()
            process.join()
    pool["input"].close()
    pool["output"].close()
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
    size = chunk_size or max(1, min(math.ceil(len(inputs) / len(pool["processes"]) / 10), 5000))
    chunks = [inputs[start : start + size] for start in range(0, len(inputs), size)]
    for chunk_id, chunk in enumerate(chunks):
        pool["input"].put((chunk_id, chunk, worker_kwargs))
    results = _collect(pool, len(chunks))
    ordered = [results[chunk_id] for chunk_id in range(len(chunks))]
    if options.output_value == "sentence_embedding":
        output = encoding.convert(torch.cat(ordered), options, None)
    else:
        output = encoding.convert([row for rows in ordered for row in rows], options, None)
    return output[0] if single else output


def _collect(pool: dict[str, Any], count: int) -> dict[int, list[Any]]:
    """Wait for every chunk; a worker's error is raised here once all chunks are in, so the pool stays usable."""
    results: dict[int, list[Any]] = {}
    error = None
    while len(results) < count:
        try:
            chunk_id, rows, failure = pool["output"].get(timeout=_POLL_SECONDS)
        except queue.Empty:
            dead = [process.name for process in pool["processes"] if not process.is_alive()]
            if dead:
                raise RuntimeError(f"Encoding worker(s) {', '.join(dead)} died before finishing their chunks") from None
            continue
        results[chunk_id] = rows if rows is not None else []
        error = error or failure
    if error:
        raise RuntimeError(f"Encoding failed in a worker process:\n{error}")
    return results


def _worker(device: str, model: SentenceTransformer, inputs: Any, outputs: Any, threads: int) -> None:
    """Encode chunks until told to stop (None); report failures instead of dying."""
    torch.set_num_threads(threads)
    model.to(device)
    while True:
        task = inputs.get()
        if task is None:
            return
        chunk_id, chunk, kwargs = task
        try:
            rows = model.encode(chunk, **kwargs)
            if isinstance(rows, torch.Tensor):
                rows = rows.cpu()
            else:
                rows = [row.cpu() if isinstance(row, torch.Tensor) else row for row in rows]
            outputs.put((chunk_id, rows, None))
        except Exception as exc:  # noqa: BLE001 - every failure must reach the caller
            outputs.put((chunk_id, None, f"{type(exc).__name__}: {exc}\n{traceback.format_exc()}"))
