"""Ranking evaluators (information retrieval, reranking, paraphrase mining) and the shared metric helpers.

Embeddings are 2-D unit vectors at chosen angles, so every ranking is known and each figure is computed by hand.
"""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
import torch

from sentence_transformers.sentence_transformer.evaluation import _metrics
from sentence_transformers.sentence_transformer.evaluation.information_retrieval import InformationRetrievalEvaluator
from sentence_transformers.sentence_transformer.evaluation.paraphrase_mining import ParaphraseMiningEvaluator
from sentence_transformers.sentence_transformer.evaluation.reranking import RerankingEvaluator
from sentence_transformers.util.similarity import cos_sim, dot_score
from test_evaluators import StubModel, read_csv, unit


def log2(x: float) -> float:
    return math.log2(x)


# ---------------------------------------------------------------------------------------------- information retrieval

# Documents and queries at angles; IR_RANKINGS lists each query's documents by angular distance (= by cosine).
IR_DOCS = {"d0": 100, "d1": 20, "d2": 70, "d3": 5, "d4": 40}
IR_QUERIES = {"q1": 0, "q2": 95, "q3": 50}
IR_RELEVANT = {"q1": {"d1", "d2"}, "q2": {"d0"}, "q3": {"d3"}, "q-none": set()}
IR_RANKINGS = {  # by angular distance
    "q1": ["d3", "d1", "d4", "d2", "d0"],  # 5, 20, 40, 70, 100
    "q2": ["d0", "d2", "d4", "d1", "d3"],  # 5, 25, 55, 75, 90
    "q3": ["d4", "d2", "d1", "d3", "d0"],  # 10, 20, 30, 45, 50
}


def hand_ir_metrics(k_values=(1, 3, 5)) -> dict[str, float]:
    """Every metric averaged over the three queries, from IR_RANKINGS and IR_RELEVANT."""
    out: dict[str, list[float]] = {}
    for query, ranking in IR_RANKINGS.items():
        relevant = IR_RELEVANT[query]
        flags = [doc in relevant for doc in ranking]
        for k in k_values:
            top = flags[:k]
            out.setdefault(f"accuracy@{k}", []).append(float(any(top)))
            out.setdefault(f"precision@{k}", []).append(sum(top) / k)
            out.setdefault(f"recall@{k}", []).append(sum(top) / len(relevant))
            first = next((rank for rank, flag in enumerate(top) if flag), None)
            out.setdefault(f"mrr@{k}", []).append(0.0 if first is None else 1 / (first + 1))
            dcg = sum(1 / log2(rank + 2) for rank, flag in enumerate(top) if flag)
            idcg = sum(1 / log2(rank + 2) for rank in range(min(k, len(relevant))))
            out.setdefault(f"ndcg@{k}", []).append(dcg / idcg)
            hits, precision_sum = 0, 0.0
            for rank, flag in enumerate(top):
                if flag:
                    hits += 1
                    precision_sum += hits / (rank + 1)
            out.setdefault(f"map@{k}", []).append(precision_sum / min(k, len(relevant)))
    return {key: float(np.mean(values)) for key, values in out.items()}


@pytest.fixture()
def ir_model():
    table = {f"doc-{d}": unit(angle) for d, angle in IR_DOCS.items()}
    table |= {f"query-{q}": unit(angle) for q, angle in IR_QUERIES.items()}
    table["query-q-none"] = unit(0)
    return StubModel(table)


def ir_evaluator(**kwargs) -> InformationRetrievalEvaluator:
    queries = {q: f"query-{q}" for q in [*IR_QUERIES, "q-none"]}
    corpus = {d: f"doc-{d}" for d in IR_DOCS}
    cutoffs = {key: [1, 3, 5] for key in ("mrr_at_k", "ndcg_at_k", "accuracy_at_k", "precision_recall_at_k")}
    return InformationRetrievalEvaluator(queries, corpus, IR_RELEVANT, **(cutoffs | {"map_at_k": [1, 3, 5]} | kwargs))


def test_ir_metrics_by_hand_for_any_chunk_size(ir_model, tmp_path):
    expected = hand_ir_metrics()
    # Spot checks of the helper: first relevant document at rank 2 (q1), 1 (q2) and 4 (q3).
    assert expected["mrr@5"] == pytest.approx((1 / 2 + 1 + 1 / 4) / 3)
    assert expected["mrr@3"] == pytest.approx((1 / 2 + 1 + 0) / 3)
    assert expected["map@5"] == pytest.approx(((1 / 2 + 2 / 4) / 2 + 1 + 1 / 4) / 3)
    for chunk_size in (100, 2, 1):
        evaluator = ir_evaluator(corpus_chunk_size=chunk_size, name="ir")
        metrics = evaluator(ir_model, output_path=str(tmp_path / str(chunk_size)))
        assert metrics == pytest.approx({f"ir_cosine_{key}": value for key, value in expected.items()}, abs=1e-9)
        assert evaluator.primary_metric == "ir_cosine_ndcg@5"
    assert evaluator.queries_ids == ["q1", "q2", "q3"]  # q-none has no relevant document
    roles = {role for role, text in ir_model.calls if text.startswith("query-")}
    assert roles == {"query"} and {role for role, t in ir_model.calls if t.startswith("doc-")} == {"document"}


def test_ir_csv_layout_and_rows(ir_model, tmp_path):
    evaluator = ir_evaluator(precision_recall_at_k=[1, 3], map_at_k=[5], name="ir")
    evaluator(ir_model, output_path=str(tmp_path))
    metrics = evaluator(ir_model, output_path=str(tmp_path), epoch=2, steps=7)
    rows = read_csv(tmp_path / "Information-Retrieval_evaluation_ir_results.csv")
    header = ["epoch", "steps", "cosine-Accuracy@1", "cosine-Accuracy@3", "cosine-Accuracy@5"]
    header += ["cosine-Precision@1", "cosine-Recall@1", "cosine-Precision@3", "cosine-Recall@3"]
    header += [f"cosine-MRR@{k}" for k in (1, 3, 5)] + [f"cosine-NDCG@{k}" for k in (1, 3, 5)] + ["cosine-MAP@5"]
    assert rows[0] == header and len(rows) == 3
    assert rows[2][:2] == ["2", "7"]
    assert float(rows[2][header.index("cosine-NDCG@3")]) == pytest.approx(metrics["ir_cosine_ndcg@3"])
    assert float(rows[2][header.index("cosine-Recall@3")]) == pytest.approx(metrics["ir_cosine_recall@3"])


def test_ir_ties_are_ranked_by_corpus_id_whatever_the_chunks(tmp_path):
    # "b" and "a" have the same embedding: "a" must come first for every chunking, so accuracy@1 is 1.
    model = StubModel({"q": unit(0), "B": unit(10), "A": unit(10), "C": unit(50)})
    corpus = {"b": "B", "c": "C", "a": "A"}
    for chunk_size in (1, 2, 3):
        evaluator = InformationRetrievalEvaluator(
            {"q": "q"}, corpus, {"q": ["a"]}, corpus_chunk_size=chunk_size, accuracy_at_k=[1], mrr_at_k=[1],
            ndcg_at_k=[1], precision_recall_at_k=[1], map_at_k=[1], write_predictions=True,
        )  # fmt: skip
        assert evaluator(model, output_path=str(tmp_path))["cosine_accuracy@1"] == 1.0
    lines = (tmp_path / "Information-Retrieval_evaluation_predictions_cosine.jsonl").read_text().splitlines()
    prediction = json.loads(lines[0])
    assert prediction["query_id"] == "q" and prediction["query"] == "q"
    assert [hit["corpus_id"] for hit in prediction["results"]] == ["a"]


def test_ir_several_score_functions_and_main(ir_model):
    ir_model.table["doc-d4"] = ir_model.table["doc-d4"] * 10  # a long vector: dot product now favours d4
    functions = {"cos": cos_sim, "dot": dot_score}
    metrics = ir_evaluator(score_functions=functions)(ir_model)
    expected = hand_ir_metrics()
    assert metrics["cos_ndcg@5"] == pytest.approx(expected["ndcg@5"])
    assert metrics["dot_accuracy@1"] == 0.0  # d4 (dot 10 cos(angle)) comes first for every query; never relevant
    assert metrics["dot_ndcg@5"] < metrics["cos_ndcg@5"]
    best = ir_evaluator(score_functions=functions)
    best(ir_model)
    assert best.primary_metric == "cos_ndcg@5"
    main = ir_evaluator(score_functions=functions, main_score_function="dot", name="x")
    main(ir_model)
    assert main.primary_metric == "x_dot_ndcg@5"


def test_ir_uses_precomputed_corpus_embeddings_and_checks_input(ir_model):
    evaluator = ir_evaluator()
    corpus = torch.tensor([unit(angle) for angle in IR_DOCS.values()], dtype=torch.float32)
    scores = evaluator.compute_all_metrics(ir_model, corpus_embeddings=corpus)
    assert scores["cosine"]["ndcg@k"][5] == pytest.approx(hand_ir_metrics()["ndcg@5"])
    with pytest.raises(ValueError, match="relevant"):
        InformationRetrievalEvaluator({"q": "q"}, {"d": "d"}, {})
    with pytest.raises(ValueError, match="ndcg_at_k"):
        InformationRetrievalEvaluator({"q": "q"}, {"d": "d"}, {"q": {"d"}}, ndcg_at_k=[0])


# ---------------------------------------------------------------------------------------------- reranking


@pytest.fixture()
def rerank_model():
    # Query at 0 deg. Sample 1: neg n1 (10), pos p1 (20), pos p2 and neg n2 tied (60), neg n3 (80).
    # Sample 2: pos p3 (5), neg n4 (30).
    table = {"q1": unit(0), "p1": unit(20), "p2": unit(60), "n1": unit(10), "n2": unit(60), "n3": unit(80)}
    table |= {"q2": unit(0), "p3": unit(5), "n4": unit(30)}
    return StubModel(table)


RERANK_SAMPLES = [
    {"query": "q1", "positive": ["p1", "p2"], "negative": ["n1", "n2", "n3"]},
    {"query": "q2", "positive": "p3", "negative": ["n4"]},  # a single string is accepted
    {"query": "q2", "positive": ["p3"], "negative": []},  # dropped: nothing to rank against
]


def test_reranking_by_hand_with_ties(rerank_model, tmp_path):
    evaluator = RerankingEvaluator(RERANK_SAMPLES, at_k=10, name="rr")
    metrics = evaluator(rerank_model, output_path=str(tmp_path))
    # Sample 1 (ranking n1, p1, {p2, n2}, n3): AP counts the tie as one cut: 1/2 * 1/2 + 2/4 * 1/2 = 0.5.
    # NDCG: the tied pair shares the gain 1/2 over ranks 3 and 4; ideal DCG is 1 + 1/log2(3).
    dcg = 1 / log2(3) + 0.5 * (1 / log2(4) + 1 / log2(5))
    ndcg1 = dcg / (1 + 1 / log2(3))
    # Sample 2: the positive is first: AP 1, RR 1, NDCG 1.
    assert metrics == pytest.approx(
        {"rr_map": (0.5 + 1) / 2, "rr_mrr@10": (1 / 2 + 1) / 2, "rr_ndcg@10": (ndcg1 + 1) / 2}
    )
    assert evaluator.primary_metric == "rr_ndcg@10"
    assert len(evaluator.samples) == 2
    rows = read_csv(tmp_path / "RerankingEvaluator_rr_results_@10.csv")
    assert rows[0] == ["epoch", "steps", "MAP", "MRR@10", "NDCG@10"] and len(rows) == 2
    individual = RerankingEvaluator(RERANK_SAMPLES, at_k=10, name="rr", use_batched_encoding=False)
    assert individual(rerank_model) == pytest.approx(metrics)
    assert {role for role, text in rerank_model.calls if text.startswith("q")} == {"query"}


def test_reranking_cutoff(rerank_model):
    metrics = RerankingEvaluator(RERANK_SAMPLES[:1], at_k=1)(rerank_model)
    # Only the first document (a negative) counts: RR@1 = 0 and NDCG@1 = 0; AP ignores the cut-off.
    assert metrics == pytest.approx({"map": 0.5, "mrr@1": 0.0, "ndcg@1": 0.0})
    at_two = RerankingEvaluator(RERANK_SAMPLES[:1], at_k=2)(rerank_model)
    assert at_two["ndcg@2"] == pytest.approx((1 / log2(3)) / (1 + 1 / log2(3)))
    with pytest.raises(ValueError, match="at_k"):
        RerankingEvaluator(RERANK_SAMPLES, at_k=0)
    with pytest.raises(ValueError, match="missing"):
        RerankingEvaluator([{"query": "q", "positive": ["p"]}])


# ---------------------------------------------------------------------------------------------- paraphrase mining

# Sentences at 0, 10, 45 and 100 degrees. Mined pairs by cosine: (0,1) 10 deg, (1,2) 35, (0,2) 45, (2,3) 55,
# (1,3) 90, (0,3) 100. Duplicates: (0,1), (2,3), (0,3) -> found at ranks 1, 4 and 6.
PM_SENTENCES = {"s0": "t0", "s1": "t1", "s2": "t2", "s3": "t3"}
PM_MODEL_TABLE = {"t0": unit(0), "t1": unit(10), "t2": unit(45), "t3": unit(100)}


def test_paraphrase_mining_by_hand(tmp_path):
    evaluator = ParaphraseMiningEvaluator(
        PM_SENTENCES, duplicates_list=[("s0", "s1"), ("s3", "s2"), ("s0", "s3"), ("s0", "unknown")], name="pm"
    )
    assert evaluator.total_num_duplicates == 3
    metrics = evaluator(StubModel(PM_MODEL_TABLE), output_path=str(tmp_path))
    # AP: precision at each found duplicate (1/1, 2/4, 3/6) over the 3 duplicates.
    # F1 at rank 1: 0.5; at rank 4: 2 * 0.5 * 2/3 / (0.5 + 2/3) = 4/7; at rank 6: 2/3 -> best, the last pair.
    assert metrics == pytest.approx(
        {
            "pm_average_precision": (1 + 2 / 4 + 3 / 6) / 3,
            "pm_f1": 2 / 3,
            "pm_precision": 0.5,
            "pm_recall": 1.0,
            "pm_threshold": math.cos(math.radians(100)),
        },
        abs=1e-6,
    )
    assert evaluator.primary_metric == "pm_average_precision"
    rows = read_csv(tmp_path / "paraphrase_mining_evaluation_pm_results.csv")
    assert rows[0] == ["epoch", "steps", "precision", "recall", "f1", "threshold", "average_precision"]
    assert [float(x) for x in rows[1][2:]] == pytest.approx([0.5, 1.0, 2 / 3, math.cos(math.radians(100)), 2 / 3])


def test_paraphrase_mining_threshold_is_a_midpoint_and_unmined_pairs_count_as_missed():
    # Only (0,1) and (1,2) are mined (max_pairs=2); duplicates (0,1) and (0,3): AP = 1/2, best F1 after rank 1.
    evaluator = ParaphraseMiningEvaluator(PM_SENTENCES, duplicates_list=[("s0", "s1"), ("s0", "s3")], max_pairs=2)
    metrics = evaluator(StubModel(PM_MODEL_TABLE))
    assert metrics["average_precision"] == pytest.approx(0.5)
    assert metrics["f1"] == pytest.approx(2 * 1 * 0.5 / 1.5)
    assert metrics["threshold"] == pytest.approx((math.cos(math.radians(10)) + math.cos(math.radians(35))) / 2)


def test_paraphrase_mining_transitive_closure_and_dict_input():
    duplicates = {"s0": {"s1": True}, "s1": {"s2": True}, "s2": {"s3": False}}
    plain = ParaphraseMiningEvaluator(PM_SENTENCES, duplicates_dict=duplicates)
    assert plain.total_num_duplicates == 2
    closed = ParaphraseMiningEvaluator(PM_SENTENCES, duplicates_dict=duplicates, add_transitive_closure=True)
    assert closed.total_num_duplicates == 3  # s0, s1, s2 form one group; s3 stays apart
    metrics = closed(StubModel(PM_MODEL_TABLE))
    # Group pairs (0,1), (1,2), (0,2) are exactly the three best mined pairs: AP 1, F1 1.
    assert metrics["average_precision"] == pytest.approx(1.0) and metrics["f1"] == pytest.approx(1.0)
    assert closed.get_config_dict()["add_transitive_closure"] is True


# ---------------------------------------------------------------------------------------------- metric helpers


def test_metric_helpers_match_scikit_learn_with_ties():
    from sklearn.metrics import average_precision_score, matthews_corrcoef, ndcg_score

    rng = np.random.default_rng(0)
    for _ in range(20):
        labels = rng.integers(0, 2, 30)
        labels[0] = 1
        scores = rng.integers(0, 6, 30) / 5  # many ties
        assert _metrics.average_precision(labels, scores) == pytest.approx(average_precision_score(labels, scores))
        predictions = scores >= 0.5
        assert _metrics.matthews_corrcoef(labels, predictions) == pytest.approx(matthews_corrcoef(labels, predictions))
        for k in (1, 3, 10, 40):
            expected = ndcg_score([labels], [scores], k=k)
            assert _metrics.ndcg_at_k(labels, scores, k) == pytest.approx(expected)


def test_metric_helpers_edge_cases():
    assert _metrics.average_precision([0, 0], [0.1, 0.2]) == 0.0
    assert _metrics.matthews_corrcoef([1, 1], [1, 1]) == 0.0
    assert _metrics.ndcg_at_k([0, 0], [0.3, 0.1], 5) == 0.0
    assert _metrics.best_f1_threshold(np.array([0.3]), np.array([0])) == (0.0, 0.0, 0.0, 0.0)
    # A midpoint that rounds onto the next score falls back to the score itself.
    below = np.float32(1.0)
    above = np.nextafter(below, np.float32(2))
    accuracy, threshold = _metrics.best_accuracy_threshold(np.array([above, below]), np.array([1, 0]))
    assert accuracy == 1.0 and threshold == float(above)
