"""mine_hard_negatives: candidate search, thresholds, sampling and every output format.

Most tests use ``TableModel``, whose similarity scores come from a hand-written table, so that the expected negatives
can be worked out by hand (the reasoning is spelled out next to each expectation). The semantics follow upstream 6.2:
the candidate pool per query is its ``range_max + (rows per anchor)`` most similar documents; positives are masked;
thresholds drop candidates; the first ``range_min`` survivors are skipped and ``num_negatives`` taken.
"""

from __future__ import annotations

import logging
import random
import sys

import numpy as np
import pytest
import torch

datasets = pytest.importorskip("datasets")

from sentence_transformers.util.hard_negatives import mine_hard_negatives  # noqa: E402


class TableModel:
    """A bi-encoder whose scores are read from ``table[query][document]``: an embedding is just the text's index."""

    def __init__(self, table: dict[str, dict[str, float]]) -> None:
        self.queries = list(table)
        self.docs = list(next(iter(table.values())))
        self.matrix = torch.tensor([[table[q][d] for d in self.docs] for q in self.queries])
        self.calls: list[tuple[str, list[str], dict]] = []

    def encode_query(self, texts, **kwargs):
        self.calls.append(("query", list(texts), kwargs))
        return np.array([[self.queries.index(t)] for t in texts], dtype=np.float32)

    def encode_document(self, texts, **kwargs):
        self.calls.append(("document", list(texts), kwargs))
        return np.array([[self.docs.index(t)] for t in texts], dtype=np.float32)

    def similarity(self, a, b):
        rows, cols = torch.as_tensor(a)[:, 0].long(), torch.as_tensor(b)[:, 0].long()
        return self.matrix[rows][:, cols]

    def similarity_pairwise(self, a, b):
        return self.matrix[torch.as_tensor(a)[:, 0].long(), torch.as_tensor(b)[:, 0].long()]


class VectorModel:
    """A bi-encoder with only ``encode``, returning fixed random vectors (cosine similarity is the default)."""

    def __init__(self, texts: list[str], dim: int = 8, seed: int = 0) -> None:
        rng = np.random.default_rng(seed)
        self.vectors = {text: rng.normal(size=dim).astype(np.float32) for text in texts}
        self.encoded = 0

    def encode(self, texts, normalize_embeddings=False, **kwargs):
        self.encoded += len(texts)
        matrix = np.stack([self.vectors[t] for t in texts])
        if normalize_embeddings:
            matrix = matrix / np.linalg.norm(matrix, axis=1, keepdims=True)
        return matrix


# Scores of the two queries against every document. Corpus order inside the function: d1..d5, then p1, p2.
TABLE = {
    "q1": {"p1": 0.80, "p2": 0.10, "d1": 0.90, "d2": 0.75, "d3": 0.60, "d4": 0.40, "d5": 0.20},
    "q2": {"p1": 0.30, "p2": 0.70, "d1": 0.50, "d2": 0.65, "d3": 0.72, "d4": 0.15, "d5": 0.05},
}
CORPUS = ["d1", "d2", "d3", "d4", "d5"]


def pairs_dataset(anchors=("q1", "q2"), positives=("p1", "p2")):
    return datasets.Dataset.from_dict({"query": list(anchors), "answer": list(positives)})


def mine(table=TABLE, dataset=None, **kwargs):
    kwargs.setdefault("corpus", CORPUS)
    kwargs.setdefault("verbose", False)
    return mine_hard_negatives(dataset if dataset is not None else pairs_dataset(), TableModel(table), **kwargs)


def negatives_by_query(result, negative_columns=("negative",)):
    """{anchor: [negatives in row order]} for a triplet or n-tuple result."""
    found: dict[str, list[str]] = {}
    for row in result:
        found.setdefault(row["query"], []).extend(row[column] for column in negative_columns)
    return found


# ----------------------------------------------------------------------------- output formats
def test_triplet_default_takes_the_top_three_non_positive_candidates():
    # range_max = 0 + 3 + 1 → 5 candidates. q1: d1 .9, p1 .8 (masked), d2 .75, d3 .6, d4 .4 → d1, d2, d3.
    # q2: d3 .72, p2 .7 (masked), d2 .65, d1 .5, p1 .3 → d3, d2, d1.
    result = mine()
    assert result.column_names == ["query", "answer", "negative"]
    assert [tuple(row.values()) for row in result] == [
        ("q1", "p1", "d1"),
        ("q1", "p1", "d2"),
        ("q1", "p1", "d3"),
        ("q2", "p2", "d3"),
        ("q2", "p2", "d2"),
        ("q2", "p2", "d1"),
    ]


def test_triplet_output_scores_pairs_positive_and_negative_score():
    result = mine(output_scores=True)
    assert result.column_names == ["query", "answer", "negative", "scores"]
    assert np.allclose(result["scores"][:3], [[0.8, 0.9], [0.8, 0.75], [0.8, 0.6]])
    assert np.allclose(result["scores"][3:], [[0.7, 0.72], [0.7, 0.65], [0.7, 0.5]])


def test_n_tuple_has_one_column_per_negative_and_optional_scores():
    plain = mine(output_format="n-tuple")
    assert plain.column_names == ["query", "answer", "negative_1", "negative_2", "negative_3"]
    assert plain[0] == {"query": "q1", "answer": "p1", "negative_1": "d1", "negative_2": "d2", "negative_3": "d3"}
    assert plain[1] == {"query": "q2", "answer": "p2", "negative_1": "d3", "negative_2": "d2", "negative_3": "d1"}

    scored = mine(output_format="n-tuple", output_scores=True)
    assert scored.column_names == plain.column_names + ["scores"]
    assert np.allclose(scored["scores"], [[0.8, 0.9, 0.75, 0.6], [0.7, 0.72, 0.65, 0.5]])


def test_deprecated_n_tuple_scores_and_as_triplets_map_to_the_new_options(caplog):
    with caplog.at_level(logging.WARNING):
        old = mine(output_format="n-tuple-scores")
        as_tuples = mine(as_triplets=False)
    assert old.to_dict() == mine(output_format="n-tuple", output_scores=True).to_dict()
    assert as_tuples.to_dict() == mine(output_format="n-tuple").to_dict()
    assert "deprecated" in caplog.text


def test_labeled_pair_lists_positives_then_negatives_per_query():
    result = mine(output_format="labeled-pair")
    assert result.column_names == ["query", "answer", "label"]
    assert [tuple(row.values()) for row in result] == [
        ("q1", "p1", 1),
        ("q1", "d1", 0),
        ("q1", "d2", 0),
        ("q1", "d3", 0),
        ("q2", "p2", 1),
        ("q2", "d3", 0),
        ("q2", "d2", 0),
        ("q2", "d1", 0),
    ]
    scored = mine(output_format="labeled-pair", output_scores=True)
    assert scored.column_names == ["query", "answer", "score"]  # the score replaces the label
    assert np.allclose(scored["score"], [0.8, 0.9, 0.75, 0.6, 0.7, 0.72, 0.65, 0.5])


def test_labeled_list_keeps_rows_with_some_negatives():
    # min_score=0.62: q1 keeps d1 .9, d2 .75 (d3 .6 and d4 .4 drop); q2 keeps d3 .72, d2 .65 (d1 .5 drops).
    result = mine(output_format="labeled-list", min_score=0.62)
    assert result.column_names == ["query", "answer", "labels"]
    assert result.to_dict() == {
        "query": ["q1", "q2"],
        "answer": [["p1", "d1", "d2"], ["p2", "d3", "d2"]],
        "labels": [[1, 0, 0], [1, 0, 0]],
    }
    scored = mine(output_format="labeled-list", min_score=0.62, output_scores=True)
    assert scored.column_names == ["query", "answer", "scores"]
    assert np.allclose(scored["scores"], [[0.8, 0.9, 0.75], [0.7, 0.72, 0.65]])


def test_invalid_output_format_is_rejected():
    with pytest.raises(ValueError, match="output_format"):
        mine(output_format="pairs")


# ----------------------------------------------------------------------------- ranges and thresholds
def test_range_min_skips_the_closest_candidates():
    # range_max=4 → 5 candidates; masked survivors q1: d1, d2, d3, d4 → skip 1 → d2, d3. q2: d3, d2, d1, p1 → d2, d1.
    result = mine(range_min=1, range_max=4, num_negatives=2)
    assert negatives_by_query(result) == {"q1": ["d2", "d3"], "q2": ["d2", "d1"]}


def test_range_max_limits_the_candidate_pool():
    # range_max=2 → only the 3 best documents are candidates. q1: d1, p1, d2 → d1, d2. q2: d3, p2, d2 → d3, d2.
    result = mine(range_max=2, num_negatives=2, output_format="n-tuple")
    assert [row["negative_1"] + row["negative_2"] for row in result] == ["d1d2", "d3d2"]


def test_range_errors_name_the_arguments():
    with pytest.raises(ValueError, match="range_min must be smaller than range_max"):
        mine(range_min=4, range_max=4)
    with pytest.raises(ValueError, match="Cannot mine 2 negatives"):
        mine(range_min=3, range_max=4, num_negatives=2)
    with pytest.raises(ValueError, match="range_min must be non-negative"):
        mine(range_min=-1, range_max=4)
    with pytest.raises(ValueError, match="num_negatives"):
        mine(num_negatives=0)


def test_max_score_and_min_score_bound_the_negative_scores():
    # Both bounds → range_max = 31, every document is a candidate. Kept: 0.5 <= score <= 0.8 (bounds are inclusive).
    # q1: d1 .9 too high; d2 .75, d3 .6; d4 .4 too low. q2: d3 .72, d2 .65, d1 .5.
    result = mine(max_score=0.8, min_score=0.5, output_scores=True)
    assert negatives_by_query(result) == {"q1": ["d2", "d3"], "q2": ["d3", "d2", "d1"]}
    assert all(0.5 <= negative <= 0.8 for _, negative in result["scores"])


def test_max_score_alone_takes_the_next_best():
    # q1 drops d1 .9, d2 .75 → d3, d4, d5. q2 drops d3 .72 → d2, d1 and p1 (q1's positive is q2's negative).
    result = mine(max_score=0.7)
    assert negatives_by_query(result) == {"q1": ["d3", "d4", "d5"], "q2": ["d2", "d1", "p1"]}


def test_absolute_margin_keeps_negatives_that_far_below_the_positive():
    # Drop score + 0.12 > positive. q1 (.8): drops d1 .9, d2 .75 → d3, d4, d5. q2 (.7): drops d3, d2 → d1, p1, d4.
    result = mine(absolute_margin=0.12)
    assert negatives_by_query(result) == {"q1": ["d3", "d4", "d5"], "q2": ["d1", "p1", "d4"]}
    assert mine(margin=0.12).to_dict() == result.to_dict()  # the deprecated name


def test_relative_margin_scales_with_the_positive_magnitude():
    # positive - |positive| * 0.1: q1 .72 → drops d1 .9, d2 .75; q2 .63 → drops d3 .72, d2 .65.
    result = mine(relative_margin=0.1)
    assert negatives_by_query(result) == {"q1": ["d3", "d4", "d5"], "q2": ["d1", "p1", "d4"]}


def test_relative_margin_with_a_negative_positive_score_lowers_the_threshold():
    # Positive -0.5 → threshold -0.5 - 0.05 = -0.55: d1 (-0.52) is dropped, d2 (-0.56) is the best survivor.
    table = {"q1": {"p1": -0.5, "d1": -0.52, "d2": -0.56, "d3": -0.7}}
    result = mine(table, pairs_dataset(["q1"], ["p1"]), corpus=["d1", "d2", "d3"], relative_margin=0.1, num_negatives=1)
    assert result["negative"] == ["d2"]


def test_margin_uses_the_hardest_positive_and_duplicates_collapse():
    # q1 has positives p1 (.8) and p3 (.55), (q1, p1) twice. absolute_margin=0 drops candidates above .55: d1, d2.
    table = {
        "q1": {"p1": 0.8, "p3": 0.55, "d1": 0.9, "d2": 0.6, "d3": 0.5, "d4": 0.3},
        "q2": {"p1": 0.2, "p3": 0.1, "d1": 0.4, "d2": 0.35, "d3": 0.85, "d4": 0.3},
    }
    dataset = pairs_dataset(["q1", "q2", "q1", "q1"], ["p1", "d3", "p3", "p1"])
    result = mine(table, dataset, corpus=["d1", "d2", "d4"], absolute_margin=0.0, num_negatives=1, output_scores=True)
    # One triplet per distinct (anchor, positive), grouped by anchor; d3 is q2's positive but q1's negative.
    assert [(row["query"], row["answer"], row["negative"]) for row in result] == [
        ("q1", "p1", "d3"),
        ("q1", "p3", "d3"),
        ("q2", "d3", "d1"),
    ]
    assert np.allclose(result["scores"], [[0.8, 0.5], [0.55, 0.5], [0.85, 0.4]])


def test_num_negatives_and_n_tuple_drops_rows_that_fall_short():
    # min_score=0.62 leaves two negatives per query (see the labeled-list test).
    assert len(mine(output_format="n-tuple", min_score=0.62, num_negatives=2)) == 2
    short = mine(output_format="n-tuple", min_score=0.62, num_negatives=3)
    assert len(short) == 0
    assert short.column_names == ["query", "answer", "negative_1", "negative_2", "negative_3"]
    assert len(mine(num_negatives=5, max_score=1.0)) == 10  # 5 triplets per query


# ----------------------------------------------------------------------------- sampling and positives
def test_random_sampling_draws_distinct_surviving_candidates_sorted_by_score():
    # min_score=0.3 → survivors q1: d1, d2, d3, d4; q2: d3, d2, d1, p1. Whatever the seed, the 2 picks are distinct
    # survivors, ordered best first; over seeds, more than the top 2 get picked.
    survivors = {"q1": ["d1", "d2", "d3", "d4"], "q2": ["d3", "d2", "d1", "p1"]}
    seen: dict[str, set[str]] = {"q1": set(), "q2": set()}
    for seed in range(25):
        random.seed(seed)
        result = mine(sampling_strategy="random", min_score=0.3, num_negatives=2, range_max=6, output_format="n-tuple")
        for row in result:
            picks = [row["negative_1"], row["negative_2"]]
            ranking = survivors[row["query"]]
            assert len(set(picks)) == 2 and set(picks) <= set(ranking)
            assert ranking.index(picks[0]) < ranking.index(picks[1])
            seen[row["query"]].update(picks)
    assert all(len(picked) > 2 for picked in seen.values())


def test_invalid_sampling_strategy_is_rejected():
    with pytest.raises(ValueError, match="sampling_strategy"):
        mine(sampling_strategy="bottom")


def test_include_positives_ranks_the_positive_among_the_negatives(caplog):
    # range_max = 4 → q1: d1 .9, p1 .8, d2 .75 (the positive stays); the output becomes n-tuple.
    with caplog.at_level(logging.WARNING):
        result = mine(include_positives=True, output_format="triplet")
    assert "n-tuple" in caplog.text
    assert result[0] == {"query": "q1", "answer": "p1", "negative_1": "d1", "negative_2": "p1", "negative_3": "d2"}
    assert result[1] == {"query": "q2", "answer": "p2", "negative_1": "d3", "negative_2": "p2", "negative_3": "d2"}


# ----------------------------------------------------------------------------- inputs
def test_single_column_dataset_is_a_clear_error():
    dataset = datasets.Dataset.from_dict({"query": ["q1", "q2"]})
    with pytest.raises(ValueError, match="positive column"):
        mine_hard_negatives(dataset, TableModel(TABLE), verbose=False)


def test_unknown_column_name_falls_back_with_a_warning(caplog):
    dataset = datasets.Dataset.from_dict({"a": ["q1", "q2"], "b": ["p1", "p2"]})
    with caplog.at_level(logging.WARNING):
        result = mine(dataset=dataset, anchor_column_name="question", positive_column_name="b")
    assert "question" in caplog.text and "'a'" in caplog.text
    assert result.column_names == ["a", "b", "negative"]


def test_named_columns_are_used_in_any_order():
    dataset = datasets.Dataset.from_dict({"id": [1, 2], "answer": ["p1", "p2"], "query": ["q1", "q2"]})
    result = mine(dataset=dataset, anchor_column_name="query", positive_column_name="answer", output_format="n-tuple")
    assert result.column_names == ["query", "answer", "negative_1", "negative_2", "negative_3"]
    assert result["negative_1"] == ["d1", "d3"]


def test_empty_dataset_is_rejected():
    with pytest.raises(ValueError, match="empty"):
        mine(dataset=pairs_dataset([], []))


def test_missing_datasets_package_names_the_extra(monkeypatch):
    monkeypatch.setitem(sys.modules, "datasets", None)
    with pytest.raises(ImportError, match=r"sbert\[train\]"):
        mine_hard_negatives([("q1", "p1")], TableModel(TABLE))


def test_prompts_reach_encode_query_and_encode_document():
    model = TableModel(TABLE)
    mine_hard_negatives(
        pairs_dataset(), model, corpus=CORPUS, query_prompt="query: ", corpus_prompt_name="doc", verbose=False
    )
    calls = {role: kwargs for role, _, kwargs in model.calls}
    assert calls["query"]["prompt"] == "query: " and calls["query"]["prompt_name"] is None
    assert calls["document"]["prompt_name"] == "doc" and calls["document"]["prompt"] is None
    assert calls["query"]["normalize_embeddings"] is True
    documents = next(texts for role, texts, _ in model.calls if role == "document")
    assert documents == ["d1", "d2", "d3", "d4", "d5", "p1", "p2"]  # deduplicated corpus + positives


# ----------------------------------------------------------------------------- cross-encoder, faiss, cache, report
class TableCrossEncoder:
    """A cross-encoder reading its scores from a table; records its calls."""

    def __init__(self, table: dict[str, dict[str, float]]) -> None:
        self.table = table
        self.calls: list[dict] = []

    def predict(self, pairs, batch_size=32, **kwargs):
        self.calls.append({"n": len(pairs), "batch_size": batch_size, **kwargs})
        return np.array([self.table[query][doc] for query, doc in pairs], dtype=np.float32)


def test_cross_encoder_rescores_when_a_threshold_is_set():
    # The cross-encoder prefers what the bi-encoder ranks last. max_score=0.95 → range_max=31: all documents are
    # candidates; by cross-encoder score q1 gets p2 .6, d5 .5 and q2 gets p1 .7, d5 .5.
    ce_table = {
        "q1": {"p1": 0.99, "p2": 0.6, "d1": 0.1, "d2": 0.2, "d3": 0.3, "d4": 0.4, "d5": 0.5},
        "q2": {"p1": 0.7, "p2": 0.98, "d1": 0.1, "d2": 0.2, "d3": 0.3, "d4": 0.4, "d5": 0.5},
    }
    cross_encoder = TableCrossEncoder(ce_table)
    result = mine(
        cross_encoder=cross_encoder,
        max_score=0.95,
        num_negatives=2,
        output_format="n-tuple",
        output_scores=True,
        batch_size=4,
    )
    assert [(row["negative_1"], row["negative_2"]) for row in result] == [("p2", "d5"), ("p1", "d5")]
    assert np.allclose(result["scores"], [[0.99, 0.6, 0.5], [0.98, 0.7, 0.5]])
    assert cross_encoder.calls and all(call["batch_size"] == 4 for call in cross_encoder.calls)

    unused = TableCrossEncoder(ce_table)
    assert mine(cross_encoder=unused).to_dict() == mine().to_dict()  # no threshold: bi-encoder scores only
    assert unused.calls == []


def vector_setup():
    texts = [f"t{i}" for i in range(30)]
    dataset = datasets.Dataset.from_dict({"anchor": texts[:6] + ["t0"], "positive": texts[6:12] + ["t12"]})
    return VectorModel(texts), dataset, texts[13:]


def test_faiss_search_matches_the_torch_search():
    pytest.importorskip("faiss")
    model, dataset, corpus = vector_setup()
    options = {"corpus": corpus, "output_format": "n-tuple", "output_scores": True, "verbose": False}
    exact = mine_hard_negatives(dataset, model, relative_margin=0.05, **options)
    with_faiss = mine_hard_negatives(dataset, model, relative_margin=0.05, use_faiss=True, **options)
    assert exact.remove_columns("scores").to_dict() == with_faiss.remove_columns("scores").to_dict()
    assert np.allclose(exact["scores"], with_faiss["scores"], atol=1e-5)
    assert len(exact) == 7


def test_default_similarity_is_cosine_of_the_embeddings():
    model, dataset, corpus = vector_setup()
    result = mine_hard_negatives(
        dataset, model, corpus=corpus, output_format="n-tuple", output_scores=True, verbose=False
    )
    row = result[0]
    vectors = [model.vectors[row[column]] for column in ("anchor", "positive", "negative_1", "negative_2")]
    cosine = [float(np.dot(vectors[0], v) / np.linalg.norm(vectors[0]) / np.linalg.norm(v)) for v in vectors[1:]]
    assert np.allclose(row["scores"][:3], cosine, atol=1e-5)


def test_cache_folder_reuses_the_embeddings(tmp_path):
    model, dataset, corpus = vector_setup()
    first = mine_hard_negatives(dataset, model, corpus=corpus, cache_folder=str(tmp_path), verbose=False)
    encoded = model.encoded
    assert sorted(path.name.split("_")[0] for path in tmp_path.iterdir()) == ["corpus", "query"]
    second = mine_hard_negatives(dataset, model, corpus=corpus, cache_folder=str(tmp_path), verbose=False)
    assert model.encoded == encoded and second.to_dict() == first.to_dict()
    # A different query prompt is a different cache entry: only the queries are embedded again.
    mine_hard_negatives(dataset, model, corpus=corpus, cache_folder=str(tmp_path), query_prompt="q: ", verbose=False)
    assert model.encoded == encoded + 6
    assert len(list(tmp_path.iterdir())) == 3


def test_verbose_report_prints_statistics_and_skips(capsys):
    mine(max_score=0.7, min_score=0.3, output_format="n-tuple", verbose=True)
    out = capsys.readouterr().out
    assert "Setting range_max to 31" in out
    assert "Metric" in out and "Positive" in out and "Difference" in out
    assert "due to the max_score of 0.7" in out and "due to the min_score of 0.3" in out
    # q1 keeps only d3 .6 and d4 .4, q2 keeps d2, d1 and p1 (.3 is not below 0.3): one row falls short.
    assert "Could not find enough negatives for 1 samples" in out


def test_with_a_real_sentence_transformer(tiny_model):
    anchors = ["a cat sleeps", "a man plays guitar", "the dog runs", "paris is in france"]
    positives = ["a cat is sleeping", "a man is playing a guitar", "a dog is running", "the capital of france"]
    corpus = ["two women are sitting", "the sun is warm", "a busy street", "sentence embeddings"]
    dataset = datasets.Dataset.from_dict({"anchor": anchors, "positive": positives})
    result = mine_hard_negatives(
        dataset,
        tiny_model,
        corpus=corpus,
        num_negatives=2,
        output_format="n-tuple",
        output_scores=True,
        batch_size=2,
        verbose=False,
    )
    assert len(result) == 4
    for row in result:
        assert row["negative_1"] != row["positive"] and row["negative_2"] != row["positive"]
        assert row["scores"][1] >= row["scores"][2]
        embeddings = tiny_model.encode([row["anchor"], row["positive"]], normalize_embeddings=True)
        assert row["scores"][0] == pytest.approx(float(embeddings[0] @ embeddings[1]), abs=1e-5)
