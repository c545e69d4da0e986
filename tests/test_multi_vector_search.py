"""util.multi_vector_search (exact, chunked MaxSim search) and util.MultiVectorIndex (int8 + centroid index)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from sentence_transformers import util
from sentence_transformers.util import MultiVectorIndex, maxsim, mean_maxsim, multi_vector_search
from sentence_transformers.util.multi_vector_index import kmeans, quantize_int8


def ragged(n: int, dim: int, seed: int, low: int = 1, high: int = 9) -> list[torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    return [torch.randn(int(torch.randint(low, high, (1,), generator=g)), dim, generator=g) for _ in range(n)]


def brute_force(queries: list[torch.Tensor], corpus: list[torch.Tensor], top_k: int) -> list[list[int]]:
    """Top-k ids per query from the full score matrix, scored one query-document pair at a time."""
    out = []
    for q in queries:
        scores = [float((q @ d.T).max(dim=1).values.sum()) for d in corpus]
        out.append(sorted(range(len(corpus)), key=lambda i: -scores[i])[:top_k])
    return out


def clustered(n_docs: int, tokens: int, dim: int, seed: int, n_topics: int = 40) -> list[torch.Tensor]:
    """Normalized token vectors scattered around shared topic directions (the same for every seed)."""
    topics = torch.randn(n_topics, dim, generator=torch.Generator().manual_seed(1234))
    topics = torch.nn.functional.normalize(topics, dim=-1)
    g = torch.Generator().manual_seed(seed)
    docs = []
    for _ in range(n_docs):
        centres = topics[torch.randint(n_topics, (tokens,), generator=g)]
        docs.append(torch.nn.functional.normalize(centres + 0.15 * torch.randn(tokens, dim, generator=g), dim=-1))
    return docs


# --------------------------------------------------------------------------------------------- multi_vector_search
def test_search_hand_example() -> None:
    query = [torch.tensor([[1.0, 0.0], [0.0, 1.0]])]
    corpus = [torch.tensor([[1.0, 0.0]]), torch.tensor([[1.0, 0.0], [0.5, 0.5]]), torch.tensor([[-1.0, -1.0]])]
    # MaxSim: doc0 = 1 + 0 = 1, doc1 = 1 + .5 = 1.5, doc2 = -1 + -1 = -2.
    hits = multi_vector_search(query, corpus, top_k=2)
    assert hits == [[{"corpus_id": 1, "score": 1.5}, {"corpus_id": 0, "score": 1.0}]]
    assert multi_vector_search(query[0], corpus, top_k=2) == hits  # one (tokens, dim) query


@pytest.mark.parametrize(("query_chunk", "corpus_chunk"), [(1, 1), (2, 3), (100, 5000)])
def test_search_matches_brute_force_for_any_chunking(query_chunk: int, corpus_chunk: int) -> None:
    queries, corpus = ragged(5, 8, seed=0), ragged(23, 8, seed=1)
    hits = multi_vector_search(queries, corpus, top_k=4, query_chunk_size=query_chunk, corpus_chunk_size=corpus_chunk)
    assert [[h["corpus_id"] for h in row] for row in hits] == brute_force(queries, corpus, 4)
    full = maxsim(queries, corpus)
    for row, scores in zip(hits, full, strict=True):
        assert [h["score"] for h in row] == pytest.approx(scores.sort(descending=True).values[:4].tolist(), abs=1e-5)


def test_search_padded_input_with_masks_equals_lists() -> None:
    queries, corpus = ragged(3, 6, seed=2), ragged(12, 6, seed=3)
    padded_q = torch.nn.utils.rnn.pad_sequence(queries, batch_first=True)
    padded_c = torch.nn.utils.rnn.pad_sequence(corpus, batch_first=True)
    q_mask = torch.nn.utils.rnn.pad_sequence([torch.ones(len(q)) for q in queries], batch_first=True)
    c_mask = torch.nn.utils.rnn.pad_sequence([torch.ones(len(c)) for c in corpus], batch_first=True)
    expected = multi_vector_search(queries, corpus, top_k=5)
    got = multi_vector_search(padded_q, padded_c, query_mask=q_mask, corpus_mask=c_mask, top_k=5, corpus_chunk_size=4)
    assert [[h["corpus_id"] for h in row] for row in got] == [[h["corpus_id"] for h in row] for row in expected]
    # numpy arrays work as well, and all-zero rows read as padding without masks.
    as_numpy = multi_vector_search([q.numpy() for q in queries], padded_c.numpy(), top_k=5, corpus_chunk_size=5)
    assert [[h["corpus_id"] for h in row] for row in as_numpy] == [[h["corpus_id"] for h in row] for row in expected]


def test_search_score_function_and_top_k_beyond_corpus() -> None:
    queries, corpus = ragged(2, 4, seed=4), ragged(3, 4, seed=5)
    hits = multi_vector_search(queries, corpus, top_k=10, score_function=mean_maxsim, corpus_chunk_size=2)
    assert all(len(row) == 3 for row in hits)
    expected = mean_maxsim(queries, corpus)
    for q, row in enumerate(hits):
        for hit in row:
            assert hit["score"] == pytest.approx(float(expected[q, hit["corpus_id"]]), abs=1e-6)


def test_search_empty_corpus_and_bad_arguments() -> None:
    assert multi_vector_search(ragged(2, 4, seed=6), [], top_k=3) == [[], []]
    for bad in ({"top_k": 0}, {"corpus_chunk_size": 0}, {"query_chunk_size": -1}, {"top_k": True}):
        with pytest.raises(ValueError, match=next(iter(bad))):
            multi_vector_search(ragged(1, 4, seed=7), ragged(2, 4, seed=8), **bad)


def test_util_exports_search_names() -> None:
    assert {"multi_vector_search", "MultiVectorIndex"} <= set(util.__all__)
    assert util.multi_vector_search is multi_vector_search


# ------------------------------------------------------------------------------------------------ MultiVectorIndex
def test_quantize_int8_error_is_within_half_a_step() -> None:
    vectors = torch.randn(50, 16, generator=torch.Generator().manual_seed(0))
    codes, scales = quantize_int8(vectors)
    assert codes.dtype == torch.int8 and scales.dtype == torch.float16
    restored = codes.float() * scales.float().unsqueeze(1)
    assert torch.all((restored - vectors).abs() <= scales.float().unsqueeze(1) * 0.5 + 1e-6)
    assert int(codes.abs().max()) == 127


def test_kmeans_finds_separated_clusters() -> None:
    g = torch.Generator().manual_seed(0)
    centres = torch.tensor([[10.0, 0.0], [0.0, 10.0], [-10.0, -10.0]])
    points = torch.cat([c + 0.1 * torch.randn(30, 2, generator=g) for c in centres])
    found = kmeans(points, 3, iterations=10, seed=1)
    distances = torch.cdist(centres, found).min(dim=1).values
    assert torch.all(distances < 0.5)


def test_index_probing_everything_equals_int8_exact_search() -> None:
    corpus, queries = clustered(60, 6, 16, seed=1), clustered(4, 3, 16, seed=2)
    index = MultiVectorIndex(n_centroids=8, n_probe=8, n_rescore=1000)
    assert index.add(corpus) == list(range(60))
    dequantized = []
    for doc in corpus:
        codes, scales = quantize_int8(doc)
        dequantized.append(codes.float() * scales.float().unsqueeze(1))
    expected = multi_vector_search(queries, dequantized, top_k=5)
    got = index.search(queries, top_k=5)
    assert [[h["corpus_id"] for h in row] for row in got] == [[h["corpus_id"] for h in row] for row in expected]
    for g_row, e_row in zip(got, expected, strict=True):
        assert [h["score"] for h in g_row] == pytest.approx([h["score"] for h in e_row], abs=1e-4)


def test_index_full_precision_rescoring_gives_exact_scores() -> None:
    corpus, queries = clustered(80, 5, 16, seed=3), clustered(3, 4, 16, seed=4)
    index = MultiVectorIndex(n_centroids=16, n_probe=16, n_rescore=1000)
    index.add(corpus)
    got = index.search(queries, top_k=3, full_precision=lambda ids: [corpus[i] for i in ids], n_full=20)
    expected = multi_vector_search(queries, corpus, top_k=3)
    assert got == [[{"corpus_id": h["corpus_id"], "score": pytest.approx(h["score"], abs=1e-5)} for h in row]
                   for row in expected]  # fmt: skip


def test_index_recall_on_clustered_corpus_and_memory() -> None:
    corpus, queries = clustered(300, 10, 32, seed=5, n_topics=100), clustered(20, 6, 32, seed=6, n_topics=100)
    index = MultiVectorIndex(n_probe=4, n_rescore=64)
    index.add(corpus)
    exact = multi_vector_search(queries, corpus, top_k=10)
    approx = index.search(queries, top_k=10)
    pairs = zip(approx, exact, strict=True)
    recall = np.mean([len({h["corpus_id"] for h in a} & {h["corpus_id"] for h in e}) / 10 for a, e in pairs])
    assert recall >= 0.9
    memory = index.memory_usage()
    assert memory["tokens"] == 300 * 10 and memory["float32"] == 300 * 10 * 32 * 4
    assert memory["codes"] == 300 * 10 * 32  # one byte per dimension
    assert memory["total"] == sum(v for k, v in memory.items() if k not in {"total", "tokens", "float32", "ratio"})
    assert memory["ratio"] < 0.45


def test_index_add_twice_padded_input_and_empty_search() -> None:
    assert MultiVectorIndex().search([torch.randn(2, 4)]) == [[]]
    first, second = clustered(30, 4, 8, seed=7), clustered(10, 4, 8, seed=8)
    index = MultiVectorIndex(n_centroids=4, n_probe=4, n_rescore=100)
    index.add(first)
    centroids = index.centroids.clone()
    padded = torch.nn.utils.rnn.pad_sequence(second, batch_first=True)
    mask = torch.ones(padded.shape[:2], dtype=torch.bool)
    assert index.add(padded, mask=mask) == list(range(30, 40))
    assert torch.equal(index.centroids, centroids) and len(index) == 40
    hit = index.search(second[3], top_k=1)[0][0]
    assert hit["corpus_id"] == 33
    with pytest.raises(ValueError, match="dimensions"):
        index.add([torch.randn(3, 5)])


def test_index_save_load_round_trip_and_atomic_replace(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    corpus, queries = clustered(50, 5, 8, seed=9), clustered(3, 3, 8, seed=10)
    index = MultiVectorIndex(n_centroids=8, n_probe=2, n_rescore=10)
    index.add(corpus)
    target = tmp_path / "index"
    index.save(target)
    loaded = MultiVectorIndex.load(target)
    assert loaded.search(queries, top_k=5) == index.search(queries, top_k=5)
    assert loaded.memory_usage() == index.memory_usage()
    assert (loaded.n_probe, loaded.n_rescore, loaded.n_centroids) == (2, 10, 8)

    # Saving over an existing index replaces it; a failure halfway leaves the old one intact and no temp folders.
    bigger = MultiVectorIndex(n_centroids=8)
    bigger.add(corpus + corpus[:5])
    bigger.save(target)
    assert len(MultiVectorIndex.load(target)) == 55
    calls = []

    def failing_save(file: Path, array: np.ndarray) -> None:
        calls.append(file)
        if len(calls) == 3:
            raise OSError("disk full")
        np.lib.format.write_array(open(file, "wb"), array)

    monkeypatch.setattr(np, "save", failing_save)
    with pytest.raises(OSError, match="disk full"):
        index.save(target)
    monkeypatch.undo()
    assert len(MultiVectorIndex.load(target)) == 55
    assert sorted(p.name for p in tmp_path.iterdir()) == ["index"]

    with pytest.raises(FileNotFoundError, match="config.json"):
        MultiVectorIndex.load(tmp_path / "missing")
    with pytest.raises(ValueError, match="empty"):
        MultiVectorIndex().save(tmp_path / "empty")
