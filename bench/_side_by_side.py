"""What the side-by-side benchmarks (rerank.py, sparse.py, images.py) share: the worker process each runs per
(implementation, workload), its memory readings, and the table's number format.

Each script runs itself with ``--worker SPEC.json`` under sbert's or upstream's Python; the worker calls the script's
``prepare`` or ``measure`` and writes its result (with the interpreter's versions) as JSON.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
import traceback
from collections.abc import Callable
from pathlib import Path

from encode import worker_env


def proc_status_mb(key: str) -> float:
    """A line of /proc/self/status (VmRSS, VmHWM, …) in MB."""
    with open("/proc/self/status", encoding="utf-8") as f:
        for line in f:
            if line.startswith(key + ":"):
                return int(line.split()[1]) / 1024
    raise KeyError(key)


def reset_peak_rss() -> bool:
    """Set the kernel's peak-RSS mark (VmHWM) to the current RSS; False where that is not allowed."""
    try:
        with open("/proc/self/clear_refs", "w", encoding="utf-8") as f:
            f.write("5")
    except OSError:
        return False
    return True


def environment_lines(envs: dict[str, dict], rows: list[dict] | None = None) -> list[str]:
    """One line per implementation (its sentence_transformers, torch and threads), and, given the rows, a warning when
    a worker could not reset the kernel's peak-RSS mark (its "peak growth" is then an upper bound)."""
    lines = [
        f"{impl}: sentence_transformers {env['sentence_transformers']} ({env['package_file']})  "
        f"torch {env['torch']}  threads {env['threads']}"
        for impl, env in envs.items()
        if env
    ]
    if rows is not None and any(not row.get("peak_reset", True) for row in rows):
        lines.append("peak RSS mark could not be reset: 'peak growth' is an upper bound (includes model loading)")
    return lines


def fmt(value: float | None, spec: str) -> str:
    """``value`` formatted by ``spec``, or a dash when there is none."""
    return "—" if value is None else format(value, spec)


def worker_main(
    spec_path: str, prepare: Callable[[dict], None], measure: Callable[[dict], object], key: str = "run"
) -> None:
    """The worker: ``prepare(spec)`` or ``measure(spec)`` (its result under ``key``), the environment, any error."""
    import torch

    import sentence_transformers

    spec = json.loads(Path(spec_path).read_text(encoding="utf-8"))
    if spec.get("threads"):
        torch.set_num_threads(spec["threads"])
    result: dict = {
        "env": {
            "sentence_transformers": getattr(sentence_transformers, "__version__", "?"),
            "package_file": sentence_transformers.__file__,
            "torch": torch.__version__,
            "threads": torch.get_num_threads(),
        }
    }
    try:
        if spec.get("prepare"):
            prepare(spec)
        else:
            result[key] = measure(spec)
    except Exception as exc:
        traceback.print_exc()
        result["error"] = f"{type(exc).__name__}: {exc}".splitlines()[0][:300]
    Path(spec["result"]).write_text(json.dumps(result), encoding="utf-8")


def run_worker(
    script: str,
    python: list[str],
    spec: dict,
    tmp: Path,
    name: str,
    outputs: dict[str, str],
    show_log_on_error: bool = True,
) -> dict:
    """One worker process of ``script`` (cwd: a scratch folder, so no checkout is on its path); its JSON result.
    ``outputs`` are spec keys → file suffixes for what the worker writes (e.g. ``{"out": ".npz"}``)."""
    spec = {**spec, "result": str(tmp / f"{name}.json"), **{key: str(tmp / f"{name}{s}") for key, s in outputs.items()}}
    (tmp / f"{name}.spec.json").write_text(json.dumps(spec), encoding="utf-8")
    cwd = tmp / "cwd"
    cwd.mkdir(exist_ok=True)
    start = time.perf_counter()
    with open(tmp / f"{name}.log", "w", encoding="utf-8") as log:
        command = [*python, str(Path(script).resolve()), "--worker", str(tmp / f"{name}.spec.json")]
        proc = subprocess.run(command, cwd=cwd, env=worker_env(spec["impl"]), stdout=log, stderr=log)
    try:
        result = json.loads(Path(spec["result"]).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        result = {"env": {}, "error": f"worker exited {proc.returncode}; see its log"}
    if show_log_on_error and result.get("error"):
        print((tmp / f"{name}.log").read_text(encoding="utf-8")[-3000:], file=sys.stderr)
    print(f"{name}: {result.get('error') or 'ok'} ({time.perf_counter() - start:.1f} s)", file=sys.stderr)
    return result
