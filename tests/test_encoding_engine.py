"""The encode engine: one tokenization, padded batches from ids, windows, the prefetch thread, half precision."""

from __future__ import annotations

import io
import threading

import numpy as np
import pytest
import torch
from transformers import AutoTokenizer

from sentence_transformers import SentenceTransformer
from sentence_transformers.base import encoding
from sentence_transformers.base.modules import Dense, Transformer
from sentence_transformers.base.token_ids import TokenIds
from sentence_transformers.sentence_transformer.modules import Pooling

TEXTS = [
    "The quick brown fox jumps over the lazy dog.",
    "A cat.",
    "",
    "Two women are sitting at a table and talking about sentence embeddings and semantic search.",
    "Paris",
    "A man is playing a guitar on the street.",
    "What is the capital of France?",
]


def _assert_same_features(got: dict, want: dict) -> None:
    assert set(got) == set(want)
    for key in want:
        assert got[key].dtype == want[key].dtype, key
        assert torch.equal(got[key], want[key]), key


@pytest.mark.parametrize("padding_side", ["right", "left"])
def test_token_ids_pad_like_the_tokenizer(tiny_bert_dir, padding_side):
    tokenizer = AutoTokenizer.from_pretrained(tiny_bert_dir)
    tokenizer.padding_side = padding_side
    pairs = [(TEXTS[i], TEXTS[-1 - i]) for i in range(len(TEXTS))]
    for inputs in (TEXTS, pairs):
        columns = [list(inputs)] if isinstance(inputs[0], str) else [list(c) for c in zip(*inputs, strict=True)]
        unpadded = tokenizer(*columns, return_attention_mask=False)
        ids = TokenIds(unpadded["input_ids"], unpadded["token_type_ids"], tokenizer.pad_token_id, 0, padding_side)
        for subset in ([3, 0, 5], [2], [6, 1, 4, 2]):
            want = tokenizer(*[[column[i] for i in subset] for column in columns], padding=True, return_tensors="pt")
            _assert_same_features(ids.features(np.array(subset)), dict(want))


def test_token_ids_without_type_ids_and_all_empty():
    ids = TokenIds([[], [], []], None, pad_token_id=7)
    features = ids.features(np.array([2, 0]))
    assert features["input_ids"].shape == (2, 0) and "token_type_ids" not in features
    ids = TokenIds([[5, 6], [8]], None, pad_token_id=0)
    assert ids.features(np.array([1, 0]))["input_ids"].tolist() == [[8, 0], [5, 6]]
    with pytest.raises(ValueError, match="padding_side"):
        TokenIds([[1]], None, 0, padding_side="middle")


@pytest.mark.parametrize("lower", [False, True])
def test_pretokenize_equals_tokenize(tiny_bert_dir, lower):
    transformer = Transformer(str(tiny_bert_dir), max_seq_length=9, do_lower_case=lower)
    for inputs in (TEXTS, [(a, b) for a, b in zip(TEXTS, reversed(TEXTS), strict=True)]):
        prepared = transformer.pretokenize(inputs)
        subset = np.array([4, 1, 3])
        _assert_same_features(prepared.features(subset), transformer.tokenize([inputs[i] for i in subset]))
        assert prepared.lengths.tolist() == transformer.token_lengths(inputs)


def test_pretokenize_declines_what_tokenize_must_do(tiny_bert_dir):
    transformer = Transformer(str(tiny_bert_dir))
    assert transformer.pretokenize([{"query": "a"}]) is None
    assert transformer.pretokenize([]) is None
    transformer.tokenizer.pad_token = None
    assert transformer.pretokenize(["a"]) is None


def test_a_subclass_tokenize_sees_every_batch(tiny_bert_dir):
    class Marked(Transformer):
        def tokenize(self, texts, **kwargs):
            features = super().tokenize(texts, **kwargs)
            features["input_ids"][:, 1] = 5  # the subclass changes what the model sees
            return features

    marked = SentenceTransformer(modules=[Marked(str(tiny_bert_dir)), Pooling(32)], device="cpu")
    assert marked[0].pretokenize(TEXTS) is None
    np.testing.assert_allclose(marked.encode(TEXTS, batch_size=3), _one_by_one(marked, TEXTS), atol=1e-6, rtol=0)


def _one_by_one(model: SentenceTransformer, texts: list[str]) -> np.ndarray:
    """The padding-free reference: each text alone through tokenize and the modules."""
    rows = []
    with torch.no_grad():
        for text in texts:
            rows.append(model.forward(model.tokenize([text]))["sentence_embedding"][0])
    return torch.stack(rows).numpy()


def test_encode_matches_texts_encoded_alone(tiny_model):
    texts = TEXTS * 9
    got = tiny_model.encode(texts, batch_size=4)
    np.testing.assert_allclose(got, _one_by_one(tiny_model, texts), atol=1e-6, rtol=0)


def test_windows_keep_the_callers_order(tiny_model, monkeypatch):
    texts = [f"{TEXTS[i % len(TEXTS)]} {i}" for i in range(50)]
    whole = tiny_model.encode(texts, batch_size=4)
    monkeypatch.setattr(encoding, "MIN_WINDOW", 7)
    monkeypatch.setattr(encoding, "WINDOW_BATCHES", 1)
    monkeypatch.setattr(encoding, "PASS_TOKENS", 0)
    assert encoding.window_size(4) == 7
    planned = list(encoding.plan_batches(tiny_model, texts, {}, 4, {}))
    # 7 windows of 7 texts (batches of 4 and 3), then one window of one text
    assert [len(batch.positions) for batch in planned] == [4, 3] * 7 + [1]
    positions = torch.cat([batch.positions for batch in planned]).tolist()
    assert sorted(positions) == list(range(50))
    windowed = tiny_model.encode(texts, batch_size=4)
    np.testing.assert_allclose(windowed, whole, atol=1e-6, rtol=0)


def test_batches_are_sorted_longest_first_within_a_window(tiny_model, monkeypatch):
    monkeypatch.setattr(encoding, "PASS_TOKENS", 0)
    batches = list(encoding.plan_batches(tiny_model, TEXTS, {}, 2, {}))
    widths = [batch.features["attention_mask"].sum(dim=1).max().item() for batch in batches]
    assert widths == sorted(widths, reverse=True)
    assert batches[0].positions.tolist()[0] == 3  # the longest text


def test_short_texts_fill_a_pass_up_to_pass_tokens():
    lengths = np.array([3, 10, 4, 2, 3, -1, -1, -1])
    # longest first: 10 and 4 (12 // 10 < batch_size), then the three texts left (12 // 3 = 4 would reach the media
    # inputs), then the media inputs batch_size a batch
    planned = [batch.tolist() for batch in encoding.sorted_batches(lengths, 2, 12)]
    assert planned == [[1, 2], [0, 4, 3], [5, 6], [7]]
    assert [b.tolist() for b in encoding.sorted_batches(lengths, 2)] == [[1, 2], [0, 4], [3, 5], [6, 7]]


def test_encode_runs_short_texts_in_fewer_passes_with_the_same_output(tiny_model, monkeypatch):
    texts = [f"{TEXTS[i % len(TEXTS)]} {i}" for i in range(40)]
    passes = []  # (texts, padded width) of each forward pass
    forward = tiny_model.forward
    monkeypatch.setattr(
        tiny_model,
        "forward",
        lambda features, **kw: passes.append(tuple(features["input_ids"].shape)) or forward(features, **kw),
    )
    merged = tiny_model.encode(texts, batch_size=4)
    assert sum(rows for rows, _ in passes) == 40 and len(passes) < 10
    assert all(rows * width <= max(4 * width, encoding.PASS_TOKENS) for rows, width in passes)
    passes.clear()
    monkeypatch.setattr(encoding, "PASS_TOKENS", 0)
    alone = tiny_model.encode(texts, batch_size=4)
    assert [rows for rows, _ in passes] == [4] * 10
    np.testing.assert_allclose(merged, alone, atol=1e-6, rtol=0)


def test_texts_tokenized_per_batch_keep_batch_size_a_pass(tiny_model, monkeypatch):
    # their lengths are counted ahead of tokenize (a replaced one here; or a query expanded to a fixed length), so
    # they cannot bound a larger pass's memory
    texts = [f"{TEXTS[i % len(TEXTS)]} {i}" for i in range(40)]
    passes = []
    tokenize = tiny_model.tokenize
    monkeypatch.setattr(tiny_model, "tokenize", lambda batch, **kw: passes.append(len(batch)) or tokenize(batch, **kw))
    tiny_model.encode(texts, batch_size=4)
    assert passes == [4] * 10


def test_progress_bar_counts_batch_size_batches(tiny_model, monkeypatch):
    totals = []
    original = encoding.tqdm

    def recording(*args, **kwargs):
        bar = original(*args, **kwargs, file=io.StringIO())
        close = bar.close
        bar.close = lambda: totals.append((bar.total, bar.n)) or close()
        return bar

    monkeypatch.setattr(encoding, "tqdm", recording)
    tiny_model.encode(TEXTS * 5, batch_size=3, show_progress_bar=True)
    expected = -(-len(TEXTS) * 5 // 3)
    assert totals == [(expected, expected)]


def test_tokenized_once(tiny_model, monkeypatch):
    calls = []
    tokenizer = tiny_model.tokenizer
    original = type(tokenizer).__call__
    monkeypatch.setattr(type(tokenizer), "__call__", lambda self, *a, **k: calls.append(a) or original(self, *a, **k))
    tiny_model.encode(TEXTS * 3, batch_size=2)
    assert len(calls) == 1 and len(calls[0][0]) == len(TEXTS) * 3


def test_replaced_tokenize_sees_every_batch(tiny_model):
    seen = []
    tokenize = tiny_model.tokenize
    tiny_model.tokenize = lambda batch, **kwargs: seen.extend(batch) or tokenize(batch, **kwargs)
    got = tiny_model.encode(TEXTS, batch_size=3)
    assert sorted(seen) == sorted(TEXTS)
    np.testing.assert_allclose(got, _one_by_one(tiny_model, TEXTS), atol=1e-6, rtol=0)


def test_prefetched_passes_items_and_errors():
    assert list(encoding.prefetched(iter(range(10)), depth=2)) == list(range(10))

    def failing():
        yield 1
        raise RuntimeError("tokenizer broke")

    with pytest.raises(RuntimeError, match="tokenizer broke"):
        list(encoding.prefetched(failing()))


def test_prefetched_stops_its_thread_when_the_consumer_leaves():
    produced = []

    def endless():
        while True:
            produced.append(1)
            yield len(produced)

    before = threading.active_count()
    stream = encoding.prefetched(endless(), depth=2)
    assert next(stream) == 1
    stream.close()
    assert threading.active_count() == before
    count = len(produced)
    assert count <= 4  # at most depth items ahead, plus the one in hand


def test_a_forward_error_stops_the_pipeline(tiny_model, monkeypatch):
    def broken(*args, **kwargs):
        raise RuntimeError("device lost")

    before = threading.active_count()
    tiny_model.train()
    monkeypatch.setattr(encoding, "forward_batch", broken)
    with pytest.raises(RuntimeError, match="device lost"):
        tiny_model.encode(TEXTS * 10, batch_size=2)
    assert threading.active_count() == before
    assert all(module.training for module in tiny_model.modules())  # modes restored


def test_output_forms(tiny_model):
    as_numpy = tiny_model.encode(TEXTS, batch_size=2)
    as_tensor = tiny_model.encode(TEXTS, batch_size=2, convert_to_tensor=True)
    as_list = tiny_model.encode(TEXTS, batch_size=2, convert_to_numpy=False)
    assert as_numpy.dtype == np.float32 and as_numpy.shape == (len(TEXTS), 32)
    assert isinstance(as_tensor, torch.Tensor) and torch.equal(as_tensor, torch.from_numpy(as_numpy))
    assert isinstance(as_list, list) and all(torch.equal(row, as_tensor[i]) for i, row in enumerate(as_list))
    normalized = tiny_model.encode(TEXTS, batch_size=2, normalize_embeddings=True, truncate_dim=8)
    want = as_numpy[:, :8] / np.linalg.norm(as_numpy[:, :8], axis=1, keepdims=True)
    np.testing.assert_allclose(normalized, want, atol=1e-6)


def _half_tokens() -> tuple[torch.Tensor, torch.Tensor]:
    torch.manual_seed(0)
    tokens = (torch.randn(3, 40, 16) * 30).to(torch.float16)
    mask = torch.ones(3, 40, dtype=torch.long)
    mask[1, 25:] = 0
    mask[2, 3:] = 0
    return tokens, mask


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16])
def test_pooling_sums_half_precision_in_float32(dtype):
    tokens, mask = _half_tokens()
    tokens = tokens.to(dtype)
    wide, weights = tokens.float(), mask.float().unsqueeze(-1)
    count = weights.sum(dim=1)
    expected = {
        "mean": (wide * weights).sum(dim=1) / count,
        "mean_sqrt_len_tokens": (wide * weights).sum(dim=1) / count.sqrt(),
    }
    positions = torch.arange(1, 41).float().unsqueeze(0) * mask.float()
    expected["weightedmean"] = (wide * positions.unsqueeze(-1)).sum(dim=1) / positions.sum(dim=1, keepdim=True)
    for mode, want in expected.items():
        pooled = Pooling(16, pooling_mode=mode)({"token_embeddings": tokens, "attention_mask": mask})
        got = pooled["sentence_embedding"]
        assert got.dtype == dtype
        torch.testing.assert_close(got, want.to(dtype), atol=0, rtol=0)


def test_half_precision_outputs_have_upstreams_dtypes(tiny_bert_dir):
    model = SentenceTransformer(str(tiny_bert_dir), device="cpu")
    reference = model.encode(TEXTS)
    half = model.half().encode(TEXTS)
    assert half.dtype == np.float16
    np.testing.assert_allclose(half.astype(np.float32), reference, atol=2e-2)
    assert model.encode(TEXTS, convert_to_tensor=True).dtype == torch.float16
    brain = model.bfloat16().encode(TEXTS)
    assert brain.dtype == np.float32
    np.testing.assert_allclose(brain, reference, atol=1e-1)
    assert model.encode(TEXTS, convert_to_tensor=True).dtype == torch.bfloat16


@pytest.mark.parametrize("key", ["torch_dtype", "dtype"])
def test_model_kwargs_dtype_casts_every_module(tiny_bert_dir, tmp_path, key):
    transformer = Transformer(str(tiny_bert_dir))
    modules = [transformer, Pooling(32), Dense(32, 8)]
    SentenceTransformer(modules=modules, device="cpu").save(str(tmp_path / "m"))
    model = SentenceTransformer(str(tmp_path / "m"), device="cpu", model_kwargs={key: "float16"})
    assert {parameter.dtype for parameter in model.parameters()} == {torch.float16}
    assert model.encode(TEXTS).dtype == np.float16
