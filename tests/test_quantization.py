"""Tests for sentence_transformers.util.quantization: bucket maths, reference parity and the faiss/usearch searches."""

from __future__ import annotations

import builtins
import importlib
import logging
from pathlib import Path

import numpy as np
import pytest
import torch

from sentence_transformers.util.quantization import quantize_embeddings, semantic_search_faiss, semantic_search_usearch

DATA = Path(__file__).parent / "data" / "minilm"
RNG = np.random.default_rng(0)
X = RNG.normal(size=(20, 12)).astype(np.float32)


def np_buckets(x: np.ndarray, low: np.ndarray, high: np.ndarray) -> np.ndarray:
    """Bucket index 0..255 computed independently: floor of the position in 255 equal float32 steps, clipped."""
    step = ((high - low) / np.float32(255)).astype(np.float32)
    return np.clip(np.floor((x - low.astype(np.float32)) / step), 0, 255)


def np_packbits_signs(x: np.ndarray) -> np.ndarray:
    """Pack sign bits by hand: bit 7 of byte k is dimension 8k, and so on."""
    bits = (x > 0).astype(np.uint8)
    pad = (-bits.shape[1]) % 8
    bits = np.pad(bits, ((0, 0), (0, pad)))
    weights = 2 ** np.arange(7, -1, -1)
    return (bits.reshape(bits.shape[0], -1, 8) * weights).sum(-1).astype(np.uint8)


@pytest.fixture(scope="module")
def few() -> np.ndarray:
    return np.load(DATA / "few_default.npy")


def test_float32_returns_numpy_float32():
    for data in (X.astype(np.float64), torch.tensor(X), list(torch.tensor(X))):
        result = quantize_embeddings(data, "float32")
        assert isinstance(result, np.ndarray)
        assert result.dtype == np.float32
        np.testing.assert_array_equal(result, X)


def test_uint8_and_int8_from_own_ranges():
    low, high = X.min(0), X.max(0)
    expected = np_buckets(X, low, high)
    uint8 = quantize_embeddings(X, "uint8")
    int8 = quantize_embeddings(torch.tensor(X), "int8")
    assert uint8.dtype == np.uint8 and int8.dtype == np.int8
    np.testing.assert_array_equal(uint8, expected.astype(np.uint8))
    np.testing.assert_array_equal(int8, (expected - 128).astype(np.int8))
    assert uint8.min() == 0 and int8.min() == -128


def test_hand_computed_buckets():
    # Column range [0, 2]: step 2/255, so 1.0 lands at 127.5 -> bucket 127; 0 -> 0; the max lands just under 255.
    x = np.array([[0.0], [1.0], [2.0]], dtype=np.float32)
    assert quantize_embeddings(x, "uint8").ravel().tolist()[:2] == [0, 127]
    assert quantize_embeddings(x, "int8").ravel().tolist()[:2] == [-128, -1]


def test_explicit_ranges_clip_out_of_range_values():
    ranges = np.array([[-1.0] * 12, [1.0] * 12])
    result = quantize_embeddings(X * 3, "uint8", ranges=ranges)
    np.testing.assert_array_equal(result, np_buckets(X * 3, ranges[0], ranges[1]).astype(np.uint8))
    assert result[X * 3 > 1].min() == 255 and result[X * 3 < -1].max() == 0


def test_calibration_embeddings_define_ranges():
    calibration = RNG.normal(size=(50, 12)).astype(np.float32) * 2
    expected = np_buckets(X, calibration.min(0), calibration.max(0)) - 128
    for calib in (calibration, torch.tensor(calibration)):
        np.testing.assert_array_equal(quantize_embeddings(X, "int8", calibration_embeddings=calib), expected)


def test_ranges_take_precedence_over_calibration():
    ranges = np.vstack([X.min(0), X.max(0)])
    calibration = X * 10
    with_both = quantize_embeddings(X, "uint8", ranges=ranges, calibration_embeddings=calibration)
    np.testing.assert_array_equal(with_both, quantize_embeddings(X, "uint8"))


def test_constant_dimension_maps_to_lowest_bucket():
    x = np.ones((3, 2), dtype=np.float32)
    np.testing.assert_array_equal(quantize_embeddings(x, "uint8"), np.zeros((3, 2), dtype=np.uint8))
    np.testing.assert_array_equal(quantize_embeddings(x, "int8"), np.full((3, 2), -128, dtype=np.int8))


def test_warns_when_ranges_come_from_the_embeddings(caplog):
    with caplog.at_level(logging.WARNING, logger="sentence_transformers.util.quantization"):
        quantize_embeddings(X, "int8")
    assert "20 embeddings" in caplog.text


def test_single_embedding_needs_ranges():
    with pytest.raises(ValueError, match="single embedding"):
        quantize_embeddings(X[0], "int8")
    ranges = np.vstack([X.min(0), X.max(0)])
    np.testing.assert_array_equal(quantize_embeddings(X[0], "uint8", ranges=ranges), quantize_embeddings(X, "uint8")[0])


def test_binary_and_ubinary_pack_sign_bits():
    expected = np_packbits_signs(X)
    ubinary = quantize_embeddings(X, "ubinary")
    binary = quantize_embeddings(X, "binary")
    assert ubinary.shape == (20, 2) and ubinary.dtype == np.uint8
    assert binary.dtype == np.int8
    np.testing.assert_array_equal(ubinary, expected)
    np.testing.assert_array_equal(binary, (expected.astype(np.int16) - 128).astype(np.int8))


def test_binary_hand_value():
    # Signs + - 0 + + + + + -> bits 1,0,0,1,1,1,1,1 = 159; binary shifts by -128 -> 31. Zero counts as "not > 0".
    x = np.array([[5.0, -1.0, 0.0, 1.0, 1.0, 1.0, 1.0, 1.0]])
    assert quantize_embeddings(x, "ubinary").tolist() == [[159]]
    assert quantize_embeddings(x, "binary").tolist() == [[31]]


def test_list_of_token_embedding_matrices_shares_ranges():
    first, second = X[:5], X[5:] * 2
    result = quantize_embeddings([first, second], "uint8")
    assert isinstance(result, list) and len(result) == 2
    joint = np.concatenate([first, second])
    np.testing.assert_array_equal(result[1], np_buckets(second, joint.min(0), joint.max(0)))
    assert quantize_embeddings([], "int8") == []


def test_empty_batch():
    assert quantize_embeddings(np.zeros((0, 4), dtype=np.float32), "uint8").shape == (0, 4)
    assert quantize_embeddings(np.zeros((0, 16), dtype=np.float32), "binary").shape == (0, 2)


def test_errors():
    with pytest.raises(ValueError, match="'int4'.*float32.*ubinary"):
        quantize_embeddings(X, "int4")
    with pytest.raises(TypeError, match="int8"):
        quantize_embeddings(X.astype(np.int8), "binary")
    with pytest.raises(ValueError, match=r"shape \[2, 12\]"):
        quantize_embeddings(X, "uint8", ranges=np.array([0.0, 1.0]))


@pytest.mark.parametrize("precision", ["int8", "uint8", "binary", "ubinary"])
def test_reference_precision_files(few, precision):
    expected = np.load(DATA / f"few_precision_{precision}.npy")
    result = quantize_embeddings(few, precision)
    assert result.dtype == expected.dtype and result.shape == expected.shape
    difference = np.abs(result.astype(np.int16) - expected.astype(np.int16))
    # The reference was encoded in a different batch layout, so a handful of values sit one bucket apart.
    assert difference.max() <= 1
    assert (difference > 0).mean() < 0.005
    if precision in ("binary", "ubinary"):
        np.testing.assert_array_equal(result, expected)


def test_reference_buckets_follow_the_documented_formula(few):
    # The reference uint8 file agrees with the bucket formula applied to its own float embeddings (up to 1 bucket).
    expected = np.load(DATA / "few_precision_uint8.npy").astype(np.int16)
    formula = np_buckets(few, few.min(0), few.max(0)).astype(np.int16)
    assert np.abs(formula - expected).max() <= 1
    np.testing.assert_array_equal(np.load(DATA / "few_precision_int8.npy").astype(np.int16), expected - 128)


def _corpus_and_queries() -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(3)
    corpus = rng.normal(size=(60, 16)).astype(np.float32)
    corpus /= np.linalg.norm(corpus, axis=1, keepdims=True)
    queries = corpus[[3, 17, 42]] + 0.05 * rng.normal(size=(3, 16)).astype(np.float32)
    return corpus, queries


def _block_import(monkeypatch, name: str) -> None:
    real_import = builtins.__import__

    def fake_import(module, *args, **kwargs):
        if module == name or module.startswith(name + "."):
            raise ImportError(f"No module named {module!r}")
        return real_import(module, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", fake_import)
    monkeypatch.setattr("importlib.import_module", lambda module: fake_import(module))


def test_faiss_missing_gives_install_hint(monkeypatch):
    _block_import(monkeypatch, "faiss")
    with pytest.raises(ImportError, match="pip install faiss-cpu"):
        semantic_search_faiss(X[:2], X)


def test_usearch_missing_gives_install_hint(monkeypatch):
    _block_import(monkeypatch, "usearch")
    with pytest.raises(ImportError, match="pip install usearch"):
        semantic_search_usearch(X[:2], X)


def _expected_top(queries: np.ndarray, corpus: np.ndarray, k: int) -> list[list[int]]:
    return np.argsort(-(queries @ corpus.T), axis=1)[:, :k].tolist()


def _ids(results: list) -> list[list[int]]:
    return [[hit["corpus_id"] for hit in hits] for hits in results]


@pytest.mark.parametrize("search", [semantic_search_faiss, semantic_search_usearch])
def test_float32_search_is_exact_inner_product(search):
    importlib.import_module("faiss" if search is semantic_search_faiss else "usearch")
    corpus, queries = _corpus_and_queries()
    results, seconds = search(queries, corpus, top_k=4)
    assert seconds >= 0
    assert _ids(results) == _expected_top(queries, corpus, 4)
    expected_scores = np.sort(queries @ corpus.T, axis=1)[:, ::-1][:, :4]
    np.testing.assert_allclose([[hit["score"] for hit in hits] for hits in results], expected_scores, atol=1e-5)


@pytest.mark.parametrize(
    ("search", "precision"),
    [
        (semantic_search_faiss, "uint8"),
        (semantic_search_faiss, "ubinary"),
        (semantic_search_usearch, "int8"),
        (semantic_search_usearch, "ubinary"),
        (semantic_search_usearch, "binary"),
    ],
)
def test_quantized_search_with_rescoring(search, precision):
    importlib.import_module("faiss" if search is semantic_search_faiss else "usearch")
    corpus, queries = _corpus_and_queries()
    ranges = np.vstack([corpus.min(0), corpus.max(0)])
    quantized = quantize_embeddings(corpus, precision, ranges=ranges)
    # uint8 candidates come from inner products of raw bucket codes (as in the reference library), a weak proxy,
    # so let every corpus row through to the rescoring step.
    results, _, index = search(
        queries, quantized, corpus_precision=precision, top_k=3, ranges=ranges, rescore_multiplier=20, output_index=True
    )
    # Each query is a slightly perturbed corpus row, which must come out on top after rescoring.
    assert [hits[0]["corpus_id"] for hits in results] == [3, 17, 42]
    assert all(len(hits) == 3 for hits in results)
    # Rescored scores are float-query . dequantized-corpus and are sorted best first.
    for hits in results:
        scores = [hit["score"] for hit in hits]
        assert scores == sorted(scores, reverse=True)
    reused, _ = search(
        queries, corpus_index=index, corpus_precision=precision, top_k=3, ranges=ranges, rescore_multiplier=20
    )
    assert [hits[0]["corpus_id"] for hits in reused] == [3, 17, 42]


def test_scalar_rescoring_uses_dequantized_corpus():
    importlib.import_module("faiss")
    corpus, queries = _corpus_and_queries()
    ranges = np.vstack([corpus.min(0), corpus.max(0)])
    quantized = quantize_embeddings(corpus, "uint8", ranges=ranges)
    results, _ = semantic_search_faiss(queries, quantized, corpus_precision="uint8", top_k=60, ranges=ranges)
    steps = (ranges[1] - ranges[0]) / 255
    dequantized = ranges[0] + quantized.astype(np.float32) * steps
    for query, hits in zip(queries, results, strict=True):
        for hit in hits:
            assert hit["score"] == pytest.approx(float(dequantized[hit["corpus_id"]] @ query), abs=1e-5)


def test_binary_search_without_rescoring_reports_hamming_distance():
    importlib.import_module("faiss")
    corpus, queries = _corpus_and_queries()
    packed = quantize_embeddings(corpus, "ubinary")
    results, _ = semantic_search_faiss(queries, packed, corpus_precision="ubinary", top_k=5, rescore=False)
    query_bits = np.unpackbits(quantize_embeddings(queries, "ubinary"), axis=1)
    corpus_bits = np.unpackbits(packed, axis=1)
    for bits, hits in zip(query_bits, results, strict=True):
        distances = (bits != corpus_bits).sum(1)
        assert [hit["score"] for hit in hits] == sorted(distances.tolist())[:5]


@pytest.mark.parametrize("search", [semantic_search_faiss, semantic_search_usearch])
def test_search_argument_errors(search):
    importlib.import_module("faiss" if search is semantic_search_faiss else "usearch")
    corpus, queries = _corpus_and_queries()
    with pytest.raises(ValueError, match="neither"):
        search(queries)
    _, _, index = search(queries, corpus, output_index=True)
    with pytest.raises(ValueError, match="both"):
        search(queries, corpus, corpus_index=index)
    with pytest.raises(ValueError, match="'int4'"):
        search(queries, corpus, corpus_precision="int4")


@pytest.mark.parametrize("search", [semantic_search_faiss, semantic_search_usearch])
def test_top_k_larger_than_corpus(search):
    importlib.import_module("faiss" if search is semantic_search_faiss else "usearch")
    corpus, queries = _corpus_and_queries()
    results, _ = search(queries[0], corpus[:5], top_k=10)
    assert len(results) == 1 and len(results[0]) == 5
