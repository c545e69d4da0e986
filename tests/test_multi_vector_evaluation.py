"""MultiVectorEncoder evaluators: metrics against hand-computed MaxSim rankings on fixed token vectors, and a run on
a real (tiny) MultiVectorEncoder."""

from __future__ import annotations

import logging
import math
from functools import partial

import pytest
import torch
from datasets import Dataset

from sentence_transformers.multi_vector_encoder.evaluation import (
    MultiVectorDistillationEvaluator,
    MultiVectorInformationRetrievalEvaluator,
    MultiVectorNanoBEIREvaluator,
    MultiVectorRerankingEvaluator,
    MultiVectorTripletEvaluator,
)
from sentence_transformers.multi_vector_encoder.scoring import XTRScores, xtr_scores
from sentence_transformers.util.similarity import maxsim, maxsim_pairwise, mean_maxsim_pairwise

# text -> its token vectors. MaxSim: q1·d1 = 1, q1·d2 = 0.2, q1·d3 = 0.6; q2·d1 = 1, q2·d2 = 1.2, q2·d3 = 0.9
VECTORS = {
    "q1": [[1.0, 0.0]],
    "q2": [[0.0, 1.0], [1.0, 0.0]],
    "d1": [[1.0, 0.0]],
    "d2": [[0.0, 1.0], [0.2, 0.1]],
    "d3": [[0.6, 0.3]],
}


class FixedTokens:
    """A stand-in MultiVectorEncoder whose token embeddings are looked up; it records every encode call."""

    similarity_fn_name = "maxsim"

    def __init__(self, prompts: dict[str, str] | None = None) -> None:
        self.prompts = prompts or {}
        self.calls: list[tuple[str, list[str], dict]] = []

    def _encode(self, role: str, inputs: list[str], **kwargs) -> list[torch.Tensor]:
        self.calls.append((role, list(inputs), kwargs))
        return [torch.tensor(VECTORS[text]) for text in inputs]

    def encode_query(self, inputs: list[str], **kwargs) -> list[torch.Tensor]:
        return self._encode("query", inputs, **kwargs)

    def encode_document(self, inputs: list[str], **kwargs) -> list[torch.Tensor]:
        return self._encode("document", inputs, **kwargs)

    def similarity(self, a, b) -> torch.Tensor:
        return maxsim(a, b)

    def similarity_pairwise(self, a, b) -> torch.Tensor:
        return maxsim_pairwise(a, b)


QUERIES = {"q1": "q1", "q2": "q2"}
CORPUS = {"d1": "d1", "d2": "d2", "d3": "d3"}
RELEVANT = {"q1": {"d3"}, "q2": {"d2"}}  # q1 ranks d1, d3, d2 (relevant 2nd); q2 ranks d2, d1, d3 (relevant 1st)


@pytest.mark.parametrize("options", [{}, {"corpus_chunk_size": 1}, {"chunk_elements": 1}])
def test_information_retrieval_metrics_by_hand(options):
    model = FixedTokens()
    evaluator = MultiVectorInformationRetrievalEvaluator(QUERIES, CORPUS, RELEVANT, name="toy", **options)
    metrics = evaluator(model)
    assert metrics["toy_maxsim_accuracy@1"] == pytest.approx(0.5)
    assert metrics["toy_maxsim_accuracy@3"] == pytest.approx(1.0)
    assert metrics["toy_maxsim_mrr@10"] == pytest.approx((0.5 + 1.0) / 2)
    assert metrics["toy_maxsim_ndcg@10"] == pytest.approx((1 / math.log2(3) + 1.0) / 2)
    assert metrics["toy_maxsim_precision@1"] == pytest.approx(0.5)
    assert evaluator.primary_metric == "toy_maxsim_ndcg@10"
    roles = {role for role, _, _ in model.calls}
    assert roles == {"query", "document"}
    assert all(kwargs["batch_size"] == 32 and "truncate_dim" not in kwargs for _, _, kwargs in model.calls)


def test_information_retrieval_follows_the_model_similarity_and_custom_functions():
    model = FixedTokens()
    model.similarity_fn_name = "meanmaxsim"  # q2's scores halve: d2 0.6, d1 0.5, d3 0.45 -> same ranking
    metrics = MultiVectorInformationRetrievalEvaluator(QUERIES, CORPUS, RELEVANT)(model)
    assert metrics["meanmaxsim_mrr@10"] == pytest.approx(0.75)
    reversed_scores = {"neg": lambda a, b: -maxsim(a, b)}  # q1: d2, d3, d1; q2: d3, d1, d2
    metrics = MultiVectorInformationRetrievalEvaluator(QUERIES, CORPUS, RELEVANT, score_functions=reversed_scores)(
        FixedTokens()
    )
    assert metrics["neg_mrr@10"] == pytest.approx((1 / 2 + 1 / 3) / 2)


def test_information_retrieval_refusals():
    with pytest.raises(ValueError, match="truncate_dim"):
        MultiVectorInformationRetrievalEvaluator(QUERIES, CORPUS, RELEVANT, truncate_dim=8)
    with pytest.raises(ValueError, match="chunk_elements"):
        MultiVectorInformationRetrievalEvaluator(
            QUERIES, CORPUS, RELEVANT, score_functions={"m": maxsim}, chunk_elements=10
        )
    for xtr in (xtr_scores, partial(xtr_scores, top_k=4), XTRScores()):
        with pytest.raises(ValueError, match="XTR"):
            MultiVectorInformationRetrievalEvaluator(QUERIES, CORPUS, RELEVANT, score_functions={"xtr": xtr})


def test_information_retrieval_warns_when_a_prompt_replaces_the_models(caplog):
    model = FixedTokens(prompts={"query": "[Q] ", "document": "[D] "})
    with caplog.at_level(logging.WARNING):
        MultiVectorInformationRetrievalEvaluator(QUERIES, CORPUS, RELEVANT, query_prompt="Search: ")(model)
    assert "'[Q] '" in caplog.text and "query_prompt" in caplog.text
    caplog.clear()
    with caplog.at_level(logging.WARNING):
        MultiVectorInformationRetrievalEvaluator(QUERIES, CORPUS, RELEVANT, corpus_prompt="[D] text: ")(model)
    assert caplog.text == ""


def test_triplet_accuracy_by_hand():
    # (q1, d1, d2): 1 > 0.2; (q2, d1, d2): 1 < 1.2. MeanMaxSim: q2 gives 0.5 < 0.6
    evaluator = MultiVectorTripletEvaluator(["q1", "q2"], ["d1", "d1"], ["d2", "d2"], name="t")
    metrics = evaluator(FixedTokens())
    assert metrics == {"t_maxsim_accuracy": 0.5}
    assert evaluator.primary_metric == "t_maxsim_accuracy"
    both = MultiVectorTripletEvaluator(
        ["q1", "q2"], ["d1", "d1"], ["d2", "d2"], similarity_fn_names=["maxsim", "meanmaxsim"], margin={"maxsim": 0.9}
    )
    metrics = both(FixedTokens())
    assert metrics == {"maxsim_accuracy": 0.0, "meanmaxsim_accuracy": 0.5, "max_accuracy": 0.5}
    assert both.get_config_dict() == {"margin": {"maxsim": 0.9, "meanmaxsim": 0}}


def test_triplet_refusals():
    with pytest.raises(ValueError, match="similarity_fn_names"):
        MultiVectorTripletEvaluator(["q1"], ["d1"], ["d2"], similarity_fn_names=["cosine"])
    with pytest.raises(ValueError, match="margin"):
        MultiVectorTripletEvaluator(["q1"], ["d1"], ["d2"], margin={"cosine": 1.0})
    with pytest.raises(ValueError, match="truncate_dim"):
        MultiVectorTripletEvaluator(["q1"], ["d1"], ["d2"], truncate_dim=4)


@pytest.mark.parametrize("batched", [True, False])
def test_reranking_by_hand(batched):
    samples = [
        {"query": "q2", "positive": ["d1"], "negative": ["d2", "d3"]},  # ranked d2, d1, d3: positive 2nd
        {"query": "q1", "positive": ["d1"], "negative": ["d2"]},  # positive 1st
    ]
    evaluator = MultiVectorRerankingEvaluator(samples, name="r", use_batched_encoding=batched)
    metrics = evaluator(FixedTokens())
    assert metrics["r_map"] == pytest.approx(0.75)
    assert metrics["r_mrr@10"] == pytest.approx(0.75)
    assert metrics["r_ndcg@10"] == pytest.approx((1 / math.log2(3) + 1.0) / 2)
    assert evaluator.primary_metric == "r_ndcg@10"
    reversed_fct = MultiVectorRerankingEvaluator(samples, similarity_fct=lambda q, d: -maxsim(q, d))
    assert reversed_fct(FixedTokens())["mrr@10"] == pytest.approx((1 / 2 + 1 / 2) / 2)


def kl_rows(student: list[list[float]], teacher: list[list[float]], t_s: float, t_t: float) -> float:
    """Mean over rows of sum p_t (log p_t - log p_s), times t_s^2."""
    total = 0.0
    for s_row, t_row in zip(student, teacher, strict=True):
        z_s = sum(math.exp(s / t_s) for s in s_row)
        z_t = sum(math.exp(t / t_t) for t in t_row)
        for s, t in zip(s_row, t_row, strict=True):
            p_s, p_t = math.exp(s / t_s) / z_s, math.exp(t / t_t) / z_t
            total += p_t * (math.log(p_t) - math.log(p_s))
    return total / len(student) * t_s**2


@pytest.mark.parametrize("temperatures", [{}, {"temperature": 2.0}, {"teacher_temperature": 0.5}])
def test_distillation_with_candidate_sets_by_hand(temperatures):
    teacher = [[3.0, 1.0, 2.0], [1.0, 2.0, 0.0]]  # ranks the candidates as the student does
    evaluator = MultiVectorDistillationEvaluator(
        ["q1", "q2"], [["d1", "d2", "d3"], ["d1", "d2", "d3"]], teacher, name="kd", **temperatures
    )
    metrics = evaluator(FixedTokens())
    student = [[1.0, 0.2, 0.6], [1.0, 1.2, 0.9]]
    expected = kl_rows(student, teacher, evaluator.student_temperature, evaluator.teacher_temperature)
    assert metrics["kd_kl_divergence"] == pytest.approx(expected, abs=1e-6)
    assert metrics["kd_spearman"] == pytest.approx(1.0)
    assert evaluator.primary_metric == "kd_spearman"


def test_distillation_with_flat_pairs_and_a_custom_similarity():
    evaluator = MultiVectorDistillationEvaluator(["q1", "q2", "q1"], ["d1", "d2", "d3"], [1.0, 0.0, 0.5])
    metrics = evaluator(FixedTokens())
    # student 1, 1.2, 0.6 against teacher 1, 0, 0.5: ranks (2, 3, 1) vs (3, 1, 2)
    assert metrics["spearman"] == pytest.approx(-0.5)
    # one distribution over the whole dataset, summed
    assert metrics["kl_divergence"] == pytest.approx(kl_rows([[1.0, 1.2, 0.6]], [[1.0, 0.0, 0.5]], 1, 1), abs=1e-6)
    custom = MultiVectorDistillationEvaluator(
        ["q2"], [["d1", "d2"]], [[1.0, 0.0]], similarity_fct=mean_maxsim_pairwise, student_temperature=0.5
    )
    metrics = custom(FixedTokens())  # MeanMaxSim: q2 gives d1 0.5, d2 0.6, the teacher's opposite order
    assert metrics["spearman"] == pytest.approx(-1.0)
    assert metrics["kl_divergence"] == pytest.approx(kl_rows([[0.5, 0.6]], [[1.0, 0.0]], 0.5, 1.0), abs=1e-6)
    assert custom.get_config_dict() == {"student_temperature": 0.5, "similarity_fct": "mean_maxsim_pairwise"}


def test_distillation_refusals():
    with pytest.raises(ValueError, match="same length"):
        MultiVectorDistillationEvaluator(["q1"], ["d1", "d2"], [1.0, 2.0])
    with pytest.raises(ValueError, match="1-D"):
        MultiVectorDistillationEvaluator(["q1"], ["d1"], [[1.0]])
    with pytest.raises(ValueError, match=r"\(num_queries, 2\)"):
        MultiVectorDistillationEvaluator(["q1"], [["d1", "d2"]], [[1.0, 2.0, 3.0]])
    with pytest.raises(ValueError, match="same number"):
        MultiVectorDistillationEvaluator(["q1", "q2"], [["d1", "d2"], ["d1"]], [[1.0, 2.0], [1.0, 2.0]])
    with pytest.raises(ValueError, match="temperature"):
        MultiVectorDistillationEvaluator(["q1"], ["d1"], [1.0], temperature=0.0)


def test_nano_beir_builds_multi_vector_retrieval_evaluators(monkeypatch):
    tables = {
        "corpus": Dataset.from_dict({"_id": list(CORPUS), "text": list(CORPUS.values())}),
        "queries": Dataset.from_dict({"_id": list(QUERIES), "text": list(QUERIES.values())}),
        "qrels": Dataset.from_dict({"query-id": ["q1", "q2"], "corpus-id": ["d3", "d2"]}),
    }
    monkeypatch.setattr(MultiVectorNanoBEIREvaluator, "_load_subset", lambda self, name, subset: tables[subset])
    evaluator = MultiVectorNanoBEIREvaluator(dataset_names=["msmarco", "nq"], corpus_chunk_size=2, chunk_elements=50)
    metrics = evaluator(FixedTokens())
    assert all(isinstance(e, MultiVectorInformationRetrievalEvaluator) for e in evaluator.evaluators)
    assert evaluator.evaluators[0].corpus_chunk_size == 2 and evaluator.evaluators[0].chunk_elements == 50
    assert metrics["NanoMSMARCO_maxsim_mrr@10"] == pytest.approx(0.75)
    assert metrics["NanoBEIR_mean_maxsim_mrr@10"] == pytest.approx(0.75)
    assert evaluator.primary_metric == "NanoBEIR_mean_maxsim_ndcg@10"
    with pytest.raises(ValueError, match="truncate_dim"):
        MultiVectorNanoBEIREvaluator(dataset_names=["msmarco"], truncate_dim=8)


def test_evaluators_run_on_a_real_multi_vector_encoder(tiny_bert_dir):
    from sentence_transformers.multi_vector_encoder import MultiVectorEncoder

    torch.manual_seed(0)
    model = MultiVectorEncoder(str(tiny_bert_dir), device="cpu")
    texts = ["a cat sleeps", "a man plays guitar", "the dog runs", "paris is in france"]
    queries = {f"q{i}": text for i, text in enumerate(texts)}
    corpus = {f"d{i}": text for i, text in enumerate(texts)}
    relevant = {f"q{i}": {f"d{i}"} for i in range(len(texts))}
    metrics = MultiVectorInformationRetrievalEvaluator(queries, corpus, relevant, corpus_chunk_size=3)(model)
    # a text is its own best match by MaxSim (normalized token vectors): every query finds itself first
    assert metrics["maxsim_accuracy@1"] == pytest.approx(1.0)
    triplet = MultiVectorTripletEvaluator(texts, texts, texts[::-1])(model)
    assert triplet["maxsim_accuracy"] == pytest.approx(1.0)
    samples = [{"query": texts[0], "positive": [texts[0]], "negative": texts[1:]}]
    assert MultiVectorRerankingEvaluator(samples)(model)["map"] == pytest.approx(1.0)
