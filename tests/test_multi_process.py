"""Encoding in a pool of worker processes."""

from __future__ import annotations

import numpy as np
import pytest

from sentence_transformers import SentenceTransformer
from sentence_transformers.models import Module

TEXTS = [f"sentence number {i} " + "word " * (i % 7) for i in range(23)]


def test_pool_matches_single_process_and_keeps_order(tiny_model):
    expected = tiny_model.encode(TEXTS)
    pool = tiny_model.start_multi_process_pool(["cpu", "cpu"])
    processes = list(pool["processes"])
    try:
        with pytest.warns(DeprecationWarning, match="`encode_multi_process` method has been deprecated"):
            result = tiny_model.encode_multi_process(TEXTS, pool, batch_size=4, chunk_size=5)
        np.testing.assert_allclose(result, expected, atol=1e-5)
        via_encode = tiny_model.encode(TEXTS, pool=pool, chunk_size=3, normalize_embeddings=True)
        np.testing.assert_allclose(via_encode, expected / np.linalg.norm(expected, axis=1, keepdims=True), atol=1e-5)
        quantized = tiny_model.encode(TEXTS, pool=pool, precision="int8")
        # float sums differ in the last bit across batch layouts: a value may land one bucket over
        assert np.abs(quantized.astype(int) - tiny_model.encode(TEXTS, precision="int8").astype(int)).max() <= 1
        assert tiny_model.encode([], pool=pool).shape == (0, 32)
        as_tensor = tiny_model.encode(TEXTS, pool=pool, convert_to_tensor=True, chunk_size=4)
        np.testing.assert_allclose(as_tensor.numpy(), expected, atol=1e-5)
        tokens = tiny_model.encode(TEXTS[:6], pool=pool, output_value="token_embeddings", chunk_size=4)
        for got, want in zip(tokens, tiny_model.encode(TEXTS[:6], output_value="token_embeddings"), strict=True):
            np.testing.assert_allclose(got.numpy(), want.numpy(), atol=1e-5)
        with pytest.raises(ValueError, match="Prompt name 'nope' not found"):
            tiny_model.encode(TEXTS, pool=pool, prompt_name="nope")
    finally:
        tiny_model.stop_multi_process_pool(pool)
    assert all(not process.is_alive() for process in processes)


class Exploder(Module):
    """Fails inside the worker when encode() is called with explode=True."""

    def forward(self, features, explode: bool = False, **kwargs):
        if explode:
            raise ArithmeticError("boom in a worker")
        return features

    def save(self, output_path, *args, **kwargs):
        pass


def test_worker_error_reaches_the_caller_and_pool_survives(tiny_model):
    model = SentenceTransformer(modules=[*tiny_model, Exploder()], device="cpu")
    model.module_kwargs = {"2": ["explode"]}
    pool = model.start_multi_process_pool(["cpu"])
    try:
        with pytest.raises(RuntimeError, match="ArithmeticError: boom in a worker"):
            model.encode(TEXTS, pool=pool, explode=True, chunk_size=4)
        np.testing.assert_allclose(model.encode(TEXTS, pool=pool), tiny_model.encode(TEXTS), atol=1e-5)
    finally:
        model.stop_multi_process_pool(pool)


def test_device_list_uses_a_temporary_pool(tiny_model):
    np.testing.assert_allclose(
        tiny_model.encode(TEXTS[:5], device=["cpu", "cpu"]), tiny_model.encode(TEXTS[:5]), atol=1e-5
    )
