"""CrossEncoder evaluators on tiny score tables whose every metric is worked out by hand.

A ``ScoreTable`` stands in for the model: ``predict`` looks each (query, document) pair up in a dict, so the
ranking and every figure below are known in advance. One test per evaluator runs the real CrossEncoder too.
"""

from __future__ import annotations

import csv
import math
import warnings
from pathlib import Path

import datasets
import numpy as np
import pytest
from datasets import Dataset

from sentence_transformers.cross_encoder.evaluation import (
    CEBinaryAccuracyEvaluator,
    CEBinaryClassificationEvaluator,
    CECorrelationEvaluator,
    CEF1Evaluator,
    CERerankingEvaluator,
    CESoftmaxAccuracyEvaluator,
    CrossEncoderClassificationEvaluator,
    CrossEncoderCorrelationEvaluator,
    CrossEncoderNanoBEIREvaluator,
    CrossEncoderRerankingEvaluator,
)
from sentence_transformers.cross_encoder.evaluation.classification import f1_scores
from sentence_transformers.sentence_transformer.readers.input_example import InputExample


class ScoreTable:
    """A CrossEncoder double: ``predict`` returns the table's score of each pair and records its calls."""

    def __init__(self, table: dict[tuple[str, str], float | list[float]], num_labels: int = 1) -> None:
        self.table = table
        self.num_labels = num_labels
        self.calls: list[tuple[list[tuple[str, str]], dict]] = []
        self.model_card_data: dict = {}

    def predict(self, pairs, **kwargs) -> np.ndarray:
        pairs = [tuple(pair) for pair in pairs]
        self.calls.append((pairs, kwargs))
        return np.array([self.table[pair] for pair in pairs], dtype=np.float64)


def dcg(*ranks: int) -> float:
    """DCG of relevant documents at the given 1-based ranks."""
    return sum(1 / math.log2(rank + 1) for rank in ranks)


def read_csv(path: Path) -> list[list[str]]:
    with open(path, newline="", encoding="utf-8") as f:
        return list(csv.reader(f))


# --- classification --------------------------------------------------------------------------------------------

# Scores 0.9 0.7 0.6 0.4 0.2 with labels 1 0 1 0 0. Predicting the top n as positive:
#   accuracy n=0..5: 3/5 4/5 3/5 4/5 3/5 2/5 -> best 0.8 first at n=1, threshold (0.9 + 0.7) / 2 = 0.8
#   F1 n=1..5: 2/3, 1/2, 4/5 (P 2/3, R 1), 2/3, 4/7 -> best 0.8 at n=3, threshold (0.6 + 0.4) / 2 = 0.5
#   AP: precision at the positives 1/1 and 2/3 -> 5/6
BINARY_SCORES = [0.9, 0.7, 0.6, 0.4, 0.2]
BINARY_LABELS = [1, 0, 1, 0, 0]
BINARY_PAIRS = [["q", f"d{i}"] for i in range(5)]


def binary_model() -> ScoreTable:
    return ScoreTable({("q", f"d{i}"): score for i, score in enumerate(BINARY_SCORES)})


def test_binary_classification_metrics_by_hand(tmp_path):
    evaluator = CrossEncoderClassificationEvaluator(BINARY_PAIRS, BINARY_LABELS, name="dev")
    results = evaluator(binary_model(), str(tmp_path))
    expected = {
        "dev_accuracy": 0.8,
        "dev_accuracy_threshold": 0.8,
        "dev_f1": 0.8,
        "dev_f1_threshold": 0.5,
        "dev_precision": 2 / 3,
        "dev_recall": 1.0,
        "dev_average_precision": 5 / 6,
    }
    assert list(results) == list(expected)
    assert results == pytest.approx(expected)
    assert evaluator.primary_metric == "dev_average_precision"
    rows = read_csv(tmp_path / "CrossEncoderClassificationEvaluator_dev_results.csv")
    assert rows[0] == [
        "epoch",
        "steps",
        "Accuracy",
        "Accuracy_Threshold",
        "F1",
        "F1_Threshold",
        "Precision",
        "Recall",
        "Average_Precision",
    ]
    assert [float(value) for value in rows[1]] == pytest.approx([-1, -1, *expected.values()])


# Argmax classes 0 1 1 1 2 0 against labels 0 0 0 1 2 2 (2 tp + fp + fn = predicted + support):
#   class 0: tp 1, predicted 2, support 3 -> F1 2/5;  class 1: tp 1, predicted 3, support 1 -> 2/4
#   class 2: tp 1, predicted 1, support 2 -> 2/3
#   macro (2/5 + 1/2 + 2/3) / 3; micro = accuracy 3/6; weighted (3 * 2/5 + 1 * 1/2 + 2 * 2/3) / 6
MULTI_PREDICTED = [0, 1, 1, 1, 2, 0]
MULTI_LABELS = [0, 0, 0, 1, 2, 2]


def test_multiclass_classification_metrics_by_hand(tmp_path):
    logits = {("p", f"h{i}"): list(np.eye(3)[c] * 2 - 1) for i, c in enumerate(MULTI_PREDICTED)}
    pairs = [["p", f"h{i}"] for i in range(6)]
    evaluator = CrossEncoderClassificationEvaluator(pairs, MULTI_LABELS)
    results = evaluator(ScoreTable(logits, num_labels=3), str(tmp_path))
    expected = {
        "f1_macro": (2 / 5 + 1 / 2 + 2 / 3) / 3,
        "f1_micro": 0.5,
        "f1_weighted": (3 * 2 / 5 + 1 / 2 + 2 * 2 / 3) / 6,
    }
    assert results == pytest.approx(expected)
    assert evaluator.primary_metric == "f1_macro"
    rows = read_csv(tmp_path / "CrossEncoderClassificationEvaluator_results.csv")
    assert rows[0] == ["epoch", "steps", "Macro_F1", "Micro_F1", "Weighted_F1"]


def test_f1_scores_count_classes_only_predicted():
    # labels 0 0, predictions 0 3: class 0 F1 2/3 (tp 1, predicted 1, support 2), class 3 F1 0
    assert f1_scores(np.array([0, 0]), np.array([0, 3])) == pytest.approx((1 / 3, 1 / 2, 2 / 3))


def test_classification_settings_reach_predict_and_errors():
    model = binary_model()
    evaluator = CrossEncoderClassificationEvaluator(
        BINARY_PAIRS, BINARY_LABELS, prompt_name="query", batch_size=3, show_progress_bar=False
    )
    evaluator(model)
    assert model.calls[0][1] == {
        "batch_size": 3,
        "convert_to_numpy": True,
        "show_progress_bar": False,
        "prompt_name": "query",
    }
    with pytest.raises(ValueError, match="same length"):
        CrossEncoderClassificationEvaluator(BINARY_PAIRS, [1, 0])
    with pytest.raises(TypeError):
        CrossEncoderClassificationEvaluator(BINARY_PAIRS, BINARY_LABELS, "positional-name")  # name is keyword-only


def test_classification_csv_appends_and_write_csv_false(tmp_path):
    evaluator = CrossEncoderClassificationEvaluator(BINARY_PAIRS, BINARY_LABELS)
    evaluator(binary_model(), str(tmp_path), epoch=1, steps=10)
    evaluator(binary_model(), str(tmp_path), epoch=2)
    rows = read_csv(tmp_path / "CrossEncoderClassificationEvaluator_results.csv")
    assert [row[:2] for row in rows[1:]] == [["1", "10"], ["2", "-1"]]
    quiet = CrossEncoderClassificationEvaluator(BINARY_PAIRS, BINARY_LABELS, name="q", write_csv=False)
    quiet(binary_model(), str(tmp_path / "none"))
    assert not (tmp_path / "none").exists()


# --- correlation ----------------------------------------------------------------------------------------------

# gold 1 2 3 4, predicted 0.1 0.4 0.2 0.9: predicted ranks 1 3 2 4 -> Spearman 1 - 6 * 2 / (4 * 15) = 0.8;
# deviations (-1.5 -0.5 0.5 1.5) and (-0.3 0 -0.2 0.5) -> Pearson 1.1 / sqrt(5 * 0.38)
CORR_PAIRS = [["a", str(i)] for i in range(4)]


def corr_model() -> ScoreTable:
    return ScoreTable({("a", str(i)): score for i, score in enumerate([0.1, 0.4, 0.2, 0.9])})


def test_correlation_metrics_csv_and_primary(tmp_path):
    evaluator = CrossEncoderCorrelationEvaluator(CORR_PAIRS, [1, 2, 3, 4], name="sts")
    assert evaluator.primary_metric == "spearman"
    results = evaluator(corr_model(), str(tmp_path), epoch=0, steps=4)
    assert results == pytest.approx({"sts_pearson": 1.1 / math.sqrt(1.9), "sts_spearman": 0.8})
    assert evaluator.primary_metric == "sts_spearman"
    rows = read_csv(tmp_path / "CrossEncoderCorrelationEvaluator_sts_results.csv")
    assert rows[0] == ["epoch", "steps", "Pearson_Correlation", "Spearman_Correlation"]
    assert [float(v) for v in rows[1]] == pytest.approx([0, 4, 1.1 / math.sqrt(1.9), 0.8])


def test_correlation_from_input_examples_and_multi_output_error():
    examples = [InputExample(texts=pair, label=float(i + 1)) for i, pair in enumerate(CORR_PAIRS)]
    evaluator = CrossEncoderCorrelationEvaluator.from_input_examples(examples, name="ex")
    assert evaluator.sentence_pairs == CORR_PAIRS and evaluator.scores == [1.0, 2.0, 3.0, 4.0]
    assert evaluator(corr_model())["ex_spearman"] == pytest.approx(0.8)
    two = ScoreTable({pair: [0.0, 1.0] for pair in corr_model().table}, num_labels=2)
    with pytest.raises(ValueError, match="one score per pair"):
        CrossEncoderCorrelationEvaluator(CORR_PAIRS, [1, 2, 3, 4])(two)


# --- reranking ------------------------------------------------------------------------------------------------

# q1: p1 0.5, n1 0.9, n2 0.1 -> n1 p1 n2: RR 1/2, AP 1/2, NDCG dcg(2) / dcg(1)
# q2: p2a 0.8, p2b 0.2, n3 0.5 -> p2a n3 p2b: RR 1, AP (1 + 2/3) / 2, NDCG dcg(1, 3) / dcg(1, 2)
NEG_TABLE = {("q1", "p1"): 0.5, ("q1", "n1"): 0.9, ("q1", "n2"): 0.1}
NEG_TABLE |= {("q2", "p2a"): 0.8, ("q2", "p2b"): 0.2, ("q2", "n3"): 0.5}
NEG_SAMPLES = [
    {"query": "q1", "positive": "p1", "negative": ["n1", "n2"]},
    {"query": "q2", "positive": ["p2a", "p2b"], "negative": ["n3"]},
]


def test_reranking_with_negatives_by_hand(tmp_path):
    model = ScoreTable(NEG_TABLE)
    evaluator = CrossEncoderRerankingEvaluator(NEG_SAMPLES, name="mini")
    results = evaluator(model, str(tmp_path), epoch=1, steps=2)
    expected = {
        "mini_map": (1 / 2 + 5 / 6) / 2,
        "mini_mrr@10": (1 / 2 + 1) / 2,
        "mini_ndcg@10": (dcg(2) / dcg(1) + dcg(1, 3) / dcg(1, 2)) / 2,
    }
    assert results == pytest.approx(expected)
    assert evaluator.primary_metric == "mini_ndcg@10"
    assert len(model.calls) == 1 and len(model.calls[0][0]) == 6  # one predict call for all pairs
    assert model.calls[0][1]["batch_size"] == 64
    rows = read_csv(tmp_path / "CrossEncoderRerankingEvaluator_mini_results_@10.csv")
    assert rows[0] == ["epoch", "steps", "MAP", "MRR@10", "NDCG@10"]
    assert [float(v) for v in rows[1]] == pytest.approx([1, 2, *expected.values()])
    assert evaluator.get_config_dict() == {"at_k": 10}


def test_reranking_at_k_and_deprecated_mrr_at_k(caplog):
    # at 1 only the top document counts: q1's is n1 (RR 0, NDCG 0), q2's is p2a (RR 1, NDCG 1); AP keeps all
    expected = {"map": (1 / 2 + 5 / 6) / 2, "mrr@1": 0.5, "ndcg@1": 0.5}
    assert CrossEncoderRerankingEvaluator(NEG_SAMPLES, at_k=1)(ScoreTable(NEG_TABLE)) == pytest.approx(expected)
    evaluator = CrossEncoderRerankingEvaluator(NEG_SAMPLES, mrr_at_k=1)
    assert "mrr_at_k" in caplog.text and evaluator.at_k == 1
    assert evaluator.csv_file == "CrossEncoderRerankingEvaluator_results_@1.csv"


# Documents mode. "q": positives A, Z; the first stage gave B A C (Z missed); scores A .3, Z .9, B .5, C .1
#   base: B A C + Z -> relevant at ranks 2 and 4: RR 1/2, AP (1/2 + 2/4) / 2, NDCG dcg(2, 4) / dcg(1, 2)
#   always_rerank_positives: A Z B C -> Z B A C: RR 1, AP (1 + 2/3) / 2, NDCG dcg(1, 3) / dcg(1, 2)
#   documents as given: B A C -> B A C: RR 1/2, AP 1/2, NDCG dcg(2) / dcg(1)
# "r": positive W, first stage X Y (W missed); W .2, X .3, Y .4: base all 0
#   always_rerank_positives: W X Y -> Y X W: RR 1/3, AP 1/3, NDCG dcg(3); as given: nothing relevant -> 0
DOC_TABLE = {("q", "A"): 0.3, ("q", "Z"): 0.9, ("q", "B"): 0.5, ("q", "C"): 0.1}
DOC_TABLE |= {("r", "W"): 0.2, ("r", "X"): 0.3, ("r", "Y"): 0.4}
DOC_SAMPLES = [
    {"query": "q", "positive": ["A", "Z"], "documents": ["B", "A", "C"]},
    {"query": "r", "positive": ["W"], "documents": ["X", "Y"]},
]
BASE = {"base_map": 0.5 / 2, "base_mrr@10": 0.5 / 2, "base_ndcg@10": dcg(2, 4) / dcg(1, 2) / 2}


def test_reranking_documents_always_rerank_positives():
    model = ScoreTable(DOC_TABLE)
    evaluator = CrossEncoderRerankingEvaluator(DOC_SAMPLES)
    results = evaluator(model)
    expected = {
        "map": (5 / 6 + 1 / 3) / 2,
        "mrr@10": (1 + 1 / 3) / 2,
        "ndcg@10": (dcg(1, 3) / dcg(1, 2) + dcg(3)) / 2,
        **BASE,
    }
    assert results == pytest.approx(expected)
    assert list(results)[:3] == ["map", "mrr@10", "ndcg@10"]
    assert sorted(model.calls[0][0]) == sorted([("q", d) for d in "AZBC"] + [("r", d) for d in "WXY"])
    assert evaluator.get_config_dict() == {"at_k": 10, "always_rerank_positives": True}
    card = model.model_card_data["eval_results"]["Cross Encoder Reranking"]
    assert card["ndcg@10"] == f"{expected['ndcg@10']:.4f} ({expected['ndcg@10'] - BASE['base_ndcg@10']:+.4f})"


def test_reranking_documents_as_given():
    model = ScoreTable(DOC_TABLE)
    evaluator = CrossEncoderRerankingEvaluator(DOC_SAMPLES, always_rerank_positives=False, name="d")
    results = evaluator(model)
    expected = {"d_map": 1 / 4, "d_mrr@10": 1 / 4, "d_ndcg@10": dcg(2) / dcg(1) / 2}
    expected |= {f"d_{key}": value for key, value in BASE.items()}
    assert results == pytest.approx(expected)
    assert model.calls[0][0] == [("q", "B"), ("q", "A"), ("q", "C")]  # "r" has nothing relevant: not scored
    assert evaluator.get_config_dict() == {"at_k": 10, "always_rerank_positives": False}


def test_reranking_sample_checks_and_dict_samples():
    with pytest.raises(ValueError, match="'query'"):
        CrossEncoderRerankingEvaluator([{"positive": ["a"], "negative": ["b"]}])(ScoreTable({}))
    with pytest.raises(ValueError, match="'positive'"):
        CrossEncoderRerankingEvaluator([{"query": "q", "negative": ["b"]}])(ScoreTable({}))
    both = {"query": "q", "positive": ["a"], "negative": ["b"], "documents": ["a"]}
    with pytest.raises(ValueError, match="exactly one of 'negative' and 'documents'"):
        CrossEncoderRerankingEvaluator([both])(ScoreTable({}))
    evaluator = CrossEncoderRerankingEvaluator(dict(enumerate(NEG_SAMPLES)))
    assert evaluator.samples == NEG_SAMPLES
    assert evaluator(ScoreTable(NEG_TABLE))["mrr@10"] == pytest.approx(0.75)


# --- deprecated names -----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("cls", "replacement", "args", "message"),
    [
        (CEBinaryAccuracyEvaluator, CrossEncoderClassificationEvaluator, (BINARY_PAIRS, BINARY_LABELS), "general"),
        (
            CEBinaryClassificationEvaluator,
            CrossEncoderClassificationEvaluator,
            (BINARY_PAIRS, BINARY_LABELS),
            "general",
        ),
        (CEF1Evaluator, CrossEncoderClassificationEvaluator, (BINARY_PAIRS, BINARY_LABELS), "general"),
        (CESoftmaxAccuracyEvaluator, CrossEncoderClassificationEvaluator, (BINARY_PAIRS, BINARY_LABELS), "general"),
        (CECorrelationEvaluator, CrossEncoderCorrelationEvaluator, (CORR_PAIRS, [1, 2, 3, 4]), "renamed"),
        (CERerankingEvaluator, CrossEncoderRerankingEvaluator, (NEG_SAMPLES,), "renamed"),
    ],
)
def test_deprecated_names_warn_and_work(cls, replacement, args, message):
    with pytest.warns(DeprecationWarning, match=message) as record:
        evaluator = cls(*args)
    assert replacement.__name__ in str(record[0].message)
    assert isinstance(evaluator, replacement)


def test_deprecated_descriptions_read_as_cross_encoder():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        assert CEBinaryAccuracyEvaluator(BINARY_PAIRS, BINARY_LABELS).description == "Cross Encoder Binary Accuracy"
        assert CEF1Evaluator(BINARY_PAIRS, BINARY_LABELS).description == "Cross Encoder F1"
        assert CERerankingEvaluator(NEG_SAMPLES).description == "Cross Encoder Reranking"
    assert CrossEncoderRerankingEvaluator(NEG_SAMPLES).description == "Cross Encoder Reranking"


def test_deprecated_classification_from_input_examples_and_old_kwargs():
    examples = [InputExample(texts=pair, label=label) for pair, label in zip(BINARY_PAIRS, BINARY_LABELS, strict=True)]
    with pytest.warns(DeprecationWarning):
        evaluator = CEBinaryAccuracyEvaluator.from_input_examples(examples, name="old", threshold=0.5)
    assert evaluator.sentence_pairs == BINARY_PAIRS
    assert evaluator(binary_model())["old_accuracy"] == pytest.approx(0.8)


# --- NanoBEIR -------------------------------------------------------------------------------------------------

# Two fake NanoBEIR datasets. NanoMSMARCO: query m1 judges d1 and d4; BM25 ranked d2 d1 d3 (d4 missed).
# Model scores (by document): d1 .2, d2 .6, d3 .1, d4 .9.
#   base (d2 d1 d3 + d4): relevant at 2, 4 -> RR 1/2, AP (1/2 + 2/4) / 2, NDCG dcg(2, 4) / dcg(1, 2)
#   reranked d1 d4 d2 d3 -> d4 d2 d1 d3: RR 1, AP (1 + 2/3) / 2, NDCG dcg(1, 3) / dcg(1, 2)
# NanoNQ: query n1 judges e2; BM25 ranked e1 e2; scores e1 .7, e2 .3
#   base: RR 1/2, AP 1/2, NDCG dcg(2); reranked e2 e1 -> e1 e2: the same
NANO = {
    "NanoMSMARCO": ({"d1": 0.2, "d2": 0.6, "d3": 0.1, "d4": 0.9}, "m1", ["d1", "d4"], ["d2", "d1", "d3"]),
    "NanoNQ": ({"e1": 0.7, "e2": 0.3}, "n1", ["e2"], ["e1", "e2"]),
}


def doc_text(doc_id: str) -> str:
    return f"text of {doc_id}"


@pytest.fixture()
def hub(monkeypatch) -> list[tuple]:
    """Serve NANO as any hub dataset id; unknown splits fail like a missing one."""
    calls: list[tuple] = []

    def load_dataset(path, name=None, split=None, **kwargs):
        calls.append((path, name, split))
        if split not in NANO:
            raise FileNotFoundError(f"Unknown split {split!r}")
        docs, query, positives, bm25 = NANO[split]
        if name == "corpus":
            return Dataset.from_dict({"_id": list(docs), "text": [doc_text(d) for d in docs]})
        if name == "queries":
            return Dataset.from_dict({"_id": [query], "text": [f"query {query}"]})
        if name == "qrels":
            return Dataset.from_dict({"query-id": [query] * len(positives), "corpus-id": positives})
        return Dataset.from_dict({"query-id": [query], "corpus-ids": [bm25]})

    monkeypatch.setattr(datasets, "load_dataset", load_dataset)
    return calls


def nano_model() -> ScoreTable:
    table = {}
    for docs, query, _, _ in NANO.values():
        table |= {(f"query {query}", doc_text(doc)): score for doc, score in docs.items()}
    return ScoreTable(table)


MSMARCO = {
    "map": 5 / 6,
    "mrr@10": 1.0,
    "ndcg@10": dcg(1, 3) / dcg(1, 2),
    "base_map": 1 / 2,
    "base_mrr@10": 1 / 2,
    "base_ndcg@10": dcg(2, 4) / dcg(1, 2),
}
NQ = {"map": 1 / 2, "mrr@10": 1 / 2, "ndcg@10": dcg(2), "base_map": 1 / 2, "base_mrr@10": 1 / 2}
NQ |= {"base_ndcg@10": dcg(2)}


def test_nano_beir_per_dataset_and_aggregate_by_hand(hub, tmp_path):
    evaluator = CrossEncoderNanoBEIREvaluator(["msmarco", "NQ"])
    assert hub == []  # the datasets load at the first use
    model = nano_model()
    results = evaluator(model, str(tmp_path))
    expected = {f"NanoMSMARCO_R100_{key}": value for key, value in MSMARCO.items()}
    expected |= {f"NanoNQ_R100_{key}": value for key, value in NQ.items()}
    expected |= {f"NanoBEIR_R100_mean_{key}": (MSMARCO[key] + NQ[key]) / 2 for key in MSMARCO}
    assert results == pytest.approx(expected)
    assert evaluator.primary_metric == "NanoBEIR_R100_mean_ndcg@10"
    assert {call[1] for call in hub} == {"corpus", "queries", "qrels", "bm25"}
    assert {call[0] for call in hub} == {"sentence-transformers/NanoBEIR-en"}
    rows = read_csv(tmp_path / "NanoBEIR_evaluation_mean_results.csv")
    assert rows[0] == ["epoch", "steps", "MAP", "MRR@10", "NDCG@10"]
    mean = [(MSMARCO[key] + NQ[key]) / 2 for key in ("map", "mrr@10", "ndcg@10")]
    assert [float(v) for v in rows[1]] == pytest.approx([-1, -1, *mean])
    assert (tmp_path / "CrossEncoderRerankingEvaluator_NanoMSMARCO_R100_results_@10.csv").exists()
    card = model.model_card_data["eval_results"]["Cross Encoder Nano BEIR"]
    assert card["NanoBEIR_R100_mean_map"] == f"{mean[0]:.4f} ({mean[0] - 1 / 2:+.4f})"


def test_nano_beir_rerank_k_at_k_aggregate_and_settings(hub):
    # rerank_k 1: MSMARCO reranks d1 d4 (positives) + d2 -> d4 d2 d1; its base (d2 alone) holds no positive: 0
    # at_k 1: only the top document: MSMARCO d4 relevant (1), NQ e1 not (0)
    evaluator = CrossEncoderNanoBEIREvaluator(
        ["msmarco", "nq"],
        dataset_id="someone/NanoBEIR-xx",
        rerank_k=1,
        at_k=1,
        aggregate_fn=np.max,
        aggregate_key="max",
        batch_size=7,
        prompt_name="rerank",
    )
    model = nano_model()
    results = evaluator(model)
    assert evaluator.name == "NanoBEIR_R1_max"
    assert evaluator.primary_metric == "NanoBEIR_R1_max_ndcg@1"
    assert results["NanoMSMARCO_R1_map"] == pytest.approx((1 + 2 / 3) / 2)
    assert results["NanoMSMARCO_R1_base_map"] == 0.0
    assert results["NanoMSMARCO_R1_ndcg@1"] == 1.0 and results["NanoNQ_R1_ndcg@1"] == 0.0
    assert results["NanoBEIR_R1_max_ndcg@1"] == 1.0
    assert {call[0] for call in hub} == {"someone/NanoBEIR-xx"}
    assert all(call[1]["batch_size"] == 7 and call[1]["prompt_name"] == "rerank" for call in model.calls)
    assert evaluator.get_config_dict() == {
        "dataset_names": ["msmarco", "nq"],
        "dataset_id": "someone/NanoBEIR-xx",
        "rerank_k": 1,
        "at_k": 1,
        "always_rerank_positives": True,
    }


def test_nano_beir_default_names_and_errors(hub, monkeypatch):
    default = CrossEncoderNanoBEIREvaluator()
    assert "arguana" not in default.dataset_names and "touche2020" not in default.dataset_names
    assert len(default.dataset_names) == 11
    with pytest.raises(ValueError, match="cannot be empty"):
        CrossEncoderNanoBEIREvaluator([])
    with pytest.raises(ValueError, match=r"\['nope'\] are not valid NanoBEIR datasets"):
        CrossEncoderNanoBEIREvaluator(["msmarco", "nope"])
    with pytest.raises(ValueError, match="'scifact'.*'NanoSciFact'"):
        CrossEncoderNanoBEIREvaluator(["scifact"]).evaluators  # noqa: B018 - the property loads
    monkeypatch.setattr(datasets, "load_dataset", lambda *args, **kwargs: Dataset.from_dict({"_id": ["a"]}))
    with pytest.raises(ValueError, match=r"lacks the column\(s\) \['text'\]"):
        CrossEncoderNanoBEIREvaluator(["nq"]).evaluators  # noqa: B018


# --- the real CrossEncoder (tiny BERT, fresh seeded head) -------------------------------------------------------


@pytest.fixture()
def cross_encoder(tiny_bert_dir):
    import torch

    from sentence_transformers.cross_encoder import CrossEncoder

    torch.manual_seed(0)
    return CrossEncoder(str(tiny_bert_dir), num_labels=1, device="cpu")


def brute_force_ranking(relevant: list[int], scores: np.ndarray, k: int) -> tuple[float, float, float]:
    """(AP, RR@k, NDCG@k) by the textbook definitions, for scores without ties."""
    order = sorted(range(len(scores)), key=lambda i: -scores[i])
    ranked = [relevant[i] for i in order]
    hits = [rank for rank, rel in enumerate(ranked, start=1) if rel]
    ap = sum(n / rank for n, rank in enumerate(hits, start=1)) / sum(relevant)
    rr = 1 / hits[0] if hits and hits[0] <= k else 0.0
    ndcg = dcg(*[rank for rank in hits if rank <= k]) / dcg(*range(1, min(sum(relevant), k) + 1))
    return ap, rr, ndcg


def test_real_cross_encoder_reranking_and_classification(cross_encoder, tmp_path):
    samples = [
        {"query": "what is a cat", "positive": ["a cat is an animal"], "negative": ["paris", "the sun", "blue"]},
        {"query": "capital of france", "positive": ["paris", "the city of paris"], "negative": ["a dog", "tea"]},
    ]
    evaluator = CrossEncoderRerankingEvaluator(samples, at_k=2, name="real")
    results = evaluator(cross_encoder, str(tmp_path))
    per_sample = []
    for sample in samples:
        docs = sample["positive"] + sample["negative"]
        scores = cross_encoder.predict([[sample["query"], doc] for doc in docs])
        per_sample.append(brute_force_ranking([1] * len(sample["positive"]) + [0] * 3, scores, 2))
    ap, rr, ndcg = np.mean(per_sample, axis=0)
    assert results == pytest.approx({"real_map": ap, "real_mrr@2": rr, "real_ndcg@2": ndcg})
    assert evaluator.primary_metric == "real_ndcg@2"

    pairs = [[s["query"], doc] for s in samples for doc in s["positive"] + s["negative"]]
    labels = [1, 0, 0, 0, 1, 1, 0, 0]
    scores = cross_encoder.predict(pairs)
    classification = CrossEncoderClassificationEvaluator(pairs, labels)(cross_encoder)
    ranked = [labels[i] for i in np.argsort(-scores)]
    hits = [rank for rank, rel in enumerate(ranked, start=1) if rel]
    assert classification["average_precision"] == pytest.approx(np.mean([n / r for n, r in enumerate(hits, 1)]))
    best_accuracy = max((sum(ranked[:n]) + (len(ranked) - n - sum(ranked[n:]))) / 8 for n in range(9))
    assert classification["accuracy"] == pytest.approx(best_accuracy)


def test_real_cross_encoder_correlation(cross_encoder):
    pairs = [["a man eats", "a man is eating"], ["a man eats", "a plane flies"], ["kids play", "children play"]]
    pairs += [["it rains", "the weather is wet"], ["a dog barks", "stocks fell"]]
    gold = [4.8, 0.2, 4.5, 3.0, 0.0]
    results = CrossEncoderCorrelationEvaluator(pairs, gold)(cross_encoder)
    scores = cross_encoder.predict(pairs)
    assert results["pearson"] == pytest.approx(np.corrcoef(gold, scores)[0, 1])
    gold_ranks, score_ranks = np.argsort(np.argsort(gold)), np.argsort(np.argsort(scores))
    assert results["spearman"] == pytest.approx(np.corrcoef(gold_ranks, score_ranks)[0, 1])


def test_real_multi_label_cross_encoder_classification(tiny_bert_dir):
    import torch
    from sklearn.metrics import f1_score

    from sentence_transformers.cross_encoder import CrossEncoder

    torch.manual_seed(1)
    model = CrossEncoder(str(tiny_bert_dir), num_labels=3, device="cpu")
    pairs = [[f"premise {i}", f"hypothesis {i * 7 % 5}"] for i in range(12)]
    labels = [i % 3 for i in range(12)]
    results = CrossEncoderClassificationEvaluator(pairs, labels, name="nli")(model)
    predicted = model.predict(pairs).argmax(axis=1)
    expected = {f"nli_f1_{avg}": f1_score(labels, predicted, average=avg) for avg in ("macro", "micro", "weighted")}
    assert results == pytest.approx(expected)
