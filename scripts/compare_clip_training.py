"""Train a tiny CLIP on (image, caption) pairs with sbert and with upstream, from the same folder, and compare.

Needs a throwaway venv holding upstream sentence-transformers, pillow and datasets. Run with sbert's interpreter:
    .venv/bin/python scripts/compare_clip_training.py --upstream-python /tmp/upvenv/bin/python

The tiny seeded CLIP of scripts/upstream_compat_clip.py is wrapped as ``SentenceTransformer(modules=[CLIPModel])``
and saved once by sbert; both implementations load that folder and, for each case below, train one epoch with
``SentenceTransformerTrainer`` (32 generated coloured-block images with captions such as "a red square", batch 8,
seed 12, lr 1e-3, an eval split of 8 rows evaluated every 2 steps). Compared within 1e-5 (max abs diff): the training
loss of every step and every eval loss from the trainer's log history, the InformationRetrievalEvaluator (caption
queries, image corpus) and TripletEvaluator (image anchors) metrics after training, and the trained model's
embeddings of 6 images and 6 captions. Prints a table; exits 1 when anything is off.

Cases: the image column as PIL images or as PNG file paths, with MultipleNegativesRankingLoss or
CachedMultipleNegativesRankingLoss (mini-batches of 3), and (image, caption, negative caption) triplets under the
NO_DUPLICATES batch sampler, and MatryoshkaLoss over MNRL.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _runner import run_python  # noqa: E402

TOLERANCE = 1e-5
CASES = {
    "pil-mnrl": "PIL images, MNRL",
    "path-mnrl": "file paths, MNRL",
    "pil-cmnrl": "PIL images, CachedMNRL",
    "path-cmnrl": "file paths, CachedMNRL",
    "pil-triplet-nodup": "PIL triplets, MNRL, NO_DUPLICATES",
    "path-matryoshka": "file paths, Matryoshka(MNRL, [16, 8])",
}

# Trains with whichever implementation runs it (only the shared public API).
SCRIPT = r"""
import json, os, sys, numpy as np
from PIL import Image
from datasets import Dataset
from sentence_transformers import (SentenceTransformer, SentenceTransformerTrainer,
                                   SentenceTransformerTrainingArguments, losses)
from sentence_transformers.evaluation import InformationRetrievalEvaluator, TripletEvaluator
from sentence_transformers.training_args import BatchSamplers
mode, work, name = sys.argv[1], sys.argv[2], sys.argv[3]
COLORS = {"red": (220, 30, 30), "green": (30, 200, 40), "blue": (30, 40, 220)}
SHAPES = ["square", "cat", "dog", "table"]
def pair(i):
    color = list(COLORS)[i % 3]
    pixels = np.full((32 + i % 5, 32, 3), COLORS[color], dtype=np.uint8)
    pixels[4:20, 4:20] = np.random.RandomState(i).randint(0, 255, (16, 16, 3))
    return Image.fromarray(pixels), f"a {color} {SHAPES[i % 4]}"
pairs = [pair(i) for i in range(40)]
paths = [f"{work}/images/image_{i}.png" for i in range(40)]
if mode == "save":
    from sentence_transformers.models import CLIPModel
    SentenceTransformer(modules=[CLIPModel(f"{work}/hf")], device="cpu").save(f"{work}/model")
    os.makedirs(f"{work}/images")
    for (image, _), path in zip(pairs, paths):
        image.save(path)
    raise SystemExit(0)
results = {}
for case in json.loads(sys.argv[4]):
    images = [image for image, _ in pairs] if case.startswith("pil") else paths
    captions = [caption for _, caption in pairs]
    columns = {"image": images[:32], "caption": captions[:32]}
    eval_columns = {"image": images[32:], "caption": captions[32:]}
    if "triplet" in case:
        columns["negative"] = captions[1:33]
        eval_columns["negative"] = captions[33:] + captions[:1]
    model = SentenceTransformer(f"{work}/model", device="cpu")
    if "cmnrl" in case:
        loss = losses.CachedMultipleNegativesRankingLoss(model, mini_batch_size=3)
    else:
        loss = losses.MultipleNegativesRankingLoss(model)
    if "matryoshka" in case:
        loss = losses.MatryoshkaLoss(model, loss, [16, 8])
    args = SentenceTransformerTrainingArguments(
        output_dir=f"{work}/out_{name}_{case}", num_train_epochs=1, per_device_train_batch_size=8,
        per_device_eval_batch_size=8, learning_rate=1e-3, seed=12, logging_steps=1, eval_strategy="steps",
        eval_steps=2, report_to=[], save_strategy="no", use_cpu=True, disable_tqdm=True,
        batch_sampler=BatchSamplers.NO_DUPLICATES if "nodup" in case else BatchSamplers.BATCH_SAMPLER,
    )
    trainer = SentenceTransformerTrainer(model=model, args=args, train_dataset=Dataset.from_dict(columns),
                                         eval_dataset=Dataset.from_dict(eval_columns), loss=loss)
    trainer.train()
    history = trainer.state.log_history
    ir = InformationRetrievalEvaluator(
        queries={f"q{i}": captions[i] for i in range(8)}, corpus={f"d{i}": images[i] for i in range(16)},
        relevant_docs={f"q{i}": {f"d{j}" for j in range(16) if captions[j] == captions[i]} for i in range(8)},
        name="ir", show_progress_bar=False,
    )
    triplet = TripletEvaluator(anchors=images[:8], positives=captions[:8], negatives=captions[1:9], name="triplet")
    metrics = {**ir(model), **triplet(model)}
    embeddings = np.concatenate([model.encode(images[:6]), model.encode(captions[:6])])
    np.save(f"{work}/emb_{name}_{case}.npy", embeddings)
    results[case] = {
        "loss": [entry["loss"] for entry in history if "loss" in entry],
        "eval_loss": [entry["eval_loss"] for entry in history if "eval_loss" in entry],
        "metrics": {key: float(value) for key, value in metrics.items()},
    }
print(json.dumps(results))
"""


def run(python: str, args: list[str], root: Path | None) -> str:
    """SCRIPT under ``python`` (sbert's checkout when ``root`` is given); its last output line."""
    return run_python(python, ["-c", SCRIPT, *args], root)


def max_diff(ours: list[float], theirs: list[float]) -> float:
    """Largest absolute difference of two equally long lists of numbers (inf when the lengths differ)."""
    if len(ours) != len(theirs) or not ours:
        return float("inf") if len(ours) != len(theirs) else 0.0
    return float(np.abs(np.asarray(ours) - np.asarray(theirs)).max())


def compare(work: Path, sbert: dict, upstream: dict) -> int:
    """Print one row per case and quantity; the number of rows off by more than TOLERANCE."""
    failures = 0
    print(f"{'case':<40} {'quantity':<11} {'n':>3} {'max |sbert - upstream|':>24}  ok")
    for case, label in CASES.items():
        ours, theirs = sbert[case], upstream[case]
        keys = sorted(theirs["metrics"])
        emb_ours = np.load(work / f"emb_sbert_{case}.npy")
        emb_theirs = np.load(work / f"emb_upstream_{case}.npy")
        rows = {
            "step loss": (len(theirs["loss"]), max_diff(ours["loss"], theirs["loss"])),
            "eval loss": (len(theirs["eval_loss"]), max_diff(ours["eval_loss"], theirs["eval_loss"])),
            "metrics": (
                len(keys),
                max_diff([ours["metrics"].get(key, np.inf) for key in keys], [theirs["metrics"][key] for key in keys]),
            ),
            "embeddings": (
                len(emb_theirs),
                float(np.abs(emb_ours - emb_theirs).max()) if emb_ours.shape == emb_theirs.shape else float("inf"),
            ),
        }
        for quantity, (count, diff) in rows.items():
            ok = diff <= TOLERANCE
            failures += not ok
            print(f"{label:<40} {quantity:<11} {count:>3} {diff:>24.2e}  {'yes' if ok else 'NO'}")
        print(f"{'':<40} losses: {', '.join(f'{value:.6f}' for value in ours['loss'])}")
    return failures


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--upstream-python", required=True, help="python of a venv holding upstream and pillow")
    args = parser.parse_args()
    root = Path(__file__).resolve().parents[1]
    sys.path.insert(0, str(root / "scripts"))
    from upstream_compat_clip import build_tiny_clip

    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        build_tiny_clip(work / "hf")
        run(sys.executable, ["save", str(work), "sbert"], root)
        cases = json.dumps(list(CASES))
        sbert = json.loads(run(sys.executable, ["train", str(work), "sbert", cases], root))
        upstream = json.loads(run(args.upstream_python, ["train", str(work), "upstream", cases], None))
        failures = compare(work, sbert, upstream)
        print("all equal within 1e-5" if not failures else f"{failures} check(s) failed")
        return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
