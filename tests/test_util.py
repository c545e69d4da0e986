"""Tests for sentence_transformers.util: semantic search, paraphrase mining, communities and small helpers."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
import torch

from sentence_transformers import util
from sentence_transformers.util import (
    batch_to_device,
    community_detection,
    get_device_name,
    paraphrase_mining,
    paraphrase_mining_embeddings,
    semantic_search,
    similarity,
    truncate_embeddings,
)

RNG = np.random.default_rng(0)


def unit_rows(count: int, dim: int, seed: int) -> torch.Tensor:
    rows = np.random.default_rng(seed).normal(size=(count, dim)).astype(np.float32)
    return torch.tensor(rows / np.linalg.norm(rows, axis=1, keepdims=True))


def angles(*degrees: float) -> torch.Tensor:
    """Unit vectors in the plane; the cosine of two of them is the cosine of their angle difference."""
    radians = np.deg2rad(np.array(degrees, dtype=np.float64))
    return torch.tensor(np.stack([np.cos(radians), np.sin(radians)], axis=1), dtype=torch.float32)


def test_similarity_functions_are_re_exported_not_redefined():
    for name in [
        "cos_sim",
        "dot_score",
        "euclidean_sim",
        "manhattan_sim",
        "pairwise_cos_sim",
        "pairwise_dot_score",
        "pairwise_euclidean_sim",
        "pairwise_manhattan_sim",
        "normalize_embeddings",
        "SimilarityFunction",
    ]:
        assert getattr(util, name) is getattr(similarity, name)
    assert util.pytorch_cos_sim is similarity.cos_sim


def test_semantic_search_matches_numpy_ranking():
    queries, corpus = unit_rows(7, 16, 1), unit_rows(50, 16, 2)
    results = semantic_search(queries, corpus, top_k=5)
    scores = queries.numpy() @ corpus.numpy().T  # unit rows: dot product == cosine
    assert len(results) == 7
    for row, hits in zip(scores, results, strict=True):
        assert [hit["corpus_id"] for hit in hits] == np.argsort(-row)[:5].tolist()
        np.testing.assert_allclose([hit["score"] for hit in hits], np.sort(row)[::-1][:5], atol=1e-6)
        assert all(isinstance(hit["corpus_id"], int) and isinstance(hit["score"], float) for hit in hits)
        assert set(hits[0]) == {"corpus_id", "score"}


@pytest.mark.parametrize(("query_chunk", "corpus_chunk"), [(1, 1), (2, 3), (3, 7), (100, 500000), (7, 49), (5, 50)])
def test_semantic_search_is_chunk_size_invariant(query_chunk, corpus_chunk):
    queries, corpus = unit_rows(7, 16, 1), unit_rows(50, 16, 2)
    reference = semantic_search(queries, corpus, top_k=6)
    chunked = semantic_search(queries, corpus, query_chunk_size=query_chunk, corpus_chunk_size=corpus_chunk, top_k=6)
    assert ids_of(chunked) == ids_of(reference)
    # Same hits in the same order; the scores themselves may differ in the last float32 bit because BLAS picks a
    # different kernel for a different matrix shape.
    np.testing.assert_allclose(scores_of(chunked), scores_of(reference), rtol=0, atol=1e-6)


def ids_of(results: list) -> list[list[int]]:
    return [[hit["corpus_id"] for hit in hits] for hits in results]


def scores_of(results: list) -> list[list[float]]:
    return [[hit["score"] for hit in hits] for hits in results]


def test_semantic_search_ties_are_ordered_by_corpus_id_for_any_chunking():
    corpus = torch.tensor([[1.0, 0.0], [1.0, 0.0], [0.0, 1.0], [1.0, 0.0], [1.0, 1.0]])
    queries = torch.tensor([[1.0, 0.0], [0.0, 1.0]])
    for query_chunk, corpus_chunk in itertools.product([1, 2, 10], [1, 2, 3, 10]):
        results = semantic_search(queries, corpus, query_chunk, corpus_chunk, top_k=3)
        assert [hit["corpus_id"] for hit in results[0]] == [0, 1, 3]
        assert [hit["corpus_id"] for hit in results[1]] == [2, 4, 0]
        assert results[1][1]["score"] == pytest.approx(1 / np.sqrt(2))


def test_semantic_search_other_score_functions_and_inputs():
    queries, corpus = RNG.normal(size=(3, 4)), RNG.normal(size=(9, 4))
    for score_function, reference in [
        (util.dot_score, queries @ corpus.T),
        (util.euclidean_sim, -np.linalg.norm(queries[:, None] - corpus[None], axis=-1)),
    ]:
        results = semantic_search(queries.tolist(), corpus, top_k=2, score_function=score_function)
        for row, hits in zip(reference, results, strict=True):
            assert [hit["corpus_id"] for hit in hits] == np.argsort(-row)[:2].tolist()
            np.testing.assert_allclose([hit["score"] for hit in hits], np.sort(row)[::-1][:2], rtol=1e-5)


def test_semantic_search_edge_cases():
    corpus = unit_rows(4, 3, 5)
    one = semantic_search(corpus[0], corpus, top_k=10)  # 1-D query -> one result list, top_k capped at corpus size
    assert len(one) == 1 and len(one[0]) == 4 and one[0][0]["corpus_id"] == 0
    assert semantic_search(corpus, corpus, top_k=0) == [[], [], [], []]
    assert semantic_search(corpus, corpus[:0], top_k=3) == [[], [], [], []]
    int8 = semantic_search(
        np.array([[1, 2]], dtype=np.int8), np.array([[1, 2], [3, -1]], dtype=np.int8), score_function=util.dot_score
    )
    assert int8 == [[{"corpus_id": 0, "score": 5.0}, {"corpus_id": 1, "score": 1.0}]]


def test_semantic_search_argument_errors():
    corpus = unit_rows(4, 3, 5)
    with pytest.raises(ValueError, match="top_k"):
        semantic_search(corpus, corpus, top_k=-1)
    with pytest.raises(ValueError, match="query_chunk_size"):
        semantic_search(corpus, corpus, query_chunk_size=0)
    with pytest.raises(ValueError, match="corpus_chunk_size"):
        semantic_search(corpus, corpus, corpus_chunk_size=2.5)


def brute_force_pairs(embeddings: np.ndarray, top_k: int) -> list[tuple[int, int]]:
    """Pairs (i<j) where j is among i's top_k others or i among j's, by cosine similarity, best first."""
    normed = embeddings / np.linalg.norm(embeddings, axis=1, keepdims=True)
    scores = normed @ normed.T
    np.fill_diagonal(scores, -np.inf)
    pairs = set()
    for i, row in enumerate(scores):
        for j in np.argsort(-row)[:top_k]:
            pairs.add((min(i, int(j)), max(i, int(j))))
    return sorted(pairs, key=lambda pair: (-scores[pair], pair))


def test_paraphrase_mining_embeddings_matches_brute_force():
    embeddings = unit_rows(30, 8, 7)
    expected = brute_force_pairs(embeddings.numpy(), top_k=3)
    result = paraphrase_mining_embeddings(embeddings, top_k=3)
    assert [(i, j) for _, i, j in result] == expected
    scores = [score for score, _, _ in result]
    assert scores == sorted(scores, reverse=True)
    first_score, i, j = result[0]
    assert isinstance(first_score, float) and isinstance(i, int) and isinstance(j, int)
    assert first_score == pytest.approx(float(embeddings[i] @ embeddings[j]), abs=1e-6)
    assert all(i < j for _, i, j in result)


def test_paraphrase_mining_max_pairs_and_chunks():
    embeddings = unit_rows(30, 8, 7)
    full = paraphrase_mining_embeddings(embeddings, top_k=30)
    assert len(full) == 30 * 29 // 2  # every unordered pair once, no self pairs
    assert paraphrase_mining_embeddings(embeddings, top_k=30, max_pairs=10) == full[:10]
    reference = paraphrase_mining_embeddings(embeddings, top_k=4, max_pairs=25)
    for query_chunk, corpus_chunk in [(1, 1), (4, 7), (30, 3)]:
        chunked = paraphrase_mining_embeddings(
            embeddings, query_chunk_size=query_chunk, corpus_chunk_size=corpus_chunk, top_k=4, max_pairs=25
        )
        assert [pair[1:] for pair in chunked] == [pair[1:] for pair in reference]
        np.testing.assert_allclose([pair[0] for pair in chunked], [pair[0] for pair in reference], atol=1e-6)


def test_paraphrase_mining_hand_built_example():
    # 0 and 4 are identical, 1 is 5.7 degrees from them, 2 and 3 are 5.7 degrees apart near the other axis.
    # With top_k=1: 0 and 4 pick each other; 1 ties between 0 and 4 and takes the lower id 0; 2 and 3 pick each other.
    embeddings = torch.tensor([[1.0, 0.0], [0.99, 0.1], [0.0, 1.0], [0.1, 0.99], [1.0, 0.0]])
    result = paraphrase_mining_embeddings(embeddings, top_k=1)
    cos_01 = 0.99 / np.hypot(0.99, 0.1)
    assert [(i, j) for _, i, j in result] == [(0, 4), (0, 1), (2, 3)]
    np.testing.assert_allclose([score for score, _, _ in result], [1.0, cos_01, cos_01], atol=1e-6)
    # With top_k=2, 1 also pairs with 4 and 0/4 each add their second neighbour 1.
    pairs = [(i, j) for _, i, j in paraphrase_mining_embeddings(embeddings, top_k=2)]
    assert pairs[:4] == [(0, 4), (0, 1), (1, 4), (2, 3)]


class FakeModel:
    """Stands in for SentenceTransformer: embeds each sentence as a fixed vector and records the call."""

    def __init__(self, vectors: dict[str, list[float]]) -> None:
        self.vectors = vectors
        self.calls: list[dict] = []

    def encode(self, sentences: list[str], **kwargs) -> torch.Tensor:
        self.calls.append({"sentences": sentences, **kwargs})
        return torch.tensor([self.vectors[sentence] for sentence in sentences])


def test_paraphrase_mining_with_a_model():
    model = FakeModel(
        {"a cat": [1.0, 0.1, 0.0], "a kitten": [1.0, 0.2, 0.0], "a car": [0.0, 0.0, 1.0], "a truck": [0.1, 0.0, 1.0]}
    )
    sentences = ["a cat", "a car", "a kitten", "a truck"]
    result = paraphrase_mining(model, sentences, batch_size=2, top_k=1, prompt_name="query", truncate_dim=3)
    assert [(i, j) for _, i, j in result] == [(0, 2), (1, 3)]
    call = model.calls[0]
    assert call["sentences"] == sentences and call["convert_to_tensor"] is True
    assert call["batch_size"] == 2 and call["prompt_name"] == "query" and call["truncate_dim"] == 3
    assert call["show_progress_bar"] is False and call["prompt"] is None


def test_community_detection_on_hand_built_clusters():
    # Three tight clusters on the circle (within 4 degrees) far apart from each other, plus one outlier.
    embeddings = angles(0, 2, 4, 1, 3, 90, 92, 91, 180, 182, 181, 183, 270)
    threshold = float(np.cos(np.deg2rad(5)))
    communities = community_detection(embeddings, threshold=threshold, min_community_size=3)
    assert [sorted(community) for community in communities] == [[0, 1, 2, 3, 4], [8, 9, 10, 11], [5, 6, 7]]
    # Every point of the first cluster sees all five within the threshold; equal-size candidates go in index order.
    assert communities[0][0] == 0
    assert community_detection(embeddings, threshold=threshold, min_community_size=6) == []
    singles = community_detection(embeddings, threshold=threshold, min_community_size=1)
    assert singles[-1] == [12]


def test_community_members_are_sorted_by_similarity_to_the_centre():
    embeddings = angles(10, 0, 13, 5, 18)  # centre 10 degrees: 13 (3), 5 (5), 18 (8), 0 (10)
    threshold = float(np.cos(np.deg2rad(10.5)))
    assert community_detection(embeddings, threshold=threshold, min_community_size=5) == [[0, 2, 3, 4, 1]]


def test_community_detection_is_non_overlapping_and_skips_assigned_centres():
    # A chain at 10-degree steps: 1 (10 deg) takes {0,1,2}; 3 still has {3,4} left over; 2's centre is taken.
    embeddings = angles(0, 10, 20, 30, 40)
    threshold = float(np.cos(np.deg2rad(10.5)))
    assert community_detection(embeddings, threshold=threshold, min_community_size=3) == [[1, 0, 2]]
    communities = community_detection(embeddings, threshold=threshold, min_community_size=2, batch_size=2)
    assert [sorted(community) for community in communities] == [[0, 1, 2], [3, 4]]
    flat = [index for community in communities for index in community]
    assert len(flat) == len(set(flat))


def test_community_detection_inputs_and_batch_invariance():
    embeddings = unit_rows(60, 4, 11)
    reference = community_detection(embeddings, threshold=0.8, min_community_size=4)
    assert reference, "the random data should contain at least one community"
    assert community_detection(embeddings.numpy(), threshold=0.8, min_community_size=4, batch_size=7) == reference
    assert community_detection(embeddings.tolist(), threshold=0.8, min_community_size=4) == reference
    assert [len(c) for c in reference] == sorted((len(c) for c in reference), reverse=True)
    assert community_detection(torch.zeros(0, 4)) == []


def test_batch_to_device_moves_only_tensors():
    batch = {"input_ids": torch.ones(2, 3, dtype=torch.long), "text": ["a", "b"], "mask": torch.zeros(2)}
    moved = batch_to_device(batch, torch.device("cpu"))
    assert moved is batch
    assert moved["input_ids"].device.type == "cpu" and moved["text"] == ["a", "b"]
    assert batch_to_device({"x": torch.ones(1)}, "cpu")["x"].device.type == "cpu"
    if torch.cuda.is_available():
        assert batch_to_device({"x": torch.ones(1)}, "cuda")["x"].device.type == "cuda"


def test_truncate_embeddings():
    tensor = torch.arange(10.0).view(2, 5)
    assert truncate_embeddings(tensor, None) is tensor
    assert truncate_embeddings(tensor, 3).tolist() == [[0, 1, 2], [5, 6, 7]]
    assert truncate_embeddings(tensor.numpy(), 2).shape == (2, 2)
    assert truncate_embeddings(np.arange(5), 3).tolist() == [0, 1, 2]
    assert truncate_embeddings(tensor, 10).shape == (2, 5)
    for bad in (0, -1, 2.5, True):
        with pytest.raises(ValueError, match="truncate_dim"):
            truncate_embeddings(tensor, bad)


def test_get_device_name(monkeypatch):
    expected = "cuda" if torch.cuda.is_available() else None
    name = get_device_name()
    assert name in {"cuda", "mps", "npu", "cpu"}
    if expected:
        assert name == expected
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.setattr(torch.backends.mps, "is_available", lambda: False)
    monkeypatch.setattr(util.environment, "_npu_available", lambda: False)
    assert get_device_name() == "cpu"
    monkeypatch.setattr(torch.backends.mps, "is_available", lambda: True)
    assert get_device_name() == "mps"
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    assert get_device_name() == "cuda"
