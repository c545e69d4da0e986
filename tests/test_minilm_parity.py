"""Parity with upstream sentence-transformers on the real all-MiniLM-L6-v2 (reference outputs in tests/data/minilm)."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from scipy.stats import spearmanr

from conftest import DATA

REF = DATA / "minilm"
CASES = json.loads((REF / "cases.json").read_text())["cases"]


@pytest.fixture(scope="module")
def stsb_texts(stsb_test) -> list[str]:
    return [row[0] for row in stsb_test] + [row[1] for row in stsb_test]


@pytest.fixture(scope="module")
def stsb_embeddings(minilm, stsb_texts) -> np.ndarray:
    return minilm.encode(stsb_texts, batch_size=32)


def test_stsb_test_sentences_match_reference(stsb_embeddings, stsb_texts):
    reference = np.load(REF / "stsb_test_sentences_default.npy")
    assert len(stsb_texts) == 2758 == len(reference)
    assert stsb_embeddings.dtype == np.float32
    np.testing.assert_allclose(stsb_embeddings, reference, atol=1e-5, rtol=0)


def test_stsb_test_spearman(stsb_embeddings, stsb_test):
    n = len(stsb_test)
    first, second = torch.from_numpy(stsb_embeddings[:n]), torch.from_numpy(stsb_embeddings[n:])
    cosine = torch.nn.functional.cosine_similarity(first, second).numpy()
    rho = spearmanr(cosine, [row[2] for row in stsb_test]).statistic
    assert abs(rho - 0.8203) <= 0.0005


def test_edge_texts(minilm):
    texts = CASES["edge_default"]["input"]
    np.testing.assert_allclose(minilm.encode(texts), np.load(REF / "edge_default.npy"), atol=1e-5, rtol=0)


def test_prompt(minilm, stsb_texts):
    result = minilm.encode(stsb_texts[:16], prompt="query: ")
    np.testing.assert_allclose(result, np.load(REF / "few_prompt_query.npy"), atol=1e-5, rtol=0)


def test_truncate_dim(minilm, stsb_texts):
    result = minilm.encode(stsb_texts[:16], truncate_dim=128)
    assert result.shape == (16, 128)
    np.testing.assert_allclose(result, np.load(REF / "few_truncate_128.npy"), atol=1e-5, rtol=0)


def test_token_embeddings(minilm, stsb_texts):
    result = minilm.encode(stsb_texts[:4], output_value="token_embeddings")
    assert len(result) == 4
    for i, tokens in enumerate(result):
        reference = np.load(REF / f"few_token_embeddings_{i}.npy")
        assert tuple(tokens.shape) == reference.shape
        np.testing.assert_allclose(tokens.numpy(), reference, atol=1e-5, rtol=0)


@pytest.mark.parametrize("precision", ["int8", "uint8", "binary", "ubinary"])
def test_precisions(minilm, stsb_texts, precision):
    reference = np.load(REF / f"few_precision_{precision}.npy")
    result = minilm.encode(stsb_texts[:16], precision=precision)
    assert result.dtype == reference.dtype and result.shape == reference.shape
    assert np.abs(result.astype(np.int32) - reference.astype(np.int32)).max() <= 1


def test_similarity_cosine(minilm, stsb_texts):
    embeddings = minilm.encode(stsb_texts[:16])
    result = minilm.similarity(embeddings, embeddings)
    assert minilm.similarity_fn_name == "cosine"
    np.testing.assert_allclose(result.numpy(), np.load(REF / "few_similarity_cosine.npy"), atol=1e-5, rtol=0)
