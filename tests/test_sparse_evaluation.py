"""The sparse evaluators (sentence_transformers.sparse_encoder.evaluation).

Metrics are checked against hand computations from the model's own embeddings (a tiny SPLADE model), and the
sparsity figures against non-zeros counted by hand; a stand-in model with chosen sparse vectors pins the figures whose
values are known exactly (active dims, FLOPS). ReciprocalRankFusionEvaluator is checked on rankings fused by hand.
"""

from __future__ import annotations

import csv
import json
import math
from pathlib import Path

import datasets
import numpy as np
import pytest
import torch
from datasets import Dataset
from scipy.stats import pearsonr, spearmanr

from sentence_transformers.sparse_encoder import SparseEncoder
from sentence_transformers.sparse_encoder import evaluation as sparse_evaluation
from sentence_transformers.sparse_encoder.evaluation import (
    ReciprocalRankFusionEvaluator,
    SparseBinaryClassificationEvaluator,
    SparseEmbeddingSimilarityEvaluator,
    SparseInformationRetrievalEvaluator,
    SparseMSEEvaluator,
    SparseNanoBEIREvaluator,
    SparseRerankingEvaluator,
    SparseTranslationEvaluator,
    SparseTripletEvaluator,
)
from sentence_transformers.util.similarity import dot_score

TEXTS = [
    "The quick brown fox jumps over the lazy dog.",
    "A man is playing a guitar on the street.",
    "Two women are sitting at a table and talking.",
    "What is the capital of France?",
    "Paris is the capital of France.",
    "A cat sleeps on the warm windowsill.",
    "search results ranking retrieval",
    "the lazy dog sleeps",
]


# Most texts activate 84 to 110 of the tiny model's 113 dimensions: a cap of 105 truncates some embeddings and leaves
# others as they are, so the sparsity figures differ from text to text.
K = 105


@pytest.fixture(scope="module")
def model(tiny_mlm_dir: Path) -> SparseEncoder:
    return SparseEncoder(str(tiny_mlm_dir), device="cpu")


def dense(model, texts, role: str | None = None, k: int | None = None) -> np.ndarray:
    """The model's embeddings of ``texts`` as a float64 array (encode / encode_query / encode_document)."""
    encode = {None: model.encode, "query": model.encode_query, "document": model.encode_document}[role]
    embeddings = encode(list(texts), max_active_dims=k, convert_to_sparse_tensor=True)
    return embeddings.to_dense().double().numpy()


def active(embeddings: np.ndarray) -> float:
    """Mean number of non-zero dimensions per row, counted by hand."""
    return float(np.mean([np.count_nonzero(row) for row in embeddings]))


def ratio(embeddings: np.ndarray) -> float:
    return 1 - active(embeddings) / embeddings.shape[1]


def read_csv(path: Path) -> list[list[str]]:
    with open(path, newline="", encoding="utf-8") as f:
        return list(csv.reader(f))


def cosine(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return (a * b).sum(1) / np.linalg.norm(a, axis=1) / np.linalg.norm(b, axis=1)


def cosine_matrix(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    a = a / np.linalg.norm(a, axis=1, keepdims=True)
    b = b / np.linalg.norm(b, axis=1, keepdims=True)
    return a @ b.T


class FakeSparse:
    """A SparseEncoder stand-in: each text maps to a chosen vector; encode returns it as a sparse COO tensor."""

    similarity_fn_name = "dot"

    def __init__(self, table: dict[str, list[float]]) -> None:
        self.table = {text: torch.tensor(vector, dtype=torch.float32) for text, vector in table.items()}
        self.calls: list[tuple[str, list[str], int | None]] = []
        self.model_card_data = None

    def _encode(
        self,
        role,
        inputs,
        prompt_name=None,
        prompt=None,
        batch_size=32,
        show_progress_bar=None,
        convert_to_tensor=True,
        convert_to_sparse_tensor=True,
        save_to_cpu=False,
        max_active_dims=None,
        **kwargs,
    ):
        self.calls.append((role, list(inputs), max_active_dims))
        embeddings = torch.stack([self.table[text] for text in inputs])
        if max_active_dims is not None:
            top = embeddings.topk(max_active_dims, dim=1).indices
            embeddings = torch.zeros_like(embeddings).scatter(1, top, embeddings.gather(1, top))
        if convert_to_sparse_tensor:
            embeddings = embeddings.to_sparse()
        return embeddings if convert_to_tensor else list(embeddings.unbind(0))

    def encode(self, inputs, **kwargs):
        return self._encode("encode", inputs, **kwargs)

    def encode_query(self, inputs, **kwargs):
        return self._encode("query", inputs, **kwargs)

    def encode_document(self, inputs, **kwargs):
        return self._encode("document", inputs, **kwargs)

    def similarity(self, a, b):
        return dot_score(a, b)

    @staticmethod
    def sparsity(embeddings: torch.Tensor) -> dict[str, float]:
        values = embeddings.to_dense() if embeddings.is_sparse else embeddings
        mean_active = (values != 0).sum(dim=1).double().mean().item()
        return {"active_dims": mean_active, "sparsity_ratio": 1 - mean_active / values.shape[1]}


# ------------------------------------------------------------------------------------------------ package


def test_exports_upstreams_names():
    assert sorted(sparse_evaluation.__all__) == sorted(
        [
            "SparseEmbeddingSimilarityEvaluator",
            "SparseInformationRetrievalEvaluator",
            "SparseBinaryClassificationEvaluator",
            "SparseMSEEvaluator",
            "SparseNanoBEIREvaluator",
            "SparseTripletEvaluator",
            "SparseTranslationEvaluator",
            "SparseRerankingEvaluator",
            "ReciprocalRankFusionEvaluator",
        ]
    )
    modules = {getattr(sparse_evaluation, name).__module__ for name in sparse_evaluation.__all__}
    assert len(modules) == 9  # one module per evaluator
    assert all(module.startswith("sentence_transformers.sparse_encoder.evaluation.") for module in modules)
    assert SparseNanoBEIREvaluator.information_retrieval_class is SparseInformationRetrievalEvaluator


def test_invalid_max_active_dims_and_dense_models_are_refused(model):
    for bad in (0, -3, 2.5, True):
        with pytest.raises(ValueError, match="max_active_dims"):
            SparseEmbeddingSimilarityEvaluator(["a"], ["b"], [1.0], max_active_dims=bad)

    class DenseModel:
        similarity_fn_name = "cosine"

        def encode(self, sentences, **kwargs):
            return np.ones((len(sentences), 3), dtype=np.float32)

    evaluator = SparseTranslationEvaluator(TEXTS[:2], TEXTS[2:4])
    with pytest.raises(TypeError, match="SparseEncoder"):
        evaluator(DenseModel())


# ------------------------------------------------------------------------------------------ pair evaluators


def test_embedding_similarity_by_hand(model, tmp_path):
    s1, s2, gold = TEXTS[:4], TEXTS[4:], [0.1, 0.5, 0.2, 0.9]
    fns = ["cosine", "dot", "euclidean", "manhattan"]
    evaluator = SparseEmbeddingSimilarityEvaluator(s1, s2, gold, similarity_fn_names=fns, name="sts", max_active_dims=K)
    metrics = evaluator(model, output_path=str(tmp_path))

    a, b = dense(model, s1, k=K), dense(model, s2, k=K)
    similarities = {
        "cosine": cosine(a, b),
        "dot": (a * b).sum(1),
        "euclidean": -np.sqrt(((a - b) ** 2).sum(1)),
        "manhattan": -np.abs(a - b).sum(1),
    }
    for fn in fns:
        assert metrics[f"sts_pearson_{fn}"] == pytest.approx(pearsonr(gold, similarities[fn])[0], abs=1e-5)
        assert metrics[f"sts_spearman_{fn}"] == pytest.approx(spearmanr(gold, similarities[fn])[0], abs=1e-5)
    assert max(np.count_nonzero(row) for row in np.concatenate([a, b])) == K
    assert metrics["sts_active_dims"] == pytest.approx((active(a) + active(b)) / 2)
    assert metrics["sts_sparsity_ratio"] == pytest.approx((ratio(a) + ratio(b)) / 2)
    assert evaluator.primary_metric == "sts_spearman_max"
    assert evaluator.get_config_dict() == {"max_active_dims": K}
    assert evaluator.description == "Semantic Similarity"

    evaluator(model, output_path=str(tmp_path), epoch=1, steps=5)
    rows = read_csv(tmp_path / "similarity_evaluation_sts_results.csv")
    headers = ["epoch", "steps"] + [f"{fn}_{kind}" for fn in fns for kind in ("pearson", "spearman")]
    assert rows[0] == headers + ["active_dims", "sparsity_ratio"]
    assert len(rows) == 3 and all(len(row) == len(rows[0]) for row in rows)
    assert rows[2][:2] == ["1", "5"]
    assert float(rows[2][-2]) == pytest.approx(metrics["sts_active_dims"])
    assert float(rows[2][2]) == pytest.approx(metrics["sts_pearson_cosine"])


def test_embedding_similarity_defaults_to_the_models_dot(model):
    evaluator = SparseEmbeddingSimilarityEvaluator(TEXTS[:3], TEXTS[3:6], [0.3, 0.1, 0.8])
    metrics = evaluator(model)
    assert set(metrics) == {"pearson_dot", "spearman_dot", "active_dims", "sparsity_ratio"}
    assert evaluator.primary_metric == "spearman_dot"
    a, b = dense(model, TEXTS[:3]), dense(model, TEXTS[3:6])
    assert metrics["spearman_dot"] == pytest.approx(spearmanr([0.3, 0.1, 0.8], (a * b).sum(1))[0], abs=1e-6)
    assert evaluator.csv_headers[-2:] == ["active_dims", "sparsity_ratio"]


def test_binary_classification_by_hand(model, tmp_path):
    # TEXTS[0] and TEXTS[1] appear twice: the sparsity counts each distinct sentence once
    s1 = [TEXTS[0], TEXTS[1], TEXTS[2], TEXTS[3], TEXTS[0]]
    s2 = [TEXTS[7], TEXTS[4], TEXTS[5], TEXTS[4], TEXTS[1]]
    labels = [1, 0, 0, 1, 0]
    evaluator = SparseBinaryClassificationEvaluator(s1, s2, labels, name="dup", max_active_dims=K)
    metrics = evaluator(model, output_path=str(tmp_path))

    a, b = dense(model, s1, k=K), dense(model, s2, k=K)
    scores = (a * b).sum(1)
    candidates = [math.inf, *scores]
    accuracy = max(np.mean((scores >= t) == np.array(labels, dtype=bool)) for t in candidates)
    order = np.argsort(-scores)
    hits = np.array(labels)[order]
    ap = np.sum([hits[: i + 1].mean() for i in range(len(hits)) if hits[i]]) / sum(labels)
    assert metrics["dup_dot_accuracy"] == pytest.approx(accuracy)
    assert metrics["dup_dot_ap"] == pytest.approx(ap)
    unique = dense(model, list(dict.fromkeys(s1 + s2)), k=K)
    assert metrics["dup_active_dims"] == pytest.approx(active(unique))
    assert metrics["dup_sparsity_ratio"] == pytest.approx(ratio(unique))
    assert evaluator.primary_metric == "dup_dot_ap"

    rows = read_csv(tmp_path / "binary_classification_evaluation_dup_results.csv")
    assert rows[0][-2:] == ["active_dims", "sparsity_ratio"] and rows[0][2] == "dot_accuracy"
    assert float(rows[1][-2]) == pytest.approx(metrics["dup_active_dims"])


def test_mse_by_hand(model, tmp_path):
    evaluator = SparseMSEEvaluator(TEXTS[:4], TEXTS[4:], teacher_model=model, name="distill", max_active_dims=K)
    metrics = evaluator(model, output_path=str(tmp_path))
    teacher, student = dense(model, TEXTS[:4], k=K), dense(model, TEXTS[4:], k=K)
    assert metrics["distill_negative_mse"] == pytest.approx(-((teacher - student) ** 2).mean() * 100, rel=1e-5)
    assert metrics["distill_active_dims"] == pytest.approx(active(student))  # the student's only
    assert evaluator.primary_metric == "distill_negative_mse"
    assert read_csv(tmp_path / "mse_evaluation_distill_results.csv")[0] == [
        "epoch",
        "steps",
        "MSE",
        "active_dims",
        "sparsity_ratio",
    ]


def test_triplet_by_hand_with_sparsity_per_role(model, tmp_path):
    anchors, positives, negatives = TEXTS[:3], TEXTS[3:6], TEXTS[5:8]
    evaluator = SparseTripletEvaluator(
        anchors, positives, negatives, similarity_fn_names=["cosine", "dot"], margin=0.05, name="tri"
    )
    metrics = evaluator(model, output_path=str(tmp_path))
    a = dense(model, anchors, "query")
    p, n = dense(model, positives, "document"), dense(model, negatives, "document")
    assert metrics["tri_cosine_accuracy"] == pytest.approx(np.mean(cosine(a, p) > cosine(a, n) + 0.05))
    assert metrics["tri_dot_accuracy"] == pytest.approx(np.mean((a * p).sum(1) > (a * n).sum(1) + 0.05))
    for role, embeddings in (("anchor", a), ("positive", p), ("negative", n)):
        assert metrics[f"tri_{role}_active_dims"] == pytest.approx(active(embeddings))
        assert metrics[f"tri_{role}_sparsity_ratio"] == pytest.approx(ratio(embeddings))
    assert evaluator.primary_metric == "tri_max_accuracy"
    header = read_csv(tmp_path / "triplet_evaluation_tri_results.csv")[0]
    assert header == ["epoch", "steps", "accuracy_cosine", "accuracy_dot"] + [
        f"{role}_{figure}"
        for role in ("anchor", "positive", "negative")
        for figure in ("active_dims", "sparsity_ratio")
    ]


def test_triplet_roles_use_encode_query_and_encode_document():
    table = {"a": [1.0, 0, 0], "p": [1.0, 1.0, 0], "n": [0, 1.0, 1.0]}
    fake = FakeSparse(table)
    metrics = SparseTripletEvaluator(["a"], ["p"], ["n"], max_active_dims=2)(fake)
    assert [(role, texts) for role, texts, _ in fake.calls] == [
        ("query", ["a"]),
        ("document", ["p"]),
        ("document", ["n"]),
    ]
    assert all(k == 2 for _, _, k in fake.calls)
    assert metrics == {
        "dot_accuracy": 1.0,
        "anchor_active_dims": 1.0,
        "anchor_sparsity_ratio": pytest.approx(2 / 3),
        "positive_active_dims": 2.0,
        "positive_sparsity_ratio": pytest.approx(1 / 3),
        "negative_active_dims": 2.0,
        "negative_sparsity_ratio": pytest.approx(1 / 3),
    }


def test_translation_by_hand(model, tmp_path):
    source, target = TEXTS[:4], [TEXTS[0], TEXTS[4], TEXTS[2], TEXTS[7]]
    evaluator = SparseTranslationEvaluator(source, target, name="tr", max_active_dims=K)
    metrics = evaluator(model, output_path=str(tmp_path))
    s, t = dense(model, source, k=K), dense(model, target, k=K)
    matrix = cosine_matrix(s, t)
    src2trg = np.mean([target[j] == target[i] for i, j in enumerate(matrix.argmax(1))])
    trg2src = np.mean([source[j] == source[i] for i, j in enumerate(matrix.T.argmax(1))])
    assert metrics["tr_src2trg_accuracy"] == pytest.approx(src2trg)
    assert metrics["tr_trg2src_accuracy"] == pytest.approx(trg2src)
    assert metrics["tr_mean_accuracy"] == pytest.approx((src2trg + trg2src) / 2)
    assert metrics["tr_active_dims"] == pytest.approx((active(s) + active(t)) / 2)
    assert evaluator.primary_metric == "tr_mean_accuracy"
    rows = read_csv(tmp_path / "translation_evaluation_tr_results.csv")
    assert rows[0] == ["epoch", "steps", "src2trg", "trg2src", "active_dims", "sparsity_ratio"]
    assert float(rows[1][5]) == pytest.approx(metrics["tr_sparsity_ratio"])


# --------------------------------------------------------------------------------------- ranking evaluators


def reranking_by_hand(query: np.ndarray, docs: np.ndarray, num_positives: int, k: int) -> tuple[float, float, float]:
    """(AP, MRR@k, NDCG@k) of one sample by cosine, its first ``num_positives`` documents relevant (no ties)."""
    scores = cosine_matrix(query[None], docs)[0]
    relevant = np.arange(len(docs)) < num_positives
    ranked = relevant[np.argsort(-scores)]
    ap = np.sum([ranked[: i + 1].mean() for i in range(len(ranked)) if ranked[i]]) / num_positives
    first = np.flatnonzero(ranked[:k])
    mrr = 1 / (first[0] + 1) if len(first) else 0.0
    dcg = sum(1 / math.log2(i + 2) for i in range(min(k, len(ranked))) if ranked[i])
    ideal = sum(1 / math.log2(i + 2) for i in range(min(k, num_positives)))
    return ap, mrr, dcg / ideal


def test_reranking_by_hand_batched_and_one_by_one(model, tmp_path):
    samples = [
        {"query": TEXTS[0], "positive": [TEXTS[7]], "negative": [TEXTS[1], TEXTS[2]]},
        {"query": TEXTS[3], "positive": [TEXTS[4], TEXTS[6]], "negative": [TEXTS[5], TEXTS[1]]},
    ]
    expected, query_counts, doc_counts = [], [], []
    for sample in samples:
        negatives = [sample["negative"]] if isinstance(sample["negative"], str) else sample["negative"]
        query = dense(model, [sample["query"]], "query", k=K)
        docs = dense(model, sample["positive"] + negatives, "document", k=K)
        expected.append(reranking_by_hand(query[0], docs, len(sample["positive"]), k=2))
        query_counts.append(active(query))
        doc_counts.append([np.count_nonzero(row) for row in docs])
    ap, mrr, ndcg = np.mean(expected, axis=0)

    batched = SparseRerankingEvaluator(samples, at_k=2, name="rr", max_active_dims=K)
    metrics = batched(model, output_path=str(tmp_path))
    assert metrics["rr_map"] == pytest.approx(ap)
    assert metrics["rr_mrr@2"] == pytest.approx(mrr)
    assert metrics["rr_ndcg@2"] == pytest.approx(ndcg)
    assert metrics["rr_query_active_dims"] == pytest.approx(np.mean(query_counts))
    all_docs = [count for counts in doc_counts for count in counts]
    assert metrics["rr_corpus_active_dims"] == pytest.approx(np.mean(all_docs))  # one call for all documents
    assert batched.primary_metric == "rr_ndcg@2"
    rows = read_csv(tmp_path / "RerankingEvaluator_rr_results_@2.csv")
    assert rows[0] == ["epoch", "steps", "MAP", "MRR@2", "NDCG@2"] + [
        "query_active_dims",
        "query_sparsity_ratio",
        "corpus_active_dims",
        "corpus_sparsity_ratio",
    ]
    assert float(rows[1][7]) == pytest.approx(metrics["rr_corpus_active_dims"])

    single = SparseRerankingEvaluator(samples, at_k=2, use_batched_encoding=False, max_active_dims=K)(model)
    assert single["map"] == pytest.approx(ap) and single["ndcg@2"] == pytest.approx(ndcg)
    # sample by sample: the mean of each sample's mean
    assert single["corpus_active_dims"] == pytest.approx(np.mean([np.mean(counts) for counts in doc_counts]))


def ir_by_hand(q: np.ndarray, d: np.ndarray, doc_ids: list[str], relevant: list[set[str]], k: int) -> dict:
    """MRR@k, NDCG@k, recall@k and MAP@k by dot product (no ties), averaged over the queries."""
    per_query = {"mrr": [], "ndcg": [], "recall": [], "map": []}
    for scores, rel in zip(q @ d.T, relevant, strict=True):
        ranked = [doc_ids[i] in rel for i in np.argsort(-scores)][:k]
        hits = [i for i, flag in enumerate(ranked) if flag]
        per_query["mrr"].append(1 / (hits[0] + 1) if hits else 0.0)
        dcg = sum(1 / math.log2(i + 2) for i in hits)
        per_query["ndcg"].append(dcg / sum(1 / math.log2(i + 2) for i in range(min(k, len(rel)))))
        per_query["recall"].append(len(hits) / len(rel))
        per_query["map"].append(sum((j + 1) / (i + 1) for j, i in enumerate(hits)) / min(k, len(rel)))
    return {key: float(np.mean(values)) for key, values in per_query.items()}


def test_information_retrieval_by_hand(model, tmp_path):
    queries = {"q1": TEXTS[0], "q2": TEXTS[3], "q3": "guitar street"}
    corpus = {f"d{i}": text for i, text in enumerate(TEXTS)}
    relevant = {"q1": {"d7", "d0"}, "q2": {"d4"}, "q3": {"d1"}}
    evaluator = SparseInformationRetrievalEvaluator(
        queries,
        corpus,
        relevant,
        corpus_chunk_size=3,  # chunks of 3, 3 and 2 documents
        mrr_at_k=[3],
        ndcg_at_k=[3],
        accuracy_at_k=[1],
        precision_recall_at_k=[3],
        map_at_k=[3],
        name="ir",
        max_active_dims=K,
        write_predictions=True,
    )
    metrics = evaluator(model, output_path=str(tmp_path))
    q = dense(model, queries.values(), "query", k=K)
    d = dense(model, corpus.values(), "document", k=K)
    expected = ir_by_hand(q, d, list(corpus), [relevant[qid] for qid in queries], k=3)
    for family in ("mrr", "ndcg", "recall", "map"):
        assert metrics[f"ir_dot_{family}@3"] == pytest.approx(expected[family]), family
    assert metrics["ir_query_active_dims"] == pytest.approx(active(q))
    assert metrics["ir_corpus_active_dims"] == pytest.approx(active(d))  # per document, whatever the chunks
    assert metrics["ir_corpus_sparsity_ratio"] == pytest.approx(ratio(d))
    flops = float(np.dot((q != 0).mean(0), (d != 0).mean(0)))
    assert metrics["ir_avg_flops"] == pytest.approx(flops)
    assert evaluator.primary_metric == "ir_dot_ndcg@3"
    assert evaluator.get_config_dict() == {"max_active_dims": K}

    rows = read_csv(tmp_path / "Information-Retrieval_evaluation_ir_results.csv")
    assert rows[0][-5:] == [
        "query_active_dims",
        "query_sparsity_ratio",
        "corpus_active_dims",
        "corpus_sparsity_ratio",
        "avg_flops",
    ]
    assert rows[0][2] == "dot-Accuracy@1" and len(rows[1]) == len(rows[0])
    assert float(rows[1][-1]) == pytest.approx(flops)
    predictions = (tmp_path / "Information-Retrieval_evaluation_ir_predictions_dot.jsonl").read_text().splitlines()
    assert [json.loads(line)["query_id"] for line in predictions] == ["q1", "q2", "q3"]


def test_information_retrieval_exact_figures_and_precomputed_corpus(tmp_path):
    # queries activate dims {0,1} and {1,2,3}; documents {0}, {1,4}, {1,2,3,4,5}
    table = {
        "q1": [1, 1, 0, 0, 0, 0],
        "q2": [0, 1, 1, 1, 0, 0],
        "d1": [1, 0, 0, 0, 0, 0],
        "d2": [0, 2, 0, 0, 1, 0],
        "d3": [0, 1, 1.5, 1.2, 1.1, 1.3],
    }
    fake = FakeSparse(table)
    evaluator = SparseInformationRetrievalEvaluator(
        {"a": "q1", "b": "q2"},
        {"x": "d1", "y": "d2", "z": "d3"},
        {"a": {"x"}, "b": {"z"}},
        corpus_chunk_size=2,
        accuracy_at_k=[1],
        precision_recall_at_k=[1],
        mrr_at_k=[3],
        ndcg_at_k=[3],
        map_at_k=[3],
    )
    metrics = evaluator(fake, output_path=str(tmp_path))
    assert metrics["query_active_dims"] == 2.5
    assert metrics["corpus_active_dims"] == pytest.approx(8 / 3)  # chunks (1+2)/2 and 5 weighted by 2 and 1
    assert metrics["corpus_sparsity_ratio"] == pytest.approx(1 - 8 / 18)
    # activation frequencies: queries (.5, 1, .5, .5, 0, 0), documents (1/3, 2/3, 1/3, 1/3, 2/3, 1/3)
    assert metrics["avg_flops"] == pytest.approx(0.5 / 3 + 2 / 3 + 0.5 / 3 + 0.5 / 3)
    # q1 scores x=1, y=2, z=1 -> x ranks 2nd (tie with z broken by id); q2 scores z=3.7 first
    assert metrics["dot_mrr@3"] == pytest.approx((1 / 2 + 1) / 2)
    assert [role for role, _, _ in fake.calls] == ["query", "document", "document"]
    assert evaluator.sparsity_stats["avg_flops"] == metrics["avg_flops"]

    # precomputed corpus embeddings count for the corpus figures (documents not encoded again)
    corpus_embeddings = fake.encode(["d1", "d2", "d3"], max_active_dims=1)
    fake.calls.clear()
    again = evaluator(fake, corpus_embeddings=corpus_embeddings)
    assert [role for role, _, _ in fake.calls] == ["query"]
    assert again["corpus_active_dims"] == 1.0
    assert again["query_active_dims"] == 2.5
    assert again["avg_flops"] == pytest.approx(0.5 / 3 + 1 / 3 + 0.5 / 3)  # top-1 dims: d1 0, d2 1, d3 2


# ------------------------------------------------------------------------------------------------ NanoBEIR

NANO = {  # split -> (documents, queries, (query id, relevant document id) pairs)
    "NanoMSMARCO": (dict(zip(["m1", "m2", "m3"], TEXTS[:3], strict=True)), {"a": TEXTS[7]}, [("a", "m1")]),
    "NanoNQ": (
        dict(zip(["n1", "n2", "n3", "n4", "n5"], TEXTS[3:], strict=True)),
        {"b": TEXTS[3], "c": "guitar", "e": "dog sleeps"},
        [("b", "n2"), ("c", "n4"), ("e", "n5"), ("e", "n1")],
    ),
}


@pytest.fixture()
def nano_hub(monkeypatch):
    def load_dataset(path, name=None, split=None, **kwargs):
        docs, queries, qrels = NANO[split]
        if name == "corpus":
            return Dataset.from_dict({"_id": list(docs), "text": list(docs.values())})
        if name == "queries":
            return Dataset.from_dict({"_id": list(queries), "text": list(queries.values())})
        return Dataset.from_dict({"query-id": [q for q, _ in qrels], "corpus-id": [d for _, d in qrels]})

    monkeypatch.setattr(datasets, "load_dataset", load_dataset)


def test_nano_beir_pools_sparsity_over_datasets(model, nano_hub, tmp_path):
    cutoffs = {"accuracy_at_k": [1], "precision_recall_at_k": [1], "map_at_k": [3], "mrr_at_k": [3]}
    evaluator = SparseNanoBEIREvaluator(["msmarco", "nq"], ndcg_at_k=[3], max_active_dims=K, **cutoffs)
    metrics = evaluator(model, output_path=str(tmp_path))
    assert evaluator.name == "NanoBEIR_mean_105"
    assert [e.name for e in evaluator.evaluators] == ["NanoMSMARCO_105", "NanoNQ_105"]
    assert all(isinstance(e, SparseInformationRetrievalEvaluator) for e in evaluator.evaluators)
    assert all(e.max_active_dims == K for e in evaluator.evaluators)

    queries = {split: dense(model, q.values(), "query", k=K) for split, (_, q, _) in NANO.items()}
    docs = {split: dense(model, d.values(), "document", k=K) for split, (d, _, _) in NANO.items()}
    for split in NANO:
        assert metrics[f"{split}_105_query_active_dims"] == pytest.approx(active(queries[split]))
    all_queries, all_docs = np.concatenate(list(queries.values())), np.concatenate(list(docs.values()))
    # pooled over every query / document, not the mean of the two datasets' figures
    assert metrics["NanoBEIR_mean_105_query_active_dims"] == pytest.approx(active(all_queries))
    assert metrics["NanoBEIR_mean_105_corpus_active_dims"] == pytest.approx(active(all_docs))
    assert metrics["NanoBEIR_mean_105_corpus_sparsity_ratio"] == pytest.approx(ratio(all_docs))
    flops = float(np.dot((all_queries != 0).mean(0), (all_docs != 0).mean(0)))
    assert metrics["NanoBEIR_mean_105_avg_flops"] == pytest.approx(flops)
    ndcg = [metrics[f"{split}_105_dot_ndcg@3"] for split in NANO]
    assert metrics["NanoBEIR_mean_105_dot_ndcg@3"] == pytest.approx(np.mean(ndcg))
    assert evaluator.primary_metric == "NanoBEIR_mean_105_dot_ndcg@3"
    assert evaluator.get_config_dict()["max_active_dims"] == K

    rows = read_csv(tmp_path / "NanoBEIR_evaluation_mean_results.csv")
    assert rows[0] == [
        "epoch",
        "steps",
        "dot-Accuracy@1",
        "dot-Precision@1",
        "dot-Recall@1",
        "dot-MRR@3",
        "dot-NDCG@3",
        "dot-MAP@3",
        "query_active_dims",
        "query_sparsity_ratio",
        "corpus_active_dims",
        "corpus_sparsity_ratio",
        "avg_flops",
    ]
    assert [float(v) for v in rows[1][-5:]] == pytest.approx(
        [metrics[f"NanoBEIR_mean_105_{column}"] for column in rows[0][-5:]]
    )
    assert (tmp_path / "Information-Retrieval_evaluation_NanoNQ_105_results.csv").exists()


def test_nano_beir_without_max_active_dims_keeps_plain_names(model, nano_hub):
    evaluator = SparseNanoBEIREvaluator(["nq"], ndcg_at_k=[3], mrr_at_k=[3], map_at_k=[3], accuracy_at_k=[1])
    metrics = evaluator(model)
    assert evaluator.name == "NanoBEIR_mean"
    assert "NanoNQ_avg_flops" in metrics and "NanoBEIR_mean_avg_flops" in metrics
    assert metrics["NanoBEIR_mean_avg_flops"] == pytest.approx(metrics["NanoNQ_avg_flops"])
    assert "max_active_dims" not in evaluator.get_config_dict()


# ---------------------------------------------------------------------------------- reciprocal rank fusion

DENSE = [
    {"query_id": "a", "query": "qa", "positive": ["x", "y"], "documents": ["z", "x", "w", "v"]},
    {"query_id": "b", "query": "qb", "positive": "p", "documents": ["p", "r"]},
    {"query_id": "c", "query": "qc", "positive": ["m"], "documents": ["n", "o"]},
]
SPARSE = [
    {"query_id": "a", "documents": ["y", "w", "z"]},
    {"query_id": "b", "documents": ["r", "s", "p"]},
    {"query_id": "c", "documents": ["o", "n", "m"]},
]


def ap(relevant: list[int]) -> float:
    return sum(sum(relevant[: i + 1]) / (i + 1) for i, flag in enumerate(relevant) if flag) / sum(relevant)


def ndcg(relevant: list[int], k: int) -> float:
    dcg = sum(flag / math.log2(i + 2) for i, flag in enumerate(relevant[:k]))
    return dcg / sum(1 / math.log2(i + 2) for i in range(min(k, sum(relevant))))


def test_reciprocal_rank_fusion_by_hand(tmp_path):
    evaluator = ReciprocalRankFusionEvaluator(DENSE, SPARSE, at_k=2, rrf_k=1, name="hy", write_predictions=True)
    # query a, rrf_k=1: z 1/2+1/4, x 1/3, w 1/4+1/3, v 1/5, y 1/2 -> z (.75), w (.583), y (.5), x (.333), v (.2)
    assert evaluator.fuse(DENSE[0]["documents"], SPARSE[0]["documents"]) == ["z", "w", "y", "x", "v"]
    # query b: p 1/2+1/4, r 1/3+1/2, s 1/3 -> r, p, s
    assert evaluator.fuse(DENSE[1]["documents"], SPARSE[1]["documents"]) == ["r", "p", "s"]
    # query c: n 1/2+1/3, o 1/3+1/2, m 1/4 -> n, o (a tie: dense ranking first), m
    assert evaluator.fuse(DENSE[2]["documents"], SPARSE[2]["documents"]) == ["n", "o", "m"]
    metrics = evaluator(output_path=str(tmp_path))

    # relevance in rank order (missed positives appended; no hit at all scores 0)
    dense = [[0, 1, 0, 0, 1], [1, 0], None]
    sparse = [[1, 0, 0, 1], [0, 0, 1], [0, 0, 1]]
    fusion = [[0, 0, 1, 1, 0], [0, 1, 0], [0, 0, 1]]
    for prefix, lists in (("hy_dense_", dense), ("hy_sparse_", sparse), ("hy_", fusion)):
        assert metrics[f"{prefix}map"] == pytest.approx(np.mean([ap(r) if r else 0 for r in lists]))
        mrr = [1 / (r.index(1) + 1) if r and 1 in r[:2] else 0 for r in lists]
        assert metrics[f"{prefix}mrr@2"] == pytest.approx(np.mean(mrr))
        assert metrics[f"{prefix}ndcg@2"] == pytest.approx(np.mean([ndcg(r, 2) if r else 0 for r in lists]))
    assert list(metrics) == [
        "hy_dense_map",
        "hy_dense_mrr@2",
        "hy_dense_ndcg@2",
        "hy_sparse_map",
        "hy_sparse_mrr@2",
        "hy_sparse_ndcg@2",
        "hy_map",
        "hy_mrr@2",
        "hy_ndcg@2",
    ]
    assert evaluator.primary_metric == "hy_ndcg@2"
    assert evaluator.get_config_dict() == {"at_k": 2, "rrf_k": 1, "write_predictions": True}

    rows = read_csv(tmp_path / "ReciprocalRankFusion_evaluation_hy_results.csv")
    assert rows[0] == ["epoch", "steps"] + [
        f"{side}_{metric}" for side in ("Dense", "Sparse", "Fusion") for metric in ("MAP", "MRR@2", "NDCG@2")
    ]
    assert float(rows[1][-1]) == pytest.approx(metrics["hy_ndcg@2"])
    lines = (tmp_path / "ReciprocalRankFusion_evaluation_hy_predictions.jsonl").read_text().splitlines()
    assert json.loads(lines[0]) == {"query_id": "a", "query": "qa", "positive": ["x", "y"], "documents": list("zwyxv")}
    assert json.loads(lines[1])["positive"] == ["p"]


def test_reciprocal_rank_fusion_defaults_and_errors():
    evaluator = ReciprocalRankFusionEvaluator(DENSE, SPARSE)
    assert evaluator.primary_metric == "ndcg@10" and evaluator.rrf_k == 60
    assert evaluator.csv_file == "ReciprocalRankFusion_evaluation_results.csv"
    assert set(evaluator()) >= {"map", "mrr@10", "ndcg@10", "dense_map", "sparse_ndcg@10"}
    with pytest.raises(ValueError, match="same length"):
        ReciprocalRankFusionEvaluator(DENSE, SPARSE[:2])
    with pytest.raises(ValueError, match="Query ID mismatch"):
        ReciprocalRankFusionEvaluator(DENSE, [SPARSE[1], SPARSE[0], SPARSE[2]])
    with pytest.raises(ValueError, match="query_id"):
        ReciprocalRankFusionEvaluator([{"query": "q"}], [{"query_id": "a"}])
    with pytest.raises(ValueError, match="documents"):
        ReciprocalRankFusionEvaluator([{**DENSE[0]}], [{"query_id": "a"}])
    with pytest.raises(ValueError, match="at_k"):
        ReciprocalRankFusionEvaluator(DENSE, SPARSE, at_k=0)
