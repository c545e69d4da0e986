"""Score the same saved random tensors with sbert's and upstream's late-interaction functions; print max abs diffs.

    .venv/bin/python scripts/compare_multi_vector_scoring.py --against /tmp/upvenv/bin/python

The parent saves the inputs, runs itself with ``--worker`` under each interpreter (each imports its own
``sentence_transformers``), and compares the saved outputs case by case.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
from pathlib import Path

import torch

SBERT_SRC = Path(__file__).resolve().parents[1] / "src"


def make_inputs(seed: int = 0) -> dict[str, torch.Tensor]:
    """Random queries/documents with padding, empty documents and the dtypes the losses see."""
    g = torch.Generator().manual_seed(seed)
    q, n, qt, dt, h = 6, 3, 7, 11, 16
    queries = torch.randn(q, qt, h, generator=g)
    docs = torch.randn(q, n, dt, h, generator=g)
    q_mask = torch.rand(q, qt, generator=g) > 0.25
    q_mask[:, 0] = True
    d_mask = torch.rand(q, n, dt, generator=g) > 0.3
    d_mask[..., 0] = True
    d_mask[2, 1] = False  # one document without any real token
    queries_zero_pad = queries * q_mask.unsqueeze(-1)
    docs_zero_pad = docs * d_mask.unsqueeze(-1)
    return {
        "queries": queries,
        "docs": docs,
        "q_mask": q_mask,
        "d_mask": d_mask,
        "queries_zero_pad": queries_zero_pad,
        "docs_zero_pad": docs_zero_pad,
        "q_weights": torch.rand(q, qt, generator=g),
        "queries_int8": torch.randint(-20, 20, (q, qt, h), generator=g, dtype=torch.int8),
        "docs_int8": torch.randint(-20, 20, (q, n, dt, h), generator=g, dtype=torch.int8),
        "lengths_q": torch.randint(1, qt + 1, (q,), generator=g),
        "lengths_d": torch.cat([torch.zeros(1, dtype=torch.long), torch.randint(1, dt + 1, (q - 1,), generator=g)]),
    }


def run_cases(x: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Every function under comparison on the saved inputs; the same code runs in both interpreters."""
    from sentence_transformers.multi_vector_encoder import scoring
    from sentence_transformers.util import similarity as sim

    q, d, qm, dm = x["queries"], x["docs"], x["q_mask"], x["d_mask"]
    qz, dz = x["queries_zero_pad"], x["docs_zero_pad"]
    flat_d, flat_dm = d[:, 0], dm[:, 0]
    q_list = [q[i, : int(n)] for i, n in enumerate(x["lengths_q"])]
    d_list = [d[i, 0, : int(n)] for i, n in enumerate(x["lengths_d"])]
    out = {
        "maxsim/masks": sim.maxsim(q, flat_d, qm, flat_dm),
        "maxsim/zero_rows": sim.maxsim(qz, dz[:, 0]),
        "maxsim/lists": sim.maxsim(q_list, d_list),
        "maxsim/chunked": sim.maxsim(q, flat_d, qm, flat_dm, chunk_elements=50),
        "maxsim/float_weights": sim.maxsim(q, flat_d, x["q_weights"], flat_dm),
        "maxsim_pairwise/float_weights": sim.maxsim_pairwise(q, flat_d, x["q_weights"], flat_dm),
        "mean_maxsim/float_weights": sim.mean_maxsim(q, flat_d, x["q_weights"], flat_dm),
        "colbert_scores/float_weights": scoring.colbert_scores(q, d, x["q_weights"], dm),
        "colbert_kd_scores/float_weights": scoring.colbert_kd_scores(q, d, x["q_weights"], dm),
        "xtr_scores/float_weights": scoring.xtr_scores(q, d, x["q_weights"], dm, top_k=30),
        "maxsim/bf16": sim.maxsim(q.bfloat16(), flat_d.bfloat16(), qm, flat_dm),
        "maxsim/int8": sim.maxsim(x["queries_int8"], x["docs_int8"][:, 0]),
        "maxsim/single_2d": sim.maxsim(q[0], flat_d[1]),
        "maxsim_pairwise/masks": sim.maxsim_pairwise(q, flat_d, qm, flat_dm),
        "maxsim_pairwise/lists": sim.maxsim_pairwise(q_list, d_list),
        "mean_maxsim/masks": sim.mean_maxsim(q, flat_d, qm, flat_dm),
        "mean_maxsim/lists": sim.mean_maxsim(q_list, d_list),
        "mean_maxsim/zero_rows": sim.mean_maxsim(qz, dz[:, 0]),
        "mean_maxsim_pairwise/masks": sim.mean_maxsim_pairwise(q, flat_d, qm, flat_dm),
        "colbert_scores/masks": scoring.colbert_scores(q, d, qm, dm),
        "colbert_scores/zero_rows": scoring.colbert_scores(qz, dz),
        "colbert_scores/chunked": scoring.colbert_scores(q, d, qm, dm, chunk_elements=64),
        "colbert_scores/bf16": scoring.colbert_scores(q.bfloat16(), d.bfloat16(), qm, dm),
        "colbert_scores_pairwise/masks": scoring.colbert_scores_pairwise(q, flat_d, qm, flat_dm),
        "colbert_kd_scores/masks": scoring.colbert_kd_scores(q, d, qm, dm),
        "colbert_kd_scores/zero_rows": scoring.colbert_kd_scores(qz, dz),
        "mean_colbert_scores/masks": scoring.mean_colbert_scores(q, d, qm, dm),
        "mean_colbert_scores_pairwise/masks": scoring.mean_colbert_scores_pairwise(q, flat_d, qm, flat_dm),
        "mean_colbert_kd_scores/masks": scoring.mean_colbert_kd_scores(q, d, qm, dm),
    }
    for top_k in (1, 5, 40, 1000):
        out[f"xtr_scores/top{top_k}"] = scoring.xtr_scores(q, d, qm, dm, top_k=top_k)
        out[f"xtr_scores/top{top_k}_chunked"] = scoring.xtr_scores(q, d, qm, dm, top_k=top_k, chunk_elements=300)
        out[f"xtr_kd_scores/top{top_k}"] = scoring.xtr_kd_scores(q, d, qm, dm, top_k=top_k)
        out[f"xtr_scores_pairwise/top{top_k}"] = scoring.xtr_scores_pairwise(q, flat_d, qm, flat_dm, top_k=top_k)
    out["xtr_scores/zero_rows"] = scoring.xtr_scores(qz, dz, top_k=20)
    out["xtr_scores/bf16"] = scoring.xtr_scores(q.bfloat16(), d.bfloat16(), qm, dm, top_k=20)
    out["xtr_scores/int8"] = scoring.xtr_scores(x["queries_int8"], x["docs_int8"], top_k=20)
    out["XTRScores/top8"] = scoring.XTRScores(8)(q, d, qm, dm)
    out["XTRKDScores/top8"] = scoring.XTRKDScores(8, chunk_elements=500)(q, d, qm, dm)
    return {key: value.detach().float() for key, value in out.items()}


def worker(inputs: str, output: str) -> None:
    """Run every case with this interpreter's package and save the scores."""
    import sentence_transformers

    torch.save(run_cases(torch.load(inputs)), output)
    print(f"{sentence_transformers.__file__}", file=sys.stderr)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--against", default="/tmp/upvenv/bin/python", help="the upstream interpreter")
    parser.add_argument("--worker", nargs=2, metavar=("INPUTS", "OUTPUT"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        worker(*args.worker)
        return
    with tempfile.TemporaryDirectory() as tmp:
        inputs = Path(tmp, "inputs.pt")
        torch.save(make_inputs(), inputs)
        results = {}
        for name, python, env_path in (("sbert", sys.executable, str(SBERT_SRC)), ("upstream", args.against, "")):
            out = Path(tmp, f"{name}.pt")
            env = {"PYTHONPATH": env_path, "PATH": "/usr/bin:/bin", "OMP_NUM_THREADS": "1"}
            subprocess.run([python, __file__, "--worker", str(inputs), str(out)], check=True, env=env)
            results[name] = torch.load(out)
    worst = 0.0
    print(f"{'case':<40} {'shape':>10} {'max abs diff':>14}")
    for key, ours in results["sbert"].items():
        theirs = results["upstream"][key]
        if ours.shape != theirs.shape:
            print(f"{key:<40} SHAPE MISMATCH {tuple(ours.shape)} vs {tuple(theirs.shape)}")
            worst = float("inf")
            continue
        diff = (ours - theirs).abs().max().item() if ours.numel() else 0.0
        worst = max(worst, diff)
        print(f"{key:<40} {str(tuple(ours.shape)):>10} {diff:>14.3g}")
    print(f"worst: {worst:.3g}")


if __name__ == "__main__":
    main()
