"""The server's batcher and settings in-process: batch planning, joined token ids, a failing batch, the CLI."""

from __future__ import annotations

import asyncio
import subprocess
import sys
import threading
from importlib.util import find_spec

import numpy as np
import pytest
import torch

from sentence_transformers import SentenceTransformer
from sentence_transformers.base import encoding
from sentence_transformers.cli import build_parser, main
from sentence_transformers.serve.settings import ServeSettings


def serve_args(*argv: str):
    return build_parser().parse_args(["serve", *argv])


# ------------------------------------------------------------------------------------------------- settings
def test_flags_win_over_environment_which_wins_over_defaults():
    environ = {"SBERT_MODEL": "env-model", "SBERT_PORT": "1234", "SBERT_MAX_WAIT_MS": "7.5", "SBERT_NORMALIZE": "off"}
    settings = ServeSettings.from_args(serve_args("--port", "9000", "--api-key", "k"), environ)
    assert (settings.model, settings.port, settings.max_wait_ms) == ("env-model", 9000, 7.5)
    assert settings.normalize is False and settings.api_key == "k"
    assert settings.max_batch_tokens == 16_384 and settings.host == "127.0.0.1"
    assert ServeSettings.from_args(serve_args("-m", "a/b", "--no-normalize"), {}).model_name == "a/b"


@pytest.mark.parametrize(
    ("argv", "environ", "message"),
    [
        ((), {}, "pass --model"),
        (("-m", "x"), {"SBERT_PORT": "eighty"}, "SBERT_PORT='eighty'"),
        (("-m", "x"), {"SBERT_NORMALIZE": "maybe"}, "SBERT_NORMALIZE"),
        (("-m", "x", "--max-batch-size", "0"), {}, "--max-batch-size must be at least 1"),
        (("-m", "x"), {"SBERT_BACKEND": "tpu"}, "--backend must be one of"),
    ],
)
def test_bad_settings_name_the_setting(argv, environ, message):
    with pytest.raises(ValueError, match=message):
        ServeSettings.from_args(serve_args(*argv), environ)


def test_serve_without_the_extra_says_how_to_install_it(monkeypatch, capsys):
    monkeypatch.setitem(sys.modules, "fastapi", None)
    assert main(["serve", "--model", "whatever"]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and 'pip install "sbert[serve]"' in err[0]


def test_importing_the_package_and_cli_does_not_import_the_server_libraries():
    code = (
        "import sys, sentence_transformers, sentence_transformers.cli, sentence_transformers.serve;"
        "print(sorted(m for m in ('fastapi', 'uvicorn', 'starlette', 'prometheus_client') if m in sys.modules))"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "[]"


# ---------------------------------------------------------------------------------------------------- engine
needs_extra = pytest.mark.skipif(
    any(find_spec(name) is None for name in ("fastapi", "uvicorn", "prometheus_client", "httpx")),
    reason="needs the serve extra and httpx",
)


@needs_extra
def test_plan_forwards_cuts_sorted_texts_where_padding_is_least():
    from sentence_transformers.serve.batcher import FORWARD_COST_TOKENS, plan_forwards

    lengths = np.array([3, 10, 5, 1, 10])
    plans = [plan.tolist() for plan in plan_forwards(lengths, max_tokens=100, max_size=8)]
    assert plans == [[1, 4, 2, 0, 3]]  # one pass: 50 padded tokens beat any split plus its extra pass
    assert [p.tolist() for p in plan_forwards(lengths, max_tokens=20, max_size=8)] == [[1, 4], [2, 0, 3]]
    assert [p.tolist() for p in plan_forwards(lengths, max_tokens=100, max_size=1)] == [[1], [4], [2], [0], [3]]
    assert [p.tolist() for p in plan_forwards(np.array([50, 2]), 20, 8)] == [[0], [1]]  # too long: alone
    long_and_short = np.array([2 * FORWARD_COST_TOKENS] + [1] * 8)
    assert [len(p) for p in plan_forwards(long_and_short, 10_000, 16)] == [1, 8]  # splitting saves more than it costs
    sizes = [len(p) for p in plan_forwards(np.full(70, 12), 10_000, 32)]
    assert sum(sizes) == 70 and max(sizes) <= 32 and len(sizes) == 3
    # short texts fill a pass beyond max_size up to pass_tokens (encode()'s rule), never beyond max_tokens
    sizes = [len(p) for p in plan_forwards(np.full(70, 12), 10_000, 32, pass_tokens=600)]
    assert sum(sizes) == 70 and max(sizes) <= 50 and len(sizes) == 2
    sizes = [len(p) for p in plan_forwards(np.full(70, 12), 360, 8, pass_tokens=600)]
    assert sum(sizes) == 70 and max(sizes) <= 30 and len(sizes) == 3
    assert [len(p) for p in plan_forwards(np.array([200, 12, 12]), 10_000, 1, pass_tokens=600)] == [1, 2]
    assert [len(p) for p in plan_forwards(np.array([-1] * 6), 10_000, 2, pass_tokens=600)] == [2, 2, 2]  # media


@needs_extra
def test_joined_token_ids_pad_like_one_tokenization(tiny_model):
    from sentence_transformers.serve.batcher import concat_token_ids

    first = tiny_model._first_module()
    texts = ["a cat", "The quick brown fox jumps over the lazy dog.", "", "two women"]
    joined = concat_token_ids([first.pretokenize(texts[:1]), first.pretokenize(texts[1:])])
    whole = first.pretokenize(texts)
    indices = np.array([1, 3, 0, 2])
    for name, tensor in whole.features(indices).items():
        torch.testing.assert_close(joined.features(indices)[name], tensor)


class Poison(torch.nn.Module):
    """Fails every batch that holds ``token_id``: a real failure inside the forward pass."""

    def __init__(self, token_id: int) -> None:
        super().__init__()
        self.token_id = token_id

    def forward(self, features: dict) -> dict:
        if (features["input_ids"] == self.token_id).any():
            raise RuntimeError("poisoned input")
        return features


@pytest.fixture()
def poisoned(tiny_bert_dir):
    from sentence_transformers.models import Pooling, Transformer

    transformer = Transformer(str(tiny_bert_dir))
    poison = Poison(transformer.tokenizer.convert_tokens_to_ids("guitar"))
    return SentenceTransformer(modules=[transformer, Pooling(32), poison], device="cpu")


@needs_extra
def test_a_failing_request_gets_500_and_its_batch_mates_and_later_requests_are_served(poisoned, tiny_bert_dir):
    import httpx

    from sentence_transformers.serve.app import create_app

    settings = ServeSettings(model=str(tiny_bert_dir), max_wait_ms=300)
    app = create_app(poisoned, settings)
    good = ["a cat", "two women are sitting at a table"]

    async def scenario() -> tuple[list, object, str]:
        async with app.router.lifespan_context(app):
            transport = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(transport=transport, base_url="http://serve") as http:
                bodies = [{"input": good}, {"input": ["a man plays the guitar"]}, {"input": good[:1]}]
                together = await asyncio.gather(*(http.post("/v1/embeddings", json=body) for body in bodies))
                later = await http.post("/embed", json={"inputs": good})
                return list(together), later, (await http.get("/metrics")).text

    together, later, metrics = asyncio.run(scenario())
    assert [response.status_code for response in together] == [200, 500, 200]
    error = together[1].json()["error"]
    assert error["code"] == "encode_failed" and "poisoned input" in error["message"]
    expected = poisoned.encode(good, normalize_embeddings=True)
    np.testing.assert_allclose([d["embedding"] for d in together[0].json()["data"]], expected, atol=1e-6)
    np.testing.assert_allclose([d["embedding"] for d in together[2].json()["data"]], expected[:1], atol=1e-6)
    assert later.status_code == 200
    # engine calls: the warm-up, the three requests together, the later one
    assert "sbert_batch_requests_count 3.0" in metrics and "sbert_batch_requests_sum 5.0" in metrics
    assert "sbert_encode_failures_total 1.0" in metrics


@needs_extra
@pytest.mark.parametrize("per_batch_tokenize", [False, True])
def test_batched_requests_with_different_prompts_and_options_equal_encode(tiny_model, per_batch_tokenize):
    """Requests of one round, with and without a prompt, truncated or not; and for an input module that must
    tokenize batch by batch (a replaced ``tokenize``), whose texts the engine prepares anew when joined."""
    from sentence_transformers.serve.batcher import Batcher, BatchLimits, EncodeRequest

    if per_batch_tokenize:
        tiny_model.tokenize = tiny_model.tokenize  # replaced: the engine does not tokenize ahead
    requests = [
        EncodeRequest(["a cat", "the quick brown fox"], normalize=True),
        EncodeRequest(["two women are sitting"], prompt="query: "),
        EncodeRequest(["a man is playing a guitar on the street", ""], normalize=True, dimensions=8),
        EncodeRequest(["paris"], prompt="query: ", normalize=True),
    ]

    async def scenario() -> list:
        batcher = Batcher(tiny_model, BatchLimits(max_wait_ms=300, max_batch_tokens=24))  # several forwards
        await batcher.start()
        try:
            return await asyncio.gather(*(batcher.encode(request) for request in requests))
        finally:
            await batcher.stop()

    for request, result in zip(requests, asyncio.run(scenario()), strict=True):
        expected = tiny_model.encode(
            request.texts,
            prompt=request.prompt,
            normalize_embeddings=request.normalize,
            truncate_dim=request.dimensions,
        )
        np.testing.assert_allclose(result.embeddings, expected, atol=1e-6)
        assert result.tokens == sum(
            len(ids) for ids in tiny_model.tokenizer([(request.prompt or "") + t for t in request.texts])["input_ids"]
        )


# ------------------------------------------------------------------------------- the engine's run, planned
def test_run_on_prepared_inputs_with_a_plan_equals_encode(tiny_model):
    """The server's way into the engine: its own prepared ids and forward passes, the same embeddings."""
    from sentence_transformers.base import encoding

    texts = ["a cat", "The quick brown fox jumps over the lazy dog.", "", "two women", "a man plays a guitar"]
    prepared = tiny_model._first_module().pretokenize(texts)
    plan = [np.array([1, 4]), np.array([3]), np.array([0, 2])]
    seen = []

    class Recording(encoding.EmbeddingSink):
        def add(self, features, positions):
            seen.append(positions.tolist())
            super().add(features, positions)

    sink = Recording(len(texts), encoding.EncodeOptions(), tiny_model.device)
    result = encoding.run(tiny_model, texts, {}, encoding.EncodeOptions(), sink=sink, prepared=prepared, plan=plan)
    np.testing.assert_allclose(result, tiny_model.encode(texts), atol=1e-6)
    assert seen == [[1, 4], [3], [0, 2]]  # the plan's passes, in its order
    unplanned = encoding.run(tiny_model, texts, {}, encoding.EncodeOptions(batch_size=2), prepared=prepared)
    np.testing.assert_allclose(unplanned, tiny_model.encode(texts), atol=1e-6)


@pytest.mark.parametrize("plan", [[np.array([0, 1])], [np.array([0, 1, 2]), np.array([2])], [np.array([0, 1, 5])]])
def test_run_refuses_a_plan_that_is_not_a_partition_of_the_prepared_inputs(tiny_model, plan):
    from sentence_transformers.base import encoding

    texts = ["a cat", "two women", "paris"]
    prepared = tiny_model._first_module().pretokenize(texts)
    with pytest.raises(ValueError, match="exactly once"):
        encoding.run(tiny_model, texts, {}, encoding.EncodeOptions(), prepared=prepared, plan=plan)
    with pytest.raises(ValueError, match="only with the prepared inputs"):
        encoding.run(tiny_model, texts, {}, encoding.EncodeOptions(), plan=[np.arange(3)])


@needs_extra
def test_joined_token_ids_without_type_ids_and_with_left_padding():
    from sentence_transformers.base.token_ids import TokenIds
    from sentence_transformers.serve.batcher import concat_token_ids

    rows = [[5, 6, 7], [8], [], [9, 10]]
    parts = [TokenIds(rows[:2], None, 0, padding_side="left"), TokenIds(rows[2:], None, 0, padding_side="left")]
    joined, whole = concat_token_ids(parts), TokenIds(rows, None, 0, padding_side="left")
    assert joined.type_ids is None and joined.lengths.tolist() == [3, 1, 0, 2]
    for name, tensor in whole.features(np.array([0, 3, 1, 2])).items():
        torch.testing.assert_close(joined.features(np.array([0, 3, 1, 2]))[name], tensor)
    assert joined.features(np.array([0]))["input_ids"].tolist() == [[5, 6, 7]]


class Gate(torch.nn.Module):
    """Holds every forward pass while closed: the engine is busy for as long as the test wants."""

    def __init__(self) -> None:
        super().__init__()
        self.opened, self.entered = threading.Event(), threading.Event()
        self.opened.set()

    def forward(self, features: dict) -> dict:
        self.entered.set()
        assert self.opened.wait(30), "the gate was never opened"
        return features


@needs_extra
def test_a_call_waits_for_the_requests_the_last_call_answered(tiny_bert_dir, monkeypatch):
    """Requests queued while the engine was busy wait for the clients it answered to come back, so that one
    engine call encodes them all; without it they would be encoded first, and the returning client alone."""
    from sentence_transformers.sentence_transformer.modules import Pooling, Transformer
    from sentence_transformers.serve.batcher import Batcher, BatchLimits, EncodeRequest

    gate = Gate()
    model = SentenceTransformer(modules=[Transformer(str(tiny_bert_dir)), Pooling(32), gate], device="cpu")
    batcher = Batcher(model, BatchLimits(max_batch_size=1, max_wait_ms=5_000))  # each request fills a forward pass
    monkeypatch.setattr(encoding, "PASS_TOKENS", 0)  # or short texts would fill a pass beyond max_batch_size

    async def queued(count: int) -> None:
        while batcher.metrics.registry.get_sample_value("sbert_queue_depth") < count:
            await asyncio.sleep(0.005)

    async def scenario() -> list:
        await batcher.start()
        try:
            gate.opened.clear()
            gate.entered.clear()
            first = asyncio.create_task(batcher.encode(EncodeRequest(["a cat"])))
            await asyncio.to_thread(gate.entered.wait, 30)  # the engine holds the first request
            waiting = [asyncio.create_task(batcher.encode(EncodeRequest([text]))) for text in ("two", "women")]
            await queued(2)
            gate.opened.set()
            await first
            back = asyncio.create_task(batcher.encode(EncodeRequest(["paris"])))  # its client comes back
            return await asyncio.gather(*waiting, back)
        finally:
            await batcher.stop()

    results = asyncio.run(scenario())
    np.testing.assert_allclose(np.concatenate([r.embeddings for r in results]), model.encode(["two", "women", "paris"]),
                               atol=1e-6)  # fmt: skip
    calls = batcher.metrics.registry.get_sample_value
    assert calls("sbert_batch_requests_count") == 3  # the warm-up, the first request, then the three together
    assert calls("sbert_batch_requests_sum") == 5
    assert calls("sbert_batch_size_count") == 5  # a forward pass per text (max_batch_size 1)
