"""The ``sbert encode`` command."""

from __future__ import annotations

import io
import json

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
    assert main(["encode", str(tmp_path / "missing.txt"), "--model", saved_model]) == 2
    assert "input file" in capsys.readouterr().err
    (tmp_path / "in.txt").write_text("text\n")
    assert main(["encode", str(tmp_path / "in.txt"), "--model", "nobody/unknown-model"]) == 2
    assert "nobody/unknown-model" in capsys.readouterr().err
    (tmp_path / "bad.jsonl").write_text('{"text": 3}\n')
    assert main(["encode", str(tmp_path / "bad.jsonl"), "--model", saved_model]) == 2
    assert "line 1 has no string field 'text'" in capsys.readouterr().err
