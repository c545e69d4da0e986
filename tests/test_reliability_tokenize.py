"""Tokenization under concurrency and with bad text: one model shared by threads, lone surrogates.

Hugging Face fast tokenizers store padding and truncation on the shared backend ``tokenizers.Tokenizer`` in every
call (``set_truncation_and_padding``), then tokenize: a thread asking for no padding (the engine's ``pretokenize``
or ``token_lengths``) can switch padding off between another thread's setting and its ``encode_batch``. The
tests slow ``encode_batch`` down by 1 ms to widen that window, so the race shows on every run without the fix.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np
import pytest
import torch

from conftest import CORPUS
from sentence_transformers.base.token_ids import replace_lone_surrogates

THREADS = 8
ROUNDS = 4
DELAY_S = 0.001


class _SlowBackend:
    """A backend ``tokenizers.Tokenizer`` whose batch calls take ``delay`` seconds longer (attributes pass through)."""

    def __init__(self, backend: Any, delay: float) -> None:
        object.__setattr__(self, "_backend", backend)
        object.__setattr__(self, "_delay", delay)

    def encode_batch(self, *args, **kwargs) -> Any:
        time.sleep(self._delay)
        return self._backend.encode_batch(*args, **kwargs)

    def encode(self, *args, **kwargs) -> Any:
        time.sleep(self._delay)
        return self._backend.encode(*args, **kwargs)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._backend, name)

    def __setattr__(self, name: str, value: Any) -> None:
        setattr(self._backend, name, value)


@pytest.fixture()
def slow_tokenizer(tiny_model) -> Iterator[None]:
    """The tiny model with its backend tokenizer slowed down, restored afterwards."""
    tokenizer = tiny_model.tokenizer
    backend = tokenizer._tokenizer
    tokenizer._tokenizer = _SlowBackend(backend, DELAY_S)
    try:
        yield
    finally:
        tokenizer._tokenizer = backend


def _texts(seed: int, count: int) -> list[str]:
    """``count`` texts of varied lengths (so batches need padding), different for each seed."""
    rng = np.random.default_rng(seed)
    words = " ".join(CORPUS[:7]).split()
    return [" ".join(rng.choice(words, size=int(rng.integers(1, 40)))) for _ in range(count)]


def _run_threads(jobs: list[Callable[[], Any]]) -> list[Any]:
    """Run each job on its own thread, started together; return results (or the exceptions raised) in order."""
    results: list[Any] = [None] * len(jobs)
    barrier = threading.Barrier(len(jobs))

    def work(index: int) -> None:
        barrier.wait()
        try:
            results[index] = jobs[index]()
        except Exception as error:  # noqa: BLE001 - collected, reported by the test
            results[index] = error

    threads = [threading.Thread(target=work, args=(i,)) for i in range(len(jobs))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    return results


def _repeat(call: Callable[[], Any]) -> Callable[[], list[Any]]:
    return lambda: [call() for _ in range(ROUNDS)]


def test_concurrent_encode_equals_serial(tiny_model, slow_tokenizer):
    """8 threads: encodes of different lists and batch sizes (plain, with a prompt, dict inputs through the
    per-batch path) next to padded ``tokenize`` and ``preprocess`` calls, as training or the server make them."""
    lists = [_texts(seed, 40 + 13 * seed) for seed in range(THREADS)]
    encodes: list[tuple[list[Any], dict[str, Any]]] = [
        (lists[0], {"batch_size": 2}),
        (lists[1], {"batch_size": 5}),
        (lists[2], {"batch_size": 16, "prompt": "query: "}),
        ([{"query": text} for text in lists[3]], {"batch_size": 3}),
        ([(a, b) for a, b in zip(lists[4], lists[5], strict=False)], {"batch_size": 8}),
        (lists[5], {"batch_size": 64}),
    ]
    serial = [tiny_model.encode(inputs, **kwargs) for inputs, kwargs in encodes]
    tokenized = tiny_model.tokenize(lists[6][:9], padding=True)
    preprocessed = tiny_model.preprocess(lists[7][:11], prompt="passage: ")

    jobs: list[Callable[[], Any]] = [
        _repeat(lambda inputs=inputs, kwargs=kwargs: tiny_model.encode(inputs, **kwargs)) for inputs, kwargs in encodes
    ]
    jobs.append(_repeat(lambda: tiny_model.tokenize(lists[6][:9], padding=True)))
    jobs.append(_repeat(lambda: tiny_model.preprocess(lists[7][:11], prompt="passage: ")))
    results = _run_threads(jobs)

    errors = [result for result in results if isinstance(result, BaseException)]
    assert not errors, f"{len(errors)} of {len(jobs)} threads failed: {errors[0]!r}"
    for want, rounds in zip(serial, results, strict=False):
        for got in rounds:
            np.testing.assert_allclose(got, want, atol=1e-6, rtol=0)
    for want, rounds in ((tokenized, results[-2]), (preprocessed, results[-1])):
        for got in rounds:
            assert set(got) == set(want)
            for key, value in want.items():
                assert torch.equal(got[key], value) if isinstance(value, torch.Tensor) else got[key] == value, key


def test_tokenizing_paths_are_thread_safe(tiny_model, slow_tokenizer):
    """Each tokenizing method of the Transformer, unpadded and padded (also to max_length), side by side."""
    transformer = tiny_model[0]
    texts = [_texts(seed, 30) for seed in range(4)]
    calls: list[Callable[[], Any]] = [
        lambda: transformer.pretokenize(texts[0]).features(np.arange(30)),
        lambda: transformer.token_lengths(texts[1]),
        lambda: transformer.tokenize(texts[2]),
        lambda: transformer.tokenize(texts[3], padding="max_length"),
    ]
    serial = [call() for call in calls]
    results = _run_threads([_repeat(call) for call in calls * 2])
    for index, rounds in enumerate(results):
        assert not isinstance(rounds, BaseException), repr(rounds)
        want = serial[index % len(calls)]
        for got in rounds:
            if isinstance(want, dict):
                assert all(torch.equal(got[key], want[key]) for key in want)
            else:
                assert got == want


# ------------------------------------------------------------------ lone surrogates


def test_replace_lone_surrogates():
    assert replace_lone_surrogates("plain") == ("plain", 0)
    assert replace_lone_surrogates("caf\u00e9 \U0001f600") == ("caf\u00e9 \U0001f600", 0)
    assert replace_lone_surrogates("a\ud800b\udcff") == ("a\ufffdb\ufffd", 2)
    raw = b"caf\xe9".decode("utf-8", errors="surrogateescape")
    assert replace_lone_surrogates(raw) == ("caf\ufffd", 1)


def test_surrogates_encode_as_the_replacement_character(tiny_model, caplog):
    bad = "a cat \ud800 sleeps"
    with caplog.at_level(logging.WARNING, logger="sentence_transformers"):
        got = tiny_model.encode(["a man plays guitar", bad], batch_size=1)
    np.testing.assert_allclose(got, tiny_model.encode(["a man plays guitar", "a cat \ufffd sleeps"]), atol=1e-6)
    assert "position 1" in caplog.text and "U+FFFD" in caplog.text


@pytest.mark.parametrize(
    "bad, good",
    [
        ("x \udcff y", "x \ufffd y"),
        (("a \ud800", "b"), ("a \ufffd", "b")),
        ({"query": "q \udfff"}, {"query": "q \ufffd"}),
    ],
)
def test_surrogates_in_every_input_form(tiny_model, bad, good):
    np.testing.assert_allclose(tiny_model.encode([bad]), tiny_model.encode([good]), atol=1e-6)
    want = tiny_model.tokenize([good])
    got = tiny_model.tokenize([bad])
    assert torch.equal(got["input_ids"], want["input_ids"])
    assert tiny_model[0].token_lengths([bad]) == tiny_model[0].token_lengths([good])


def test_surrogates_in_a_prompt(tiny_model):
    got = tiny_model.encode(["a cat"], prompt="query \ud800: ")
    np.testing.assert_allclose(got, tiny_model.encode(["a cat"], prompt="query \ufffd: "), atol=1e-6)
