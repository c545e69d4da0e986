"""The command line with a sparse model (SparseEncoder): ``sbert encode`` rows, sparse ``index build``/``search``,
hybrid search fused with reciprocal rank fusion, and ``sbert info``."""

from __future__ import annotations

import io
import json
import os
from pathlib import Path

import numpy as np
import pytest

from sentence_transformers import SentenceTransformer, util
from sentence_transformers.cli import main
from sentence_transformers.cli.sparse import SparseMatrix, SparseRows, reciprocal_rank_fusion, search_sparse
from sentence_transformers.sparse_encoder import SparseEncoder

CORPUS = [
    "The quick brown fox jumps over the lazy dog.",
    "A man is playing a guitar on the street.",
    "Two women are sitting at a table and talking.",
    "What is the capital of France? Paris is the capital of France.",
    "Sentence embeddings map texts to dense vectors for semantic search.",
    "A cat sleeps on the warm windowsill in the afternoon sun.",
    "query: document: passage: search results ranking retrieval",
    "the dog sleeps",
    "a guitar on the street",
    "women talking at a table",
    "the lazy cat",
    "ranking documents by relevance",
]
QUERIES = ["a cat in the sun", "who plays the guitar?", "the capital of France", "search engines"]
VOCAB = 113  # the tiny tokenizer's vocabulary


@pytest.fixture(scope="module")
def work(tiny_mlm_dir, tiny_bert_dir, tmp_path_factory) -> Path:
    """The tiny SPLADE model (with a "query" prompt, so that queries and documents encode differently), the tiny
    dense model, the corpus and queries, and a sparse and a dense index of the corpus."""
    folder = tmp_path_factory.mktemp("cli-sparse")
    sparse = SparseEncoder(str(tiny_mlm_dir), device="cpu")
    sparse.prompts = {"query": "query: "}
    sparse.save(str(folder / "splade"))
    SentenceTransformer(str(tiny_bert_dir), device="cpu").save(str(folder / "dense"))
    (folder / "corpus.txt").write_text("\n".join(CORPUS) + "\n")
    (folder / "queries.txt").write_text("\n".join(QUERIES) + "\n")
    assert build(folder, "sparse-index", "splade") == 0
    assert build(folder, "dense-index", "dense") == 0
    return folder


@pytest.fixture(scope="module")
def splade(work) -> SparseEncoder:
    return SparseEncoder(str(work / "splade"), device="cpu")


@pytest.fixture(scope="module")
def dense_model(work) -> SentenceTransformer:
    return SentenceTransformer(str(work / "dense"), device="cpu")


def build(folder: Path, name: str, model: str, *options: str, corpus: str = "corpus.txt") -> int:
    args = ["index", "build", str(folder / corpus), "-o", str(folder / name), "-m", str(folder / model)]
    return main([*args, "--no-progress", *options])


def search_with_stderr(capsys, *options: str) -> tuple[list[dict], str]:
    capsys.readouterr()
    assert main(["search", *options, "--jsonl"]) == 0
    out, err = capsys.readouterr()
    return [json.loads(line) for line in out.splitlines()], err


def search_jsonl(capsys, *options: str) -> list[dict]:
    return search_with_stderr(capsys, *options)[0]


def by_query(records: list[dict], queries: list[str]) -> list[list[dict]]:
    return [[r for r in records if r["query"] == query] for query in queries]


def error_line(stderr: str) -> str:
    assert "Traceback" not in stderr
    lines = [line for line in stderr.splitlines() if "error:" in line]
    assert len(lines) == 1, stderr
    return lines[0]


def dense_rows(model: SparseEncoder, texts: list[str], role: str | None = None, **options) -> np.ndarray:
    encode = {"query": model.encode_query, "document": model.encode_document, None: model.encode}[role]
    return encode(texts, **options).to_dense().numpy()


def sparse_ranking(splade: SparseEncoder, queries: list[str], depth: int) -> list[list[tuple[int, float]]]:
    """By hand: each query's rows by dot product of dense copies, best first, equal scores by id, zeros left out."""
    scores = dense_rows(splade, queries, "query").astype(np.float64) @ dense_rows(splade, CORPUS, "document").T
    rankings = []
    for row in scores:
        order = sorted((i for i in range(len(CORPUS)) if row[i] != 0), key=lambda i: (-row[i], i))[:depth]
        rankings.append([(i, float(row[i])) for i in order])
    return rankings


def records_of(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()]


# ------------------------------------------------------------------------------------------------------ encode
def test_encode_jsonl_rows_equal_encode(work, splade, tmp_path, capsys):
    out = tmp_path / "rows.jsonl"
    argv = ["encode", str(work / "corpus.txt"), "-m", str(work / "splade"), "-o", str(out), "--chunk-size", "5"]
    assert main(argv) == 0
    assert f"encoded {len(CORPUS)} texts → sparse ({len(CORPUS)}, {VOCAB})" in capsys.readouterr().err
    records = records_of(out)
    assert [r["text"] for r in records] == CORPUS and all(set(r) == {"text", "indices", "values"} for r in records)
    got = np.zeros((len(CORPUS), VOCAB))
    for position, record in enumerate(records):
        assert record["indices"] == sorted(record["indices"]) and 0 not in record["values"]
        got[position, record["indices"]] = record["values"]
    np.testing.assert_allclose(got, dense_rows(splade, CORPUS), atol=1e-6)


def test_encode_to_stdout_with_max_active_dims_and_prompt(work, splade, monkeypatch, capsys):
    monkeypatch.setattr("sys.stdin", io.StringIO("\n".join(CORPUS[:3]) + "\n"))
    capsys.readouterr()
    assert main(["encode", "-m", str(work / "splade"), "--max-active-dims", "5", "--prompt-name", "query"]) == 0
    records = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [len(r["indices"]) for r in records] == [5, 5, 5]
    want = dense_rows(splade, CORPUS[:3], max_active_dims=5, prompt_name="query")
    for record, row in zip(records, want, strict=True):
        assert record["indices"] == np.flatnonzero(row).tolist()
        np.testing.assert_allclose(record["values"], row[row != 0], atol=1e-6)


def test_encode_parquet_in_row_groups(work, splade, tmp_path):
    pq = pytest.importorskip("pyarrow.parquet")
    out = tmp_path / "rows.parquet"
    argv = ["encode", str(work / "corpus.txt"), "-m", str(work / "splade"), "-o", str(out), "--chunk-size", "5"]
    assert main([*argv, "--quiet"]) == 0
    file = pq.ParquetFile(out)
    assert file.metadata.num_row_groups == 3
    types = [str(getattr(field.type, "value_type", field.type)) for field in file.schema_arrow]
    assert file.schema_arrow.names == ["text", "indices", "values"] and types == ["string", "int32", "float"]
    table = file.read().to_pydict()
    assert table["text"] == CORPUS
    got = np.zeros((len(CORPUS), VOCAB))
    for position, (indices, values) in enumerate(zip(table["indices"], table["values"], strict=True)):
        got[position, indices] = values
    np.testing.assert_allclose(got, dense_rows(splade, CORPUS), atol=1e-6)
    (tmp_path / "empty.txt").write_text("")
    assert main(["encode", str(tmp_path / "empty.txt"), "-m", str(work / "splade"), "-o", str(out), "-q"]) == 0
    assert pq.read_table(out).num_rows == 0 and pq.read_table(out).column_names == ["text", "indices", "values"]


def test_model_type_flag_encodes_a_plain_masked_lm_as_splade(work, tiny_mlm_dir, tmp_path):
    out = tmp_path / "rows.jsonl"
    argv = ["encode", str(work / "queries.txt"), "-m", str(tiny_mlm_dir), "-o", str(out), "--model-type", "splade"]
    assert main([*argv, "-q"]) == 0
    records = records_of(out)
    want = dense_rows(SparseEncoder(str(tiny_mlm_dir), device="cpu"), QUERIES)
    for record, row in zip(records, want, strict=True):
        assert record["indices"] == np.flatnonzero(row).tolist()


@pytest.mark.parametrize(
    ("options", "model", "fragment"),
    [
        (["-o", "out.npy"], "splade", "a SparseEncoder writes sparse rows to .jsonl or .parquet"),
        (["--normalize"], "splade", "--normalize: not for a SparseEncoder"),
        (["--precision", "int8", "--truncate-dim", "4"], "splade", "--precision, --truncate-dim: not for"),
        (["--max-active-dims", "0"], "splade", "--max-active-dims must be at least 1"),
        (["--max-active-dims", "4"], "dense", "--max-active-dims is for a SparseEncoder"),
    ],
)
def test_encode_usage_errors(work, tmp_path, capsys, monkeypatch, options, model, fragment):
    monkeypatch.chdir(tmp_path)
    assert main(["encode", str(work / "queries.txt"), "-m", str(work / model), *options]) == 2
    assert fragment in error_line(capsys.readouterr().err)
    assert os.listdir(tmp_path) == []


# ------------------------------------------------------------------------------------------------ sparse index
def test_sparse_index_folder(work, splade):
    folder = work / "sparse-index"
    manifest = json.loads((folder / "manifest.json").read_text())
    assert (manifest["index_type"], manifest["model_type"], manifest["model"]) == (
        "sparse", "SparseEncoder", str(work / "splade"))  # fmt: skip
    assert (manifest["dimension"], manifest["count"], manifest["similarity"]) == (VOCAB, len(CORPUS), "dot")
    assert (manifest["engine"], manifest["precision"], manifest["max_active_dims"]) == ("exact", "float32", None)
    dense_manifest = json.loads((work / "dense-index" / "manifest.json").read_text())
    assert manifest["texts_sha256"] == dense_manifest["texts_sha256"] and dense_manifest["index_type"] == "dense"
    offsets = np.load(folder / "sparse_offsets.npy")
    indices, values = np.load(folder / "sparse_indices.npy"), np.load(folder / "sparse_values.npy")
    assert (offsets.dtype, indices.dtype, values.dtype) == (np.int64, np.int32, np.float32)
    assert manifest["nnz"] == len(values) == offsets[-1]
    stored = SparseRows(offsets, indices.astype(np.int64), values, VOCAB).to_dense()
    np.testing.assert_allclose(stored, dense_rows(splade, CORPUS, "document"), atol=1e-6)
    assert not [name for name in os.listdir(folder) if name.startswith(".")]


def test_sparse_search_equals_the_dot_product_ranking(work, splade, capsys):
    index = str(work / "sparse-index")
    records, err = search_with_stderr(capsys, index, "--queries", str(work / "queries.txt"), "-k", "4")
    for hits, want in zip(by_query(records, QUERIES), sparse_ranking(splade, QUERIES, 4), strict=True):
        assert [h["id"] for h in hits] == [i for i, _ in want] and [h["rank"] for h in hits] == [1, 2, 3, 4]
        np.testing.assert_allclose([h["score"] for h in hits], [s for _, s in want], rtol=1e-5)
        assert [h["text"] for h in hits] == [CORPUS[i] for i, _ in want]
    assert "searched 4 queries with sparse exact search" in err


def test_sparse_search_with_query_max_active_dims(work, splade, capsys):
    hits = search_jsonl(capsys, str(work / "sparse-index"), QUERIES[1], "-k", "3", "--max-active-dims", "3")
    query = dense_rows(splade, QUERIES[1:2], "query", max_active_dims=3)[0]
    assert np.count_nonzero(query) == 3
    scores = dense_rows(splade, CORPUS, "document").astype(np.float64) @ query
    want = sorted(range(len(CORPUS)), key=lambda i: (-scores[i], i))[:3]
    assert [h["id"] for h in hits] == want
    np.testing.assert_allclose([h["score"] for h in hits], scores[want], rtol=1e-5)


def test_search_sparse_blocks_and_ties():
    """Blocks of 2 rows give the one-block result; equal scores rank by id; rows scoring 0 are no hits."""
    rows = SparseRows(
        offsets=np.array([0, 1, 2, 3, 3, 5, 6]),
        indices=np.array([0, 1, 0, 0, 2, 2]),
        values=np.array([2.0, 1.0, 2.0, 1.0, 5.0, 3.0], dtype=np.float32),
        dimension=3,
    )
    matrix = SparseMatrix(rows.offsets, rows.indices, rows.values, 3)
    queries = SparseRows(np.array([0, 1, 3]), np.array([0, 0, 2]), np.array([1.0, 1.0, 1.0], np.float32), 3)
    one_block = search_sparse(matrix, queries, top_k=3)
    assert search_sparse(matrix, queries, top_k=3, block_rows=2) == one_block
    assert [(h["corpus_id"], h["score"]) for h in one_block[0]] == [(0, 2.0), (2, 2.0), (4, 1.0)]
    assert [(h["corpus_id"], h["score"]) for h in one_block[1]] == [(4, 6.0), (5, 3.0), (0, 2.0)]  # 2 ties 0: out
    assert [h["corpus_id"] for h in search_sparse(matrix, queries, top_k=10, block_rows=1)[0]] == [0, 2, 4]


# ------------------------------------------------------------------------------------------------ hybrid (RRF)
def test_reciprocal_rank_fusion_by_hand():
    fused = reciprocal_rank_fusion([[3, 1, 2], [1, 4]], k=60)
    assert [(row, ranks) for row, _, ranks in fused] == [(1, [2, 1]), (3, [1, None]), (4, [None, 2]), (2, [3, None])]
    scores = {row: score for row, score, _ in fused}
    assert scores[1] == pytest.approx(1 / 62 + 1 / 61) and scores[3] == pytest.approx(1 / 61)
    assert [row for row, _, _ in reciprocal_rank_fusion([[5, 6], [6, 5]], k=1)] == [5, 6]  # a tie: lower id first


def hand_fusion(rankings: list[list[int]], k: float) -> list[tuple[int, float, list]]:
    scores: dict[int, float] = {}
    for ranking in rankings:
        for position, row in enumerate(ranking):
            scores[row] = scores.get(row, 0.0) + 1 / (k + position + 1)
    order = sorted(scores, key=lambda row: (-scores[row], row))
    ranks = [[ranking.index(row) + 1 if row in ranking else None for ranking in rankings] for row in order]
    return [(row, scores[row], rank) for row, rank in zip(order, ranks, strict=True)]


@pytest.mark.parametrize(
    ("rrf_options", "k", "depth"), [([], 60, 100), (["--rrf-k", "2", "--rrf-candidates", "4"], 2, 4)]
)
def test_hybrid_search_equals_a_fusion_by_hand(work, splade, dense_model, capsys, rrf_options, k, depth):
    records, err = search_with_stderr(capsys, str(work / "dense-index"), "--queries", str(work / "queries.txt"), "-k",
                                      "5", "--hybrid", str(work / "sparse-index"), *rrf_options)  # fmt: skip
    dense_hits = util.semantic_search(
        dense_model.encode_query(QUERIES), dense_model.encode_document(CORPUS), top_k=depth
    )
    sparse_hits = sparse_ranking(splade, QUERIES, depth)
    changed = 0
    for hits, dense_ranking, sparse_list in zip(by_query(records, QUERIES), dense_hits, sparse_hits, strict=True):
        rankings = [[hit["corpus_id"] for hit in dense_ranking], [i for i, _ in sparse_list]]
        want = hand_fusion(rankings, k)[:5]
        assert [h["id"] for h in hits] == [row for row, _, _ in want]
        np.testing.assert_allclose([h["score"] for h in hits], [score for _, score, _ in want], rtol=1e-12)
        assert [h["ranks"] for h in hits] == [ranks for _, _, ranks in want]
        assert [h["rank"] for h in hits] == list(range(1, 6))
        changed += [h["id"] for h in hits] != rankings[0][:5]
    assert changed  # the sparse ranking moved some results: the fusion is not the dense ranking again
    assert f"fused by reciprocal rank fusion (k={k:g}, {depth} candidates each)" in err


def test_hybrid_is_symmetric_and_prints_a_table(work, capsys):
    forward = search_jsonl(capsys, str(work / "dense-index"), QUERIES[0], "--hybrid", str(work / "sparse-index"))
    backward = search_jsonl(capsys, str(work / "sparse-index"), QUERIES[0], "--hybrid", str(work / "dense-index"))
    assert [(r["id"], r["score"]) for r in forward] == [(r["id"], r["score"]) for r in backward]
    assert [r["ranks"] for r in forward] == [r["ranks"][::-1] for r in backward]
    assert (
        main(["search", str(work / "dense-index"), QUERIES[0], "-k", "2", "--hybrid", str(work / "sparse-index")]) == 0
    )
    lines = capsys.readouterr().out.splitlines()
    assert lines[1].split() == ["rank", "score", "id", "text"] and len(lines) == 4
    assert float(lines[2].split()[1]) == pytest.approx(forward[0]["score"], abs=1e-4)


# ------------------------------------------------------------------------------------------------------ errors
@pytest.mark.parametrize(
    ("options", "status", "fragment"),
    [
        (["--rrf-k", "10"], 2, "--rrf-k go with --hybrid INDEX2"),
        (["--hybrid", "{work}/dense-index", "--rrf-candidates", "0"], 2, "--rrf-candidates must be at least 1"),
        (["--hybrid", "{work}/dense-index", "--rrf-k", "-1"], 2, "--rrf-k must not be negative"),
        (["--engine", "usearch"], 2, "--engine usearch is for dense indexes"),
        (["--hybrid", "{work}/small-index"], 1, "hybrid search fuses two indexes of the same corpus"),
        (["--hybrid", "{work}/other-index"], 1, "hold different texts"),
    ],
)
def test_search_errors(work, capsys, options, status, fragment):
    if not (work / "small-index").exists():
        (work / "small.txt").write_text("\n".join(CORPUS[:4]) + "\n")
        (work / "other.txt").write_text("\n".join(reversed(CORPUS)) + "\n")
        assert build(work, "small-index", "dense", corpus="small.txt") == 0
        assert build(work, "other-index", "dense", corpus="other.txt") == 0
    options = [option.format(work=work) for option in options]
    assert main(["search", str(work / "sparse-index"), "cat", *options]) == status
    assert fragment in error_line(capsys.readouterr().err)


def test_max_active_dims_needs_a_sparse_index(work, capsys):
    assert main(["search", str(work / "dense-index"), "cat", "--max-active-dims", "4"]) == 2
    assert "--max-active-dims is for sparse indexes" in error_line(capsys.readouterr().err)


def test_build_usage_errors(work, tmp_path, capsys):
    for model, options, fragment in [
        ("splade", ["--precision", "int8"], "--precision: a SparseEncoder builds a sparse index"),
        ("splade", ["--engine", "faiss", "--normalize"], "--normalize, --engine: a SparseEncoder"),
        ("dense", ["--max-active-dims", "8"], "--max-active-dims is for a SparseEncoder's sparse index"),
    ]:
        assert build(tmp_path, "idx", str(work / model), *options, corpus=str(work / "corpus.txt")) == 2
        assert fragment in error_line(capsys.readouterr().err)
    assert not (tmp_path / "idx").exists()


def test_build_with_max_active_dims(work, splade, tmp_path):
    assert build(tmp_path, "idx", str(work / "splade"), "--max-active-dims", "4", corpus=str(work / "corpus.txt")) == 0
    manifest = json.loads((tmp_path / "idx" / "manifest.json").read_text())
    assert manifest["max_active_dims"] == 4 and manifest["nnz"] == 4 * len(CORPUS)
    assert np.diff(np.load(tmp_path / "idx" / "sparse_offsets.npy")).tolist() == [4] * len(CORPUS)


def copy_index(source: Path, target: Path) -> Path:
    target.mkdir()
    for name in os.listdir(source):
        (target / name).write_bytes((source / name).read_bytes())
    return target


def test_bad_sparse_index_folders(work, tmp_path, capsys):
    missing = copy_index(work / "sparse-index", tmp_path / "missing")
    (missing / "sparse_values.npy").unlink()
    short = copy_index(work / "sparse-index", tmp_path / "short")
    np.save(short / "sparse_offsets.npy", np.load(short / "sparse_offsets.npy")[:-1])
    outside = copy_index(work / "sparse-index", tmp_path / "outside")
    np.save(outside / "sparse_indices.npy", np.load(outside / "sparse_indices.npy") + VOCAB)
    for folder, problem in [
        (missing, "sparse_values.npy is missing"),
        (short, f"sparse_offsets.npy has {len(CORPUS) - 1} rows but the manifest's count is {len(CORPUS)}"),
        (outside, f"sparse_indices.npy holds dimensions outside [0, {VOCAB})"),
    ]:
        assert main(["search", str(folder), "cat"]) == 1
        line = error_line(capsys.readouterr().err)
        assert line.startswith(f"sbert: error: index folder {folder}: ") and problem in line


# ------------------------------------------------------------------------------------------------------- info
def test_info_on_a_sparse_model(work, splade, capsys):
    assert main(["info", str(work / "splade"), "--json"]) == 0
    info = json.loads(capsys.readouterr().out)
    assert info["model_type"] == "SparseEncoder" and info["embedding_dimension"] == VOCAB and info["sparse"] is True
    assert info["max_active_dims"] is None and info["similarity_fn_name"] == "dot"
    assert [module["class"] for module in info["modules"]][-1] == "SpladePooling"
    assert info["parameters"] == sum(p.numel() for p in splade.parameters())
    assert main(["info", str(work / "splade")]) == 0
    out = capsys.readouterr().out
    assert "model type:          SparseEncoder" in out and f"embedding dimension: {VOCAB} (sparse" in out
    assert "max_active_dims:     all" in out


def test_info_model_type_flag_on_a_plain_masked_lm(tiny_mlm_dir, capsys):
    assert main(["info", str(tiny_mlm_dir), "--json", "--model-type", "sparse"]) == 0
    info = json.loads(capsys.readouterr().out)
    assert info["model_type"] == "SparseEncoder" and info["embedding_dimension"] == VOCAB
