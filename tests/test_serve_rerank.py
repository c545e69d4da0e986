"""``sbert serve`` with a reranker (CrossEncoder): /rerank and /v1/rerank through real server subprocesses."""

from __future__ import annotations

import concurrent.futures
from pathlib import Path

import numpy as np
import pytest
import torch

httpx = pytest.importorskip("httpx")
pytest.importorskip("fastapi")
pytest.importorskip("uvicorn")
pytest.importorskip("prometheus_client")

from sentence_transformers.cli.models import (  # noqa: E402
    CROSS_ENCODER,
    SENTENCE_TRANSFORMER,
    folder_model_type,
    model_type_name,
)
from sentence_transformers.cross_encoder import CrossEncoder  # noqa: E402
from test_serve import Server, assert_error, metric  # noqa: E402

QUERY = "a cat on the windowsill"
DOCS = [
    "A cat sleeps on the warm windowsill in the afternoon sun.",
    "The quick brown fox jumps over the lazy dog.",
    "Paris is the capital of France.",
    "a cat",
    "Two women are sitting at a table and talking.",
]
KEY = {"Authorization": "Bearer secret"}


def make_reranker(tiny_bert_dir: Path) -> CrossEncoder:
    """The tiny BERT with a fresh one-label head; its matrices redrawn wider (a random BERT's small weights give every
    pair nearly the same score), so that the documents' scores differ and their order is clear."""
    torch.manual_seed(0)
    model = CrossEncoder(str(tiny_bert_dir), num_labels=1, device="cpu")
    with torch.no_grad():
        for parameter in model.model.parameters():
            if parameter.ndim == 2:
                torch.nn.init.normal_(parameter, std=0.5)
    return model


@pytest.fixture(scope="module")
def reranker_dir(tiny_bert_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("rerank") / "tiny-reranker"
    make_reranker(tiny_bert_dir).save(str(folder))
    return folder


@pytest.fixture(scope="module")
def plain_dir(tiny_bert_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A plain Hugging Face sequence-classification folder: no modules.json, as most published rerankers."""
    folder = tmp_path_factory.mktemp("rerank") / "plain-reranker"
    model = make_reranker(tiny_bert_dir)
    model.model.save_pretrained(folder)
    model.tokenizer.save_pretrained(folder)
    return folder


@pytest.fixture(scope="module")
def reranker(reranker_dir: Path) -> CrossEncoder:
    return CrossEncoder(str(reranker_dir), device="cpu")


@pytest.fixture(scope="module")
def server(reranker_dir: Path, tmp_path_factory: pytest.TempPathFactory):
    args = ["--served-model-name", "tiny-reranker", "--max-inputs", "8", "--max-input-chars", "300"]
    running = Server(reranker_dir, tmp_path_factory.mktemp("logs") / "rerank.log", *args, "--api-key", "secret")
    yield running
    assert running.stop() == 0


def post(server: Server, route: str, body: dict) -> httpx.Response:
    return httpx.post(f"{server.url}{route}", json=body, headers=KEY, timeout=60)


def pair_tokens(model: CrossEncoder, query: str, docs: list[str]) -> int:
    return sum(len(ids) for ids in model.tokenizer([query] * len(docs), docs)["input_ids"])


# ------------------------------------------------------------------------------------------------- detection
def test_folder_model_type(reranker_dir, plain_dir, tiny_bert_dir, tmp_path):
    assert folder_model_type(str(reranker_dir)) == CROSS_ENCODER  # config_sentence_transformers.json
    assert folder_model_type(str(plain_dir)) == CROSS_ENCODER  # architectures: BertForSequenceClassification
    assert folder_model_type(str(tiny_bert_dir)) == SENTENCE_TRANSFORMER  # BertModel
    (tmp_path / "config_sentence_transformers.json").write_text('{"model_type": "ColBERT"}')
    with pytest.raises(ValueError, match="holds a ColBERT model"):
        folder_model_type(str(tmp_path))
    assert model_type_name("reranker") == model_type_name("cross-encoder") == CROSS_ENCODER
    with pytest.raises(ValueError, match="--model-type must be one of"):
        model_type_name("colbert")


# ------------------------------------------------------------------------------------------------------ routes
def test_tei_rerank_equals_rank(server, reranker):
    response = post(server, "/rerank", {"query": QUERY, "texts": DOCS, "return_text": True})
    assert response.status_code == 200, response.text
    ranking = response.json()
    expected = reranker.rank(QUERY, DOCS, return_documents=True)
    assert [hit["index"] for hit in ranking] == [hit["corpus_id"] for hit in expected]
    assert [hit["text"] for hit in ranking] == [hit["text"] for hit in expected]
    np.testing.assert_allclose([hit["score"] for hit in ranking], [hit["score"] for hit in expected], atol=1e-6)
    scores = [hit["score"] for hit in ranking]
    assert scores == sorted(scores, reverse=True) and min(-np.diff(scores)) > 1e-3


def test_tei_rerank_raw_scores_are_the_logits(server, reranker):
    response = post(server, "/rerank", {"query": QUERY, "texts": DOCS, "raw_scores": True})
    ranking = response.json()
    assert all(set(hit) == {"index", "score"} for hit in ranking)
    logits = reranker.predict([(QUERY, doc) for doc in DOCS], activation_fn=torch.nn.Identity())
    by_index = {hit["index"]: hit["score"] for hit in ranking}
    np.testing.assert_allclose([by_index[i] for i in range(len(DOCS))], logits, atol=1e-6)
    sigmoid = 1 / (1 + np.exp(-logits.astype(np.float64)))  # the model's activation, applied by hand
    applied = {hit["index"]: hit["score"] for hit in post(server, "/rerank", {"query": QUERY, "texts": DOCS}).json()}
    np.testing.assert_allclose([applied[i] for i in range(len(DOCS))], sigmoid, atol=1e-6)


def test_v1_rerank_cohere_shape(server, reranker):
    documents = [DOCS[0], {"text": DOCS[1]}, DOCS[2], {"text": DOCS[3]}]
    body = {"model": "tiny-reranker", "query": QUERY, "documents": documents, "top_n": 2, "return_documents": True}
    response = post(server, "/v1/rerank", body)
    assert response.status_code == 200, response.text
    payload = response.json()
    expected = reranker.rank(QUERY, DOCS[:4], top_k=2, return_documents=True)
    assert [hit["index"] for hit in payload["results"]] == [hit["corpus_id"] for hit in expected]
    assert [hit["document"] for hit in payload["results"]] == [{"text": hit["text"]} for hit in expected]
    relevance = [hit["relevance_score"] for hit in payload["results"]]
    np.testing.assert_allclose(relevance, [hit["score"] for hit in expected], atol=1e-6)
    assert payload["usage"] == {"total_tokens": pair_tokens(reranker, QUERY, DOCS[:4])}
    assert payload["model"] == "tiny-reranker"
    plain = post(server, "/v1/rerank", {"query": QUERY, "documents": DOCS}).json()
    assert len(plain["results"]) == len(DOCS) and all("document" not in hit for hit in plain["results"])


def test_concurrent_reranks_are_batched_and_answered_with_their_own_scores(server, reranker):
    requests = [(DOCS[i % 5], DOCS[: 1 + i % 5]) for i in range(24)]

    def call(request: tuple[str, list[str]]) -> list[dict]:
        response = post(server, "/rerank", {"query": request[0], "texts": request[1]})
        assert response.status_code == 200, response.text
        return response.json()

    with concurrent.futures.ThreadPoolExecutor(12) as pool:
        answers = list(pool.map(call, requests))
    for (query, docs), answer in zip(requests, answers, strict=True):
        expected = reranker.predict([(query, doc) for doc in docs])
        np.testing.assert_allclose([hit["score"] for hit in sorted(answer, key=lambda h: h["index"])],
                                   np.atleast_1d(expected), atol=1e-6)  # fmt: skip
    metrics = httpx.get(f"{server.url}/metrics", headers=KEY).text
    assert metric(metrics, "sbert_batch_requests_sum") > metric(metrics, "sbert_batch_requests_count")
    assert 'sbert_requests_total{route="/rerank",status="200"}' in metrics


def test_info_and_models_report_the_model_type(server):
    info = httpx.get(f"{server.url}/info", headers=KEY).json()
    assert info["model_type"] == "CrossEncoder" and info["num_labels"] == 1 and info["dimension"] is None
    assert info["activation_fn"] == "torch.nn.modules.activation.Sigmoid"
    models = httpx.get(f"{server.url}/v1/models", headers=KEY).json()["data"]
    assert [(m["id"], m["model_type"]) for m in models] == [("tiny-reranker", "CrossEncoder")]


# ------------------------------------------------------------------------------------------------------ errors
ERRORS = [
    ("/v1/embeddings", {"input": "a"}, 400, "a CrossEncoder (reranker)"),
    ("/embed", {"inputs": ["a"]}, 400, "not embedding routes"),
    ("/similarity", {"source": "a", "targets": ["b"]}, 400, "not embedding routes"),
    ("/rerank", {"query": "a", "texts": []}, 422, "texts"),
    ("/rerank", {"texts": ["a"]}, 422, "query: Field required"),
    ("/rerank", {"query": "a", "texts": ["a"] * 9}, 413, "--max-inputs"),
    ("/rerank", {"query": "a", "texts": ["a", "x" * 301]}, 413, "text 1 has 301 characters"),
    ("/rerank", {"query": "q" * 301, "texts": ["a"]}, 413, "query: text 0 has 301 characters"),
    ("/rerank", {"query": "a", "texts": ["a " * 90], "truncate": False}, 413, "this model reads at most 64"),
    ("/v1/rerank", {"query": "a", "documents": [{"title": "x"}]}, 422, "item 0 must be a string or an object"),
    ("/v1/rerank", {"query": "a", "documents": "a"}, 422, "must be a list of strings"),
    ("/v1/rerank", {"query": "a", "documents": ["a"], "top_n": 0}, 422, "top_n"),
    ("/v1/rerank", {"query": "a", "documents": ["a"], "model": "other"}, 404, "'other' is not served here"),
]


@pytest.mark.parametrize(("route", "body", "status", "fragment"), ERRORS)
def test_errors(server, route, body, status, fragment):
    error = assert_error(post(server, route, body), status, fragment)
    if status == 400:
        assert error["code"] == "wrong_model_type"


def test_api_key_is_enforced_on_rerank(server):
    response = httpx.post(f"{server.url}/rerank", json={"query": "a", "texts": ["b"]}, timeout=60)
    assert assert_error(response, 401, "API key")["code"] == "invalid_api_key"


# ------------------------------------------------------------------------------- detection and --model-type
def test_plain_hf_reranker_is_detected(plain_dir, tmp_path):
    server = Server(plain_dir, tmp_path / "plain.log")
    try:
        assert httpx.get(f"{server.url}/info").json()["model_type"] == "CrossEncoder"
        ranking = httpx.post(f"{server.url}/rerank", json={"query": QUERY, "texts": DOCS}, timeout=60).json()
        expected = CrossEncoder(str(plain_dir), device="cpu").rank(QUERY, DOCS)
        assert [hit["index"] for hit in ranking] == [hit["corpus_id"] for hit in expected]
        np.testing.assert_allclose([h["score"] for h in ranking], [h["score"] for h in expected], atol=1e-6)
    finally:
        assert server.stop() == 0


def test_model_type_flag_forces_an_embedding_model(plain_dir, tmp_path):
    server = Server(plain_dir, tmp_path / "forced.log", "--model-type", "SentenceTransformer")
    try:
        assert httpx.get(f"{server.url}/info").json()["model_type"] == "SentenceTransformer"
        assert httpx.post(f"{server.url}/embed", json={"inputs": ["a cat"]}, timeout=60).status_code == 200
        response = httpx.post(f"{server.url}/rerank", json={"query": "a", "texts": ["b"]}, timeout=60)
        error = assert_error(response, 400, "a SentenceTransformer (embedding model): it cannot rerank")
        assert error["code"] == "wrong_model_type"
    finally:
        assert server.stop() == 0
