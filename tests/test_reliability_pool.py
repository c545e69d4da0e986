"""A multi-process pool must fail fast and shut down cleanly when a worker dies or an encode is cut short.

The dangerous scenarios run in a child interpreter with a timeout: a regression there shows up as a hang at exit
(a queue's feeder thread waiting for a reader that is gone), which must fail the test rather than the whole run."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

TEXTS = [f"sentence number {i} " + "word " * (i % 7) for i in range(23)]

# Runs in a child: start a 2-worker CPU pool, start a long encode, and once it is under way either SIGKILL one
# worker ("kill") or interrupt the caller ("interrupt"); then stop the pool and print the timings.
CHILD = """
import _thread, os, signal, sys, threading, time
from sentence_transformers import SentenceTransformer

model_dir, mode = sys.argv[1], sys.argv[2]
model = SentenceTransformer(model_dir, device="cpu")
pool = model.start_multi_process_pool(["cpu", "cpu"])
texts = [f"sentence number {i} " + "word " * (i % 17) for i in range(40000)]
fired = []

def strike():
    while not pool.get("busy"):  # the chunks are being queued: the encode is under way
        time.sleep(0.01)
    time.sleep(0.3)
    fired.append(time.monotonic())
    if mode == "kill":
        os.kill(pool["processes"][0].pid, signal.SIGKILL)
    else:
        _thread.interrupt_main()

threading.Thread(target=strike, daemon=True).start()
try:
    model.encode(texts, pool=pool, batch_size=32)
    print("OUTCOME finished")
except (RuntimeError, KeyboardInterrupt) as exc:
    print("OUTCOME", type(exc).__name__, str(exc).splitlines()[0] if str(exc) else "")
raised = time.monotonic() - fired[0]
try:
    model.encode(texts[:3], pool=pool)
except RuntimeError as exc:
    print("REUSE", str(exc))
start = time.monotonic()
model.stop_multi_process_pool(pool)
stopped = time.monotonic() - start
model.stop_multi_process_pool(pool)
alive = [process.pid for process in pool["processes"] if process.is_alive()]
print(f"TIMES {raised:.3f} {stopped:.3f} {alive}")
print(f"LEAVING {time.time():.3f}", flush=True)
"""


def run_child(model_dir: Path, mode: str) -> tuple[str, float]:
    """Run CHILD in a fresh interpreter; return its output and how long it took to exit after its last line."""
    proc = subprocess.run(
        [sys.executable, "-c", CHILD, str(model_dir), mode], capture_output=True, text=True, timeout=240
    )
    ended = time.time()
    assert proc.returncode == 0, proc.stdout + proc.stderr
    leaving = float(proc.stdout.split("LEAVING ")[1])
    return proc.stdout, ended - leaving


def times(output: str) -> tuple[float, float]:
    """The (seconds from the strike to the raise, seconds for the stop) that CHILD printed."""
    raised, stopped = output.split("TIMES ")[1].split()[:2]
    return float(raised), float(stopped)


def test_killed_worker_fails_fast_stops_at_once_and_lets_python_exit(tiny_bert_dir):
    output, exit_seconds = run_child(tiny_bert_dir, "kill")
    assert "OUTCOME RuntimeError Encoding worker(s) sbert-cpu" in output, output
    assert "exit code -9" in output and "died before finishing their chunks" in output
    assert "REUSE Encoding worker(s)" in output, output  # the pool stays refused, with the same reason
    raised, stopped = times(output)
    assert raised < 5, output  # a poll interval plus one chunk, not a hang
    assert stopped < 2, output  # the survivors were already stopped when the encode raised
    assert "TIMES" in output and output.split("TIMES ")[1].split()[2] == "[]", output
    assert exit_seconds < 30, (exit_seconds, output)  # before the fix the interpreter never exited


def test_interrupted_encode_does_not_wait_on_the_backlog(tiny_bert_dir):
    output, exit_seconds = run_child(tiny_bert_dir, "interrupt")
    assert "OUTCOME KeyboardInterrupt" in output, output
    assert "REUSE An earlier encode in this pool was interrupted" in output, output  # not the old call's results
    raised, stopped = times(output)
    assert raised < 5, output
    assert stopped < 5, output  # the queued chunks are dropped, not encoded first
    assert exit_seconds < 30, (exit_seconds, output)


def test_stop_after_normal_encode_is_fast_and_stopping_twice_is_harmless(tiny_model):
    pool = tiny_model.start_multi_process_pool(["cpu", "cpu"])
    processes = list(pool["processes"])
    np.testing.assert_allclose(tiny_model.encode(TEXTS, pool=pool), tiny_model.encode(TEXTS), atol=1e-5)
    start = time.monotonic()
    tiny_model.stop_multi_process_pool(pool)
    assert time.monotonic() - start < 5
    assert all(process.exitcode == 0 for process in processes)  # a clean exit, not a terminate
    tiny_model.stop_multi_process_pool(pool)
    with pytest.raises(ValueError, match="no running workers"):
        tiny_model.encode(TEXTS, pool=pool)


def test_pool_with_a_dead_worker_refuses_work_until_replaced(tiny_model):
    pool = tiny_model.start_multi_process_pool(["cpu", "cpu"])
    victim, survivor = pool["processes"]
    try:
        os.kill(victim.pid, signal.SIGKILL)
        victim.join(timeout=10)
        start = time.monotonic()
        with pytest.raises(RuntimeError, match=r"exit code -9\) died before finishing their chunks"):
            tiny_model.encode(TEXTS, pool=pool)
        assert time.monotonic() - start < 5
        assert not survivor.is_alive()  # stopped together with the dead worker's pool
        with pytest.raises(RuntimeError, match="start a new pool"):
            tiny_model.encode(TEXTS, pool=pool)
    finally:
        start = time.monotonic()
        tiny_model.stop_multi_process_pool(pool)
        tiny_model.stop_multi_process_pool(pool)
        assert time.monotonic() - start < 2
    fresh = tiny_model.start_multi_process_pool(["cpu"])
    try:
        np.testing.assert_allclose(tiny_model.encode(TEXTS, pool=fresh), tiny_model.encode(TEXTS), atol=1e-5)
    finally:
        tiny_model.stop_multi_process_pool(fresh)
