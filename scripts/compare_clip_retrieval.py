"""Image–text retrieval with a CLIP pipeline under sbert and upstream: InformationRetrievalEvaluator side by side.

A small synthetic set: 40 PNG images (64×64) of one coloured shape each (red, blue, green, yellow × square, circle,
triangle, cross, bar × a white or black background), drawn deterministically with pillow, and one caption per image
("a red circle on a white background"). Queries are the captions, the corpus the images, each caption relevant to its
own image. The model is the tiny seeded CLIP of scripts/upstream_compat_clip.py (``build_tiny_clip``: text and
vision towers of 2 layers, width 32, 32×32 images, projection 16), so the figures are those of a random model: what is
compared is that both implementations compute the same ones.

This script drives both interpreters: it builds the model folder and the images once, then runs itself with
``--worker`` under sbert's Python (this checkout's src on the path) and under --upstream-python (from a scratch
folder, without the checkout on the path). Each worker wraps the folder as
``SentenceTransformer(modules=[CLIPModel(folder)])`` and runs ``InformationRetrievalEvaluator`` twice: the corpus as
PIL images, then as the image files' paths. Prints the metric dicts side by side and the largest difference; exits 1
when it is over 1e-6 (or the keys differ).

Run: .venv/bin/python scripts/compare_clip_retrieval.py --upstream-python /tmp/upvenv/bin/python
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _runner import run_python  # noqa: E402

TOLERANCE = 1e-6
COLOURS = {"red": (220, 30, 40), "blue": (30, 60, 220), "green": (30, 180, 60), "yellow": (240, 220, 30)}
SHAPES = ["square", "circle", "triangle", "cross", "bar"]
BACKGROUNDS = {"white": (255, 255, 255), "black": (0, 0, 0)}
CORPUS_KINDS = ["pil", "paths"]


def draw(shape: str, colour: tuple[int, int, int], background: tuple[int, int, int], size: int = 64):
    """One image: ``shape`` in ``colour`` centred on ``background``."""
    from PIL import Image, ImageDraw

    image = Image.new("RGB", (size, size), background)
    pen = ImageDraw.Draw(image)
    lo, hi, mid = size // 5, size - size // 5, size // 2
    if shape == "square":
        pen.rectangle([lo, lo, hi, hi], fill=colour)
    elif shape == "circle":
        pen.ellipse([lo, lo, hi, hi], fill=colour)
    elif shape == "triangle":
        pen.polygon([(mid, lo), (hi, hi), (lo, hi)], fill=colour)
    elif shape == "cross":
        pen.rectangle([mid - 6, lo, mid + 6, hi], fill=colour)
        pen.rectangle([lo, mid - 6, hi, mid + 6], fill=colour)
    else:  # bar
        pen.rectangle([lo, mid - 8, hi, mid + 8], fill=colour)
    return image


def write_dataset(folder: Path) -> dict:
    """The images as PNG files and the captions: {"queries": {qid: caption}, "corpus": {cid: path}}."""
    folder.mkdir()
    queries, corpus = {}, {}
    index = 0
    for background, back_rgb in BACKGROUNDS.items():
        for colour, rgb in COLOURS.items():
            for shape in SHAPES:
                path = folder / f"image_{index:02d}.png"
                draw(shape, rgb, back_rgb).save(path)
                queries[f"q{index}"] = f"a {colour} {shape} on a {background} background"
                corpus[f"d{index}"] = str(path)
                index += 1
    return {"queries": queries, "corpus": corpus}


def worker(model_folder: str, data_path: str) -> None:
    """Under either implementation: the evaluator's metrics for each corpus kind, as JSON on stdout."""
    from PIL import Image

    from sentence_transformers import SentenceTransformer
    from sentence_transformers.evaluation import InformationRetrievalEvaluator
    from sentence_transformers.models import CLIPModel

    data = json.loads(Path(data_path).read_text(encoding="utf-8"))
    model = SentenceTransformer(modules=[CLIPModel(model_folder)], device="cpu")
    relevant = {qid: {"d" + qid[1:]} for qid in data["queries"]}
    results = {}
    for kind in CORPUS_KINDS:
        if kind == "pil":
            corpus = {cid: Image.open(path).convert("RGB") for cid, path in data["corpus"].items()}
        else:
            corpus = dict(data["corpus"])
        evaluator = InformationRetrievalEvaluator(
            queries=data["queries"], corpus=corpus, relevant_docs=relevant, name="clip", write_csv=False
        )
        results[kind] = {key: float(value) for key, value in evaluator(model).items()}
    print(json.dumps(results))


def run(python: str, args: list[str], root: Path | None) -> dict:
    """This file's worker under ``python`` (sbert's checkout when ``root`` is given): its JSON result."""
    return json.loads(run_python(python, [str(Path(__file__).resolve()), "--worker", *args], root))


def main() -> int:
    if len(sys.argv) == 4 and sys.argv[1] == "--worker":
        worker(sys.argv[2], sys.argv[3])
        return 0
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--upstream-python", required=True, help="python of a venv holding upstream and pillow")
    args = parser.parse_args()
    root = Path(__file__).resolve().parents[1]
    sys.path.insert(0, str(root / "scripts"))
    from upstream_compat_clip import build_tiny_clip

    with tempfile.TemporaryDirectory(prefix="sbert-clip-retrieval-") as tmp:
        work = Path(tmp)
        build_tiny_clip(work / "hf")
        data = write_dataset(work / "images")
        (work / "data.json").write_text(json.dumps(data), encoding="utf-8")
        worker_args = [str(work / "hf"), str(work / "data.json")]
        ours = run(sys.executable, worker_args, root)
        theirs = run(args.upstream_python, worker_args, None)
    print(f"{len(data['queries'])} captions × {len(data['corpus'])} images, tiny seeded CLIP (random weights)")
    worst, failures = 0.0, 0
    for kind in CORPUS_KINDS:
        print(f"\ncorpus as {kind}")
        print(f"{'metric':<40} {'sbert':>10} {'upstream':>10} {'|diff|':>10}")
        keys = sorted(set(ours[kind]) | set(theirs[kind]))
        for key in keys:
            a, b = ours[kind].get(key), theirs[kind].get(key)
            if a is None or b is None:
                failures += 1
                print(f"{key:<40} {a!s:>10} {b!s:>10} {'missing':>10}")
                continue
            worst = max(worst, abs(a - b))
            print(f"{key:<40} {a:>10.6f} {b:>10.6f} {abs(a - b):>10.1e}")
    print(f"\nlargest |sbert - upstream|: {worst:.2e}")
    failures += worst > TOLERANCE
    print("all equal within 1e-6" if not failures else "differences over 1e-6 (or missing keys)")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
