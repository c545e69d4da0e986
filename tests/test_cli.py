"""The ``sbert encode`` command."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys

import numpy as np
import pytest

from sentence_transformers import SentenceTransformer
from sentence_transformers.cli import main


@pytest.fixture()
def saved_model(tiny_model, tmp_path):
    tiny_model.save(str(tmp_path / "model"))
    return str(tmp_path / "model")


def test_encode_text_file_to_npy(saved_model, tmp_path, capsys):
    texts = ["A man is playing a guitar.", "", "The cat sits outside."]
    (tmp_path / "in.txt").write_text("\n".join(texts) + "\n")
    out = tmp_path / "out.npy"
    status = main(["encode", str(tmp_path / "in.txt"), "--model", saved_model, "-o", str(out), "--normalize"])
    assert status == 0
    expected = SentenceTransformer(saved_model, device="cpu").encode(texts, normalize_embeddings=True)
    np.testing.assert_allclose(np.load(out), expected, atol=1e-6)
    assert "encoded 3 texts" in capsys.readouterr().err


def test_encode_jsonl_field_with_options(saved_model, tmp_path):
    records = [{"id": 1, "body": "first text"}, {"id": 2, "body": "second text"}]
    (tmp_path / "in.jsonl").write_text("\n".join(json.dumps(r) for r in records) + "\n")
    out = tmp_path / "out.jsonl"
    args = ["encode", str(tmp_path / "in.jsonl"), "--field", "body", "--model", saved_model, "-o", str(out)]
    assert main([*args, "--truncate-dim", "8", "--prompt", "query: ", "--precision", "float32", "-b", "1"]) == 0
    lines = [json.loads(line) for line in out.read_text().splitlines()]
    expected = SentenceTransformer(saved_model).encode(["first text", "second text"], prompt="query: ", truncate_dim=8)
    assert [line["text"] for line in lines] == ["first text", "second text"]
    np.testing.assert_allclose(np.array([line["embedding"] for line in lines]), expected, atol=1e-6)


def test_encode_stdin_to_stdout(saved_model, monkeypatch, capsys):
    monkeypatch.setattr("sys.stdin", io.StringIO("hello world\nsecond line\n"))
    assert main(["encode", "--model", saved_model, "--precision", "ubinary", "--no-progress"]) == 0
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [line["text"] for line in lines] == ["hello world", "second line"]
    assert len(lines[0]["embedding"]) == 4  # 32 dimensions packed into 4 bytes


def test_errors_are_clear(saved_model, tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    assert main(["encode", str(tmp_path / "missing.txt"), "--model", saved_model]) == 1
    assert "input file" in capsys.readouterr().err
    (tmp_path / "in.txt").write_text("text\n")
    assert main(["encode", str(tmp_path / "in.txt"), "--model", "nobody/unknown-model"]) == 1
    assert "nobody/unknown-model" in capsys.readouterr().err
    (tmp_path / "bad.jsonl").write_text('{"text": 3}\n')
    assert main(["encode", str(tmp_path / "bad.jsonl"), "--model", saved_model]) == 1
    assert "line 1 has no string field 'text'" in capsys.readouterr().err


# ------------------------------------------------------------------ chunked streaming (bounded memory)
TEXTS = [
    "The quick brown fox jumps over the lazy dog.",
    "A man is playing a guitar on the street.",
    "",
    "Two women are sitting at a table and talking.",
    "What is the capital of France?",
    "Paris is the capital of France.",
    "Sentence embeddings map texts to dense vectors.",
    "A cat sleeps on the warm windowsill.",
    "query: search results ranking",
    "the dog",
    "a guitar in the afternoon sun",
]  # 11 texts: chunks of 3 give 4 chunks, the last one short


def _files(folder):
    """The files in ``folder`` besides the saved model."""
    return sorted(p.name for p in folder.iterdir() if p.name != "model")


def _encode_file(saved_model, tmp_path, *options, texts=TEXTS, output="out.npy"):
    (tmp_path / "in.txt").write_text("\n".join(texts) + "\n")
    out = tmp_path / output
    args = ["encode", str(tmp_path / "in.txt"), "-m", saved_model, "-o", str(out), "--chunk-size", "3", *options]
    assert main(args) == 0
    return out


@pytest.mark.parametrize("precision", ["float32", "binary", "ubinary"])
def test_chunked_npy_equals_one_encode(saved_model, tmp_path, capsys, precision):
    out = _encode_file(saved_model, tmp_path, "--precision", precision, "--no-progress")
    expected = SentenceTransformer(saved_model, device="cpu").encode(TEXTS, precision=precision)
    result = np.load(out)
    assert result.dtype == expected.dtype and result.shape == expected.shape
    if precision == "float32":
        np.testing.assert_allclose(result, expected, atol=1e-6)
    else:  # per-value quantization: each chunk on its own gives the same bits
        np.testing.assert_array_equal(result, expected)
    assert f"encoded 11 texts → {expected.shape}" in capsys.readouterr().err
    assert _files(tmp_path) == ["in.txt", "out.npy"]  # no temporary file left


@pytest.mark.parametrize("precision", ["int8", "uint8"])
def test_chunked_scalar_quantization_uses_ranges_over_all_texts(saved_model, tmp_path, precision):
    out = _encode_file(saved_model, tmp_path, "--precision", precision, "-b", "1", "--normalize")
    model = SentenceTransformer(saved_model, device="cpu")
    expected = model.encode(TEXTS, precision=precision, batch_size=1, normalize_embeddings=True)
    np.testing.assert_array_equal(np.load(out), expected)
    per_chunk = np.concatenate(
        [
            model.encode(TEXTS[i : i + 3], precision=precision, batch_size=1, normalize_embeddings=True)
            for i in range(0, len(TEXTS), 3)
        ]
    )
    assert not np.array_equal(per_chunk, expected)  # the test would catch per-chunk buckets
    assert _files(tmp_path) == ["in.txt", "out.npy"]


def test_chunked_jsonl_output_unchanged(saved_model, tmp_path):
    out = _encode_file(saved_model, tmp_path, "--truncate-dim", "8", output="out.jsonl")
    lines = [json.loads(line) for line in out.read_text().splitlines()]
    assert [line["text"] for line in lines] == TEXTS
    expected = SentenceTransformer(saved_model, device="cpu").encode(TEXTS, truncate_dim=8)
    np.testing.assert_allclose(np.array([line["embedding"] for line in lines]), expected, atol=1e-6)
    assert _files(tmp_path) == ["in.txt", "out.jsonl"]


def test_chunked_jsonl_stdout_int8(saved_model, tmp_path, monkeypatch, capsys):
    monkeypatch.setattr("sys.stdin", io.StringIO("\n".join(TEXTS) + "\n"))
    args = ["encode", "-", "-m", saved_model, "--chunk-size", "4", "--precision", "int8", "-b", "1"]
    assert main([*args, "--no-progress"]) == 0
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [line["text"] for line in lines] == TEXTS
    expected = SentenceTransformer(saved_model, device="cpu").encode(TEXTS, precision="int8", batch_size=1)
    np.testing.assert_array_equal(np.array([line["embedding"] for line in lines]), expected)


def test_stdin_to_npy(saved_model, tmp_path, monkeypatch, capsys):
    monkeypatch.setattr("sys.stdin", io.StringIO("\r\n".join(TEXTS)))
    out = tmp_path / "out.npy"
    assert main(["encode", "-m", saved_model, "-o", str(out), "--chunk-size", "2", "--no-progress"]) == 0
    expected = SentenceTransformer(saved_model, device="cpu").encode(TEXTS)
    np.testing.assert_allclose(np.load(out), expected, atol=1e-6)
    assert "encoded 11 texts" in capsys.readouterr().err
    assert _files(tmp_path) == ["out.npy"]  # the spooled copy of stdin is gone


def test_jsonl_field_over_chunks(saved_model, tmp_path):
    rows = [json.dumps({"body": text}) for text in TEXTS]
    (tmp_path / "in.jsonl").write_text("\n".join(rows[:5] + [""] + rows[5:]) + "\n")  # a blank line is skipped
    out = tmp_path / "out.npy"
    args = ["encode", str(tmp_path / "in.jsonl"), "--field", "body", "-m", saved_model, "-o", str(out)]
    assert main([*args, "--chunk-size", "4"]) == 0
    expected = SentenceTransformer(saved_model, device="cpu").encode(TEXTS)
    np.testing.assert_allclose(np.load(out), expected, atol=1e-6)


def test_bad_line_after_the_first_chunk_fails_before_encoding(saved_model, tmp_path, capsys, monkeypatch):
    rows = [json.dumps({"text": text}) for text in TEXTS] + ["not json"]
    (tmp_path / "in.jsonl").write_text("\n".join(rows) + "\n")
    calls = []
    monkeypatch.setattr(SentenceTransformer, "encode", lambda self, texts, **kw: calls.append(texts))
    for output in ("out.npy", "out.jsonl"):
        args = ["encode", str(tmp_path / "in.jsonl"), "-m", saved_model, "-o", str(tmp_path / output)]
        assert main([*args, "--chunk-size", "2"]) == 1
        assert "line 12 is not valid JSON" in capsys.readouterr().err
    assert calls == []
    assert _files(tmp_path) == ["in.jsonl"]


@pytest.mark.parametrize("output", ["out.npy", "out.jsonl", "out.parquet"])
@pytest.mark.parametrize("precision", ["float32", "int8"])
def test_failure_midway_leaves_no_output(saved_model, tmp_path, monkeypatch, output, precision):
    original = SentenceTransformer.encode
    calls = []

    def failing_encode(self, texts, **kwargs):
        calls.append(len(texts))
        if len(calls) == 2:
            raise RuntimeError("out of memory on chunk 2")
        return original(self, texts, **kwargs)

    monkeypatch.setattr(SentenceTransformer, "encode", failing_encode)
    (tmp_path / "in.txt").write_text("\n".join(TEXTS) + "\n")
    (tmp_path / output).write_text("previous output")
    args = ["encode", str(tmp_path / "in.txt"), "-m", saved_model, "-o", str(tmp_path / output)]
    with pytest.raises(RuntimeError, match="chunk 2"):
        main([*args, "--chunk-size", "3", "--precision", precision])
    assert calls == [3, 3]
    assert (tmp_path / output).read_text() == "previous output"  # the old output is untouched
    assert _files(tmp_path) == ["in.txt", output]  # no temporary file left


@pytest.mark.parametrize("precision", ["float32", "int8", "ubinary"])
def test_empty_input_gives_empty_array(saved_model, tmp_path, capsys, precision):
    (tmp_path / "in.txt").write_text("")
    out = tmp_path / "out.npy"
    assert main(["encode", str(tmp_path / "in.txt"), "-m", saved_model, "-o", str(out), "--precision", precision]) == 0
    expected = SentenceTransformer(saved_model, device="cpu").encode([], precision=precision)
    result = np.load(out)
    assert result.shape == expected.shape and result.dtype == expected.dtype
    assert f"encoded 0 texts → {expected.shape}" in capsys.readouterr().err


def test_single_text_int8_keeps_the_clear_error(saved_model, tmp_path, capsys):
    (tmp_path / "in.txt").write_text("only one\n")
    out = tmp_path / "out.npy"
    assert main(["encode", str(tmp_path / "in.txt"), "-m", saved_model, "-o", str(out), "--precision", "int8"]) == 1
    assert "single embedding" in capsys.readouterr().err
    assert _files(tmp_path) == ["in.txt"]


# ------------------------------------------------------------------ CSV / TSV / Parquet, backends, --quiet
ROWS = [{"id": str(i), "body": text, "lang": "en"} for i, text in enumerate(TEXTS)]


def _write_csv(path, rows=ROWS, delimiter=","):
    import csv

    with open(path, "w", newline="", encoding="utf-8") as f:
        writer = csv.DictWriter(f, fieldnames=list(rows[0]), delimiter=delimiter)
        writer.writeheader()
        writer.writerows(rows)
    return str(path)


def _write_parquet(path, columns, row_group_size=4):
    import pyarrow as pa
    import pyarrow.parquet as pq

    pq.write_table(pa.table(columns), str(path), row_group_size=row_group_size)
    return str(path)


def _read_parquet(path):
    import pyarrow.parquet as pq

    return pq.ParquetFile(str(path))


def _expected(saved_model, texts=TEXTS, **kwargs):
    return SentenceTransformer(saved_model, device="cpu").encode(texts, **kwargs)


@pytest.mark.parametrize("kind", ["csv", "tsv", "parquet"])
def test_table_inputs_with_column(saved_model, tmp_path, capsys, kind):
    if kind == "parquet":
        source = _write_parquet(tmp_path / "in.parquet", {"id": list(range(len(TEXTS))), "body": TEXTS})
    else:
        source = _write_csv(tmp_path / f"in.{kind}", delimiter="," if kind == "csv" else "\t")
    out = tmp_path / "out.npy"
    args = ["encode", source, "--column", "body", "-m", saved_model, "-o", str(out), "--chunk-size", "3"]
    assert main([*args, "--no-progress"]) == 0
    np.testing.assert_allclose(np.load(out), _expected(saved_model), atol=1e-6)
    assert f"encoded {len(TEXTS)} texts" in capsys.readouterr().err


def test_csv_quoted_texts_and_default_columns(saved_model, tmp_path, capsys):
    texts = ['a "quoted", comma text', "multi\nline text", "plain"]
    _write_csv(tmp_path / "in.csv", [{"id": "1", "text": t} for t in texts])  # default: the column named text
    assert main(["encode", str(tmp_path / "in.csv"), "-m", saved_model, "--no-progress"]) == 0
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [line["text"] for line in lines] == texts
    _write_parquet(tmp_path / "one.parquet", {"sentence": texts})  # default: the only column
    out = tmp_path / "out.jsonl"
    assert main(["encode", str(tmp_path / "one.parquet"), "-m", saved_model, "-o", str(out)]) == 0
    assert [json.loads(line)["text"] for line in out.read_text().splitlines()] == texts


@pytest.mark.parametrize("kind", ["csv", "parquet"])
def test_unknown_column_is_one_line(saved_model, tmp_path, capsys, kind):
    if kind == "parquet":
        source = _write_parquet(tmp_path / "in.parquet", {"id": [1, 2], "body": ["a", "b"]})
    else:
        source = _write_csv(tmp_path / "in.csv", ROWS[:2])
    out = tmp_path / "out.npy"
    assert main(["encode", source, "--column", "title", "-m", saved_model, "-o", str(out)]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "no column 'title'" in err and "'id'" in err and "'body'" in err
    assert main(["encode", source, "-m", saved_model]) == 1  # several columns and none named text
    assert "no column 'text'; available:" in capsys.readouterr().err
    assert not out.exists()


def test_bad_inputs_are_one_line(saved_model, tmp_path, capsys):
    (tmp_path / "bad.parquet").write_bytes(b"not a parquet file at all")
    _write_parquet(tmp_path / "ints.parquet", {"text": [1, 2]})
    _write_parquet(tmp_path / "nulls.parquet", {"text": ["a", None, "c"]})
    (tmp_path / "short.csv").write_text("id,text\n1,a\n2\n")
    cases = {
        "bad.parquet": "is not a readable Parquet file",
        "ints.parquet": "column 'text' holds int64, not text",
        "nulls.parquet": "row 2 has no value in column 'text'",
        "short.csv": "line 3 has 1 fields; the header has 2",
        "missing.csv": "input file",
    }
    for name, message in cases.items():
        assert main(["encode", str(tmp_path / name), "-m", saved_model, "-o", str(tmp_path / "out.npy")]) == 1
        err = capsys.readouterr().err
        assert err.startswith("sbert: error: ") and err.count("\n") == 1 and message in err, err
    assert not (tmp_path / "out.npy").exists()


@pytest.mark.parametrize("precision", ["float32", "ubinary"])
def test_parquet_output_in_row_groups(saved_model, tmp_path, capsys, precision):
    import pyarrow as pa

    out = _encode_file(saved_model, tmp_path, "--precision", precision, "--normalize", output="out.parquet")
    parquet = _read_parquet(out)
    assert parquet.metadata.num_row_groups == 4  # 11 texts in chunks of 3
    assert parquet.schema_arrow.names == ["text", "embedding"]
    table = parquet.read()
    assert table.column("text").to_pylist() == TEXTS
    expected = _expected(saved_model, precision=precision, normalize_embeddings=True)
    value_type = pa.float32() if precision == "float32" else pa.uint8()
    assert table.schema.field("embedding").type == pa.list_(value_type, expected.shape[1])
    embeddings = np.array(table.column("embedding").to_pylist(), dtype=expected.dtype)
    if precision == "float32":
        np.testing.assert_allclose(embeddings, expected, atol=1e-6)
    else:
        np.testing.assert_array_equal(embeddings, expected)
    assert f"encoded 11 texts → {expected.shape}" in capsys.readouterr().err
    assert _files(tmp_path) == ["in.txt", "out.parquet"]


def test_parquet_to_parquet_int8_and_empty(saved_model, tmp_path):
    source = _write_parquet(tmp_path / "in.parquet", {"text": TEXTS}, row_group_size=5)
    out = tmp_path / "out.parquet"
    args = ["encode", source, "-m", saved_model, "-o", str(out), "--chunk-size", "4", "--precision", "int8"]
    assert main(args) == 0
    table = _read_parquet(out).read()
    assert table.column("text").to_pylist() == TEXTS
    expected = _expected(saved_model, precision="int8")
    np.testing.assert_array_equal(np.array(table.column("embedding").to_pylist(), dtype=np.int8), expected)
    (tmp_path / "empty.txt").write_text("")
    assert main(["encode", str(tmp_path / "empty.txt"), "-m", saved_model, "-o", str(out)]) == 0
    assert _read_parquet(out).read().num_rows == 0


def test_backend_and_dtype(saved_model, tmp_path, capsys):
    out = _encode_file(saved_model, tmp_path, "--backend", "onnx", "--no-progress")
    np.testing.assert_allclose(np.load(out), _expected(saved_model), atol=1e-5)
    out = _encode_file(saved_model, tmp_path, "--dtype", "bfloat16", "--no-progress")
    expected = SentenceTransformer(saved_model, device="cpu", model_kwargs={"torch_dtype": "bfloat16"}).encode(TEXTS)
    np.testing.assert_allclose(np.load(out), expected, atol=1e-6)
    assert np.abs(np.load(out) - _expected(saved_model)).max() < 0.05  # close to float32, not equal
    capsys.readouterr()
    args = ["encode", str(tmp_path / "in.txt"), "-m", saved_model, "--dtype", "float16", "--backend", "onnx"]
    assert main(args) == 2
    assert "--dtype applies to the torch backend" in capsys.readouterr().err


def test_usage_errors(saved_model, tmp_path, capsys):
    (tmp_path / "in.txt").write_text("hello\n")
    for options, message in [
        (["-o", str(tmp_path / "out.csv")], "--output must end in .npy, .jsonl, .parquet"),
        (["--chunk-size", "0"], "--chunk-size must be at least 1"),
        (["--prompt", "q: ", "--prompt-name", "query"], "--prompt or --prompt-name"),
    ]:
        assert main(["encode", str(tmp_path / "in.txt"), "-m", saved_model, *options]) == 2
        assert message in capsys.readouterr().err
    assert _files(tmp_path) == ["in.txt"]


def test_missing_pyarrow_is_one_line(saved_model, tmp_path, capsys, monkeypatch):
    monkeypatch.setitem(sys.modules, "pyarrow", None)  # import fails
    monkeypatch.setitem(sys.modules, "pyarrow.parquet", None)
    (tmp_path / "in.txt").write_text("hello\n")
    assert main(["encode", str(tmp_path / "in.txt"), "-m", saved_model, "-o", str(tmp_path / "out.parquet")]) == 1
    assert "pip install pyarrow" in capsys.readouterr().err
    assert main(["encode", _write_csv(tmp_path / "in.parquet"), "-m", saved_model]) == 1  # input side too
    assert "pip install pyarrow" in capsys.readouterr().err
    assert _files(tmp_path) == ["in.parquet", "in.txt"]


def test_quiet_leaves_stderr_empty(saved_model, tmp_path, capfd, monkeypatch):
    monkeypatch.setattr("sys.stdin", io.StringIO(json.dumps({"body": "from stdin"}) + "\n"))
    assert main(["encode", "-m", saved_model, "--column", "body", "--backend", "onnx", "--quiet"]) == 0
    out, err = capfd.readouterr()
    assert err == ""
    assert [json.loads(line)["text"] for line in out.splitlines()] == ["from stdin"]
    _encode_file(saved_model, tmp_path, "--quiet", "--precision", "int8", output="out.parquet")
    assert capfd.readouterr() == ("", "")


def test_help_has_examples(capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["encode", "--help"])
    assert exit_info.value.code == 0
    help_text = capsys.readouterr().out
    assert "examples:" in help_text and "sbert encode corpus.csv --column body" in help_text


def _sbert(*args, stdin=None):
    env = {**os.environ, "HF_HUB_OFFLINE": "1"}
    command = [sys.executable, "-m", "sentence_transformers.cli", *args]
    return subprocess.run(command, input=stdin, capture_output=True, text=True, env=env, timeout=300)


def test_subprocess_csv_to_stdout_and_error(saved_model, tmp_path):
    source = _write_csv(tmp_path / "in.tsv", delimiter="\t")
    done = _sbert("encode", source, "--column", "body", "-m", saved_model, "--quiet")
    assert done.returncode == 0, done.stderr
    assert done.stderr == ""
    lines = [json.loads(line) for line in done.stdout.splitlines()]
    assert [line["text"] for line in lines] == TEXTS
    np.testing.assert_allclose(np.array([line["embedding"] for line in lines]), _expected(saved_model), atol=1e-6)
    done = _sbert("encode", source, "--column", "title", "-m", saved_model, "-o", str(tmp_path / "out.parquet"))
    assert done.returncode == 1 and done.stdout == ""
    assert done.stderr == f"sbert: error: {source} has no column 'title'; available: 'id', 'body', 'lang'\n"
    assert _files(tmp_path) == ["in.tsv"]


def test_version_names_sbert_and_the_upstream_api(capsys):
    from importlib.metadata import version

    with pytest.raises(SystemExit) as exit_info:
        main(["--version"])
    assert exit_info.value.code == 0
    assert capsys.readouterr().out.strip() == f"sbert {version('sbert')} (sentence-transformers API 6.2.0)"


def test_compile_flag_compiles_the_model_first(saved_model, tmp_path, capsys, monkeypatch):
    from sentence_transformers.base.model import BaseModel

    compiled = []
    monkeypatch.setattr(BaseModel, "compile", lambda self, *a, **k: compiled.append((type(self).__name__, k)))
    out = _encode_file(saved_model, tmp_path, "--compile", "--no-progress")
    assert compiled == [("SentenceTransformer", {"freeze": True})]
    np.testing.assert_allclose(np.load(out), _expected(saved_model), atol=1e-5)
    capsys.readouterr()
    args = ["encode", str(tmp_path / "in.txt"), "-m", saved_model, "--compile", "--backend", "onnx"]
    assert main(args) == 2
    assert "--compile applies to the torch backend" in capsys.readouterr().err
