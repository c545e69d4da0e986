"""The ``sbert index build`` and ``sbert search`` commands."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from sentence_transformers import SentenceTransformer, util
from sentence_transformers.cli import index as index_cli
from sentence_transformers.cli import main

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
ENGINES = ("faiss", "usearch", "exact")
QUANTIZED = ("int8", "uint8", "binary", "ubinary")


@pytest.fixture(scope="module")
def work(tiny_bert_dir, tmp_path_factory) -> Path:
    """A folder with the saved tiny model (as the ``tiny_model`` fixture loads it), the corpus, the queries, and an
    index per precision (built once for the module)."""
    folder = tmp_path_factory.mktemp("index")
    SentenceTransformer(str(tiny_bert_dir), device="cpu").save(str(folder / "model"))
    (folder / "corpus.txt").write_text("\n".join(CORPUS) + "\n")
    (folder / "queries.txt").write_text("\n".join(QUERIES) + "\n")
    for precision in ("float32", *QUANTIZED):
        assert build(folder, f"idx-{precision}", "--precision", precision) == 0
    return folder


@pytest.fixture(scope="module")
def model(work) -> SentenceTransformer:
    return SentenceTransformer(str(work / "model"), device="cpu")


def build(folder: Path, name: str, *options: str, corpus: str = "corpus.txt") -> int:
    args = ["index", "build", str(folder / corpus), "-o", str(folder / name), "-m", str(folder / "model")]
    return main([*args, "--no-progress", *options])


def search_jsonl(capsys, folder: Path, *options: str) -> list[dict]:
    capsys.readouterr()
    assert main(["search", *options, "--jsonl"]) == 0
    return [json.loads(line) for line in capsys.readouterr().out.splitlines()]


def by_query(records: list[dict], queries: list[str]) -> list[list[dict]]:
    return [[r for r in records if r["query"] == query] for query in queries]


# ------------------------------------------------------------------------------------------------------ the folder
def test_folder_format(work):
    folder = work / "idx-int8"
    manifest = json.loads((folder / "manifest.json").read_text())
    assert manifest["format"] == "sbert-index" and manifest["format_version"] == 1
    assert manifest["model"] == str(work / "model")
    assert (manifest["precision"], manifest["dimension"], manifest["count"]) == ("int8", 32, len(CORPUS))
    assert manifest["similarity"] == "cosine" and manifest["normalize"] is True
    assert manifest["engine"] == "faiss"
    assert np.asarray(manifest["ranges"]).shape == (2, 32)
    assert np.load(folder / "embeddings.npy").dtype == np.int8
    lines = [json.loads(line) for line in (folder / "texts.jsonl").read_text().splitlines()]
    assert lines == [{"id": i, "text": text} for i, text in enumerate(CORPUS)]
    assert np.load(work / "idx-binary" / "embeddings.npy").shape == (len(CORPUS), 4)
    assert json.loads((work / "idx-binary" / "manifest.json").read_text())["ranges"] is None
    assert sorted(os.listdir(work)) == sorted(
        ["model", "corpus.txt", "queries.txt", *(f"idx-{p}" for p in ("float32", *QUANTIZED))]
    )  # no staging folder left behind


def test_float_embeddings_are_the_models(work, model):
    expected = model.encode(CORPUS, normalize_embeddings=True)
    np.testing.assert_allclose(np.load(work / "idx-float32" / "embeddings.npy"), expected, atol=1e-6)


# ------------------------------------------------------------------------------------------------------ searching
@pytest.mark.parametrize("engine", ENGINES)
def test_float_search_equals_semantic_search(work, model, capsys, engine):
    records = search_jsonl(capsys, work, str(work / "idx-float32"), "--queries", str(work / "queries.txt"), "-k", "5",
                           "--engine", engine)  # fmt: skip
    expected = util.semantic_search(model.encode(QUERIES), model.encode(CORPUS), top_k=5)
    for query, hits, want in zip(QUERIES, by_query(records, QUERIES), expected, strict=True):
        assert [h["rank"] for h in hits] == [1, 2, 3, 4, 5]
        assert [h["id"] for h in hits] == [w["corpus_id"] for w in want], query
        np.testing.assert_allclose([h["score"] for h in hits], [w["score"] for w in want], atol=1e-5)
        assert [h["text"] for h in hits] == [CORPUS[w["corpus_id"]] for w in want]


def rescored(model, precision: str) -> np.ndarray:
    """Float query · dequantized corpus row for every (corpus text as query, corpus row) pair, computed here."""
    floats = model.encode(CORPUS, normalize_embeddings=True)
    if precision in ("binary", "ubinary"):
        rows = (floats > 0).astype(np.float32)
    else:
        low, high = floats.min(axis=0), floats.max(axis=0)
        steps = (high - low) / 255
        rows = low + np.clip(np.floor((floats - low) / steps), 0, 255) * steps
    return floats @ rows.T


@pytest.mark.parametrize("engine", ENGINES)
@pytest.mark.parametrize("precision", QUANTIZED)
def test_quantized_search_rescores(work, model, capsys, precision, engine):
    (work / "same.txt").write_text("\n".join(CORPUS) + "\n")
    records = search_jsonl(capsys, work, str(work / f"idx-{precision}"), "--queries", str(work / "same.txt"), "-k",
                           "3", "--engine", engine)  # fmt: skip
    scores = rescored(model, precision)
    for i, hits in enumerate(by_query(records, CORPUS)):
        assert hits[0]["id"] == i and hits[0]["text"] == CORPUS[i]
        np.testing.assert_allclose([h["score"] for h in hits], scores[i, [h["id"] for h in hits]], atol=1e-4)
        assert [h["score"] for h in hits] == sorted((h["score"] for h in hits), reverse=True)


def test_table_output(work, capsys):
    capsys.readouterr()
    assert main(["search", str(work / "idx-float32"), "the lazy cat", "-k", "2", "--exact"]) == 0
    out, err = capsys.readouterr()
    lines = out.splitlines()
    assert lines[0] == "query: the lazy cat"
    assert lines[1].split() == ["rank", "score", "id", "text"]
    assert lines[2].split()[0] == "1" and lines[2].split()[2] == "10" and lines[2].endswith("  the lazy cat")
    assert float(lines[2].split()[1]) == pytest.approx(1.0, abs=1e-4)
    assert len(lines) == 4 and "searched 1 queries with exact" in err


def test_jsonl_queries_and_several_tables(work, capsys):
    (work / "queries.jsonl").write_text('{"q": "the lazy cat"}\n{"q": "a guitar on the street"}\n')
    records = search_jsonl(capsys, work, str(work / "idx-float32"), "--queries", str(work / "queries.jsonl"),
                           "--column", "q", "-k", "1")  # fmt: skip
    assert [(r["query"], r["rank"], r["id"], r["text"]) for r in records] == [
        ("the lazy cat", 1, 10, "the lazy cat"),
        ("a guitar on the street", 1, 8, "a guitar on the street"),
    ]
    assert main(["search", str(work / "idx-float32"), "--queries", str(work / "queries.jsonl"), "--field", "q"]) == 0
    out = capsys.readouterr().out
    headers = [line for line in out.splitlines() if line.startswith("query: ")]
    assert headers == ["query: the lazy cat", "query: a guitar on the street"]
    assert "\n\nquery: a guitar on the street\n" in out


def test_k_larger_than_the_corpus(work, capsys):
    for engine in ENGINES:
        records = search_jsonl(capsys, work, str(work / "idx-binary"), "dog", "-k", "50", "--engine", engine)
        assert sorted(r["id"] for r in records) == list(range(len(CORPUS)))


# ------------------------------------------------------------------------------------------------------ engines
def test_engine_choice(monkeypatch):
    available = {"faiss", "usearch", "exact"}
    monkeypatch.setattr(index_cli, "installed", lambda engine: engine in available)
    assert index_cli.resolve_engine(None) == "faiss"
    assert index_cli.resolve_engine(None, "usearch") == "usearch"
    assert index_cli.resolve_engine("exact", "usearch") == "exact"
    available.discard("faiss")
    assert index_cli.resolve_engine(None) == "usearch"
    assert index_cli.resolve_engine(None, "faiss") == "usearch"
    available.discard("usearch")
    assert index_cli.resolve_engine(None, "faiss") == "exact"
    with pytest.raises(ImportError, match="--engine usearch needs the `usearch` package"):
        index_cli.resolve_engine("usearch")


def test_search_falls_back_to_exact_without_libraries(work, capsys, monkeypatch):
    monkeypatch.setattr(index_cli, "installed", lambda engine: engine == "exact")
    capsys.readouterr()
    assert main(["search", str(work / "idx-int8"), "the lazy cat", "-k", "1", "--jsonl"]) == 0
    out, err = capsys.readouterr()
    assert json.loads(out)["id"] == 10 and "searched 1 queries with exact" in err
    assert main(["search", str(work / "idx-int8"), "cat", "--engine", "faiss"]) == 1
    assert "--engine faiss needs the `faiss` package" in capsys.readouterr().err


# ------------------------------------------------------------------------------------------------------ building
def test_build_refuses_to_overwrite_without_force(work, capsys):
    target = work / "idx-float32"
    before = (target / "manifest.json").read_text()
    assert build(work, "idx-float32") == 1
    assert "already exists; pass --force" in capsys.readouterr().err
    assert build(work, "idx-float32", "--force", "--precision", "ubinary") == 0
    assert json.loads((target / "manifest.json").read_text())["precision"] == "ubinary"
    assert build(work, "idx-float32", "--force") == 0
    assert (target / "manifest.json").read_text() == before
    assert not [name for name in os.listdir(work) if name.startswith(".")]


def test_force_never_replaces_a_folder_that_is_not_an_index(work, capsys):
    (work / "notes").mkdir()
    (work / "notes" / "keep.txt").write_text("mine")
    assert build(work, "notes", "--force") == 1
    assert "is not an index folder" in capsys.readouterr().err
    assert (work / "notes" / "keep.txt").read_text() == "mine"


def test_failed_build_leaves_nothing(work, capsys):
    (work / "bad.jsonl").write_text('{"text": "fine"}\n{"text": 3}\n')
    assert build(work, "idx-bad", corpus="bad.jsonl") == 1
    assert "bad.jsonl line 2" in capsys.readouterr().err
    (work / "empty.txt").write_text("")
    assert build(work, "idx-bad", corpus="empty.txt") == 1
    assert "no texts to index" in capsys.readouterr().err
    assert not (work / "idx-bad").exists()
    assert not [name for name in os.listdir(work) if name.startswith(".")]


def test_build_reads_a_jsonl_field_and_dot_similarity(work, capsys, tiny_bert_dir, tmp_path):
    dot = SentenceTransformer(str(tiny_bert_dir), device="cpu", similarity_fn_name="dot")
    dot.save(str(tmp_path / "model"))
    records = [{"body": text} for text in CORPUS[:5]]
    (tmp_path / "corpus.jsonl").write_text("".join(json.dumps(r) + "\n" for r in records))
    assert build(tmp_path, "idx", "--field", "body", corpus="corpus.jsonl") == 0
    manifest = json.loads((tmp_path / "idx" / "manifest.json").read_text())
    assert (manifest["similarity"], manifest["normalize"], manifest["count"]) == ("dot", False, 5)
    for engine in ENGINES:
        hits = search_jsonl(capsys, tmp_path, str(tmp_path / "idx"), CORPUS[2], "-k", "5", "--engine", engine)
        want = util.semantic_search(dot.encode([CORPUS[2]]), dot.encode(CORPUS[:5]), score_function=util.dot_score)
        assert [h["id"] for h in hits] == [w["corpus_id"] for w in want[0]]
        np.testing.assert_allclose([h["score"] for h in hits], [w["score"] for w in want[0]], rtol=1e-5)


# ------------------------------------------------------------------------------------------------------ errors
def test_k_below_one_is_a_usage_error(work, capsys):
    assert main(["search", str(work / "idx-float32"), "cat", "-k", "0"]) == 2
    assert "-k must be at least 1" in capsys.readouterr().err
    assert main(["search", str(work / "idx-float32")]) == 2
    assert "give either a query or --queries" in capsys.readouterr().err


def copy_index(source: Path, target: Path) -> Path:
    target.mkdir()
    for name in os.listdir(source):
        (target / name).write_bytes((source / name).read_bytes())
    return target


def broken_indexes(work: Path, tmp_path: Path) -> list[tuple[Path, str]]:
    """(folder, the problem its error line names) for each kind of bad folder."""
    cases = []
    no_manifest = copy_index(work / "idx-float32", tmp_path / "no-manifest")
    (no_manifest / "manifest.json").unlink()
    cases.append((no_manifest, "manifest.json is missing"))
    corrupt = copy_index(work / "idx-float32", tmp_path / "corrupt")
    (corrupt / "manifest.json").write_text('{"format": "sbert-index", ')
    cases.append((corrupt, "manifest.json is not valid JSON"))
    no_embeddings = copy_index(work / "idx-int8", tmp_path / "no-embeddings")
    (no_embeddings / "embeddings.npy").unlink()
    cases.append((no_embeddings, "embeddings.npy is missing"))
    miscounted = copy_index(work / "idx-float32", tmp_path / "miscounted")
    manifest = json.loads((miscounted / "manifest.json").read_text())
    (miscounted / "manifest.json").write_text(json.dumps({**manifest, "count": 99}))
    cases.append((miscounted, f"embeddings.npy has {len(CORPUS)} rows but the manifest's count is 99"))
    short_texts = copy_index(work / "idx-binary", tmp_path / "short-texts")
    lines = (short_texts / "texts.jsonl").read_text().splitlines(keepends=True)
    (short_texts / "texts.jsonl").write_text("".join(lines[:-1]))
    cases.append((short_texts, f"texts.jsonl has {len(CORPUS) - 1} texts but the manifest's count is {len(CORPUS)}"))
    cases.append((tmp_path / "missing", "not a folder"))
    return cases


def test_bad_index_folders(work, tmp_path, capsys):
    for folder, problem in broken_indexes(work, tmp_path):
        capsys.readouterr()
        assert main(["search", str(folder), "cat"]) == 1, folder
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and err.startswith(f"sbert: error: index folder {folder}: "), err
        assert problem in err, err


# ------------------------------------------------------------------------------------------------------ subprocess
def test_real_command_lines(work, tmp_path):
    """Each run imports the package (about 10 s here), so only three: build, search, and a bad folder."""
    command = [sys.executable, "-m", "sentence_transformers.cli"]
    env = {**os.environ, "HF_HUB_OFFLINE": "1"}
    target = tmp_path / "idx"
    build_args = ["index", "build", str(work / "corpus.txt"), "-o", str(target), "-m", str(work / "model")]
    done = subprocess.run([*command, *build_args, "--precision", "int8"], capture_output=True, text=True, env=env)
    assert done.returncode == 0, done.stderr
    assert done.stdout == "" and f"indexed {len(CORPUS)} texts" in done.stderr
    search = [*command, "search", str(target), "the lazy cat", "-k", "3", "--jsonl"]
    done = subprocess.run(search, capture_output=True, text=True, env=env)
    assert done.returncode == 0, done.stderr
    records = [json.loads(line) for line in done.stdout.splitlines()]
    assert [r["rank"] for r in records] == [1, 2, 3] and records[0]["id"] == 10
    done = subprocess.run([*command, "search", str(tmp_path), "cat"], capture_output=True, text=True, env=env)
    assert done.returncode == 1 and done.stderr.startswith(f"sbert: error: index folder {tmp_path}: ")
