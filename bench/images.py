"""Image encoding speed, peak memory and fidelity of sbert's CLIPModel pipeline, side by side with upstream.

Model: a CLIP in clip-ViT-B-32's layout (224×224 images in 32×32 patches, a CLIPImageProcessor resizing to 224 and
centre-cropping, projection 512) but small enough for a small CPU: a vision tower of --layers layers of width --hidden
(default 4 × 256, MLP 4×), built offline from a seeded ``transformers.CLIPConfig`` with the tiny BPE tokenizer of
scripts/upstream_compat_clip.py (only images are encoded here). sbert wraps it as
``SentenceTransformer(modules=[CLIPModel(folder)])`` and saves it once into a temp folder that every run loads.
Workload: ``encode`` of --images PNG files (--size × --size, default 224, RGB: a seeded-noise background with a few
random rectangles and ellipses, written once into the temp folder), passed as file paths (strings: both
implementations read image paths), ``batch_size`` --batch-size, torch fp32 on the CPU, default outputs (numpy).

Each implementation runs in a fresh worker process of the right Python (this file with --worker), upstream first,
then sbert. The worker loads the model, then:
- memory: reads VmRSS, resets the kernel's peak-RSS mark (``echo 5 > /proc/self/clear_refs``), runs one full encode
  call and reads VmHWM: "peak growth" is VmHWM - VmRSS before the call (what that call needed on top of the loaded
  model); "peak RSS" is the process's VmHWM then. Where clear_refs cannot be written, the growth is measured from the
  process's overall peak and is an upper bound (the header says so);
- speed: then (the memory call was the warm-up) --repeat full calls; images/s is the median (min–max shown).
"max abs diff" compares sbert's embeddings with upstream's.

Run: python bench/images.py [--against /tmp/upvenv/bin/python] [--images 1000] [--size 224] [--batch-size 32]
     [--repeat 3] [--hidden 256] [--layers 4] [--threads N] [--json OUT]
"""

from __future__ import annotations

import argparse
import json
import shlex
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent / "scripts"))

from _side_by_side import environment_lines, fmt, proc_status_mb, reset_peak_rss, run_worker, worker_main  # noqa: E402
from encode import check_package, cpu_name  # noqa: E402

# --- the worker (runs under sbert's or upstream's Python) ---------------------------------------------------------


def build_clip(folder: Path, hidden: int, layers: int) -> None:
    """A seeded Hugging Face CLIPModel in clip-ViT-B-32's layout, with a CLIPProcessor, saved into ``folder``."""
    import torch
    from transformers import CLIPConfig, CLIPImageProcessor, CLIPModel, CLIPProcessor, CLIPTokenizer
    from upstream_compat_clip import build_tiny_clip

    tiny = folder.with_name("tiny")
    build_tiny_clip(tiny)  # only for its tokenizer files
    tokenizer = CLIPTokenizer.from_pretrained(tiny)
    torch.manual_seed(0)
    text_config = {
        "hidden_size": 64,
        "intermediate_size": 256,
        "num_hidden_layers": 2,
        "num_attention_heads": 4,
        "vocab_size": len(tokenizer),
        "max_position_embeddings": 16,
        "eos_token_id": tokenizer.eos_token_id,
        "bos_token_id": tokenizer.bos_token_id,
        "pad_token_id": tokenizer.pad_token_id,
    }
    vision_config = {
        "hidden_size": hidden,
        "intermediate_size": 4 * hidden,
        "num_hidden_layers": layers,
        "num_attention_heads": max(1, hidden // 64),
        "image_size": 224,
        "patch_size": 32,
    }
    config = CLIPConfig(text_config=text_config, vision_config=vision_config, projection_dim=512)
    CLIPModel(config).save_pretrained(folder)
    image_processor = CLIPImageProcessor(size={"shortest_edge": 224}, crop_size={"height": 224, "width": 224})
    CLIPProcessor(image_processor=image_processor, tokenizer=tokenizer).save_pretrained(folder)


def write_images(folder: Path, count: int, size: int) -> list[str]:
    """``count`` deterministic PNG files: seeded noise with a few random filled rectangles and ellipses."""
    from PIL import Image, ImageDraw

    folder.mkdir()
    rng = np.random.default_rng(0)
    paths = []
    for index in range(count):
        base = rng.integers(0, 256, 3)
        noise = rng.integers(-40, 41, (size, size, 3))
        image = Image.fromarray(np.clip(base + noise, 0, 255).astype(np.uint8))
        draw = ImageDraw.Draw(image)
        for _ in range(int(rng.integers(2, 6))):
            x0, y0 = rng.integers(0, size - 16, 2)
            x1, y1 = x0 + rng.integers(8, size // 2), y0 + rng.integers(8, size // 2)
            shape = draw.ellipse if rng.random() < 0.5 else draw.rectangle
            shape([int(x0), int(y0), int(x1), int(y1)], fill=tuple(int(c) for c in rng.integers(0, 256, 3)))
        path = folder / f"image_{index:05d}.png"
        image.save(path)
        paths.append(str(path))
    return paths


def prepare(spec: dict) -> None:
    """Build the CLIP model, save it as a SentenceTransformer, and write the image files and their list."""
    from sentence_transformers import SentenceTransformer
    from sentence_transformers.models import CLIPModel

    hf = Path(spec["model"]).with_name("hf")
    build_clip(hf, spec["hidden"], spec["layers"])
    SentenceTransformer(modules=[CLIPModel(str(hf))], device="cpu").save(spec["model"])
    paths = write_images(Path(spec["data"]).with_name("images"), spec["images"], spec["size"])
    Path(spec["data"]).write_text(json.dumps(paths), encoding="utf-8")


def measure(spec: dict) -> dict:
    """The peak memory of a first full call, then the speed of --repeat calls; save the embeddings."""
    import gc

    from sentence_transformers import SentenceTransformer

    paths = json.loads(Path(spec["data"]).read_text(encoding="utf-8"))
    model = SentenceTransformer(spec["model"], device="cpu")
    batch = spec["batch_size"]
    gc.collect()
    before = proc_status_mb("VmRSS")
    reset = reset_peak_rss()
    model.encode(paths, batch_size=batch, show_progress_bar=False)
    peak = proc_status_mb("VmHWM")
    seconds = []
    for _ in range(spec["repeat"]):
        start = time.perf_counter()
        embeddings = model.encode(paths, batch_size=batch, show_progress_bar=False)
        seconds.append(time.perf_counter() - start)
    np.save(spec["out"], np.asarray(embeddings, dtype=np.float32))
    return {
        "images": len(paths),
        "seconds": seconds,
        "rss_before_mb": before,
        "peak_rss_mb": peak,
        "peak_growth_mb": peak - before,
        "peak_reset": reset,
    }


# --- the driver ----------------------------------------------------------------------------------------------------


def run_all(args: argparse.Namespace, tmp: Path) -> tuple[list[dict], dict]:
    """Prepare the model and images once, then upstream's worker and sbert's."""
    spec = {
        "model": str(tmp / "model"),
        "data": str(tmp / "paths.json"),
        "batch_size": args.batch_size,
        "repeat": args.repeat,
        "threads": args.threads,
    }
    prep = {**spec, "impl": "sbert", "prepare": True, "hidden": args.hidden, "layers": args.layers}
    prep.update(images=args.images, size=args.size)
    prepared = run_worker(__file__, [sys.executable], prep, tmp, "prep", {"out": ".npy"})
    if prepared.get("error"):
        sys.exit(f"preparing the model failed: {prepared['error']}")
    pythons = {"sbert": [sys.executable], "upstream": shlex.split(args.against or "")}
    impls = ["upstream", "sbert"] if args.against else ["sbert"]
    rows, envs = [], {}
    for impl in impls:
        result = run_worker(__file__, pythons[impl], {**spec, "impl": impl}, tmp, impl, {"out": ".npy"})
        check_package(impl, result["env"])
        envs.setdefault(impl, result["env"])
        if result.get("error"):
            rows.append({"impl": impl, "error": result["error"]})
        else:
            rows.append({"impl": impl, **result["run"], "output": np.load(tmp / f"{impl}.npy")})
    return rows, envs


def add_figures(rows: list[dict]) -> None:
    """images/s (median, min, max), × upstream, and the max abs diff against upstream's embeddings."""
    for row in rows:
        if "error" in row:
            continue
        rates = [row["images"] / s for s in row["seconds"]]
        row["rate"], row["rate_min"], row["rate_max"] = statistics.median(rates), min(rates), max(rates)
    ref = next((r for r in rows if r["impl"] == "upstream" and "error" not in r), None)
    for row in rows:
        if "error" in row or ref is None or ref is row:
            continue
        row["ratio"] = row["rate"] / ref["rate"]
        row["memory_ratio"] = row["peak_growth_mb"] / ref["peak_growth_mb"]
        mine, theirs = row["output"], ref["output"]
        row["max_abs_diff"] = float(np.abs(mine - theirs).max()) if mine.shape == theirs.shape else float("inf")


def table(rows: list[dict]) -> str:
    cols = [
        "impl",
        "images/s (median)",
        "min–max",
        "× upstream",
        "peak growth MB",
        "× upstream mem",
        "peak RSS MB",
        "max abs diff",
    ]
    lines = ["| " + " | ".join(cols) + " |", "|" + "|".join("---" for _ in cols) + "|"]
    for row in rows:
        cells = [row["impl"]]
        if "error" in row:
            cells += [f"error: {row['error']}"] + [""] * (len(cols) - 2)
        else:
            ref = row["impl"] == "upstream"
            cells += [
                f"{row['rate']:.1f}",
                f"{row['rate_min']:.1f}–{row['rate_max']:.1f}",
                "1.00" if ref else fmt(row.get("ratio"), ".2f"),
                f"{row['peak_growth_mb']:.0f}",
                "1.00" if ref else fmt(row.get("memory_ratio"), ".2f"),
                f"{row['peak_rss_mb']:.0f}",
                "ref" if ref else fmt(row.get("max_abs_diff"), ".1e"),
            ]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def header(args: argparse.Namespace, envs: dict, rows: list[dict]) -> str:
    lines = [
        f"CLIP (ViT-B-32 layout, vision {args.layers} layers × {args.hidden}, projection 512, seeded)  "
        f"{args.images} PNG files {args.size}×{args.size} as paths  batch {args.batch_size}  repeat {args.repeat}  "
        f"CPU {cpu_name()}"
    ]
    lines += environment_lines(envs, rows)
    return "\n".join(lines)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--against", help="upstream's Python (a command line, e.g. /tmp/upvenv/bin/python)")
    parser.add_argument("--images", type=int, default=1000, help="PNG files to encode")
    parser.add_argument("--size", type=int, default=224, help="width and height of the PNG files")
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--repeat", type=int, default=3, help="timed calls (the median is reported)")
    parser.add_argument("--hidden", type=int, default=256, help="width of the vision tower")
    parser.add_argument("--layers", type=int, default=4, help="layers of the vision tower")
    parser.add_argument("--threads", type=int, help="torch threads in the workers (default: torch's choice)")
    parser.add_argument("--json", help="also write every row (and the environments) to this JSON file")
    return parser.parse_args(argv)


def main() -> None:
    if len(sys.argv) == 3 and sys.argv[1] == "--worker":
        worker_main(sys.argv[2], prepare, measure)
        return
    args = parse_args()
    with tempfile.TemporaryDirectory(prefix="sbert-images-bench-") as tmp_name:
        rows, envs = run_all(args, Path(tmp_name))
        add_figures(rows)
    print(header(args, envs, rows))
    print()
    print(table(rows))
    if args.json:
        clean = [{k: v for k, v in row.items() if k != "output"} for row in rows]
        Path(args.json).write_text(json.dumps({"args": vars(args), "environments": envs, "rows": clean}, indent=1))


if __name__ == "__main__":
    main()
