"""The ``sbert similarity``, ``sbert info`` and ``sbert export`` commands."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from sentence_transformers import SentenceTransformer
from sentence_transformers.cli import main

PAIRS = [("A man is playing a guitar.", "Someone plays an instrument."), ("The cat sleeps.", "Paris is in France.")]


@pytest.fixture()
def saved_model(tiny_model, tmp_path: Path) -> str:
    tiny_model.save(str(tmp_path / "model"))
    return str(tmp_path / "model")


def sbert(*args: str) -> subprocess.CompletedProcess:
    """Run the real command in a subprocess, offline."""
    env = {**os.environ, "HF_HUB_OFFLINE": "1"}
    command = [sys.executable, "-m", "sentence_transformers.cli", *args]
    return subprocess.run(command, capture_output=True, text=True, env=env, timeout=600)


def error_line(stderr: str) -> str:
    """The one ``sbert…error`` line of stderr (and no traceback)."""
    assert "Traceback" not in stderr
    lines = [line for line in stderr.splitlines() if "error:" in line]
    assert len(lines) == 1, stderr
    return lines[0]


def expected_pairwise(model_path: str, pairs: list[tuple[str, str]]) -> np.ndarray:
    model = SentenceTransformer(model_path, device="cpu")
    first, second = (model.encode([pair[i] for pair in pairs]) for i in (0, 1))
    return model.similarity_pairwise(first, second).numpy()


# ------------------------------------------------------------------------------------------------------ similarity
def test_similarity_of_two_texts_subprocess(saved_model):
    a, b = PAIRS[0]
    result = sbert("similarity", a, b, "--model", saved_model, "--batch-size", "4")
    assert result.returncode == 0, result.stderr
    model = SentenceTransformer(saved_model, device="cpu")
    expected = model.similarity(model.encode([a]), model.encode([b]))[0, 0].item()
    assert abs(float(result.stdout.strip()) - expected) <= 1e-6
    assert len(result.stdout.splitlines()) == 1


def test_similarity_pairs_tsv(saved_model, tmp_path, capsys):
    (tmp_path / "pairs.tsv").write_text("".join(f"{a}\t{b}\n" for a, b in PAIRS) + "\n")
    assert main(["similarity", "--pairs", str(tmp_path / "pairs.tsv"), "-m", saved_model]) == 0
    captured = capsys.readouterr()
    rows = [line.split("\t") for line in captured.out.splitlines()]
    assert [(a, b) for _, a, b in rows] == PAIRS
    np.testing.assert_allclose([float(score) for score, _, _ in rows], expected_pairwise(saved_model, PAIRS), atol=1e-6)
    assert "scored 2 pairs" in captured.err


def test_similarity_pairs_csv_columns_jsonl(saved_model, tmp_path, capsys):
    lines = ["score,sentence1,sentence2", *(f'0.5,"{a}, too","{b}"' for a, b in PAIRS)]
    (tmp_path / "sts.csv").write_text("\n".join(lines) + "\n")
    args = ["similarity", "--pairs", str(tmp_path / "sts.csv"), "--columns", "sentence1", "sentence2", "--jsonl"]
    assert main([*args, "-m", saved_model, "-b", "1"]) == 0
    records = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    pairs = [(f"{a}, too", b) for a, b in PAIRS]
    assert [(record["a"], record["b"]) for record in records] == pairs
    np.testing.assert_allclose([r["score"] for r in records], expected_pairwise(saved_model, pairs), atol=1e-6)


def test_similarity_pairs_jsonl_columns_and_stdin(saved_model, tmp_path, monkeypatch, capsys):
    records = [{"q": a, "d": b, "id": i} for i, (a, b) in enumerate(PAIRS)]
    (tmp_path / "pairs.jsonl").write_text("".join(json.dumps(record) + "\n" for record in records))
    assert main(["similarity", "--pairs", str(tmp_path / "pairs.jsonl"), "--columns", "q", "d", "-m", saved_model]) == 0
    from_jsonl = capsys.readouterr().out
    assert [line.split("\t")[1:] for line in from_jsonl.splitlines()] == [list(pair) for pair in PAIRS]
    monkeypatch.setattr("sys.stdin", io.StringIO("".join(f"{a}\t{b}\n" for a, b in PAIRS)))
    assert main(["similarity", "--pairs", "-", "-m", saved_model]) == 0
    assert capsys.readouterr().out == from_jsonl
    assert (
        main(["similarity", "--pairs", str(tmp_path / "pairs.jsonl"), "--columns", "q", "id", "-m", saved_model]) == 1
    )
    assert "column 'id' is not a string" in error_line(capsys.readouterr().err)


def test_similarity_errors(saved_model, tmp_path, capsys):
    assert main(["similarity", "--pairs", str(tmp_path / "missing.tsv"), "-m", saved_model]) == 1
    assert "pairs file" in error_line(capsys.readouterr().err)
    (tmp_path / "three.tsv").write_text("a\tb\tc\n")
    assert main(["similarity", "--pairs", str(tmp_path / "three.tsv"), "-m", saved_model]) == 1
    assert "line 1 has 3 fields, not 2" in error_line(capsys.readouterr().err)
    (tmp_path / "head.csv").write_text("x,y\n1,2\n")
    assert main(["similarity", "--pairs", str(tmp_path / "head.csv"), "--columns", "x", "z", "-m", saved_model]) == 1
    assert "no column 'z'" in error_line(capsys.readouterr().err)
    for wrong in (["only one"], ["a", "b", "--pairs", "f.tsv"], ["a", "b", "--jsonl"], ["a", "b", "-b", "0"]):
        assert main(["similarity", *wrong, "-m", saved_model]) == 2
        assert error_line(capsys.readouterr().err).startswith("sbert similarity: error:")


def test_model_errors_subprocess(tmp_path):
    result = sbert("similarity", "a", "b", "--model", str(tmp_path / "missing-model"))
    assert result.returncode == 1
    assert "missing-model" in error_line(result.stderr)
    result = sbert("info", "nobody/unknown-model-xyz")
    assert result.returncode == 1
    assert "nobody/unknown-model-xyz" in error_line(result.stderr)


# ------------------------------------------------------------------------------------------------------------ info
def test_info_json_subprocess(saved_model):
    result = sbert("info", saved_model, "--json")
    assert result.returncode == 0, result.stderr
    info = json.loads(result.stdout)
    model = SentenceTransformer(saved_model, device="cpu")
    assert info["embedding_dimension"] == model.get_sentence_embedding_dimension() == 32
    assert info["max_seq_length"] == model.max_seq_length
    assert info["parameters"] == sum(p.numel() for p in model.parameters())
    modules_json = json.loads((Path(saved_model) / "modules.json").read_text())
    assert info["module_types"] == [entry["type"] for entry in modules_json]
    assert [module["class"] for module in info["modules"]] == ["Transformer", "Pooling"]
    assert (info["similarity_fn_name"], info["backend"], info["dtype"]) == ("cosine", "torch", "float32")
    assert info["prompts"] == {} and info["folder"] == os.path.abspath(saved_model)


def test_info_human_readable(tiny_model, tmp_path, capsys):
    tiny_model.prompts = {"query": "query: "}
    tiny_model.similarity_fn_name = "dot"
    tiny_model.save(str(tmp_path / "model"))
    assert main(["info", str(tmp_path / "model")]) == 0
    out = capsys.readouterr().out
    assert "embedding dimension: 32" in out and "similarity function: dot" in out
    assert "query='query: '" in out and "sentence_transformers.models.Pooling" in out
    assert f"parameters:          {sum(p.numel() for p in tiny_model.parameters()):,}" in out


def test_info_plain_hf_folder(tiny_bert_dir, capsys):
    assert main(["info", str(tiny_bert_dir), "--json"]) == 0
    info = json.loads(capsys.readouterr().out)
    assert info["module_types"] is None and info["embedding_dimension"] == 32


# ---------------------------------------------------------------------------------------------------------- export
def test_export_onnx_optimize_quantize_subprocess(saved_model, tmp_path):
    out = tmp_path / "new" / "exported"
    result = sbert("export", saved_model, "--onnx", "--optimize", "O1", "--quantize", "avx2", "-o", str(out))
    assert result.returncode == 0, result.stderr
    written = result.stdout.splitlines()
    for name in ("model.onnx", "model_O1.onnx", "model_quint8_avx2.onnx"):
        assert str(out / "onnx" / name) in written
    assert all(os.path.isfile(path) for path in written)
    assert os.listdir(tmp_path / "new") == ["exported"]  # parents created; no temporary folder left beside it
    texts = ["A man is playing a guitar.", "The cat sleeps on the windowsill."]
    expected = SentenceTransformer(saved_model, device="cpu").encode(texts)
    for name, atol in (("model.onnx", 1e-4), ("model_O1.onnx", 1e-4), ("model_quint8_avx2.onnx", None)):
        model = SentenceTransformer(str(out), backend="onnx", model_kwargs={"file_name": name})
        embeddings = model.encode(texts)
        assert embeddings.shape == expected.shape
        if atol is not None:
            np.testing.assert_allclose(embeddings, expected, atol=atol)


def test_export_openvino(saved_model, tmp_path, capsys):
    pytest.importorskip("openvino")
    out = tmp_path / "ov"
    assert main(["export", saved_model, "--openvino", "-o", str(out)]) == 0
    assert str(out / "openvino" / "openvino_model.xml") in capsys.readouterr().out.splitlines()
    model = SentenceTransformer(str(out), backend="openvino", model_kwargs={"file_name": "openvino_model.xml"})
    expected = SentenceTransformer(saved_model, device="cpu").encode(["hello world"])
    np.testing.assert_allclose(model.encode(["hello world"]), expected, atol=1e-4)


def test_export_refuses_a_full_folder_and_bad_combinations(saved_model, tmp_path, capsys):
    out = tmp_path / "out"
    out.mkdir()
    (out / "keep.txt").write_text("mine")
    assert main(["export", saved_model, "--onnx", "-o", str(out)]) == 1
    assert "--overwrite" in error_line(capsys.readouterr().err)
    assert os.listdir(out) == ["keep.txt"]
    for wrong in ([], ["--optimize", "O1"], ["--openvino", "--quantize", "avx2"]):
        assert main(["export", saved_model, *wrong, "-o", str(tmp_path / "x")]) == 2
        assert error_line(capsys.readouterr().err).startswith("sbert export: error:")
    assert not (tmp_path / "x").exists()


def test_export_overwrite_replaces_the_folder(saved_model, tmp_path, capsys):
    out = tmp_path / "out"
    out.mkdir()
    (out / "old.txt").write_text("old")
    assert main(["export", saved_model, "--onnx", "-o", str(out), "--overwrite"]) == 0
    assert (out / "onnx" / "model.onnx").is_file() and not (out / "old.txt").exists()
    assert sorted(os.listdir(tmp_path)) == ["model", "out"]
