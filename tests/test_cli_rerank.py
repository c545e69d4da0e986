"""``sbert rerank``, and ``sbert info`` / ``sbert export`` on a reranker folder."""

from __future__ import annotations

import io
import json
from pathlib import Path

import numpy as np
import pytest
import torch

from sentence_transformers.cli import main
from sentence_transformers.cross_encoder import CrossEncoder

QUERY = "a cat on the windowsill"
DOCS = [
    "A cat sleeps on the warm windowsill in the afternoon sun.",
    "The quick brown fox jumps over the lazy dog.",
    "Paris is the capital of France.",
    "a cat",
    "Two women are sitting at a table and talking.",
]


@pytest.fixture(scope="module")
def reranker_dir(tiny_bert_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> str:
    """The tiny BERT with a fresh one-label head, its matrices redrawn wider so that the documents' scores differ."""
    torch.manual_seed(0)
    model = CrossEncoder(str(tiny_bert_dir), num_labels=1, device="cpu")
    with torch.no_grad():
        for parameter in model.model.parameters():
            if parameter.ndim == 2:
                torch.nn.init.normal_(parameter, std=0.5)
    folder = tmp_path_factory.mktemp("cli-rerank") / "reranker"
    model.save(str(folder))
    return str(folder)


@pytest.fixture(scope="module")
def reranker(reranker_dir: str) -> CrossEncoder:
    return CrossEncoder(reranker_dir, device="cpu")


def error_line(stderr: str) -> str:
    assert "Traceback" not in stderr
    lines = [line for line in stderr.splitlines() if "error:" in line]
    assert len(lines) == 1, stderr
    return lines[0]


# ---------------------------------------------------------------------------------------------------- ranking
def test_rerank_jsonl_equals_rank(reranker_dir, reranker, tmp_path, capsys):
    (tmp_path / "docs.txt").write_text("\n".join(DOCS) + "\n")
    assert main(["rerank", reranker_dir, QUERY, str(tmp_path / "docs.txt"), "-k", "3", "--jsonl"]) == 0
    captured = capsys.readouterr()
    records = [json.loads(line) for line in captured.out.splitlines()]
    expected = reranker.rank(QUERY, DOCS, top_k=3, return_documents=True)
    assert [r["rank"] for r in records] == [1, 2, 3]
    assert [r["index"] for r in records] == [hit["corpus_id"] for hit in expected]
    assert [r["text"] for r in records] == [hit["text"] for hit in expected]
    np.testing.assert_allclose([r["score"] for r in records], [hit["score"] for hit in expected], atol=1e-6)
    assert "ranked 5 documents" in captured.err and "Scoring" in captured.err  # progress on stderr


def test_rerank_table_from_jsonl_column_and_all(reranker_dir, reranker, tmp_path, capsys):
    path = tmp_path / "docs.jsonl"
    path.write_text("".join(json.dumps({"id": i, "body": doc}) + "\n" for i, doc in enumerate(DOCS)))
    assert main(["rerank", reranker_dir, QUERY, str(path), "--column", "body", "-k", "0", "--no-progress"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == f"query: {QUERY}" and lines[1].split() == ["rank", "score", "index", "text"]
    expected = reranker.rank(QUERY, DOCS)
    assert len(lines) == 2 + len(DOCS)
    for line, hit in zip(lines[2:], expected, strict=True):
        rank, score, index, *words = line.split()
        assert int(index) == hit["corpus_id"] and " ".join(words) == DOCS[hit["corpus_id"]]
        assert abs(float(score) - hit["score"]) <= 5e-5


def test_rerank_from_stdin_in_chunks_keeps_the_best(reranker_dir, reranker, monkeypatch, capsys):
    import sentence_transformers.cli.rerank as rerank_module

    monkeypatch.setattr(rerank_module, "CHUNK_SIZE", 2)  # the best are merged across chunks
    monkeypatch.setattr("sys.stdin", io.StringIO("\n".join(DOCS) + "\n"))
    assert main(["rerank", reranker_dir, QUERY, "-", "-k", "2", "--jsonl", "-q"]) == 0
    captured = capsys.readouterr()
    expected = reranker.rank(QUERY, DOCS, top_k=2)
    assert [json.loads(line)["index"] for line in captured.out.splitlines()] == [h["corpus_id"] for h in expected]
    assert captured.err == ""


def test_rerank_raw_scores(reranker_dir, reranker, tmp_path, capsys):
    (tmp_path / "docs.txt").write_text("\n".join(DOCS))
    assert main(["rerank", reranker_dir, QUERY, str(tmp_path / "docs.txt"), "--raw-scores", "--jsonl", "-q"]) == 0
    records = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    logits = reranker.predict([(QUERY, doc) for doc in DOCS], activation_fn=torch.nn.Identity())
    np.testing.assert_allclose([r["score"] for r in records], [logits[r["index"]] for r in records], atol=1e-6)
    assert any(r["score"] < 0 or r["score"] > 1 for r in records)  # not squashed by the sigmoid


# ------------------------------------------------------------------------------------------------------ pairs
def test_rerank_pairs_in_input_order(reranker_dir, reranker, tmp_path, capsys):
    pairs = [(QUERY, doc) for doc in DOCS]
    (tmp_path / "pairs.tsv").write_text("".join(f"{a}\t{b}\n" for a, b in pairs))
    assert main(["rerank", reranker_dir, "--pairs", str(tmp_path / "pairs.tsv")]) == 0
    captured = capsys.readouterr()
    rows = [line.split("\t") for line in captured.out.splitlines()]
    assert [tuple(row[1:]) for row in rows] == pairs
    np.testing.assert_allclose([float(row[0]) for row in rows], reranker.predict(pairs), atol=1e-6)
    assert "scored 5 pairs" in captured.err


def test_rerank_pairs_columns_jsonl(reranker_dir, reranker, tmp_path, capsys):
    path = tmp_path / "pairs.csv"
    path.write_text("q,passage,label\n" + "".join(f'"{QUERY}","{doc}",1\n' for doc in DOCS))
    assert main(["rerank", reranker_dir, "--pairs", str(path), "--columns", "q", "passage", "--jsonl"]) == 0
    records = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [(r["a"], r["b"]) for r in records] == [(QUERY, doc) for doc in DOCS]
    np.testing.assert_allclose([r["score"] for r in records], reranker.predict([(QUERY, d) for d in DOCS]), atol=1e-6)


# ----------------------------------------------------------------------------------------------------- errors
@pytest.mark.parametrize(
    ("args", "status", "fragment"),
    [
        (["Q"], 2, "give a query and DOCS_FILE"),
        (["Q", "docs.txt", "-k", "-1"], 2, "-k must be 0 (all) or more"),
        (["--pairs", "p.tsv", "--column", "x"], 2, "--column goes with DOCS_FILE"),
        (["Q", "missing.txt"], 1, "input file 'missing.txt' not found"),
        (["--pairs", "missing.tsv"], 1, "pairs file 'missing.tsv' not found"),
    ],
)
def test_rerank_errors_are_one_line(reranker_dir, args, status, fragment, capsys):
    assert main(["rerank", reranker_dir, *args]) == status
    assert fragment in error_line(capsys.readouterr().err)


def test_rerank_refuses_an_embedding_model(tiny_model, tmp_path, capsys):
    tiny_model.save(str(tmp_path / "embedder"))
    (tmp_path / "docs.txt").write_text("a\nb\n")
    assert main(["rerank", str(tmp_path / "embedder"), "q", str(tmp_path / "docs.txt")]) == 1
    assert "is a SentenceTransformer (embedding model), not a reranker" in error_line(capsys.readouterr().err)


# ----------------------------------------------------------------------------------------------- info, export
def test_info_on_a_reranker(reranker_dir, reranker, capsys):
    assert main(["info", reranker_dir, "--json"]) == 0
    info = json.loads(capsys.readouterr().out)
    assert info["model_type"] == "CrossEncoder" and info["num_labels"] == 1
    assert info["activation_fn"] == "torch.nn.modules.activation.Sigmoid"
    assert info["embedding_dimension"] is None and info["max_seq_length"] == 64
    assert info["parameters"] == sum(p.numel() for p in reranker.parameters())
    assert main(["info", reranker_dir]) == 0
    out = capsys.readouterr().out
    assert "model type:          CrossEncoder" in out and "num_labels:          1" in out


def test_export_a_reranker_to_onnx(reranker_dir, reranker, tmp_path, capsys):
    out = tmp_path / "onnx-reranker"
    assert main(["export", reranker_dir, "--onnx", "-o", str(out)]) == 0
    captured = capsys.readouterr()
    assert str(out / "onnx" / "model.onnx") in captured.out.splitlines()
    assert "load with CrossEncoder(" in captured.err
    exported = CrossEncoder(str(out), backend="onnx", device="cpu")
    pairs = [(QUERY, doc) for doc in DOCS]
    np.testing.assert_allclose(exported.predict(pairs), reranker.predict(pairs), atol=1e-5)


def test_export_says_so_when_the_backend_cannot_run_the_task(reranker_dir, tmp_path, monkeypatch, capsys):
    import sentence_transformers.cli.models as models

    def unsupported(*args, **kwargs):
        raise NotImplementedError("transformer_task='sequence-classification' runs on the torch backend only")

    monkeypatch.setattr(models, "load_model", unsupported)
    assert main(["export", reranker_dir, "--openvino", "-o", str(tmp_path / "ov")]) == 1
    line = error_line(capsys.readouterr().err)
    assert "cannot export this CrossEncoder to openvino" in line and "sequence-classification" in line
    assert not (tmp_path / "ov").exists()
