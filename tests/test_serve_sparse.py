"""``sbert serve`` with a sparse model (SparseEncoder): /embed_sparse through a real server subprocess, the batcher
in-process, and the wrong-model-type answers of every server kind."""

from __future__ import annotations

import asyncio
import concurrent.futures
from pathlib import Path

import numpy as np
import pytest
import torch

httpx = pytest.importorskip("httpx")
pytest.importorskip("fastapi")
pytest.importorskip("uvicorn")
pytest.importorskip("prometheus_client")

from sentence_transformers import SentenceTransformer  # noqa: E402
from sentence_transformers.cli.models import (  # noqa: E402
    SENTENCE_TRANSFORMER,
    SPARSE_ENCODER,
    folder_model_type,
    model_type_name,
)
from sentence_transformers.cross_encoder import CrossEncoder  # noqa: E402
from sentence_transformers.serve.settings import ServeSettings  # noqa: E402
from sentence_transformers.sparse_encoder import SparseEncoder  # noqa: E402
from test_serve import Server, assert_error, metric  # noqa: E402

TEXTS = [
    "The quick brown fox jumps over the lazy dog.",
    "A man is playing a guitar on the street.",
    "a cat",
    "What is the capital of France? Paris is the capital of France.",
    "",
]
KEY = {"Authorization": "Bearer secret"}
MAX_ACTIVE_DIMS = 20  # of the tiny vocabulary's 113: the tiny model activates more, so the cut is real


@pytest.fixture(scope="module")
def sparse_dir(tiny_mlm_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The tiny masked-LM as SPLADE, saved with a "query" prompt and max_active_dims."""
    folder = tmp_path_factory.mktemp("sparse") / "tiny-splade"
    model = SparseEncoder(str(tiny_mlm_dir), device="cpu", max_active_dims=MAX_ACTIVE_DIMS)
    model.prompts = {"query": "query: "}
    model.save(str(folder))
    return folder


@pytest.fixture(scope="module")
def model(sparse_dir: Path) -> SparseEncoder:
    return SparseEncoder(str(sparse_dir), device="cpu")


@pytest.fixture(scope="module")
def server(sparse_dir: Path, tmp_path_factory: pytest.TempPathFactory):
    args = ["--served-model-name", "tiny-splade", "--max-inputs", "8", "--max-input-chars", "300"]
    running = Server(sparse_dir, tmp_path_factory.mktemp("logs") / "sparse.log", *args, "--api-key", "secret")
    yield running
    assert running.stop() == 0


def post(server: Server, route: str, body: dict) -> httpx.Response:
    return httpx.post(f"{server.url}{route}", json=body, headers=KEY, timeout=60)


def dense(rows: list[list[dict]], dimension: int) -> np.ndarray:
    """The response's rows as a dense [n, dimension] array (each entry set once)."""
    assert isinstance(rows, list), rows
    out = np.zeros((len(rows), dimension), dtype=np.float64)
    for position, row in enumerate(rows):
        for entry in row:
            assert set(entry) == {"index", "value"} and out[position, entry["index"]] == 0
            out[position, entry["index"]] = entry["value"]
    return out


def expected(model: SparseEncoder, texts: list[str], **options) -> np.ndarray:
    return model.encode(texts, **options).to_dense().numpy()


def token_count(model: SparseEncoder, texts: list[str], prompt: str = "") -> int:
    return sum(len(ids) for ids in model.tokenizer([prompt + text for text in texts])["input_ids"])


# ------------------------------------------------------------------------------------------------- detection
def test_model_type_detection_and_names(sparse_dir, tiny_mlm_dir):
    assert folder_model_type(str(sparse_dir)) == SPARSE_ENCODER  # config_sentence_transformers.json
    assert folder_model_type(str(tiny_mlm_dir)) == SENTENCE_TRANSFORMER  # a plain masked LM: only with the flag
    for alias in ("SparseEncoder", "sparse", "sparse-encoder", "SPLADE"):
        assert model_type_name(alias) == SPARSE_ENCODER
    with pytest.raises(ValueError, match="SparseEncoder"):
        model_type_name("colbert")


def test_model_type_flag_loads_a_plain_masked_lm_as_splade(tiny_mlm_dir):
    from sentence_transformers.serve.server import load_model

    loaded = load_model(ServeSettings(model=str(tiny_mlm_dir), model_type="splade", device="cpu"))
    assert isinstance(loaded, SparseEncoder) and loaded.get_embedding_dimension() == 113
    assert type(load_model(ServeSettings(model=str(tiny_mlm_dir), device="cpu"))) is SentenceTransformer


# ------------------------------------------------------------------------------------------------ /embed_sparse
def test_embed_sparse_equals_encode(server, model, tiny_mlm_dir):
    response = post(server, "/embed_sparse", {"inputs": TEXTS})
    assert response.status_code == 200, response.text
    rows = response.json()
    assert len(rows) == len(TEXTS)
    for row in rows:
        indices = [entry["index"] for entry in row]
        assert indices == sorted(indices) and all(entry["value"] != 0 for entry in row)
        assert len(row) <= MAX_ACTIVE_DIMS
    np.testing.assert_allclose(dense(rows, 113), expected(model, TEXTS), atol=1e-6)
    uncut = SparseEncoder(str(tiny_mlm_dir), device="cpu").encode(TEXTS[:1]).coalesce()
    assert uncut.values().count_nonzero() > MAX_ACTIVE_DIMS  # the model's max_active_dims did cut


def test_embed_sparse_single_string_and_prompt_name(server, model):
    single = post(server, "/embed_sparse", {"inputs": "a cat"}).json()
    assert len(single) == 1
    np.testing.assert_allclose(dense(single, 113), expected(model, ["a cat"]), atol=1e-6)
    prompted = post(server, "/embed_sparse", {"inputs": TEXTS[:2], "prompt_name": "query"}).json()
    np.testing.assert_allclose(dense(prompted, 113), expected(model, TEXTS[:2], prompt_name="query"), atol=1e-6)
    assert not np.allclose(dense(prompted, 113), expected(model, TEXTS[:2]), atol=1e-6)
    right = post(server, "/embed_sparse", {"inputs": ["a cat"], "truncation_direction": "Right"}).json()
    assert right == single


def test_concurrent_requests_are_batched_and_answered_with_their_own_rows(server, model):
    requests = [TEXTS[i % 5 : i % 5 + 1 + i % 3] for i in range(24)]

    def call(texts: list[str]) -> list:
        response = post(server, "/embed_sparse", {"inputs": texts})
        assert response.status_code == 200, response.text
        return response.json()

    with concurrent.futures.ThreadPoolExecutor(12) as pool:
        answers = list(pool.map(call, requests))
    for texts, answer in zip(requests, answers, strict=True):
        np.testing.assert_allclose(dense(answer, 113), expected(model, texts), atol=1e-6)
    metrics = httpx.get(f"{server.url}/metrics", headers=KEY).text
    assert metric(metrics, "sbert_batch_requests_sum") > metric(metrics, "sbert_batch_requests_count")
    assert 'sbert_requests_total{route="/embed_sparse",status="200"}' in metrics
    assert metric(metrics, "sbert_tokens_total") >= sum(token_count(model, texts) for texts in requests)


def test_similarity_is_the_sparse_dot_product(server, model):
    response = post(server, "/similarity", {"source": TEXTS[2], "targets": TEXTS[:4]})
    assert response.status_code == 200, response.text
    payload = response.json()
    embeddings = expected(model, TEXTS[:4])
    source = expected(model, [TEXTS[2]])[0]
    np.testing.assert_allclose(payload["scores"], embeddings @ source, rtol=1e-5, atol=1e-6)
    assert payload["similarity_fn_name"] == "dot"
    assert payload["usage"]["total_tokens"] == token_count(model, [TEXTS[2], *TEXTS[:4]])


def test_info_and_models_describe_the_sparse_model(server):
    info = httpx.get(f"{server.url}/info", headers=KEY).json()
    assert info["model_type"] == "SparseEncoder" and info["dimension"] == 113 and info["sparse"] is True
    assert info["max_active_dims"] == MAX_ACTIVE_DIMS and info["similarity_fn_name"] == "dot"
    assert "normalize" not in info and "num_labels" not in info
    models = httpx.get(f"{server.url}/v1/models", headers=KEY).json()["data"]
    assert [(m["id"], m["model_type"]) for m in models] == [("tiny-splade", "SparseEncoder")]


# ------------------------------------------------------------------------------------------------------ errors
ERRORS = [
    ("/v1/embeddings", {"input": "a"}, 400, "not the dense embedding routes /embed and /v1/embeddings"),
    ("/embed", {"inputs": ["a"]}, 400, "it answers POST /embed_sparse"),
    ("/rerank", {"query": "a", "texts": ["b"]}, 400, "a SparseEncoder (sparse embedding model): it cannot rerank"),
    ("/v1/rerank", {"query": "a", "documents": ["b"]}, 400, "it cannot rerank"),
    ("/embed_sparse", {"inputs": []}, 422, "inputs: must not be an empty list"),
    ("/embed_sparse", {"inputs": [1]}, 422, "item 0 must be a string"),
    ("/embed_sparse", {}, 422, "inputs: Field required"),
    ("/embed_sparse", {"inputs": ["a"] * 9}, 413, "--max-inputs"),
    ("/embed_sparse", {"inputs": ["a", "x" * 301]}, 413, "inputs: text 1 has 301 characters"),
    ("/embed_sparse", {"inputs": ["a " * 90], "truncate": False}, 413, "this model reads at most 64"),
    ("/embed_sparse", {"inputs": ["a"], "truncation_direction": "Left"}, 422, "only 'Right' is supported"),
    ("/embed_sparse", {"inputs": ["a"], "prompt_name": "nope"}, 422, "prompt_name"),
]


@pytest.mark.parametrize(("route", "body", "status", "fragment"), ERRORS)
def test_errors(server, route, body, status, fragment):
    error = assert_error(post(server, route, body), status, fragment)
    if status == 400:
        assert error["code"] == "wrong_model_type"


def test_truncated_long_text_is_served(server, model):
    long = "a cat " * 40  # 82 tokens, 240 characters
    rows = post(server, "/embed_sparse", {"inputs": [long]}).json()
    np.testing.assert_allclose(dense(rows, 113), expected(model, [long]), atol=1e-6)


def test_api_key_is_enforced_on_embed_sparse(server):
    response = httpx.post(f"{server.url}/embed_sparse", json={"inputs": ["a"]}, timeout=60)
    assert assert_error(response, 401, "API key")["code"] == "invalid_api_key"


# ------------------------------------------------------------------------------------------------- in-process
def test_batcher_rows_equal_encode_over_several_forwards_and_prompts(model):
    """Several requests in one round, cut into several forward passes (few tokens per pass), with and without a
    prompt: each request's rows equal ``encode``'s."""
    from sentence_transformers.serve.batcher import Batcher, BatchLimits, EncodeRequest

    requests = [
        EncodeRequest(TEXTS[:2]),
        EncodeRequest(["two women are sitting"], prompt="query: "),
        EncodeRequest(TEXTS[2:]),
        EncodeRequest(["paris", "a guitar"], prompt="query: "),
    ]

    async def scenario() -> list:
        batcher = Batcher(model, BatchLimits(max_wait_ms=300, max_batch_tokens=24))
        await batcher.start()
        try:
            return await asyncio.gather(*(batcher.encode(request) for request in requests))
        finally:
            await batcher.stop()

    for request, result in zip(requests, asyncio.run(scenario()), strict=True):
        assert result.sparse is not None and len(result.sparse) == len(request.texts)
        got = result.sparse.to_dense()
        np.testing.assert_allclose(got, expected(model, request.texts, prompt=request.prompt), atol=1e-6)
        assert result.tokens == token_count(model, request.texts, request.prompt or "")


def call_in_process(served, route: str, body: dict) -> httpx.Response:
    """``body`` to ``route`` of an in-process app serving ``served``."""
    from sentence_transformers.serve.app import create_app

    app = create_app(served, ServeSettings(model="in-process", device="cpu"))

    async def scenario() -> httpx.Response:
        async with app.router.lifespan_context(app):
            transport = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(transport=transport, base_url="http://serve") as http:
                return await http.post(route, json=body)

    return asyncio.run(scenario())


def test_embed_sparse_on_a_dense_model_or_a_reranker_is_a_clear_400(tiny_bert_dir):
    dense_model = SentenceTransformer(str(tiny_bert_dir), device="cpu")
    response = call_in_process(dense_model, "/embed_sparse", {"inputs": ["a cat"]})
    error = assert_error(response, 400, "a SentenceTransformer (dense embedding model): POST /embed_sparse needs a "
                                        "SparseEncoder")  # fmt: skip
    assert error["code"] == "wrong_model_type"
    torch.manual_seed(0)
    reranker = CrossEncoder(str(tiny_bert_dir), num_labels=1, device="cpu")
    response = call_in_process(reranker, "/embed_sparse", {"inputs": ["a cat"]})
    assert assert_error(response, 400, "a CrossEncoder (reranker)")["code"] == "wrong_model_type"
