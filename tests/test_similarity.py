"""Tests for sentence_transformers.util.similarity: every function against plain numpy, plus input handling."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from sentence_transformers.util.similarity import (
    SimilarityFunction,
    _to_tensor,
    cos_sim,
    dot_score,
    euclidean_sim,
    manhattan_sim,
    normalize_embeddings,
    pairwise_cos_sim,
    pairwise_dot_score,
    pairwise_euclidean_sim,
    pairwise_manhattan_sim,
    pytorch_cos_sim,
)

DATA = Path(__file__).parent / "data" / "minilm"
RNG = np.random.default_rng(0)
A = RNG.normal(size=(4, 6)).astype(np.float32)
B = RNG.normal(size=(3, 6)).astype(np.float32)


def np_cos(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    a = a / np.linalg.norm(a, axis=1, keepdims=True)
    b = b / np.linalg.norm(b, axis=1, keepdims=True)
    return a @ b.T


def np_euclid(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return -np.sqrt(((a[:, None, :] - b[None, :, :]) ** 2).sum(-1))


def np_manhattan(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return -np.abs(a[:, None, :] - b[None, :, :]).sum(-1)


MATRIX_CASES = [
    (cos_sim, np_cos),
    (dot_score, lambda a, b: a @ b.T),
    (euclidean_sim, np_euclid),
    (manhattan_sim, np_manhattan),
]
PAIRWISE_CASES = [
    (pairwise_cos_sim, lambda a, b: np.diag(np_cos(a, b))),
    (pairwise_dot_score, lambda a, b: (a * b).sum(-1)),
    (pairwise_euclidean_sim, lambda a, b: -np.sqrt(((a - b) ** 2).sum(-1))),
    (pairwise_manhattan_sim, lambda a, b: -np.abs(a - b).sum(-1)),
]


@pytest.mark.parametrize(("fn", "reference"), MATRIX_CASES)
def test_matrix_functions_match_numpy(fn, reference):
    result = fn(A, B)
    assert isinstance(result, torch.Tensor)
    assert result.shape == (4, 3)
    np.testing.assert_allclose(result.numpy(), reference(A, B), rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize(("fn", "reference"), MATRIX_CASES)
@pytest.mark.parametrize("convert", [lambda x: x, torch.tensor, lambda x: x.tolist(), lambda x: list(torch.tensor(x))])
def test_matrix_functions_accept_all_input_types(fn, reference, convert):
    result = fn(convert(A), convert(B))
    np.testing.assert_allclose(result.numpy(), reference(A, B), rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize(("fn", "reference"), MATRIX_CASES)
def test_one_dimensional_input_is_one_row(fn, reference):
    assert fn(A[0], B).shape == (1, 3)
    assert fn(A, B[1]).shape == (4, 1)
    np.testing.assert_allclose(fn(A[0], B[1]).numpy(), reference(A[:1], B[1:2]), rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize(("fn", "reference"), MATRIX_CASES)
def test_integer_inputs_are_converted_to_float(fn, reference):
    a = np.array([[1, 2, 3], [-4, 5, 6]], dtype=np.int8)
    b = np.array([[1, 0, 2], [127, -128, 3]], dtype=np.int8)
    result = fn(a, b)
    assert result.dtype == torch.float32
    np.testing.assert_allclose(result.numpy(), reference(a.astype(np.float64), b.astype(np.float64)), rtol=1e-5)


def test_dtype_rules():
    assert cos_sim(A.astype(np.float64), B.astype(np.float64)).dtype == torch.float64
    assert dot_score(torch.tensor(A).half(), torch.tensor(B).half()).dtype == torch.float32
    assert dot_score(torch.tensor(A, dtype=torch.float64), torch.tensor(B)).dtype == torch.float64


def test_cos_sim_hand_values_and_zero_vector():
    # [1, 0] vs [1, 1] -> 1/sqrt(2); a zero vector gives 0 instead of NaN (norm clamped like F.normalize).
    result = cos_sim([[1.0, 0.0], [0.0, 0.0]], [[1.0, 1.0], [0.0, 3.0]])
    np.testing.assert_allclose(result.numpy(), [[1 / np.sqrt(2), 0.0], [0.0, 0.0]], atol=1e-7)


def test_euclidean_and_manhattan_hand_values():
    # Points (0, 0) and (3, 4): L2 distance 5, L1 distance 7.
    assert euclidean_sim([0.0, 0.0], [3.0, 4.0]).item() == pytest.approx(-5.0)
    assert manhattan_sim([0.0, 0.0], [3.0, 4.0]).item() == pytest.approx(-7.0)
    assert pairwise_euclidean_sim([[0.0, 0.0]], [[3.0, 4.0]]).item() == pytest.approx(-5.0)
    assert pairwise_manhattan_sim([[0.0, 0.0]], [[3.0, 4.0]]).item() == pytest.approx(-7.0)


def test_pytorch_cos_sim_is_alias():
    assert pytorch_cos_sim is cos_sim


@pytest.mark.parametrize(("fn", "reference"), PAIRWISE_CASES)
def test_pairwise_functions_match_numpy(fn, reference):
    b = B[[0, 1, 2, 0]]
    result = fn(A, b)
    assert result.shape == (4,)
    np.testing.assert_allclose(result.numpy(), reference(A, b), rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(fn(A.tolist(), torch.tensor(b)).numpy(), reference(A, b), rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize(("fn", "reference"), PAIRWISE_CASES)
def test_pairwise_integer_and_one_dimensional_inputs(fn, reference):
    a = np.array([[1, 2, 3], [-4, 5, 6]], dtype=np.int8)
    b = np.array([[1, 0, 2], [0, 0, 1]], dtype=np.int8)
    np.testing.assert_allclose(fn(a, b).numpy(), reference(a.astype(float), b.astype(float)), rtol=1e-5)
    single = fn(A[0], B[0])  # two single embeddings -> a 0-D tensor, like the reference library
    assert single.dim() == 0
    assert single.item() == pytest.approx(float(reference(A[:1], B[:1])[0]), rel=1e-5, abs=1e-5)


def test_pairwise_shape_mismatch_raises():
    with pytest.raises(ValueError, match="same shape"):
        pairwise_cos_sim(torch.ones(3, 4), torch.ones(2, 4))


def test_normalize_embeddings():
    result = normalize_embeddings(torch.tensor([[3.0, 4.0], [0.0, 0.0]]))
    np.testing.assert_allclose(result.numpy(), [[0.6, 0.8], [0.0, 0.0]])
    np.testing.assert_allclose(normalize_embeddings(np.array([3.0, 4.0])).numpy(), [0.6, 0.8])
    assert normalize_embeddings(torch.tensor([[3, 4]])).dtype == torch.float32


def test_normalize_embeddings_sparse_stays_sparse():
    dense = torch.tensor([[0.0, 3.0, 4.0], [2.0, 0.0, 0.0], [0.0, 0.0, 0.0]])
    result = normalize_embeddings(dense.to_sparse())
    assert result.is_sparse
    np.testing.assert_allclose(result.to_dense().numpy(), [[0, 0.6, 0.8], [1, 0, 0], [0, 0, 0]])


def test_sparse_inputs_give_dense_results():
    dense = torch.tensor([[0.0, 3.0, 4.0], [2.0, 0.0, 0.0]])
    result = cos_sim(dense.to_sparse(), dense)
    assert not result.is_sparse
    np.testing.assert_allclose(result.numpy(), np_cos(dense.numpy(), dense.numpy()), atol=1e-6)


def test_reference_cosine_matrix():
    embeddings = np.load(DATA / "few_default.npy")
    expected = np.load(DATA / "few_similarity_cosine.npy")
    np.testing.assert_allclose(cos_sim(embeddings, embeddings).numpy(), expected, atol=1e-5)
    np.testing.assert_allclose(expected, np_cos(embeddings, embeddings), atol=1e-5)


def test_bad_inputs_raise_clear_errors():
    with pytest.raises(ValueError, match="dimensions differ"):
        cos_sim(torch.ones(2, 3), torch.ones(2, 4))
    with pytest.raises(ValueError, match="1-D .* or 2-D"):
        dot_score(torch.ones(2, 2, 3), torch.ones(1, 3))
    with pytest.raises(TypeError, match="str"):
        cos_sim("text", torch.ones(1, 3))
    with pytest.raises(ValueError, match="empty list"):
        cos_sim([], torch.ones(1, 3))


def test_to_tensor_helper():
    stacked = _to_tensor([torch.ones(3), torch.zeros(3)])
    assert stacked.shape == (2, 3)
    assert _to_tensor([np.ones(2), np.ones(2)]).shape == (2, 2)
    tensor = torch.ones(2)
    assert _to_tensor(tensor) is tensor
    assert _to_tensor(np.arange(3)).dtype == torch.int64


def test_similarity_function_enum_values():
    assert SimilarityFunction.possible_values() == ["cosine", "dot", "euclidean", "manhattan", "maxsim", "meanmaxsim"]
    assert SimilarityFunction.DOT is SimilarityFunction.DOT_PRODUCT
    assert SimilarityFunction("dot") is SimilarityFunction.DOT_PRODUCT
    assert SimilarityFunction.COSINE == "cosine"


@pytest.mark.parametrize(
    ("name", "matrix", "pairwise"),
    [
        ("cosine", cos_sim, pairwise_cos_sim),
        (SimilarityFunction.COSINE, cos_sim, pairwise_cos_sim),
        ("dot", dot_score, pairwise_dot_score),
        (SimilarityFunction.DOT, dot_score, pairwise_dot_score),
        ("euclidean", euclidean_sim, pairwise_euclidean_sim),
        ("manhattan", manhattan_sim, pairwise_manhattan_sim),
    ],
)
def test_similarity_function_lookup(name, matrix, pairwise):
    assert SimilarityFunction.to_similarity_fn(name) is matrix
    assert SimilarityFunction.to_similarity_pairwise_fn(name) is pairwise


@pytest.mark.parametrize("name", ["bogus", "COSINE", "dot_product", "dot_score", 3])
def test_similarity_function_unknown_name(name):
    # The reference library only accepts the member values; names such as "dot_product" are rejected there too.
    with pytest.raises(ValueError, match="cosine.*dot.*euclidean.*manhattan"):
        SimilarityFunction.to_similarity_fn(name)
    with pytest.raises(ValueError, match=repr(name).replace("'", ".")):
        SimilarityFunction.to_similarity_pairwise_fn(name)
