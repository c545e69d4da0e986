"""Check on-disk compatibility of CLIPModel pipelines (texts and images in one space) with upstream, both ways.

Needs a throwaway venv holding upstream and pillow (see scripts/upstream_compat.py). Run with sbert's interpreter:
    .venv/bin/python scripts/upstream_compat_clip.py --upstream-python /tmp/upvenv/bin/python

A tiny CLIP is built offline from a seeded ``transformers.CLIPConfig`` (text and vision towers of 2 layers, width
32, 32×32 images in 8×8 patches, projection 16) with a CLIPProcessor (CLIPImageProcessor, and a BPE CLIPTokenizer
over a few words). Each implementation wraps it as ``SentenceTransformer(modules=[CLIPModel(folder)])`` and saves it;
a third folder has the 2.x–5.x layout (the Hugging Face files, preprocessor_config.json and a modules.json naming
``sentence_transformers.models.CLIPModel``, no sentence_bert_config.json). Both also load the plain Hugging Face folder, which 6.x reads as one multimodal ``Transformer`` (``get_text_features`` /
``get_image_features``), and save it: those two saves are three more folders. Both implementations load all six and
embed texts, PIL images (RGB, greyscale, noise; several sizes), the same images as [H, W, C] uint8 numpy arrays, as
[C, H, W] torch tensors and as PNG files on disk, and a list mixing texts and images (upstream encodes mixed lists
one input per batch: it refuses a batch of several modalities). Every embedding must equal the other
implementation's within 1e-5 (max abs diff), and ``model.modalities`` must agree. Prints a table; exits 1 when
anything is off.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _runner import run_python  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
from media_models import build_tiny_clip  # noqa: E402

TOLERANCE = 1e-5
KINDS = ["texts", "pil", "arrays", "tensors", "files", "mixed"]
FOLDERS = {
    "sbert_saved": "CLIPModel, sbert",
    "upstream_saved": "CLIPModel, upstream",
    "legacy_2x": "CLIPModel, 2.x–5.x",
    "hf": "plain HF folder",
    "sbert_saved_6x": "Transformer, sbert",
    "upstream_saved_6x": "Transformer, upstream",
}

# Builds, saves, loads and runs the CLIP pipelines with whichever implementation runs it (only the shared public API).
SCRIPT = r"""
import json, os, sys, numpy as np, torch
from PIL import Image
from sentence_transformers import SentenceTransformer
from sentence_transformers.models import CLIPModel
mode, work, name = sys.argv[1], sys.argv[2], sys.argv[3]
TEXTS = ["a photo of a cat", "a red square", "the dog is on the table", "blue", "a picture of a green dog on a table",
         " ".join(["a photo of a cat"] * 3)]
def pictures():
    noise = np.random.RandomState(0).randint(0, 255, (45, 37, 3)).astype(np.uint8)
    gradient = np.tile(np.linspace(0, 255, 70, dtype=np.uint8)[None, :, None], (30, 1, 3))
    return [Image.new("RGB", (40, 50), (200, 30, 60)), Image.fromarray(noise), Image.new("L", (64, 32), 128),
            Image.new("RGB", (32, 32), (10, 220, 40)), Image.fromarray(gradient)]
if mode == "save":
    model = SentenceTransformer(modules=[CLIPModel(f"{work}/hf")], device="cpu")
    model.save(f"{work}/{name}")
    raise SystemExit(0)
if mode == "save6":  # the 6.x pipeline: the plain Hugging Face folder loads as one multimodal Transformer
    SentenceTransformer(f"{work}/hf", device="cpu").save(f"{work}/{name}")
    raise SystemExit(0)
results = {}
for folder in json.loads(sys.argv[4]):
    model = SentenceTransformer(f"{work}/{folder}", device="cpu")
    images = [image.convert("RGB") for image in pictures()]
    arrays = [np.asarray(image) for image in images]
    files = sorted(f"{work}/images/{f}" for f in os.listdir(f"{work}/images"))
    mixed = [TEXTS[0], images[0], TEXTS[1], arrays[1], files[2], TEXTS[2], images[3]]
    inputs = {
        "texts": (TEXTS, {}),
        "pil": (pictures(), {}),
        "arrays": (arrays, {}),
        "tensors": ([torch.from_numpy(a.copy()).permute(2, 0, 1) for a in arrays], {}),
        "files": (files, {}),
        "mixed": (mixed, {"batch_size": 1} if name == "upstream" else {}),
    }
    for kind, (batch, options) in inputs.items():
        np.save(f"{work}/out_{name}_{folder}_{kind}.npy", model.encode(batch, **options))
    results[folder] = {"modalities": [str(m) for m in model.modalities], "type": type(model[0]).__name__}
print(json.dumps(results))
"""


def build_legacy_folder(hf: Path, folder: Path) -> None:
    """The 2.x–5.x layout: the Hugging Face files with preprocessor_config.json, and modules.json only."""
    from transformers import CLIPImageProcessor

    folder.mkdir()
    for name in os.listdir(hf):
        (folder / name).write_bytes((hf / name).read_bytes())
    CLIPImageProcessor.from_pretrained(hf).save_pretrained(folder)
    (folder / "processor_config.json").unlink()
    entry = {"idx": 0, "name": "0", "path": "", "type": "sentence_transformers.models.CLIPModel"}
    (folder / "modules.json").write_text(json.dumps([entry], indent=2))


def write_image_files(folder: Path) -> None:
    """The same generated images as PNG files (the "files" inputs)."""
    from PIL import Image

    folder.mkdir()
    noise = np.random.RandomState(0).randint(0, 255, (45, 37, 3)).astype(np.uint8)
    gradient = np.tile(np.linspace(0, 255, 70, dtype=np.uint8)[None, :, None], (30, 1, 3))
    images = [
        Image.new("RGB", (40, 50), (200, 30, 60)),
        Image.fromarray(noise),
        Image.new("L", (64, 32), 128),
        Image.new("RGB", (32, 32), (10, 220, 40)),
        Image.fromarray(gradient),
    ]
    for index, image in enumerate(images):
        image.save(folder / f"image_{index}.png")


def run(python: str, args: list[str], root: Path | None) -> str:
    """SCRIPT under ``python`` (sbert's checkout when ``root`` is given); its last output line."""
    return run_python(python, ["-c", SCRIPT, *args], root)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--upstream-python", required=True, help="python of a venv holding upstream and pillow")
    args = parser.parse_args()
    root = Path(__file__).resolve().parents[1]
    sbert_python = sys.executable
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        build_tiny_clip(work / "hf")
        build_legacy_folder(work / "hf", work / "legacy_2x")
        write_image_files(work / "images")
        run(sbert_python, ["save", str(work), "sbert_saved"], root)
        run(args.upstream_python, ["save", str(work), "upstream_saved"], None)
        run(sbert_python, ["save6", str(work), "sbert_saved_6x"], root)
        run(args.upstream_python, ["save6", str(work), "upstream_saved_6x"], None)
        folders = json.dumps(list(FOLDERS))
        info = {
            "sbert": json.loads(run(sbert_python, ["encode", str(work), "sbert", folders], root)),
            "upstream": json.loads(run(args.upstream_python, ["encode", str(work), "upstream", folders], None)),
        }
        saved_types = {
            folder: json.loads((work / folder / "modules.json").read_text())[0]["type"]
            for folder in FOLDERS
            if (work / folder / "modules.json").is_file()
        }
        failures = 0
        print(f"{'folder':<20} {'inputs':<8} {'rows':>4} {'max |sbert - upstream|':>24}  ok")
        for folder, label in FOLDERS.items():
            for kind in KINDS:
                ours = np.load(work / f"out_sbert_{folder}_{kind}.npy")
                theirs = np.load(work / f"out_upstream_{folder}_{kind}.npy")
                diff = float(np.abs(ours - theirs).max()) if ours.shape == theirs.shape else float("inf")
                ok = diff <= TOLERANCE
                failures += not ok
                print(f"{label:<20} {kind:<8} {len(ours):>4} {diff:>24.2e}  {'yes' if ok else 'NO'}")
        for folder, label in FOLDERS.items():
            ours, theirs = info["sbert"][folder]["modalities"], info["upstream"][folder]["modalities"]
            ok = ours == theirs
            failures += not ok
            print(f"{label:<20} modalities: sbert {ours}, upstream {theirs}  {'yes' if ok else 'NO'}")
        for folder, label in FOLDERS.items():
            print(f"{label:<20} modules.json type: {saved_types.get(folder, '(none)')}")
        print("all equal within 1e-5" if not failures else f"{failures} check(s) failed")
        return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
