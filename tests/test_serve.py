"""``sbert serve``: the real server in a subprocess on a free loopback port, called with the openai client and httpx."""

from __future__ import annotations

import concurrent.futures
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

httpx = pytest.importorskip("httpx")
openai = pytest.importorskip("openai")
pytest.importorskip("fastapi")
pytest.importorskip("uvicorn")
pytest.importorskip("prometheus_client")

from sentence_transformers import SentenceTransformer  # noqa: E402

STARTUP_S = 180  # importing torch and transformers is slow on a busy machine
TEXTS = [
    "The quick brown fox jumps over the lazy dog.",
    "A man is playing a guitar on the street.",
    "a cat",
    "What is the capital of France? Paris is the capital of France.",
    "",
]
JSON = {"Content-Type": "application/json"}


class Server:
    """``sbert serve`` in a subprocess, its output in a log file."""

    def __init__(self, model_dir: Path, log: Path, *args: str, env: dict[str, str] | None = None) -> None:
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            self.port = probe.getsockname()[1]
        self.url, self.log = f"http://127.0.0.1:{self.port}", log
        command = [sys.executable, "-m", "sentence_transformers.cli", "serve", "--model", str(model_dir)]
        command += ["--port", str(self.port), "--device", "cpu", *args]
        with open(log, "wb") as out:
            self.process = subprocess.Popen(
                command, stdout=out, stderr=subprocess.STDOUT, env={**os.environ, **(env or {})}
            )
        self._wait_healthy()

    def _wait_healthy(self) -> None:
        deadline = time.monotonic() + STARTUP_S
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                pytest.fail(f"the server exited with {self.process.returncode}:\n{self.log.read_text()}")
            try:
                if httpx.get(f"{self.url}/health", timeout=1).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.2)
        self.stop()
        pytest.fail(f"the server did not become healthy:\n{self.log.read_text()}")

    def stop(self) -> int:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(30)
            except subprocess.TimeoutExpired:
                self.process.kill()
        return self.process.wait()


@pytest.fixture(scope="module")
def model_dir(tiny_bert_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The tiny model, saved with a "query" prompt."""
    folder = tmp_path_factory.mktemp("serve") / "tiny"
    SentenceTransformer(str(tiny_bert_dir), device="cpu", prompts={"query": "query: "}).save(str(folder))
    return folder


@pytest.fixture(scope="module")
def model(model_dir: Path) -> SentenceTransformer:
    return SentenceTransformer(str(model_dir), device="cpu")


@pytest.fixture(scope="module")
def server(model_dir: Path, tmp_path_factory: pytest.TempPathFactory):
    """Small request limits, so that the 413 cases are cheap."""
    args = ["--served-model-name", "tiny", "--max-inputs", "40", "--max-input-chars", "200"]
    running = Server(model_dir, tmp_path_factory.mktemp("logs") / "server.log", *args)
    yield running
    assert running.stop() == 0


@pytest.fixture(scope="module")
def guarded(model_dir: Path, tmp_path_factory: pytest.TempPathFactory):
    """An API key, a queue of one, and a long wait so that the one queued request stays queued a while."""
    args = ["--api-key", "secret", "--max-queue", "1", "--max-wait-ms", "400"]
    running = Server(model_dir, tmp_path_factory.mktemp("logs") / "guarded.log", *args)
    yield running
    assert running.stop() == 0


def client(server: Server, key: str = "none") -> openai.OpenAI:
    return openai.OpenAI(base_url=f"{server.url}/v1", api_key=key, max_retries=0, timeout=60)


def token_count(model: SentenceTransformer, texts: list[str], prompt: str = "") -> int:
    return sum(len(ids) for ids in model.tokenizer([prompt + text for text in texts])["input_ids"])


def assert_error(response: httpx.Response, status: int, fragment: str) -> dict:
    assert response.status_code == status, response.text
    error = response.json()["error"]
    assert set(error) == {"message", "type", "code"}
    assert fragment in error["message"]
    return error


# ------------------------------------------------------------------------------------------------ embeddings
def test_openai_client_float_and_base64_equal_encode(server, model):
    expected = model.encode(TEXTS, normalize_embeddings=True)
    for encoding_format in ("float", "base64"):
        response = client(server).embeddings.create(model="tiny", input=TEXTS, encoding_format=encoding_format)
        got = [np.frombuffer(__import__("base64").b64decode(d.embedding), "<f4") if isinstance(d.embedding, str)
               else np.array(d.embedding) for d in response.data]  # fmt: skip
        assert [d.index for d in response.data] == list(range(len(TEXTS)))
        np.testing.assert_allclose(np.stack(got), expected, atol=1e-6)
        assert response.model == "tiny"
        assert response.usage.prompt_tokens == response.usage.total_tokens == token_count(model, TEXTS)
    default = client(server).embeddings.create(model="tiny", input=TEXTS)  # the client asks for base64, decodes it
    np.testing.assert_allclose(np.array([d.embedding for d in default.data]), expected, atol=1e-6)


def test_single_string_and_dimensions(server, model):
    response = client(server).embeddings.create(model="tiny", input="a cat", dimensions=8, encoding_format="float")
    expected = model.encode("a cat", truncate_dim=8, normalize_embeddings=True)
    np.testing.assert_allclose(response.data[0].embedding, expected, atol=1e-6)


def test_embed_route(server, model):
    body = {"inputs": TEXTS, "normalize": False, "prompt_name": "query"}
    response = httpx.post(f"{server.url}/embed", json=body, timeout=60)
    assert response.status_code == 200, response.text
    np.testing.assert_allclose(np.array(response.json()), model.encode(TEXTS, prompt_name="query"), atol=1e-6)
    single = httpx.post(f"{server.url}/embed", json={"inputs": "a cat"}, timeout=60).json()
    np.testing.assert_allclose(single, [model.encode("a cat", normalize_embeddings=True)], atol=1e-6)


def test_similarity_route(server, model):
    body = {"source": "a cat", "targets": TEXTS}
    response = httpx.post(f"{server.url}/similarity", json=body, timeout=60)
    assert response.status_code == 200, response.text
    expected = model.similarity(model.encode(["a cat"]), model.encode(TEXTS))[0]
    np.testing.assert_allclose(response.json()["scores"], expected.numpy(), atol=1e-6)
    assert response.json()["similarity_fn_name"] == "cosine"


def test_concurrent_requests_are_batched_and_answered_with_their_own_rows(server, model):
    requests = [TEXTS[i % 5 : i % 5 + 1 + i % 3] for i in range(32)]

    def call(texts: list[str]) -> np.ndarray:
        response = httpx.post(f"{server.url}/v1/embeddings", json={"input": texts}, timeout=60)
        assert response.status_code == 200, response.text
        return np.array([d["embedding"] for d in response.json()["data"]])

    with concurrent.futures.ThreadPoolExecutor(16) as pool:
        answers = list(pool.map(call, requests))
    for texts, answer in zip(requests, answers, strict=True):
        np.testing.assert_allclose(answer, model.encode(texts, normalize_embeddings=True), atol=1e-6)
    metrics = httpx.get(f"{server.url}/metrics").text
    assert metric(metrics, "sbert_batch_requests_sum") > metric(metrics, "sbert_batch_requests_count")


def metric(text: str, name: str) -> float:
    return next(float(line.split()[-1]) for line in text.splitlines() if line.startswith(name + " "))


# ---------------------------------------------------------------------------------------------- other routes
def test_health_models_info_metrics(server):
    assert httpx.get(f"{server.url}/health").json() == {"status": "ok"}
    assert [m.id for m in client(server).models.list().data] == ["tiny"]
    info = httpx.get(f"{server.url}/info").json()
    assert info["dimension"] == 32 and info["max_seq_length"] == 64 and info["backend"] == "torch"
    assert info["dtype"] == "float32" and info["limits"]["max_inputs"] == 40
    metrics = httpx.get(f"{server.url}/metrics")
    assert metrics.headers["content-type"].startswith("text/plain")
    for name in ("sbert_requests_total", "sbert_queue_depth", "sbert_batch_size", "sbert_batch_tokens",
                 "sbert_request_duration_seconds_bucket"):  # fmt: skip
        assert name in metrics.text
    assert 'sbert_requests_total{route="/health",status="200"}' in metrics.text


# ------------------------------------------------------------------------------------------------------ errors
ERRORS = [
    ("/v1/embeddings", b'{"input": ', 422, "body: invalid JSON"),
    ("/v1/embeddings", {"input": 5}, 422, "input: must be a string or a list of strings"),
    ("/v1/embeddings", {"input": ["a", 3]}, 422, "input: item 1 must be a string"),
    ("/v1/embeddings", {"text": "a"}, 422, "input: Field required"),
    ("/v1/embeddings", {"input": []}, 422, "input: must not be an empty list"),
    ("/v1/embeddings", {"input": ["a"] * 41}, 413, "--max-inputs"),
    ("/v1/embeddings", {"input": ["a", "x" * 201]}, 413, "text 1 has 201 characters"),
    ("/v1/embeddings", {"input": "a", "dimensions": 0}, 422, "dimensions"),
    ("/v1/embeddings", {"input": "a", "dimensions": 33}, 422, "dimensions: must be at most 32"),
    ("/v1/embeddings", {"input": "a", "encoding_format": "int8"}, 422, "encoding_format"),
    ("/v1/embeddings", {"input": "a", "model": "gpt-x"}, 404, "'gpt-x' is not served here"),
    ("/embed", {"inputs": "a", "prompt_name": "nope"}, 422, "prompt_name: Prompt name 'nope' not found"),
    ("/embed", {"inputs": "a " * 90, "truncate": False}, 413, "this model reads at most 64"),
    ("/similarity", {"source": "a", "targets": []}, 422, "targets"),
    ("/similarity", {"targets": ["a"]}, 422, "source: Field required"),
]


@pytest.mark.parametrize(("route", "body", "status", "fragment"), ERRORS)
def test_errors(server, route, body, status, fragment):
    kwargs = {"content": body, "headers": JSON} if isinstance(body, bytes) else {"json": body}
    assert_error(httpx.post(f"{server.url}{route}", timeout=60, **kwargs), status, fragment)


def test_unknown_route_and_method(server):
    assert_error(httpx.get(f"{server.url}/v2/nothing"), 404, "/v2/nothing")
    assert_error(httpx.get(f"{server.url}/v1/embeddings"), 405, "Method Not Allowed")


def test_openai_client_sees_the_error(server):
    with pytest.raises(openai.UnprocessableEntityError, match="must not be an empty list"):
        client(server).embeddings.create(model="tiny", input=[])


def test_bad_requests_do_not_disturb_good_ones(server, model):
    bodies = [{"input": ["a cat", "the dog"]}, {"input": []}, {"input": [1]}, {"input": "x" * 500}] * 4

    def call(body: dict) -> httpx.Response:
        return httpx.post(f"{server.url}/v1/embeddings", json=body, timeout=60)

    with concurrent.futures.ThreadPoolExecutor(16) as pool:
        responses = list(pool.map(call, bodies))
    expected = model.encode(["a cat", "the dog"], normalize_embeddings=True)
    for body, response in zip(bodies, responses, strict=True):
        if body["input"] == ["a cat", "the dog"]:
            assert response.status_code == 200
            np.testing.assert_allclose([d["embedding"] for d in response.json()["data"]], expected, atol=1e-6)
        else:
            assert response.status_code in (413, 422)


# ------------------------------------------------------------------------------------------- key and queue
def test_api_key_is_enforced(guarded, model):
    assert httpx.get(f"{guarded.url}/health").status_code == 200  # open, for load balancers
    error = assert_error(httpx.post(f"{guarded.url}/v1/embeddings", json={"input": "a"}), 401, "API key")
    assert error["code"] == "invalid_api_key"
    wrong = httpx.get(f"{guarded.url}/info", headers={"Authorization": "Bearer nope"})
    assert_error(wrong, 401, "API key")
    with pytest.raises(openai.AuthenticationError):
        client(guarded, "wrong").embeddings.create(model="tiny", input="a")
    response = client(guarded, "secret").embeddings.create(model="tiny", input="a cat", encoding_format="float")
    np.testing.assert_allclose(response.data[0].embedding, model.encode("a cat", normalize_embeddings=True), atol=1e-6)


def test_full_queue_answers_503_with_retry_after(guarded):
    def call(_: int) -> httpx.Response:
        headers = {"Authorization": "Bearer secret"}
        return httpx.post(f"{guarded.url}/embed", json={"inputs": ["a cat"]}, headers=headers, timeout=60)

    with concurrent.futures.ThreadPoolExecutor(6) as pool:
        responses = list(pool.map(call, range(6)))
    statuses = sorted(response.status_code for response in responses)
    assert statuses[0] == 200 and statuses[-1] == 503, statuses
    assert set(statuses) == {200, 503}
    full = next(response for response in responses if response.status_code == 503)
    assert full.headers["Retry-After"] == "1"
    assert assert_error(full, 503, "--max-queue")["code"] == "queue_full"


# --------------------------------------------------------------------------------------------------- lifecycle
def test_sigterm_finishes_the_requests_in_flight(model_dir, model, tmp_path):
    """Requests wait 2 s for company (set through the environment); SIGTERM arrives meanwhile: none is lost."""
    server = Server(model_dir, tmp_path / "sigterm.log", env={"SBERT_MAX_WAIT_MS": "2000"})
    assert httpx.get(f"{server.url}/info").json()["limits"]["max_wait_ms"] == 2000
    bodies = [{"input": TEXTS[: i + 1]} for i in range(5)] * 2

    def call(body: dict) -> httpx.Response:
        return httpx.post(f"{server.url}/v1/embeddings", json=body, timeout=60)

    with concurrent.futures.ThreadPoolExecutor(len(bodies)) as pool:
        pending = [pool.submit(call, body) for body in bodies]
        deadline = time.monotonic() + 30
        while metric(httpx.get(f"{server.url}/metrics").text, "sbert_requests_in_flight") < len(bodies):
            assert time.monotonic() < deadline, "the requests never arrived"
            time.sleep(0.05)
        server.process.send_signal(signal.SIGTERM)
        responses = [future.result() for future in pending]
    assert [response.status_code for response in responses] == [200] * len(bodies)
    for body, response in zip(bodies, responses, strict=True):
        expected = model.encode(body["input"], normalize_embeddings=True)
        np.testing.assert_allclose([d["embedding"] for d in response.json()["data"]], expected, atol=1e-6)
    assert server.process.wait(60) == 0, server.log.read_text()
