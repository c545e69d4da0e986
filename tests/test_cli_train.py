"""The ``sbert evaluate`` and ``sbert train`` commands."""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from conftest import PAIRS
from sentence_transformers import SentenceTransformer
from sentence_transformers.cli import main
from sentence_transformers.sentence_transformer.evaluation import (
    EmbeddingSimilarityEvaluator,
    InformationRetrievalEvaluator,
)

TEXTS = ["a cat sleeps", "paris is the capital", "two women sit"]


@pytest.fixture()
def saved_model(tiny_model, tmp_path) -> str:
    tiny_model.save(str(tmp_path / "model"))
    return str(tmp_path / "model")


def write_csv(path: Path, header: list[str], rows: list[tuple]) -> str:
    with open(path, "w", newline="", encoding="utf-8") as f:
        csv.writer(f).writerows([header, *rows])
    return str(path)


def write_jsonl(path: Path, records: list[dict]) -> str:
    path.write_text("".join(json.dumps(record) + "\n" for record in records), encoding="utf-8")
    return str(path)


@pytest.fixture()
def sts_file(tmp_path) -> str:
    return write_csv(tmp_path / "sts.csv", ["sentence1", "sentence2", "score"], [(a, b, s * 5) for a, b, s in PAIRS])


def parse_metrics(out: str) -> dict[str, float]:
    lines = [line.split("\t") for line in out.splitlines()]
    assert [name for name, _ in lines] == sorted(name for name, _ in lines)
    return {name: float(value) for name, value in lines}


def error_line(capsys) -> str:
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1, err
    return err


# ------------------------------------------------------------------------------------------------------ evaluate
def test_evaluate_sts_matches_the_evaluator(saved_model, sts_file, capsys):
    assert main(["evaluate", saved_model, "--sts", sts_file, "--score-scale", "5", "--no-progress"]) == 0
    metrics = parse_metrics(capsys.readouterr().out)
    columns = [list(column) for column in zip(*PAIRS, strict=True)]
    expected = EmbeddingSimilarityEvaluator(*columns, write_csv=False)(SentenceTransformer(saved_model, device="cpu"))
    assert set(metrics) == set(expected) == {"pearson_cosine", "spearman_cosine"}
    for name, value in expected.items():
        assert metrics[name] == pytest.approx(value, abs=1e-9)


def test_evaluate_sts_named_columns_json_and_output(saved_model, tmp_path, capsys):
    records = [{"id": i, "score": s, "left": a, "right": b} for i, (a, b, s) in enumerate(PAIRS)]
    sts = write_jsonl(tmp_path / "sts.jsonl", records)
    output = tmp_path / "metrics.json"
    args = ["evaluate", saved_model, "--sts", sts, "--columns", "left", "right", "score", "--json", "--no-progress"]
    assert main([*args, "--output", str(output)]) == 0
    printed = json.loads(capsys.readouterr().out)
    assert json.loads(output.read_text()) == printed
    columns = [list(column) for column in zip(*PAIRS, strict=True)]
    expected = EmbeddingSimilarityEvaluator(*columns, write_csv=False)(SentenceTransformer(saved_model, device="cpu"))
    assert printed["spearman_cosine"] == pytest.approx(expected["spearman_cosine"], abs=1e-9)


def test_evaluate_retrieval_matches_the_evaluator(saved_model, tmp_path, capsys):
    queries = {"q1": "what is the capital of france", "q2": "a cat on the windowsill", "q3": "who plays guitar"}
    corpus = {
        "d1": ("France", "paris is the capital of france"),
        "d2": ("", "a cat sleeps on the warm windowsill"),
        "d3": ("Music", "a man is playing a guitar on the street"),
        "d4": ("", "two women are sitting at a table"),
        "d5": ("Dogs", "the quick brown fox jumps over the lazy dog"),
    }
    qrels = [("q1", "d1", 1), ("q2", "d2", 1), ("q3", "d3", 2), ("q3", "d4", 0)]
    write_jsonl(tmp_path / "queries.jsonl", [{"_id": qid, "text": text} for qid, text in queries.items()])
    docs = [{"_id": cid, "title": title, "text": text} for cid, (title, text) in corpus.items()]
    write_jsonl(tmp_path / "corpus.jsonl", docs)
    lines = ["query-id\tcorpus-id\tscore", *("\t".join(map(str, row)) for row in qrels)]
    (tmp_path / "qrels.tsv").write_text("\n".join(lines) + "\n")
    files = ["--queries", str(tmp_path / "queries.jsonl"), "--corpus", str(tmp_path / "corpus.jsonl")]
    assert main(["evaluate", saved_model, *files, "--qrels", str(tmp_path / "qrels.tsv"), "--no-progress"]) == 0
    metrics = parse_metrics(capsys.readouterr().out)
    evaluator = InformationRetrievalEvaluator(
        queries,
        {cid: f"{title} {text}".strip() for cid, (title, text) in corpus.items()},
        {"q1": {"d1"}, "q2": {"d2"}, "q3": {"d3"}},
        write_csv=False,
    )
    expected = evaluator(SentenceTransformer(saved_model, device="cpu"))
    assert set(metrics) == set(expected) and "cosine_ndcg@10" in metrics
    for name, value in expected.items():
        assert metrics[name] == pytest.approx(value, abs=1e-9)


def test_evaluate_errors_are_one_line(saved_model, tmp_path, sts_file, capsys):
    assert main(["evaluate", saved_model, "--sts", str(tmp_path / "missing.csv")]) == 1
    assert "missing.csv" in error_line(capsys) and "not found"
    assert main(["evaluate", saved_model]) == 2
    assert "--sts" in error_line(capsys)
    assert main(["evaluate", saved_model, "--sts", sts_file, "--queries", sts_file]) == 2
    assert "not both" in error_line(capsys)
    assert main(["evaluate", saved_model, "--sts", sts_file, "--columns", "sentence1", "sentence2", "gold"]) == 2
    assert "no column 'gold'" in error_line(capsys)
    pairs = write_csv(tmp_path / "pairs.csv", ["anchor", "positive"], [("a", "b")])
    assert main(["evaluate", saved_model, "--sts", pairs]) == 2
    assert "two text columns and a score" in error_line(capsys)
    (tmp_path / "headerless.csv").write_text("a cat,a kitten,4.5\n")
    assert main(["evaluate", saved_model, "--sts", str(tmp_path / "headerless.csv")]) == 1
    assert "header" in error_line(capsys)


# --------------------------------------------------------------------------------------------------------- train
def embeddings(model_path: str) -> np.ndarray:
    return SentenceTransformer(model_path, device="cpu").encode(TEXTS)


QUICK = ["--max-steps", "2", "--batch-size", "4", "--lr", "1e-3", "--warmup-ratio", "0", "--no-progress"]


def test_train_mnrl_on_pairs(saved_model, tmp_path, capsys):
    data = write_csv(tmp_path / "pairs.csv", ["query", "answer"], [(a, b) for a, b, _ in PAIRS])
    out = str(tmp_path / "trained")
    status = main(["train", saved_model, data, "-o", out, "--loss", "MultipleNegativesRankingLoss", *QUICK])
    assert status == 0
    captured = capsys.readouterr()
    assert captured.out == ""  # no --eval: nothing but logs, on stderr
    assert "trained MultipleNegativesRankingLoss for 2 steps on 8 rows" in captured.err
    assert not np.allclose(embeddings(out), embeddings(saved_model), atol=1e-6)
    readme = (Path(out) / "README.md").read_text()
    assert "MultipleNegativesRankingLoss" in readme and "pairs.csv" in readme and "['anchor', 'positive']" in readme


def test_train_cosent_with_eval_before_and_after(saved_model, tmp_path, sts_file, capsys):
    records = [{"sentence1": a, "sentence2": b, "score": s * 5} for a, b, s in PAIRS]
    data = write_jsonl(tmp_path / "scored.jsonl", records)
    out = str(tmp_path / "trained")
    args = ["train", saved_model, data, "-o", out, "--score-scale", "5", "--eval", sts_file, *QUICK]
    assert main(args) == 0  # no --loss: a last column of numbers picks CoSENTLoss
    captured = capsys.readouterr()
    assert "training with CoSENTLoss" in captured.err
    lines = [line.split("\t") for line in captured.out.splitlines()]
    assert lines[0] == ["metric", "before", "after"]
    table = {name: (float(before), float(after)) for name, before, after in lines[1:]}
    assert set(table) == {"pearson_cosine", "spearman_cosine"}
    columns = [list(column) for column in zip(*PAIRS, strict=True)]
    evaluator = EmbeddingSimilarityEvaluator(*columns, write_csv=False)
    base = evaluator(SentenceTransformer(saved_model, device="cpu"))
    trained = evaluator(SentenceTransformer(out, device="cpu"))
    assert table["pearson_cosine"][0] == pytest.approx(base["pearson_cosine"], abs=1e-6)
    assert table["pearson_cosine"][1] == pytest.approx(trained["pearson_cosine"], abs=1e-5)
    assert not np.allclose(embeddings(out), embeddings(saved_model), atol=1e-6)
    readme = (Path(out) / "README.md").read_text()
    assert "CoSENTLoss" in readme and "['sentence1', 'sentence2', 'score']" in readme and "sts.csv" in readme


def test_train_errors_are_one_line(saved_model, tmp_path, sts_file, capsys):
    pairs = write_csv(tmp_path / "pairs.csv", ["anchor", "positive"], [(a, b) for a, b, _ in PAIRS])
    out = str(tmp_path / "out")
    assert main(["train", saved_model, pairs, "-o", out, "--loss", "NoSuchLoss"]) == 2
    line = error_line(capsys)
    assert "unknown loss 'NoSuchLoss'" in line and "CoSENTLoss" in line and "MultipleNegativesRankingLoss" in line
    assert main(["train", saved_model, sts_file, "-o", out, "--loss", "MultipleNegativesRankingLoss"]) == 2
    assert "holds numbers; for scored pairs use CoSENTLoss" in error_line(capsys)
    assert main(["train", saved_model, pairs, "-o", out, "--loss", "cosentloss"]) == 2
    assert "CoSENTLoss trains on rows (sentence1, sentence2, score)" in error_line(capsys)
    assert main(["train", saved_model, pairs, "-o", out, "--loss", "TripletLoss"]) == 2
    assert "has 2 columns (anchor, positive)" in error_line(capsys)
    assert main(["train", saved_model, str(tmp_path / "missing.csv"), "-o", out]) == 1
    assert "not found" in error_line(capsys)
    assert main(["train", saved_model, pairs, "-o", out, "--eval", str(tmp_path / "nope.csv")]) == 1
    assert "nope.csv" in error_line(capsys)
    assert main(["train", saved_model, pairs, "-o", out, "--epochs", "0"]) == 2
    assert "--epochs" in error_line(capsys)
    assert not os.path.exists(out)


# ---------------------------------------------------------------------------------------------------- subprocess
def start_cli(*args: str) -> subprocess.Popen:
    env = {**os.environ, "HF_HUB_OFFLINE": "1"}
    command = [sys.executable, "-m", "sentence_transformers.cli", *args]
    return subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)


def test_commands_in_a_subprocess(saved_model, tmp_path, sts_file):
    pairs = write_csv(tmp_path / "pairs.csv", ["anchor", "positive"], [(a, b) for a, b, _ in PAIRS])
    out = str(tmp_path / "trained")
    # Both at once: most of each run is importing torch and transformers.
    evaluating = start_cli("evaluate", saved_model, "--sts", sts_file, "--no-progress")
    training = start_cli("train", saved_model, pairs, "-o", out, "--max-steps", "1", "--batch-size", "4")
    evaluated, trained = evaluating.communicate(timeout=300), training.communicate(timeout=300)
    assert evaluating.returncode == 0, evaluated[1]
    assert set(parse_metrics(evaluated[0])) == {"pearson_cosine", "spearman_cosine"}
    assert training.returncode == 0, trained[1]
    assert trained[0] == "" and "trained MultipleNegativesRankingLoss for 1 step on" in trained[1]
    assert (Path(out) / "README.md").is_file()
