"""Evaluators on a stub model with chosen embeddings: every figure checked against a hand computation.

Pair, triplet, translation, distillation, label-accuracy and sequential evaluators, and the base class.
The retrieval-style evaluators are in test_evaluators_ranking.py.
"""

from __future__ import annotations

import csv
import math
from pathlib import Path

import numpy as np
import pytest
import torch
from scipy.stats import pearsonr, spearmanr
from torch import nn
from torch.utils.data import DataLoader

from sentence_transformers.base.evaluation.evaluator import SentenceEvaluator
from sentence_transformers.base.evaluation.sequential import SequentialEvaluator
from sentence_transformers.sentence_transformer.evaluation.binary_classification import BinaryClassificationEvaluator
from sentence_transformers.sentence_transformer.evaluation.embedding_similarity import EmbeddingSimilarityEvaluator
from sentence_transformers.sentence_transformer.evaluation.label_accuracy import LabelAccuracyEvaluator
from sentence_transformers.sentence_transformer.evaluation.mse import MSEEvaluator
from sentence_transformers.sentence_transformer.evaluation.mse_from_dataframe import MSEEvaluatorFromDataFrame
from sentence_transformers.sentence_transformer.evaluation.translation import TranslationEvaluator
from sentence_transformers.sentence_transformer.evaluation.triplet import TripletEvaluator
from sentence_transformers.sentence_transformer.model_card import SentenceTransformerModelCardData
from sentence_transformers.sentence_transformer.readers.input_example import InputExample


class StubModel:
    """Stands in for a SentenceTransformer: ``encode`` looks each text up in ``table``.

    It records every encoded text with the method used ("encode", "query", "document").
    """

    def __init__(self, table: dict[str, list[float]], similarity_fn_name: str = "cosine") -> None:
        self.table = {text: np.asarray(vector, dtype=np.float32) for text, vector in table.items()}
        self.similarity_fn_name = similarity_fn_name
        self.model_card_data: dict = {}
        self.calls: list[tuple[str, str]] = []

    def _encode(self, role, sentences, convert_to_tensor=False, convert_to_numpy=True, truncate_dim=None, **kwargs):
        self.calls += [(role, text) for text in sentences]
        array = np.stack([self.table[text] for text in sentences])
        if truncate_dim is not None:
            array = array[:, :truncate_dim]
        if kwargs.get("normalize_embeddings"):
            array = array / np.linalg.norm(array, axis=1, keepdims=True)
        if convert_to_tensor:
            return torch.from_numpy(array)
        return array if convert_to_numpy else list(torch.from_numpy(array))

    def encode(self, sentences, **kwargs):
        return self._encode("encode", sentences, **kwargs)

    def encode_query(self, sentences, **kwargs):
        return self._encode("query", sentences, **kwargs)

    def encode_document(self, sentences, **kwargs):
        return self._encode("document", sentences, **kwargs)


def unit(degrees: float) -> list[float]:
    """A 2-D unit vector at ``degrees``: the cosine of two of them is the cosine of their angle difference."""
    return [math.cos(math.radians(degrees)), math.sin(math.radians(degrees))]


def read_csv(path: Path) -> list[list[str]]:
    with open(path, newline="", encoding="utf-8") as f:
        return list(csv.reader(f))


def pairwise(a: np.ndarray, b: np.ndarray) -> dict[str, np.ndarray]:
    """The four pairwise similarities by hand (distances negated)."""
    a, b = a.astype(np.float64), b.astype(np.float64)
    cosine = (a * b).sum(1) / np.linalg.norm(a, axis=1) / np.linalg.norm(b, axis=1)
    return {
        "cosine": cosine,
        "euclidean": -np.sqrt(((a - b) ** 2).sum(1)),
        "manhattan": -np.abs(a - b).sum(1),
        "dot": (a * b).sum(1),
    }


# ---------------------------------------------------------------------------------------------- base class


def test_base_prefixes_names_converts_numbers_and_describes():
    evaluator = SentenceEvaluator()
    evaluator.primary_metric = "ap"
    metrics = evaluator.prefix_name_to_metrics({"ap": np.float32(0.5), "n": np.int64(3)}, "dev")
    assert metrics == {"dev_ap": 0.5, "dev_n": 3.0}
    assert all(type(value) is float for value in metrics.values())
    assert evaluator.primary_metric == "dev_ap"
    evaluator.prefix_name_to_metrics({"ap": 1.0}, "dev")
    assert evaluator.primary_metric == "dev_ap"  # not prefixed twice
    assert BinaryClassificationEvaluator(["a"], ["b"], [1]).description == "Binary Classification"
    assert SentenceEvaluator.describe_when(-1, -1) == ""
    assert SentenceEvaluator.describe_when(2, -1) == " after epoch 2"
    assert SentenceEvaluator.describe_when(2, 100, truncate_dim=64) == " in epoch 2 after 100 steps (truncated to 64)"


def test_base_stores_metrics_on_dict_card_and_ignores_models_without_one():
    evaluator = SentenceEvaluator()
    model = StubModel({})
    evaluator.store_metrics_in_model_card_data(model, {"x": 1.0}, epoch=1, step=5)
    assert model.model_card_data["eval_results"]["Base"] == {"epoch": 1, "step": 5, "x": 1.0}
    evaluator.store_metrics_in_model_card_data(object(), {"x": 1.0})  # no card: nothing happens, no error


def test_encode_function_rejects_unknown_role():
    with pytest.raises(ValueError, match="role"):
        SentenceEvaluator.encode_function(StubModel({}), "passage")


# ---------------------------------------------------------------------------------------------- similarity


@pytest.fixture()
def sts_case():
    rng = np.random.default_rng(0)
    table = {f"a{i}": rng.normal(size=4) for i in range(8)} | {f"b{i}": rng.normal(size=4) for i in range(8)}
    gold = [4.5, 0.2, 3.1, 2.2, 1.0, 5.0, 2.9, 0.7]
    return StubModel(table), [f"a{i}" for i in range(8)], [f"b{i}" for i in range(8)], gold


def test_embedding_similarity_matches_scipy_for_all_functions(sts_case, tmp_path):
    model, first, second, gold = sts_case
    names = ["cosine", "euclidean", "manhattan", "dot"]
    evaluator = EmbeddingSimilarityEvaluator(first, second, gold, similarity_fn_names=names, name="sts")
    metrics = evaluator(model, output_path=str(tmp_path))
    similarities = pairwise(np.stack([model.table[t] for t in first]), np.stack([model.table[t] for t in second]))
    for fn_name in names:
        assert metrics[f"sts_pearson_{fn_name}"] == pytest.approx(pearsonr(gold, similarities[fn_name])[0], abs=1e-6)
        assert metrics[f"sts_spearman_{fn_name}"] == pytest.approx(spearmanr(gold, similarities[fn_name])[0], abs=1e-6)
    assert metrics["sts_spearman_max"] == max(metrics[f"sts_spearman_{fn}"] for fn in names)
    assert metrics["sts_pearson_max"] == max(metrics[f"sts_pearson_{fn}"] for fn in names)
    assert evaluator.primary_metric == "sts_spearman_max"
    assert (
        model.model_card_data["eval_results"]["Semantic Similarity"]["sts_spearman_max"] == metrics["sts_spearman_max"]
    )
    evaluator(model, output_path=str(tmp_path), epoch=1, steps=10)
    rows = read_csv(tmp_path / "similarity_evaluation_sts_results.csv")
    assert rows[0] == ["epoch", "steps"] + [f"{fn}_{kind}" for fn in names for kind in ("pearson", "spearman")]
    assert len(rows) == 3 and rows[1][:2] == ["-1", "-1"] and rows[2][:2] == ["1", "10"]
    assert float(rows[1][3]) == pytest.approx(metrics["sts_spearman_cosine"])


def test_evaluators_of_one_kind_share_a_model_card_entry(sts_case):
    model, first, second, gold = sts_case
    model.model_card_data = SentenceTransformerModelCardData()
    EmbeddingSimilarityEvaluator(first, second, gold, name="a")(model, epoch=1, steps=4)
    EmbeddingSimilarityEvaluator(first, second, gold, name="b")(model, epoch=2, steps=8)
    entry = model.model_card_data.eval_results["Semantic Similarity"]
    assert {"a_spearman_cosine", "b_spearman_cosine"} <= set(entry) and (entry["epoch"], entry["step"]) == (2, 8)


def test_embedding_similarity_defaults_to_the_models_function(sts_case, tmp_path):
    model, first, second, gold = sts_case
    model.similarity_fn_name = "dot"
    evaluator = EmbeddingSimilarityEvaluator(first, second, gold)
    metrics = evaluator(model, output_path=str(tmp_path))
    assert list(metrics) == ["pearson_dot", "spearman_dot"]
    assert evaluator.primary_metric == "spearman_dot"
    header = read_csv(tmp_path / "similarity_evaluation_results.csv")[0]
    assert header == ["epoch", "steps", "dot_pearson", "dot_spearman"]
    main = EmbeddingSimilarityEvaluator(first, second, gold, main_similarity="manhattan")
    assert list(main(model)) == ["pearson_manhattan", "spearman_manhattan"]
    assert main.primary_metric == "spearman_manhattan"


def test_embedding_similarity_from_input_examples_and_bad_input(sts_case):
    model, first, second, gold = sts_case
    examples = [InputExample(texts=[a, b], label=g) for a, b, g in zip(first, second, gold, strict=True)]
    from_examples = EmbeddingSimilarityEvaluator.from_input_examples(examples, name="x")
    direct = EmbeddingSimilarityEvaluator(first, second, gold, name="x")
    assert from_examples(model) == direct(model)
    with pytest.raises(ValueError, match="same length"):
        EmbeddingSimilarityEvaluator(first, second[:-1], gold)
    with pytest.raises(ValueError, match="similarity_fn_names"):
        EmbeddingSimilarityEvaluator(first, second, gold, similarity_fn_names=["cos"])
    with pytest.raises(ValueError, match="precision"):
        EmbeddingSimilarityEvaluator(first, second, gold, precision="int4")


def test_embedding_similarity_truncates_and_quantizes(tiny_model, tmp_path):
    first = ["A man is playing a guitar.", "A cat sleeps.", "Two women talk.", "The fox jumps."]
    second = ["Someone plays music.", "A dog barks.", "People are talking.", "A lazy dog."]
    gold = [4.0, 1.0, 3.5, 2.0]
    truncated = EmbeddingSimilarityEvaluator(first, second, gold, truncate_dim=8)(tiny_model)
    u, v = tiny_model.encode(first)[:, :8], tiny_model.encode(second)[:, :8]
    assert truncated["spearman_cosine"] == pytest.approx(spearmanr(gold, pairwise(u, v)["cosine"])[0], abs=1e-6)
    evaluator = EmbeddingSimilarityEvaluator(first, second, gold, precision="ubinary", name="sts")
    metrics = evaluator(tiny_model, output_path=str(tmp_path))
    # ubinary: one bit per dimension (positive or not), cosine over the 0/1 vectors
    bits1 = (tiny_model.encode(first, normalize_embeddings=True) > 0).astype(np.float64)
    bits2 = (tiny_model.encode(second, normalize_embeddings=True) > 0).astype(np.float64)
    assert metrics["sts_pearson_cosine"] == pytest.approx(pearsonr(gold, pairwise(bits1, bits2)["cosine"])[0], abs=1e-6)
    assert (tmp_path / "similarity_evaluation_sts_ubinary_results.csv").is_file()
    assert set(EmbeddingSimilarityEvaluator(first, second, gold, precision="int8")(tiny_model)) == {
        "pearson_cosine",
        "spearman_cosine",
    }


def test_embedding_similarity_on_minilm_stsb_test(minilm, stsb_test):
    evaluator = EmbeddingSimilarityEvaluator.from_input_examples(
        [InputExample(texts=[a, b], label=score) for a, b, score in stsb_test], name="sts-test", batch_size=32
    )
    metrics = evaluator(minilm)
    assert metrics["sts-test_spearman_cosine"] == pytest.approx(0.8203, abs=5e-4)
    assert evaluator.primary_metric == "sts-test_spearman_cosine"


# ---------------------------------------------------------------------------------------------- binary classification

# Pairs (a_i, b_i) whose cosines are cos(angle_i): 0.9, 0.8, 0.7, 0.6, 0.3, 0.2 (approximately)
BC_COSINES = [0.9, 0.8, 0.7, 0.6, 0.3, 0.2]
BC_LABELS = [1, 1, 0, 1, 0, 0]


@pytest.fixture()
def bc_case():
    table = {f"a{i}": [1.0, 0.0] for i in range(6)}
    table |= {f"b{i}": unit(math.degrees(math.acos(c))) for i, c in enumerate(BC_COSINES)}
    return StubModel(table), [f"a{i}" for i in range(6)], [f"b{i}" for i in range(6)]


def test_binary_classification_by_hand(bc_case, tmp_path):
    model, first, second = bc_case
    names = ["cosine", "euclidean"]
    evaluator = BinaryClassificationEvaluator(first, second, BC_LABELS, name="dup", similarity_fn_names=names)
    metrics = evaluator(model, output_path=str(tmp_path))
    cos = pairwise(np.stack([model.table[t] for t in first]), np.stack([model.table[t] for t in second]))["cosine"]
    # Descending: 0.9+ 0.8+ 0.7- 0.6+ 0.3- 0.2-. Accuracy peaks at 5/6 first after 0.8 (cut between 0.8 and 0.7).
    assert metrics["dup_cosine_accuracy"] == pytest.approx(5 / 6)
    assert metrics["dup_cosine_accuracy_threshold"] == pytest.approx((cos[1] + cos[2]) / 2, abs=1e-6)
    # F1 is best after 0.6: precision 3/4, recall 1, F1 6/7; the cut lies between 0.6 and 0.3.
    assert metrics["dup_cosine_f1"] == pytest.approx(6 / 7)
    assert metrics["dup_cosine_precision"] == pytest.approx(3 / 4)
    assert metrics["dup_cosine_recall"] == pytest.approx(1.0)
    assert metrics["dup_cosine_f1_threshold"] == pytest.approx((cos[3] + cos[4]) / 2, abs=1e-6)
    assert metrics["dup_cosine_ap"] == pytest.approx((1 + 1 + 3 / 4) / 3)
    # At the F1 threshold: tp 3, fp 1, tn 2, fn 0
    assert metrics["dup_cosine_mcc"] == pytest.approx((3 * 2 - 1 * 0) / math.sqrt(4 * 3 * 3 * 2))
    # Euclidean distance sqrt(2 - 2 cos) orders the pairs the same way; thresholds are distances (lower = similar).
    distance = np.sqrt(2 - 2 * cos)
    assert metrics["dup_euclidean_accuracy"] == pytest.approx(5 / 6)
    assert metrics["dup_euclidean_accuracy_threshold"] == pytest.approx((distance[1] + distance[2]) / 2, abs=1e-6)
    assert metrics["dup_euclidean_f1_threshold"] == pytest.approx((distance[3] + distance[4]) / 2, abs=1e-6)
    assert metrics["dup_euclidean_ap"] == pytest.approx(metrics["dup_cosine_ap"])
    assert metrics["dup_max_ap"] == pytest.approx(metrics["dup_cosine_ap"])
    assert evaluator.primary_metric == "dup_max_ap"
    rows = read_csv(tmp_path / "binary_classification_evaluation_dup_results.csv")
    metric_order = ["accuracy", "accuracy_threshold", "f1", "precision", "recall", "f1_threshold", "ap", "mcc"]
    assert rows[0] == ["epoch", "steps"] + [f"{fn}_{m}" for fn in names for m in metric_order]
    assert [float(x) for x in rows[1][2:10]] == pytest.approx([metrics[f"dup_cosine_{m}"] for m in metric_order])


def test_binary_classification_ties_defaults_and_dedup(bc_case, tmp_path):
    model, first, second = bc_case
    # b1 == b2 would tie: reuse b1 for the third pair so that cosines are 0.9, 0.8, 0.8, 0.6, 0.3, 0.2
    second = [second[0], second[1], second[1], *second[3:]]
    evaluator = BinaryClassificationEvaluator(first, second, BC_LABELS)
    metrics = evaluator(model, output_path=str(tmp_path))
    assert evaluator.primary_metric == "cosine_ap"
    header = read_csv(tmp_path / "binary_classification_evaluation_results.csv")[0]
    assert header[:4] == ["epoch", "steps", "cosine_accuracy", "cosine_accuracy_threshold"] and len(header) == 10
    metric_names = ["accuracy", "accuracy_threshold", "f1", "f1_threshold", "precision", "recall", "ap", "mcc"]
    assert list(metrics) == [f"cosine_{m}" for m in metric_names]
    # Tie group {0.8+, 0.8-} counts as one cut: AP = 1 * 1/3 + (2/3) * 1/3 + (3/4) * 1/3
    assert metrics["cosine_ap"] == pytest.approx((1 + 2 / 3 + 3 / 4) / 3)
    # Accuracy: none 3/6, after 0.9 4/6, after the tie 4/6, after 0.6 5/6 (first strict improvement)
    assert metrics["cosine_accuracy"] == pytest.approx(5 / 6)
    # Each distinct text is encoded once: 6 a's share one vector but are distinct texts; b1 appears twice.
    assert len(model.calls) == len(set(first) | set(second)) == 11


def test_binary_classification_rejects_bad_labels_and_accepts_examples(bc_case):
    model, first, second = bc_case
    with pytest.raises(ValueError, match="0 or 1"):
        BinaryClassificationEvaluator(first, second, [2, 1, 0, 1, 0, 0])
    with pytest.raises(ValueError, match="same length"):
        BinaryClassificationEvaluator(first, second[:2], BC_LABELS)
    examples = [InputExample(texts=[a, b], label=y) for a, b, y in zip(first, second, BC_LABELS, strict=True)]
    assert BinaryClassificationEvaluator.from_input_examples(examples)(model)["cosine_f1"] == pytest.approx(6 / 7)


def test_binary_classification_threshold_search_helpers():
    # Everything negative is best when no cut helps: the threshold lies just above the best score.
    accuracy, threshold = BinaryClassificationEvaluator.find_best_acc_and_threshold([0.9, 0.1], [0, 0], True)
    assert accuracy == 1.0 and threshold > 0.9
    f1, precision, recall, threshold = BinaryClassificationEvaluator.find_best_f1_and_threshold(
        [0.2, 0.4, 0.9], [1, 0, 1], True
    )
    assert (f1, precision, recall) == pytest.approx((0.8, 2 / 3, 1.0)) and threshold == pytest.approx(0.2)


# ---------------------------------------------------------------------------------------------- triplets


def test_triplet_accuracy_margin_roles_and_csv(tmp_path):
    # Triplet 0: positive 10 deg away, negative 40 deg -> right for every function.
    # Triplet 1: positive 50 deg away, negative 30 deg -> wrong for every function.
    # Triplet 2: anchor [2, 0], positive [1.2, 0], negative [3, 0]: same direction (cosine tie -> wrong), dot 2.4 < 6
    # (wrong), but the positive is nearer in Euclidean and Manhattan distance (0.8 < 1 -> right).
    table = {"a0": unit(0), "p0": unit(10), "n0": unit(40), "a1": unit(0), "p1": unit(50), "n1": unit(30)}
    table |= {"a2": [2.0, 0.0], "p2": [1.2, 0.0], "n2": [3.0, 0.0]}
    model = StubModel(table)
    anchors, positives, negatives = ["a0", "a1", "a2"], ["p0", "p1", "p2"], ["n0", "n1", "n2"]
    names = ["cosine", "dot", "euclidean", "manhattan"]
    evaluator = TripletEvaluator(anchors, positives, negatives, similarity_fn_names=names, name="nli")
    metrics = evaluator(model, output_path=str(tmp_path))
    assert metrics == pytest.approx(
        {
            "nli_cosine_accuracy": 1 / 3,
            "nli_dot_accuracy": 1 / 3,
            "nli_euclidean_accuracy": 2 / 3,
            "nli_manhattan_accuracy": 2 / 3,
            "nli_max_accuracy": 2 / 3,
        }
    )
    assert evaluator.primary_metric == "nli_max_accuracy"
    assert [role for role, _ in model.calls] == ["query"] * 3 + ["document"] * 6
    rows = read_csv(tmp_path / "triplet_evaluation_nli_results.csv")
    assert rows[0] == ["epoch", "steps"] + [f"accuracy_{fn}" for fn in names] and len(rows) == 2
    # Triplet 0 wins by cos(10) - cos(40) = 0.219 in cosine: a margin of 0.1 keeps it, a margin of 0.3 drops it.
    default = TripletEvaluator(anchors, positives, negatives, margin=0.1)  # the model's own function: cosine
    assert default(model, output_path=str(tmp_path / "d"))["cosine_accuracy"] == pytest.approx(1 / 3)
    assert read_csv(tmp_path / "d" / "triplet_evaluation_results.csv")[0] == ["epoch", "steps", "accuracy_cosine"]
    strict = TripletEvaluator(anchors, positives, negatives, margin={"cosine": 0.3}, main_similarity_function="cosine")
    assert strict(model) == {"cosine_accuracy": 0.0}
    assert strict.primary_metric == "cosine_accuracy"
    assert strict.get_config_dict()["margin"]["cosine"] == 0.3


def test_triplet_bad_input():
    with pytest.raises(ValueError, match="same length"):
        TripletEvaluator(["a"], ["b"], [])
    with pytest.raises(ValueError, match="margin"):
        TripletEvaluator(["a"], ["b"], ["c"], margin={"cos": 1.0})
    with pytest.raises(ValueError, match="margin"):
        TripletEvaluator(["a"], ["b"], ["c"], margin="big")
    examples = [InputExample(texts=["a", "b", "c"])]
    assert TripletEvaluator.from_input_examples(examples).negatives == ["c"]


# ---------------------------------------------------------------------------------------------- translation


def test_translation_accuracy_both_directions(tmp_path):
    # Angles: en 0, 30, 60 and de 20, 50, 56. en0 -> de0 (20 deg) right; en1 -> de0 (10 deg) wrong; en2 -> de2 right.
    # de0 -> en1 (10 deg) wrong; de1 -> en2 (10 deg) wrong; de2 -> en2 right.
    table = {"en0": unit(0), "en1": unit(30), "en2": unit(60), "de0": unit(20), "de1": unit(50), "de2": unit(56)}
    model = StubModel(table)
    evaluator = TranslationEvaluator(["en0", "en1", "en2"], ["de0", "de1", "de2"], name="en-de")
    metrics = evaluator(model, output_path=str(tmp_path))
    assert metrics == pytest.approx(
        {"en-de_src2trg_accuracy": 2 / 3, "en-de_trg2src_accuracy": 1 / 3, "en-de_mean_accuracy": 1 / 2}
    )
    assert evaluator.primary_metric == "en-de_mean_accuracy"
    rows = read_csv(tmp_path / "translation_evaluation_en-de_results.csv")
    assert rows[0] == ["epoch", "steps", "src2trg", "trg2src"] and len(rows) == 2


def test_translation_counts_a_duplicate_target_text_as_correct():
    model = StubModel({"s0": unit(0), "s1": unit(90), "t": unit(1), "u": unit(89)})
    # Both sources translate to the same text "t": s1 is nearest to "u" (wrong) but s0 finds "t" at index 0.
    metrics = TranslationEvaluator(["s0", "s1", "s0"], ["t", "u", "t"])(model)
    # src2trg: s0 -> t (idx 0; target text equals "t") right; s1 -> u right; s0 -> t (idx 0, text "t") right
    assert metrics["src2trg_accuracy"] == 1.0
    # trg2src: t -> s0 (idx 0) right, u -> s1 right, t -> s0 (idx 0, same text as source 2) right
    assert metrics["trg2src_accuracy"] == 1.0
    with pytest.raises(ValueError, match="same length"):
        TranslationEvaluator(["a"], [])


# ---------------------------------------------------------------------------------------------- distillation


def test_mse_evaluator_with_teacher_or_precomputed(tmp_path):
    teacher = StubModel({"en0": [1.0, 2.0], "en1": [0.0, -1.0]})
    student = StubModel({"de0": [1.5, 2.0], "de1": [0.0, 0.0]})
    evaluator = MSEEvaluator(["en0", "en1"], ["de0", "de1"], teacher_model=teacher, name="x")
    metrics = evaluator(student, output_path=str(tmp_path))
    expected = (0.5**2 + 0 + 0 + 1.0**2) / 4 * 100
    assert metrics == {"x_negative_mse": pytest.approx(-expected)}
    assert evaluator.primary_metric == "x_negative_mse" and evaluator.description == "Knowledge Distillation"
    rows = read_csv(tmp_path / "mse_evaluation_x_results.csv")
    assert rows[0] == ["epoch", "steps", "MSE"] and float(rows[1][2]) == pytest.approx(expected)
    precomputed = MSEEvaluator(["en0", "en1"], ["de0", "de1"], source_embeddings=np.array([[1.0, 2.0], [0.0, -1.0]]))
    assert precomputed(student)["negative_mse"] == pytest.approx(-expected)
    with pytest.raises(ValueError, match="teacher_model"):
        MSEEvaluator(["en0"], ["de0"])
    with pytest.raises(ValueError, match="same length"):
        MSEEvaluator(["en0"], [], teacher_model=teacher)


def test_mse_from_dataframe_skips_blank_cells(tmp_path):
    teacher = StubModel({"hello": [1.0, 1.0], "bye": [0.0, 2.0]})
    student = StubModel({"hallo": [1.0, 0.0], "tschuess": [0.0, 2.0], "salut": [3.0, 1.0]})
    rows = [{"en": "hello", "de": "hallo", "fr": "salut"}, {"en": "bye", "de": "tschuess", "fr": "  "}]
    evaluator = MSEEvaluatorFromDataFrame(rows, teacher, [("en", "de"), ("en", "fr")], name="p")
    metrics = evaluator(student, output_path=str(tmp_path))
    en_de = (0 + 1 + 0 + 0) / 4 * 100  # hello/hallo differ by 1 in one dimension; bye/tschuess equal
    en_fr = (4 + 0) / 2 * 100  # only the first row: hello/salut differ by 2 in one dimension
    assert metrics == {"p_negative_mse": pytest.approx(-(en_de + en_fr) / 2)}
    csv_rows = read_csv(tmp_path / "mse_evaluation_p_results.csv")
    assert csv_rows[0] == ["epoch", "steps", "en-de", "en-fr"]
    assert [float(x) for x in csv_rows[1][2:]] == pytest.approx([en_de, en_fr])


# ---------------------------------------------------------------------------------------------- label accuracy


class TokenCountHead(nn.Module):
    """Stand-in for SoftmaxLoss: the logits say "class = (tokens of the first text + tokens of the second) % 3"."""

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.model = model
        self.seen_columns: list[int] = []

    def forward(self, features, labels=None):
        assert labels is None
        self.seen_columns.append(len(features))
        counts = sum(feature["attention_mask"].sum(dim=1) for feature in features)
        reps = [self.model(feature)["sentence_embedding"] for feature in features]
        return reps, nn.functional.one_hot(counts % 3, 3).float()


def test_label_accuracy_with_a_stand_in_softmax_head(tiny_model, tmp_path):
    pairs = [("A man plays.", "A cat sleeps on the windowsill."), ("Two women talk.", "Paris"), ("fox", "dog")]
    pairs += [("The quick brown fox jumps over the lazy dog.", "search results ranking")]
    counts = [sum(len(tiny_model.tokenize([t])["input_ids"][0]) for t in pair) for pair in pairs]
    labels = [counts[0] % 3, (counts[1] + 1) % 3, counts[2] % 3, (counts[3] + 2) % 3]  # 2 of 4 right
    examples = [InputExample(texts=list(pair), label=label) for pair, label in zip(pairs, labels, strict=True)]
    head = TokenCountHead(tiny_model)
    head.train()
    evaluator = LabelAccuracyEvaluator(DataLoader(examples, batch_size=3), name="nli", softmax_model=head)
    metrics = evaluator(tiny_model, output_path=str(tmp_path))
    assert metrics == {"nli_accuracy": 0.5}
    assert head.seen_columns == [2, 2] and head.training  # two batches of two columns; mode restored
    assert read_csv(tmp_path / "accuracy_evaluation_nli_results.csv") == [
        ["epoch", "steps", "accuracy"],
        ["-1", "-1", "0.5"],
    ]
    with pytest.raises(ValueError, match="softmax_model"):
        LabelAccuracyEvaluator(DataLoader(examples))(tiny_model)


# ---------------------------------------------------------------------------------------------- sequential


class ConstantEvaluator(SentenceEvaluator):
    def __init__(self, value: float, name: str) -> None:
        super().__init__()
        self.value, self.name, self.primary_metric = value, name, "score"

    def __call__(self, model, output_path=None, epoch=-1, steps=-1):
        return self.prefix_name_to_metrics({"other": -1.0, "score": self.value}, self.name)


def test_sequential_merges_metrics_and_combines_primary_scores():
    class FloatEvaluator(SentenceEvaluator):
        def __call__(self, model, output_path=None, epoch=-1, steps=-1):
            return 0.25

    evaluators = [ConstantEvaluator(0.5, "a"), ConstantEvaluator(0.75, "b"), FloatEvaluator()]
    sequential = SequentialEvaluator(evaluators)
    results = sequential(StubModel({}))
    assert results == {
        "a_other": -1.0,
        "a_score": 0.5,
        "b_other": -1.0,
        "b_score": 0.75,
        "evaluator_2": 0.25,
        "sequential_score": 0.25,
    }
    assert sequential.primary_metric == "sequential_score"
    mean = SequentialEvaluator(evaluators, main_score_function=lambda scores: sum(scores) / len(scores))
    assert mean(StubModel({}))["sequential_score"] == pytest.approx(0.5)
    assert SequentialEvaluator([])(StubModel({})) == {"sequential_score": 0.0}
