"""``sbert serve`` with a late-interaction model (MultiVectorEncoder built from all-MiniLM-L6-v2): /embed_all and
/rerank (MaxSim) through a real server subprocess, the batcher in-process, and the wrong-model-type answers."""

from __future__ import annotations

import asyncio
import concurrent.futures
import string
from pathlib import Path

import numpy as np
import pytest
import torch

httpx = pytest.importorskip("httpx")
pytest.importorskip("fastapi")
pytest.importorskip("uvicorn")
pytest.importorskip("prometheus_client")

from sentence_transformers import SentenceTransformer  # noqa: E402
from sentence_transformers.base.modules import Dense, Normalize, Transformer  # noqa: E402
from sentence_transformers.cli.models import (  # noqa: E402
    MULTI_VECTOR_ENCODER,
    detect_model_type,
    folder_model_type,
    model_type_name,
)
from sentence_transformers.multi_vector_encoder import MultiVectorEncoder  # noqa: E402
from sentence_transformers.multi_vector_encoder.modules import MultiVectorMask  # noqa: E402
from sentence_transformers.serve.settings import ServeSettings  # noqa: E402
from test_serve import Server, assert_error, metric  # noqa: E402

QUERY = "what is the capital of france?"
DOCUMENTS = [
    "The cat sleeps on the sofa.",
    "Paris is the capital of France.",
    "A man is playing a guitar, on the street!",
    "France is a country in Europe; its capital is Paris.",
]
KEY = {"Authorization": "Bearer secret"}
DOCUMENT_LENGTH = 24
TOLERANCE = 1e-6


def build(minilm_path: Path) -> MultiVectorEncoder:
    """ColBERT-style: query expansion to 16 tokens, documents cut at 24, a seeded 384 → 128 projection,
    punctuation skipped in documents, "[Q] " / "[D] " prompts and an extra "short" prompt."""
    transformer = Transformer(
        str(minilm_path),
        query_expansion={"strategy": "fixed", "attend": False, "length": 16},
        document_length=DOCUMENT_LENGTH,
    )
    generator = torch.Generator().manual_seed(0)
    dense = Dense(
        384, 128, bias=False, activation_function=torch.nn.Identity(),
        init_weight=torch.randn(128, 384, generator=generator) / 384**0.5, module_input_name="token_embeddings",
    )  # fmt: skip
    modules = [
        transformer,
        dense,
        MultiVectorMask(skiplist_words=list(string.punctuation)),
        Normalize(module_input_name="token_embeddings"),
    ]
    prompts = {"query": "[Q] ", "document": "[D] ", "short": "s: "}
    return MultiVectorEncoder(modules=modules, prompts=prompts, device="cpu")


@pytest.fixture(scope="module")
def model_dir(minilm_path: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("multi-vector") / "colbert-minilm"
    build(minilm_path).save(str(folder))
    return folder


@pytest.fixture(scope="module")
def model(model_dir: Path) -> MultiVectorEncoder:
    return MultiVectorEncoder(str(model_dir), device="cpu")


@pytest.fixture(scope="module")
def server(model_dir: Path, tmp_path_factory: pytest.TempPathFactory):
    args = ["--served-model-name", "colbert", "--max-inputs", "8", "--max-input-chars", "300", "--api-key", "secret"]
    running = Server(model_dir, tmp_path_factory.mktemp("logs") / "multi-vector.log", *args)
    yield running
    assert running.stop() == 0


def post(server: Server, route: str, body: dict) -> httpx.Response:
    return httpx.post(f"{server.url}{route}", json=body, headers=KEY, timeout=60)


def assert_rows_equal(got: list, expected: list[torch.Tensor]) -> None:
    assert len(got) == len(expected)
    for row, want in zip(got, expected, strict=True):
        array = np.asarray(row, dtype=np.float64)
        assert array.shape == tuple(want.shape)
        np.testing.assert_allclose(array, want.numpy(), atol=TOLERANCE, rtol=0)


# ------------------------------------------------------------------------------------------------- detection
def test_model_type_detection_and_loading(model_dir, minilm_path):
    from sentence_transformers.serve.server import load_model

    assert folder_model_type(str(model_dir), multi_vector=True) == MULTI_VECTOR_ENCODER
    assert detect_model_type(str(model_dir), multi_vector=True) == MULTI_VECTOR_ENCODER
    with pytest.raises(ValueError, match="holds a MultiVectorEncoder"):
        folder_model_type(str(model_dir))  # commands that do not handle late interaction refuse it clearly
    for alias in ("MultiVectorEncoder", "multi-vector", "late-interaction"):
        assert model_type_name(alias) == MULTI_VECTOR_ENCODER
    assert isinstance(load_model(ServeSettings(model=str(model_dir), device="cpu")), MultiVectorEncoder)
    flagged = load_model(ServeSettings(model=str(minilm_path), model_type="multi-vector", device="cpu"))
    assert isinstance(flagged, MultiVectorEncoder)


# ------------------------------------------------------------------------------------------------- /embed_all
def test_embed_all_documents_by_default_equal_encode_document(server, model):
    response = post(server, "/embed_all", {"inputs": DOCUMENTS})
    assert response.status_code == 200, response.text
    rows = response.json()
    assert_rows_equal(rows, model.encode_document(DOCUMENTS))
    assert len(rows[2]) < len(model.tokenizer("[D] " + DOCUMENTS[2])["input_ids"])  # punctuation skipped


def test_embed_all_queries_equal_encode_query(server, model):
    response = post(server, "/embed_all", {"inputs": [QUERY, "guitar"], "task": "query"})
    assert response.status_code == 200, response.text
    rows = response.json()
    assert_rows_equal(rows, model.encode_query([QUERY, "guitar"]))
    assert [len(row) for row in rows] == [16, 16]  # query expansion
    assert all(len(row[0]) == 128 for row in rows)


def test_embed_all_single_string_and_prompt_name(server, model):
    single = post(server, "/embed_all", {"inputs": DOCUMENTS[1]}).json()
    assert_rows_equal(single, [model.encode_document(DOCUMENTS[1])])
    prompted = post(server, "/embed_all", {"inputs": DOCUMENTS[:2], "prompt_name": "short"}).json()
    assert_rows_equal(prompted, model.encode_document(DOCUMENTS[:2], prompt_name="short"))
    plain = post(server, "/embed_all", {"inputs": DOCUMENTS[:1]}).json()[0]
    assert not np.allclose(np.asarray(prompted[0])[1:], np.asarray(plain)[1:], atol=1e-3)  # not the "[D] " prompt


def test_embed_all_truncates_to_the_document_length(server, model):
    long = "paris is a city " * 15  # 60 words, within --max-input-chars
    rows = post(server, "/embed_all", {"inputs": [long]}).json()
    assert len(rows[0]) <= DOCUMENT_LENGTH
    assert_rows_equal(rows, model.encode_document([long]))


def test_concurrent_requests_get_their_own_rows(server, model):
    requests = [(DOCUMENTS[i % 4 : i % 4 + 1 + i % 2], "query" if i % 3 == 0 else "document") for i in range(12)]

    def call(request: tuple[list[str], str]) -> list:
        texts, task = request
        response = post(server, "/embed_all", {"inputs": texts, "task": task})
        assert response.status_code == 200, response.text
        return response.json()

    with concurrent.futures.ThreadPoolExecutor(6) as pool:
        answers = list(pool.map(call, requests))
    for (texts, task), answer in zip(requests, answers, strict=True):
        encode = model.encode_query if task == "query" else model.encode_document
        assert_rows_equal(answer, encode(texts))
    metrics = httpx.get(f"{server.url}/metrics", headers=KEY).text
    assert 'sbert_requests_total{route="/embed_all",status="200"}' in metrics
    assert metric(metrics, "sbert_texts_total") >= sum(len(texts) for texts, _ in requests)


# ---------------------------------------------------------------------------------------------------- /rerank
def expected_scores(model: MultiVectorEncoder, query: str, documents: list[str]) -> np.ndarray:
    return model.similarity(model.encode_query([query]), model.encode_document(documents))[0].numpy()


def test_rerank_is_maxsim_sorted_best_first(server, model):
    response = post(server, "/rerank", {"query": QUERY, "texts": DOCUMENTS, "return_text": True})
    assert response.status_code == 200, response.text
    ranking = response.json()
    scores = expected_scores(model, QUERY, DOCUMENTS)
    assert [hit["index"] for hit in ranking] == np.argsort(-scores, kind="stable").tolist()
    assert ranking[0]["index"] in (1, 3)  # the documents about Paris come first
    for hit in ranking:
        assert set(hit) == {"index", "score", "text"} and hit["text"] == DOCUMENTS[hit["index"]]
        assert abs(hit["score"] - scores[hit["index"]]) <= TOLERANCE * max(1.0, abs(scores[hit["index"]]))
    bare = post(server, "/rerank", {"query": QUERY, "texts": DOCUMENTS, "raw_scores": True}).json()
    assert all(set(hit) == {"index", "score"} for hit in bare)  # MaxSim has no activation: raw is the same
    assert [hit["index"] for hit in bare] == [hit["index"] for hit in ranking]


def test_cohere_rerank_and_similarity_are_maxsim(server, model):
    scores = expected_scores(model, QUERY, DOCUMENTS)
    body = {"query": QUERY, "documents": DOCUMENTS, "top_n": 2, "model": "colbert"}
    results = post(server, "/v1/rerank", body).json()["results"]
    assert [hit["index"] for hit in results] == np.argsort(-scores, kind="stable")[:2].tolist()
    similarity = post(server, "/similarity", {"source": QUERY, "targets": DOCUMENTS}).json()
    np.testing.assert_allclose(similarity["scores"], scores, rtol=1e-6, atol=TOLERANCE)
    assert similarity["similarity_fn_name"] == "maxsim"


def test_info_and_models_describe_the_multi_vector_model(server, model):
    info = httpx.get(f"{server.url}/info", headers=KEY).json()
    assert info["model_type"] == "MultiVectorEncoder" and info["dimension"] == 128
    assert info["multi_vector"] is True and info["similarity_fn_name"] == "maxsim"
    assert info["tasks"] == ["query", "document"] and info["document_length"] == DOCUMENT_LENGTH
    assert info["query_length"] == model.max_seq_length  # no query_length: the model's max_seq_length
    models = httpx.get(f"{server.url}/v1/models", headers=KEY).json()["data"]
    assert [(m["id"], m["model_type"]) for m in models] == [("colbert", "MultiVectorEncoder")]


# ------------------------------------------------------------------------------------------------------ errors
TOO_LONG = "inputs: text 1 has 35 tokens; this model reads at most 24 for a document"  # [CLS] [ d ] 30 words [SEP]
ERRORS = [
    ("/embed", {"inputs": ["a"]}, 400, "it answers POST /embed_all"),
    ("/v1/embeddings", {"input": "a"}, 400, "not the single-vector embedding routes"),
    ("/embed_sparse", {"inputs": ["a"]}, 400, "multi-vector, late-interaction model"),
    ("/embed_all", {"inputs": []}, 422, "inputs: must not be an empty list"),
    ("/embed_all", {"inputs": [1]}, 422, "item 0 must be a string"),
    ("/embed_all", {}, 422, "inputs: Field required"),
    ("/embed_all", {"inputs": ["a"], "task": "passage"}, 422, "task: Input should be 'query' or 'document'"),
    ("/embed_all", {"inputs": ["a"] * 9}, 413, "--max-inputs"),
    ("/embed_all", {"inputs": ["a", "x" * 301]}, 413, "inputs: text 1 has 301 characters"),
    ("/embed_all", {"inputs": ["a", "paris " * 30], "truncate": False}, 413, TOO_LONG),
    ("/embed_all", {"inputs": ["a"], "truncation_direction": "Left"}, 422, "only 'Right' is supported"),
    ("/embed_all", {"inputs": ["a"], "prompt_name": "nope"}, 422, "prompt_name"),
    ("/rerank", {"query": "a", "texts": []}, 422, "texts"),
    ("/rerank", {"query": "a", "texts": ["b"] * 9}, 413, "--max-inputs"),
    ("/rerank", {"query": "q" * 301, "texts": ["b"]}, 413, "query: text 0 has 301 characters"),
    ("/rerank", {"query": "a", "texts": ["paris " * 30], "truncate": False}, 413, "for a document"),
]


@pytest.mark.parametrize(("route", "body", "status", "fragment"), ERRORS)
def test_errors(server, route, body, status, fragment):
    error = assert_error(post(server, route, body), status, fragment)
    if status == 400:
        assert error["code"] == "wrong_model_type"


def test_short_text_with_truncate_false_is_served(server, model):
    rows = post(server, "/embed_all", {"inputs": ["paris " * 10], "truncate": False}).json()
    assert_rows_equal(rows, model.encode_document(["paris " * 10]))


def test_api_key_is_enforced_on_embed_all(server):
    response = httpx.post(f"{server.url}/embed_all", json={"inputs": ["a"]}, timeout=60)
    assert assert_error(response, 401, "API key")["code"] == "invalid_api_key"


# ------------------------------------------------------------------------------------------------- in-process
def test_batcher_joins_token_requests_and_answers_each_with_its_own_rows(model):
    """Several requests in one round, of both roles and two prompts, one of them refused alone (too long)."""
    from sentence_transformers.serve.batcher import Batcher, BatchLimits, EncodeRequest, InputTooLong
    from sentence_transformers.serve.metrics import Metrics
    from sentence_transformers.serve.multi_vector import TokenRequest

    requests = [
        TokenRequest(DOCUMENTS[:2]),
        TokenRequest([QUERY], "query"),
        TokenRequest(["paris " * 30], truncate=False),
        TokenRequest(DOCUMENTS[2:], prompt_name="short"),
        TokenRequest(DOCUMENTS[1:3]),
    ]
    metrics = Metrics()

    async def scenario() -> list:
        batcher = Batcher(model, BatchLimits(max_wait_ms=300, max_batch_size=2), metrics)
        await batcher.start()
        try:
            with pytest.raises(TypeError, match="takes a TokenRequest"):
                await batcher.encode(EncodeRequest(["a"]))  # single-vector requests do not fit the model
            with pytest.raises(ValueError, match="task must be one of"):
                await batcher.encode(TokenRequest(["a"], "passage"))
            return await asyncio.gather(*(batcher.encode(request) for request in requests), return_exceptions=True)
        finally:
            await batcher.stop()

    results = asyncio.run(scenario())
    assert isinstance(results[2], InputTooLong) and "this model reads at most 24 for a document" in str(results[2])
    for request, result in zip(requests, results, strict=True):
        if request.truncate:
            encode = model.encode_query if request.task == "query" else model.encode_document
            expected = encode(request.texts, prompt_name=request.prompt_name)
            assert_rows_equal([row.tolist() for row in result.rows], expected)
    rendered = metrics.render()[0].decode()
    assert metric(rendered, "sbert_batch_requests_sum") > metric(rendered, "sbert_batch_requests_count")  # joined


def call_in_process(served, route: str, body: dict) -> httpx.Response:
    from sentence_transformers.serve.app import create_app

    app = create_app(served, ServeSettings(model="in-process", device="cpu"))

    async def scenario() -> httpx.Response:
        async with app.router.lifespan_context(app):
            transport = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(transport=transport, base_url="http://serve") as http:
                return await http.post(route, json=body)

    return asyncio.run(scenario())


def test_embed_all_on_a_dense_model_is_a_clear_400(tiny_bert_dir):
    dense_model = SentenceTransformer(str(tiny_bert_dir), device="cpu")
    response = call_in_process(dense_model, "/embed_all", {"inputs": ["a cat"]})
    error = assert_error(response, 400, "(dense embedding model): POST /embed_all needs a MultiVectorEncoder")
    assert error["code"] == "wrong_model_type"
