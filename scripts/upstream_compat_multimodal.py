"""Check the multimodal ``Transformer`` against upstream, both ways: vision-language, image-only and audio models.

Needs a throwaway venv holding upstream and pillow (see scripts/upstream_compat.py). Run with sbert's interpreter:
    .venv/bin/python scripts/upstream_compat_multimodal.py --upstream-python /tmp/upvenv/bin/python

Three tiny seeded models with Hugging Face processors are built offline (tests/media_models.py): a LLaVA
vision-language model with a chat template (every input becomes a chat conversation), a ViT (images through
``forward``, then mean Pooling) and an Audio Spectrogram Transformer (audio arrays and ``{"array", "sampling_rate"}``
dicts). Each implementation loads the plain Hugging Face folder and saves it; then both load all three folders (plain,
saved by sbert, saved by upstream) and embed the same inputs: texts, PIL images, multimodal dicts, chat messages,
(text, image) pairs and a prompt for LLaVA, images for ViT, audio for AST — with batch size 1 and 32. Every
embedding must equal the other implementation's within 1e-5 (max abs diff), and ``modality_config`` must agree.
Prints a table; exits 1 when anything is off.
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
MODELS = ["llava", "vit", "ast"]
FOLDERS = {"hf": "plain HF folder", "sbert": "saved by sbert", "upstream": "saved by upstream"}

SCRIPT = r"""
import json, sys, numpy as np
from PIL import Image
from sentence_transformers import SentenceTransformer
mode, work, name, kind = sys.argv[1:5]
if mode == "save":
    SentenceTransformer(f"{work}/{kind}_hf", device="cpu").save(f"{work}/{kind}_{name}")
    raise SystemExit(0)
picture = Image.new("RGB", (20, 24), (200, 30, 60))
noise = Image.fromarray(np.random.RandomState(0).randint(0, 255, (30, 20, 3)).astype(np.uint8))
def user(*content):
    return [{"role": "user", "content": list(content)}]
waves = [np.random.RandomState(seed).randn(n).astype(np.float32) for seed, n in ((0, 4000), (1, 2500), (2, 6000))]
CASES = {
    "llava": {
        "texts": ["a photo of a cat", "the dog is on the table"],
        "images": [picture, noise],
        "dicts": [{"text": "a red square", "image": picture}, {"text": "blue", "image": noise}],
        "messages": [user({"type": "image", "image": picture}, {"type": "text", "text": "what is this"}),
                     [{"role": "user", "content": "hello"}]],
        "pairs": [("what is this", picture), ("a cat", noise)],
    },
    "vit": {"images": [picture, noise, picture.convert("L").convert("RGB")]},
    "ast": {"arrays": waves, "dicts": [{"array": w, "sampling_rate": 16000} for w in waves]},
}
results = {}
for folder in json.loads(sys.argv[5]):
    model = SentenceTransformer(f"{work}/{kind}_{folder}", device="cpu")
    for case, inputs in CASES[kind].items():
        for batch_size in (1, 32):
            np.save(f"{work}/out_{name}_{kind}_{folder}_{case}_{batch_size}.npy", model.encode(inputs, batch_size=batch_size))
    if kind == "llava":
        np.save(f"{work}/out_{name}_{kind}_{folder}_prompt_1.npy", model.encode(["a photo of a cat"], prompt="query"))
    config = {str(key): value for key, value in model[0].modality_config.items()}
    results[folder] = {"modality_config": config, "modules": [type(m).__name__ for m in model]}
print(json.dumps(results))
"""


def run(python: str, args: list[str], root: Path | None) -> str:
    """SCRIPT under ``python`` (sbert's checkout when ``root`` is given); its last output line."""
    return run_python(python, ["-c", SCRIPT, *args], root)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--upstream-python", required=True, help="python of a venv holding upstream and pillow")
    args = parser.parse_args()
    root = Path(__file__).resolve().parents[1]
    sys.path.insert(0, str(root / "tests"))
    import media_models

    builders = {"llava": media_models.build_tiny_llava, "vit": media_models.build_tiny_vit}
    builders["ast"] = media_models.build_tiny_ast
    failures = 0
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        print(f"{'model':<6} {'folder':<18} {'inputs':<9} {'batch':>5} {'max |sbert - upstream|':>24}  ok")
        for kind in MODELS:
            builders[kind](work / f"{kind}_hf")
            run(sys.executable, ["save", str(work), "sbert", kind], root)
            run(args.upstream_python, ["save", str(work), "upstream", kind], None)
            folders = json.dumps(list(FOLDERS))
            ours = json.loads(run(sys.executable, ["encode", str(work), "ours", kind, folders], root))
            theirs = json.loads(run(args.upstream_python, ["encode", str(work), "theirs", kind, folders], None))
            for folder, label in FOLDERS.items():
                for path in sorted(work.glob(f"out_ours_{kind}_{folder}_*.npy")):
                    case, batch = path.stem.split("_")[-2:]
                    mine, other = np.load(path), np.load(str(path).replace("out_ours_", "out_theirs_"))
                    diff = float(np.abs(mine - other).max()) if mine.shape == other.shape else float("inf")
                    ok = diff <= TOLERANCE
                    failures += not ok
                    print(f"{kind:<6} {label:<18} {case:<9} {batch:>5} {diff:>24.2e}  {'yes' if ok else 'NO'}")
                same = ours[folder] == theirs[folder]
                failures += not same
                print(f"{kind:<6} {label:<18} modality_config and modules {ours[folder]['modules']} agree: {same}")
    print("all equal within 1e-5" if not failures else f"{failures} check(s) failed")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
