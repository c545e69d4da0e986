"""The command line with a late-interaction model (MultiVectorEncoder built from all-MiniLM-L6-v2): multi-vector
``index build`` (exact and plaid engines) and ``search`` by MaxSim, checked against rankings by hand."""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pytest
import torch

from sentence_transformers import SentenceTransformer
from sentence_transformers.cli import main
from sentence_transformers.cli.multi_vector import TokenVectors
from sentence_transformers.multi_vector_encoder import MultiVectorEncoder
from sentence_transformers.util.multi_vector_index import MultiVectorIndex
from test_multi_vector_model import build as build_model

CORPUS = [
    "The quick brown fox jumps over the lazy dog.",
    "A man is playing a guitar on the street.",
    "Two women are sitting at a table and talking.",
    "Paris is the capital of France.",
    "Sentence embeddings map texts to vectors for semantic search.",
    "A cat sleeps on the warm windowsill in the afternoon sun.",
    "the dog sleeps",
    "a guitar on the street",
    "women talking at a table",
    "the lazy cat",
]
QUERIES = ["a cat in the sun", "who plays the guitar?", "the capital of France", "search engines"]


@pytest.fixture(scope="module")
def work(minilm_path, tmp_path_factory) -> Path:
    """The multi-vector model (and a MeanMaxSim twin), a dense model, the corpus and queries, and the indexes."""
    folder = tmp_path_factory.mktemp("cli-multi-vector")
    build_model(minilm_path).save(str(folder / "colbert"))
    build_model(minilm_path, similarity_fn_name="meanmaxsim").save(str(folder / "colbert-mean"))
    SentenceTransformer(str(minilm_path), device="cpu").save(str(folder / "dense"))
    (folder / "corpus.txt").write_text("\n".join(CORPUS) + "\n")
    (folder / "queries.txt").write_text("\n".join(QUERIES) + "\n")
    assert build(folder, "exact-index", "colbert", "--chunk-size", "4") == 0  # several chunks streamed
    assert build(folder, "plaid-index", "colbert", "--engine", "plaid") == 0
    return folder


@pytest.fixture(scope="module")
def model(work) -> MultiVectorEncoder:
    return MultiVectorEncoder(str(work / "colbert"), device="cpu")


def build(folder: Path, name: str, model: str, *options: str) -> int:
    args = ["index", "build", str(folder / "corpus.txt"), "-o", str(folder / name), "-m", str(folder / model)]
    return main([*args, "--no-progress", *options])


def search(capsys, *options: str) -> tuple[list[dict], str]:
    capsys.readouterr()
    assert main(["search", *options, "--jsonl"]) == 0
    out, err = capsys.readouterr()
    return [json.loads(line) for line in out.splitlines()], err


def by_query(records: list[dict]) -> list[list[dict]]:
    return [[r for r in records if r["query"] == query] for query in QUERIES]


def error_line(stderr: str) -> str:
    assert "Traceback" not in stderr
    lines = [line for line in stderr.splitlines() if "error:" in line]
    assert len(lines) == 1, stderr
    return lines[0]


def ranking(model: MultiVectorEncoder, depth: int) -> list[list[tuple[int, float]]]:
    """By hand: ``model.similarity`` of every query against every document, best first (ties by id)."""
    scores = model.similarity(model.encode_query(QUERIES), model.encode_document(CORPUS)).numpy()
    return [[(i, float(row[i])) for i in sorted(range(len(CORPUS)), key=lambda i: (-row[i], i))[:depth]]
            for row in scores]  # fmt: skip


# ------------------------------------------------------------------------------------------------------ exact
def test_exact_index_folder_holds_the_document_token_vectors(work, model):
    folder = work / "exact-index"
    manifest = json.loads((folder / "manifest.json").read_text())
    assert (manifest["index_type"], manifest["model_type"], manifest["model"]) == (
        "multi_vector", "MultiVectorEncoder", str(work / "colbert"))  # fmt: skip
    assert (manifest["engine"], manifest["precision"], manifest["similarity"]) == ("exact", "float32", "maxsim")
    assert (manifest["dimension"], manifest["count"]) == (128, len(CORPUS))
    offsets, vectors = np.load(folder / "mv_offsets.npy"), np.load(folder / "mv_vectors.npy")
    assert (offsets.dtype, vectors.dtype, vectors.shape[1]) == (np.int64, np.float32, 128)
    assert manifest["tokens"] == len(vectors) == offsets[-1]
    documents = TokenVectors(offsets, vectors)
    for stored, expected in zip(documents[0 : len(CORPUS)], model.encode_document(CORPUS), strict=True):
        torch.testing.assert_close(stored, expected, atol=1e-6, rtol=0)
    torch.testing.assert_close(documents[-1], documents[len(CORPUS) - 1 : len(CORPUS)][0])
    assert documents[3:3] == []
    assert not [name for name in os.listdir(folder) if name.startswith(".")]
    texts = [json.loads(line)["text"] for line in (folder / "texts.jsonl").read_text().splitlines()]
    assert texts == CORPUS


def test_exact_search_equals_the_maxsim_ranking(work, model, capsys):
    records, err = search(capsys, str(work / "exact-index"), "--queries", str(work / "queries.txt"), "-k", "4")
    for hits, want in zip(by_query(records), ranking(model, 4), strict=True):
        assert [h["id"] for h in hits] == [i for i, _ in want] and [h["rank"] for h in hits] == [1, 2, 3, 4]
        np.testing.assert_allclose([h["score"] for h in hits], [s for _, s in want], rtol=1e-6, atol=1e-5)
        assert [h["text"] for h in hits] == [CORPUS[i] for i, _ in want]
    assert "searched 4 queries with multi-vector exact maxsim search" in err


def test_search_prints_a_table(work, model, capsys):
    capsys.readouterr()
    assert main(["search", str(work / "exact-index"), QUERIES[1], "-k", "2"]) == 0
    lines = capsys.readouterr().out.splitlines()
    (best, score), (second, _) = ranking(model, 2)[1]
    assert lines[0] == f"query: {QUERIES[1]}" and lines[1].split() == ["rank", "score", "id", "text"]
    assert lines[2].split(None, 3) == ["1", f"{score:.4f}", str(best), CORPUS[best]]
    assert lines[3].split(None, 3)[2:] == [str(second), CORPUS[second]]


def test_meanmaxsim_index_scores_as_the_model(work, capsys):
    assert build(work, "mean-index", "colbert-mean") == 0
    mean = MultiVectorEncoder(str(work / "colbert-mean"), device="cpu")
    assert json.loads((work / "mean-index" / "manifest.json").read_text())["similarity"] == "meanmaxsim"
    records, _ = search(capsys, str(work / "mean-index"), "--queries", str(work / "queries.txt"), "-k", "3")
    for hits, want in zip(by_query(records), ranking(mean, 3), strict=True):
        assert [h["id"] for h in hits] == [i for i, _ in want]
        np.testing.assert_allclose([h["score"] for h in hits], [s for _, s in want], rtol=1e-6, atol=1e-6)
        assert all(0 < h["score"] <= 1.0001 for h in hits)  # MaxSim divided by the 32 query tokens


# ------------------------------------------------------------------------------------------------------ plaid
def test_plaid_index_is_a_multi_vector_index_of_the_corpus(work, model, capsys):
    folder = work / "plaid-index"
    manifest = json.loads((folder / "manifest.json").read_text())
    assert (manifest["engine"], manifest["precision"], manifest["index_type"]) == ("plaid", "int8", "multi_vector")
    index = MultiVectorIndex.load(folder / "plaid")
    assert len(index) == len(CORPUS) and index.dim == 128
    assert manifest["tokens"] == sum(len(row) for row in model.encode_document(CORPUS))
    records, err = search(capsys, str(folder), "--queries", str(work / "queries.txt"), "-k", "3")
    expected = index.search(model.encode_query(QUERIES), top_k=3)
    exact = ranking(model, 3)
    for hits, want, best in zip(by_query(records), expected, exact, strict=True):
        assert [h["id"] for h in hits] == [hit["corpus_id"] for hit in want]
        np.testing.assert_allclose([h["score"] for h in hits], [hit["score"] for hit in want], rtol=1e-6)
        assert hits[0]["id"] == best[0][0]  # int8 vectors rank the best document first here
        assert abs(hits[0]["score"] - best[0][1]) < 0.05 * abs(best[0][1])
    assert "multi-vector plaid maxsim search" in err


# ---------------------------------------------------------------------------------------------- hybrid, errors
def test_hybrid_with_a_dense_index(work, capsys):
    assert build(work, "dense-index", "dense") == 0
    options = ["--hybrid", str(work / "dense-index"), "-k", "3"]
    records, err = search(capsys, str(work / "exact-index"), QUERIES[2], *options)
    assert [r["rank"] for r in records] == [1, 2, 3] and records[0]["id"] == 3  # Paris
    assert all(len(r["ranks"]) == 2 for r in records)
    assert "multi-vector exact maxsim search + " in err and "reciprocal rank fusion" in err


def test_build_usage_errors(work, tmp_path, capsys):
    (tmp_path / "corpus.txt").write_text("\n".join(CORPUS) + "\n")
    for model, options, fragment in [
        ("colbert", ["--precision", "int8"], "--precision: a MultiVectorEncoder builds a multi-vector index"),
        ("colbert", ["--normalize", "--max-active-dims", "4"], "--normalize, --max-active-dims: a MultiVectorEnc"),
        ("colbert", ["--engine", "faiss"], "--engine faiss: a multi-vector index is searched with exact or plaid"),
        ("dense", ["--engine", "plaid"], "--engine plaid is for a MultiVectorEncoder's multi-vector index"),
    ]:
        args = ["index", "build", str(tmp_path / "corpus.txt"), "-o", str(tmp_path / "idx"), "-m", str(work / model)]
        assert main([*args, "--no-progress", *options]) == 2
        assert fragment in error_line(capsys.readouterr().err)
    assert not (tmp_path / "idx").exists()


@pytest.mark.parametrize(
    ("index", "options", "fragment"),
    [
        ("exact-index", ["--engine", "usearch"], "--engine usearch is for dense indexes"),
        ("plaid-index", ["--exact"], "is a plaid multi-vector index"),
        ("exact-index", ["--max-active-dims", "4"], "--max-active-dims is for sparse indexes"),
    ],
)
def test_search_usage_errors(work, capsys, index, options, fragment):
    assert main(["search", str(work / index), "cat", *options]) == 2
    assert fragment in error_line(capsys.readouterr().err)


def copy_index(source: Path, target: Path) -> Path:
    target.mkdir()
    for name in os.listdir(source):
        (target / name).write_bytes((source / name).read_bytes())
    return target


def test_bad_multi_vector_index_folders(work, tmp_path, capsys):
    missing = copy_index(work / "exact-index", tmp_path / "missing")
    (missing / "mv_vectors.npy").unlink()
    short = copy_index(work / "exact-index", tmp_path / "short")
    np.save(short / "mv_offsets.npy", np.load(short / "mv_offsets.npy")[:-1])
    wide = copy_index(work / "exact-index", tmp_path / "wide")
    manifest = json.loads((wide / "manifest.json").read_text())
    (wide / "manifest.json").write_text(json.dumps({**manifest, "dimension": 64}))
    cosine = copy_index(work / "exact-index", tmp_path / "cosine")
    (cosine / "manifest.json").write_text(json.dumps({**manifest, "similarity": "cosine"}))
    for folder, problem in [
        (missing, "mv_vectors.npy is missing"),
        (short, f"mv_offsets.npy is int64 ({len(CORPUS)},), not int64 [count + 1 = {len(CORPUS) + 1}]"),
        (wide, "mv_vectors.npy is float32"),
        (cosine, "a multi-vector index's similarity is one of ('maxsim', 'meanmaxsim')"),
    ]:
        assert main(["search", str(folder), "cat"]) == 1
        line = error_line(capsys.readouterr().err)
        assert line.startswith(f"sbert: error: index folder {folder}: ") and problem in line


def test_other_commands_refuse_a_multi_vector_folder_clearly(work, capsys):
    assert main(["encode", str(work / "corpus.txt"), "-m", str(work / "colbert"), "--no-progress"]) == 1
    assert "holds a MultiVectorEncoder (late-interaction) model" in error_line(capsys.readouterr().err)
    code = main(["encode", str(work / "corpus.txt"), "-m", str(work / "colbert"), "--model-type", "multi-vector"])
    assert code == 1 and "is a MultiVectorEncoder: it gives a vector per token" in error_line(capsys.readouterr().err)
