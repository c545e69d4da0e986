"""NanoBEIREvaluator on two tiny fake NanoBEIR datasets served by a monkeypatched ``datasets.load_dataset``.

Documents and queries are 2-D unit vectors at chosen angles, so every ranking (and every figure) is known by hand:

NanoMSMARCO  docs d1 0, d2 40, d3 80, d4 120 deg
    q1 at 10  -> d1 d2 d3 d4; relevant d2 at rank 2
    q2 at 115 -> d4 d3 d2 d1; relevant d4 at rank 1
NanoNQ       docs e1 0, e2 40, e3 80, e4 120 deg
    r1 at 30  -> e2 e1 e3 e4; relevant e2 at rank 1
    r2 at 90  -> e3 e4 e2 e1; relevant e1 at rank 4
"""

from __future__ import annotations

import math

import datasets
import numpy as np
import pytest
from datasets import Dataset

from sentence_transformers.sentence_transformer.evaluation import NanoBEIREvaluator
from sentence_transformers.util.similarity import cos_sim, dot_score
from test_evaluators import StubModel, read_csv, unit

HUB = "sentence-transformers/NanoBEIR-en"
DATA = {  # split -> (documents at angles, queries at angles, (query, relevant document) pairs)
    "NanoMSMARCO": ({"d1": 0, "d2": 40, "d3": 80, "d4": 120}, {"q1": 10, "q2": 115}, [("q1", "d2"), ("q2", "d4")]),
    "NanoNQ": ({"e1": 0, "e2": 40, "e3": 80, "e4": 120}, {"r1": 30, "r2": 90}, [("r1", "e2"), ("r2", "e1")]),
}
CUTOFFS = {"accuracy_at_k": [1, 3], "precision_recall_at_k": [1, 3], "mrr_at_k": [3, 10], "ndcg_at_k": [3, 10]}
CUTOFFS |= {"map_at_k": [10]}


def text(split: str, item: str) -> str:
    return f"{split}-{item}"


class PromptStub(StubModel):
    """A StubModel that also records the prompt each text was encoded with."""

    def __init__(self) -> None:
        table = {}
        for split, (docs, queries, _) in DATA.items():
            table |= {text(split, item): unit(angle) for item, angle in (docs | queries).items()}
        super().__init__(table)
        self.prompts: dict[str, tuple[str, str | None]] = {}

    def _encode(self, role, sentences, **kwargs):
        self.prompts |= {sentence: (role, kwargs.get("prompt")) for sentence in sentences}
        return super()._encode(role, sentences, **kwargs)


@pytest.fixture()
def hub(monkeypatch) -> list[tuple]:
    """Serve DATA as the hub dataset ``HUB`` (and any other id); unknown splits fail like a missing one."""
    calls: list[tuple] = []

    def load_dataset(path, name=None, split=None, **kwargs):
        calls.append((path, name, split))
        if split not in DATA:
            raise FileNotFoundError(f"Unknown split {split!r}")
        docs, queries, qrels = DATA[split]
        if name == "corpus":
            ids = list(docs)
            return Dataset.from_dict({"_id": ids, "title": ids, "text": [text(split, i) for i in ids]})
        if name == "queries":
            ids = list(queries) + ["q-empty"]  # an empty query is skipped
            return Dataset.from_dict({"_id": ids, "text": [text(split, i) for i in queries] + [""]})
        qrels = [*qrels, ("q-empty", next(iter(docs)))]  # judged, yet skipped for its empty text
        return Dataset.from_dict({"query-id": [q for q, _ in qrels], "corpus-id": [d for _, d in qrels]})

    monkeypatch.setattr(datasets, "load_dataset", load_dataset)
    return calls


def inv_log2(rank: int) -> float:
    """The DCG gain of a relevant document at 1-based ``rank``."""
    return 1 / math.log2(rank + 1)


# Per dataset, the 1-based rank of each query's relevant document.
RANKS = {"NanoMSMARCO": [2, 1], "NanoNQ": [1, 4]}


def hand_metrics(split: str) -> dict[str, float]:
    """The metrics of one dataset (one relevant document per query), by hand from RANKS."""
    ranks = RANKS[split]
    out = {}
    for k in (1, 3):
        out[f"accuracy@{k}"] = np.mean([rank <= k for rank in ranks])
        out[f"precision@{k}"] = np.mean([(rank <= k) / k for rank in ranks])
        out[f"recall@{k}"] = np.mean([rank <= k for rank in ranks])
    for k in (3, 10):
        out[f"mrr@{k}"] = np.mean([1 / rank if rank <= k else 0 for rank in ranks])
        out[f"ndcg@{k}"] = np.mean([inv_log2(rank) if rank <= k else 0 for rank in ranks])
    out["map@10"] = np.mean([1 / rank for rank in ranks])
    return {f"cosine_{key}": float(value) for key, value in out.items()}


def test_per_dataset_and_aggregated_metrics_by_hand(hub):
    evaluator = NanoBEIREvaluator(["msmarco", "NQ"], **CUTOFFS)
    assert hub == []  # nothing loaded before the first use
    model = PromptStub()
    results = evaluator(model)

    assert sorted(set(hub)) == sorted(
        (HUB, subset, split) for subset in ("corpus", "queries", "qrels") for split in DATA
    )
    msmarco, nq = hand_metrics("NanoMSMARCO"), hand_metrics("NanoNQ")
    # Spot checks of the hand helper.
    assert msmarco["cosine_mrr@3"] == 0.75 and nq["cosine_mrr@10"] == 0.625 and nq["cosine_ndcg@3"] == 0.5
    assert msmarco["cosine_ndcg@10"] == pytest.approx((1 / math.log2(3) + 1) / 2)
    expected = {f"NanoMSMARCO_{key}": value for key, value in msmarco.items()}
    expected |= {f"NanoNQ_{key}": value for key, value in nq.items()}
    expected |= {f"NanoBEIR_mean_{key}": (msmarco[key] + nq[key]) / 2 for key in msmarco}
    assert results == pytest.approx(expected)
    assert results["NanoBEIR_mean_cosine_ndcg@10"] == pytest.approx((1 / math.log2(3) + 1 + 1 + 1 / math.log2(5)) / 4)
    assert results["NanoBEIR_mean_cosine_recall@3"] == 0.75
    assert evaluator.primary_metric == "NanoBEIR_mean_cosine_ndcg@10"
    assert [e.name for e in evaluator.evaluators] == ["NanoMSMARCO", "NanoNQ"]
    assert [len(e.queries) for e in evaluator.evaluators] == [2, 2]  # the empty query is dropped

    card = model.model_card_data["eval_results"]["Nano BEIR"]
    assert card["NanoBEIR_mean_cosine_ndcg@10"] == results["NanoBEIR_mean_cosine_ndcg@10"]
    assert not any(key.startswith("NanoNQ") for key in card)

    evaluator(model)  # a second call reuses the loaded data
    assert len(hub) == 6


def test_aggregate_fn_and_key(hub):
    evaluator = NanoBEIREvaluator(["msmarco", "nq"], aggregate_fn=np.max, aggregate_key="max", **CUTOFFS)
    results = evaluator(PromptStub())
    assert results["NanoBEIR_max_cosine_mrr@10"] == 0.75  # max of (1/2 + 1) / 2 and (1 + 1/4) / 2
    assert results["NanoBEIR_max_cosine_accuracy@3"] == 1.0  # max of 1 and 1/2
    assert evaluator.primary_metric == "NanoBEIR_max_cosine_ndcg@10"
    assert not any(key.startswith("NanoBEIR_mean") for key in results)


def test_prompts_reach_encode(hub):
    prompts = {"msmarco": "qm: ", "NQ": "qn: "}
    model = PromptStub()
    NanoBEIREvaluator(["msmarco", "NQ"], query_prompts=prompts, corpus_prompts="doc: ", **CUTOFFS)(model)
    assert model.prompts[text("NanoMSMARCO", "q1")] == ("query", "qm: ")
    assert model.prompts[text("NanoNQ", "r2")] == ("query", "qn: ")
    documents = [text(split, doc) for split, (docs, _, _) in DATA.items() for doc in docs]
    assert {model.prompts[doc] for doc in documents} == {("document", "doc: ")}

    with pytest.raises(ValueError, match=r"query_prompts.*\['NQ'\]"):
        NanoBEIREvaluator(["msmarco", "NQ"], query_prompts={"msmarco": "qm: "})


def test_prompts_reach_a_real_model(hub, tiny_model):
    texts: list[str] = []
    tokenize = tiny_model.tokenize
    tiny_model.tokenize = lambda batch, **kwargs: texts.extend(batch) or tokenize(batch, **kwargs)
    evaluator = NanoBEIREvaluator(["msmarco", "nq"], query_prompts="query: ", corpus_prompts="passage: ")
    results = evaluator(tiny_model)
    assert "query: NanoNQ-r1" in texts and "passage: NanoMSMARCO-d3" in texts
    assert "NanoMSMARCO-q1" not in texts
    assert 0.0 <= results[evaluator.primary_metric] <= 1.0
    assert evaluator.primary_metric == "NanoBEIR_mean_cosine_ndcg@10"
    assert "Nano BEIR" in tiny_model.model_card_data.eval_results


def test_unknown_dataset_names_and_load_errors(hub):
    with pytest.raises(ValueError, match=r"\['foo'\].*'msmarco'"):
        NanoBEIREvaluator(["msmarco", "foo"])
    with pytest.raises(ValueError, match="must not be empty"):
        NanoBEIREvaluator([])
    with pytest.raises(ValueError, match="ndcg_at_k"):
        NanoBEIREvaluator(["msmarco"], ndcg_at_k=[0])
    with pytest.raises(ValueError, match=r"\['foo'\]"):
        NanoBEIREvaluator(["foo"], dataset_id="me/NanoBEIR-xx")  # translations share the 13 names
    # A dataset the hub lacks: loading fails at the first use, naming the dataset, subset, split and hub id.
    evaluator = NanoBEIREvaluator(["msmarco", "FEVER"], dataset_id="me/NanoBEIR-xx")
    with pytest.raises(ValueError, match=r"'FEVER'.*'corpus'.*'NanoFEVER'.*'me/NanoBEIR-xx'.*Unknown split"):
        evaluator(PromptStub())


def test_missing_columns_name_the_dataset(monkeypatch):
    monkeypatch.setattr(datasets, "load_dataset", lambda *args, **kwargs: Dataset.from_dict({"id": ["a"]}))
    with pytest.raises(ValueError, match=r"'msmarco'.*'corpus'.*\['_id', 'text'\]"):
        _ = NanoBEIREvaluator(["msmarco"]).evaluators


def test_csv_files(hub, tmp_path):
    evaluator = NanoBEIREvaluator(["msmarco", "nq"], **CUTOFFS)
    model = PromptStub()
    evaluator(model, output_path=str(tmp_path))
    results = evaluator(model, output_path=str(tmp_path), epoch=1, steps=5)
    rows = read_csv(tmp_path / "NanoBEIR_evaluation_mean_results.csv")
    header = ["epoch", "steps", "cosine-Accuracy@1", "cosine-Accuracy@3"]
    header += ["cosine-Precision@1", "cosine-Recall@1", "cosine-Precision@3", "cosine-Recall@3"]
    header += ["cosine-MRR@3", "cosine-MRR@10", "cosine-NDCG@3", "cosine-NDCG@10", "cosine-MAP@10"]
    assert rows[0] == header and len(rows) == 3
    assert rows[2][:2] == ["1", "5"]
    for column, metric in [("cosine-NDCG@10", "ndcg@10"), ("cosine-Recall@3", "recall@3"), ("cosine-MAP@10", "map@10")]:
        assert float(rows[2][header.index(column)]) == pytest.approx(results[f"NanoBEIR_mean_cosine_{metric}"])
    # Each dataset also writes its own retrieval CSV.
    assert (tmp_path / "Information-Retrieval_evaluation_NanoNQ_results.csv").is_file()

    quiet = tmp_path / "quiet"
    NanoBEIREvaluator(["msmarco"], write_csv=False, **CUTOFFS)(model, output_path=str(quiet))
    assert not quiet.exists()


def test_score_functions_main_score_function_and_truncation(hub, tmp_path):
    functions = {"cosine": cos_sim, "dot": dot_score}
    evaluator = NanoBEIREvaluator(["msmarco"], score_functions=functions, main_score_function="dot", **CUTOFFS)
    results = evaluator(PromptStub(), output_path=str(tmp_path))
    assert evaluator.primary_metric == "NanoBEIR_mean_dot_ndcg@10"
    assert results["NanoBEIR_mean_dot_mrr@3"] == results["NanoBEIR_mean_cosine_mrr@3"] == 0.75  # unit vectors
    header = read_csv(tmp_path / "NanoBEIR_evaluation_mean_results.csv")[0]
    assert header[2] == "cosine-Accuracy@1" and "dot-MAP@10" == header[-1]

    truncated = NanoBEIREvaluator(["msmarco"], truncate_dim=1, **CUTOFFS)
    model = PromptStub()
    results = truncated(model)
    # With one dataset the card keeps that dataset's figures only (the aggregate would repeat them).
    assert list(model.model_card_data["eval_results"]) == ["Information Retrieval"]
    assert truncated.name == "NanoBEIR_mean_1"
    assert truncated.primary_metric == "NanoBEIR_mean_1_cosine_ndcg@10"
    assert truncated.csv_file == "NanoBEIR_evaluation_mean_results.csv"
    # Each dataset's metrics carry the truncation in their prefix too.
    assert "NanoMSMARCO_1_cosine_ndcg@10" in results


def test_config_dict_and_import_paths():
    import sentence_transformers.evaluation as legacy

    assert legacy.NanoBEIREvaluator is NanoBEIREvaluator
    assert NanoBEIREvaluator(["msmarco"]).get_config_dict() == {"dataset_names": ["msmarco"], "dataset_id": HUB}
    config = NanoBEIREvaluator(["nq"], dataset_id="me/x", truncate_dim=8, query_prompts="q: ").get_config_dict()
    assert config == {"dataset_names": ["nq"], "dataset_id": "me/x", "truncate_dim": 8, "query_prompts": {"nq": "q: "}}
    assert len(NanoBEIREvaluator().dataset_names) == 13
