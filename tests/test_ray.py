"""Corpus embedding on Ray Data (``integrations.ray``) and ``sbert encode --ray``, on a local 2-CPU Ray cluster."""

from __future__ import annotations

import json
import os
import pickle
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import ray

from conftest import CORPUS
from sentence_transformers import SentenceTransformer
from sentence_transformers.cli import main
from sentence_transformers.integrations.ray import SentenceEmbedder, embed_dataset, embed_files

TEXTS = list(dict.fromkeys(CORPUS)) + ["a short one", "cat", "What is the capital of France?"]


@pytest.fixture(scope="module")
def cluster():
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    ray.data.DataContext.get_current().enable_progress_bars = False
    yield
    ray.shutdown()


@pytest.fixture(scope="module")
def model_dir(tiny_bert_dir, tmp_path_factory) -> Path:
    """The tiny model saved as a sentence-transformers folder, which every Ray worker loads."""
    path = tmp_path_factory.mktemp("tiny-st")
    SentenceTransformer(str(tiny_bert_dir), device="cpu").save(str(path))
    return path


@pytest.fixture(scope="module")
def model(model_dir) -> SentenceTransformer:
    return SentenceTransformer(str(model_dir), device="cpu")


def write_parts(folder: Path, parts: int = 3) -> list[pd.DataFrame]:
    """``parts`` Parquet files of rows (id, text, lang) that split TEXTS, in order."""
    folder.mkdir(parents=True, exist_ok=True)
    frames = []
    for part, ids in enumerate(np.array_split(np.arange(len(TEXTS)), parts)):
        frame = pd.DataFrame({"id": ids, "text": [TEXTS[i] for i in ids], "lang": "en"})
        frame.to_parquet(folder / f"part-{part}.parquet", index=False)
        frames.append(frame)
    return frames


# ----------------------------------------------------------------------------------------- the embedder, no Ray
def test_embedder_takes_every_batch_format(model, model_dir):
    embedder = SentenceEmbedder(str(model_dir), device="cpu", batch_size=4)
    expected = model.encode(TEXTS[:5])
    ids = np.arange(5)
    out = embedder({"id": ids, "text": np.array(TEXTS[:5], dtype=object)})  # Ray's numpy format
    assert list(out) == ["id", "text", "embedding"] and out["id"] is ids
    np.testing.assert_allclose(out["embedding"], expected, atol=1e-6, rtol=0)
    frame = embedder(pd.DataFrame({"id": ids, "text": TEXTS[:5]}))  # Ray's pandas format, Dask's partitions
    assert list(frame.columns) == ["id", "text", "embedding"]
    np.testing.assert_allclose(np.stack(frame["embedding"]), expected, atol=1e-6, rtol=0)
    table = embedder(pa.table({"id": ids, "text": TEXTS[:5]}))  # Ray's pyarrow format
    assert table.column_names == ["id", "text", "embedding"]
    np.testing.assert_allclose(np.stack(table.column("embedding").to_numpy(zero_copy_only=False)), expected, atol=1e-6)
    np.testing.assert_allclose(embedder(np.array(TEXTS[:5])), expected, atol=1e-6)  # Spark's predict_batch_udf
    assert embedder([]).shape == (0, expected.shape[1])


def test_embedder_pickles_without_its_model_and_checks_options(model_dir):
    embedder = SentenceEmbedder(str(model_dir), device="cpu")
    embedder(["loaded"])
    copy = pickle.loads(pickle.dumps(embedder))
    assert copy._model is None and copy(["again"]).shape == (1, 32)
    with pytest.raises(ValueError, match="'int8' computes its buckets per batch"):
        SentenceEmbedder(str(model_dir), precision="int8")
    with pytest.raises(ValueError, match="no column 'body'; it has: 'text'"):
        SentenceEmbedder(str(model_dir), column="body")({"text": np.array(["x"])})


def test_module_imports_without_ray():
    code = (
        "import sys; sys.modules['ray'] = None\n"
        "from sentence_transformers.integrations import ray as r\n"
        "try:\n    r.embed_dataset('corpus/', model='m')\n"
        "except ImportError as exc:\n    print(exc)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert 'pip install "sbert[ray]"' in out


# ---------------------------------------------------------------------------------------------------- on Ray
def test_embed_dataset_equals_encode_row_for_row(cluster, model, model_dir, tmp_path):
    write_parts(tmp_path / "in")
    context = ray.data.DataContext.get_current()
    context.execution_options.preserve_order = True
    try:
        rows = embed_dataset(tmp_path / "in", model=str(model_dir), rows_per_batch=8, batch_size=4).take_all()
    finally:
        context.execution_options.preserve_order = False
    assert list(rows[0]) == ["id", "text", "lang", "embedding"]
    assert [row["id"] for row in rows] == list(range(len(TEXTS)))
    assert [row["text"] for row in rows] == TEXTS
    embeddings = np.stack([np.asarray(row["embedding"]) for row in rows])
    assert np.abs(embeddings - model.encode(TEXTS)).max() <= 1e-6


def test_bad_row_is_named(cluster, model_dir):
    data = ray.data.from_items([{"id": 7, "text": "fine"}, {"id": 8, "text": 3}], override_num_blocks=1)
    with pytest.raises(Exception, match=r"row 1 of the batch has int 3 in column 'text', not a string") as info:
        embed_dataset(data, model=str(model_dir)).take_all()
    assert "'id': 8" in str(info.value)


def test_cli_writes_one_file_per_input_and_resumes(cluster, model, model_dir, tmp_path, capsys):
    frames = write_parts(tmp_path / "in")
    out = tmp_path / "out"
    command = ["encode", "--ray", str(tmp_path / "in"), "-o", str(out), "-m", str(model_dir), "--ray-batch-rows", "8"]
    assert main(command) == 0  # --ray's ADDRESS slot holds the input: taken as the input
    names = sorted(os.listdir(out))
    assert names == [f"part-{part}.parquet" for part in range(3)]
    for name, frame in zip(names, frames, strict=True):
        table = pq.read_table(out / name)
        assert table.column_names == ["id", "text", "lang", "embedding"]
        assert table.column("id").to_pylist() == frame["id"].tolist()
        embeddings = np.stack(table.column("embedding").to_numpy(zero_copy_only=False))
        assert np.abs(embeddings - model.encode(frame["text"].tolist())).max() <= 1e-6
    before = {name: os.stat(out / name) for name in names}
    expected = pq.read_table(out / "part-1.parquet")
    (out / "part-1.parquet").unlink()
    capsys.readouterr()
    assert main(["encode", str(tmp_path / "in"), "--ray", "-o", str(out), "-m", str(model_dir), "-q"]) == 0
    after = {name: os.stat(out / name) for name in sorted(os.listdir(out))}
    assert list(after) == names  # no temporary files left
    for name in ("part-0.parquet", "part-2.parquet"):
        assert (after[name].st_ino, after[name].st_mtime_ns) == (before[name].st_ino, before[name].st_mtime_ns)
    rewritten = pq.read_table(out / "part-1.parquet")
    assert rewritten.drop_columns("embedding").equals(expected.drop_columns("embedding"))
    vectors = [np.stack(table.column("embedding").to_numpy(zero_copy_only=False)) for table in (rewritten, expected)]
    assert np.abs(vectors[0] - vectors[1]).max() <= 1e-6  # other batches, other padding: float noise only


def test_embed_files_skips_everything_done_and_reads_jsonl(cluster, model, model_dir, tmp_path):
    folder = tmp_path / "in"
    (folder / "sub").mkdir(parents=True)
    lines = [json.dumps({"text": text, "n": number}) + "\n" for number, text in enumerate(TEXTS)]
    (folder / "sub" / "a.jsonl").write_text("".join(lines))
    (folder / "_SUCCESS").write_text("")
    result = embed_files(folder, tmp_path / "out", str(model_dir), batch_size=8)
    assert (result.rows, result.skipped) == (len(TEXTS), [])
    assert result.written == [str(tmp_path / "out" / "sub" / "a.jsonl.parquet")]
    table = pq.read_table(result.written[0])
    assert table.column("n").to_pylist() == list(range(len(TEXTS)))
    embeddings = np.stack(table.column("embedding").to_numpy(zero_copy_only=False))
    assert np.abs(embeddings - model.encode(TEXTS)).max() <= 1e-6
    again = embed_files(folder, tmp_path / "out", str(model_dir))
    assert (again.written, again.skipped, again.rows) == ([], result.written, 0)


def test_cli_names_a_bad_row_and_writes_nothing(cluster, model_dir, tmp_path, capsys):
    source = tmp_path / "bad.jsonl"
    source.write_text('{"id": 1, "text": "fine"}\n{"id": 2, "text": null}\n')
    out = tmp_path / "out"
    assert main(["encode", str(source), "--ray", "-o", str(out), "-m", str(model_dir)]) == 1
    error = capsys.readouterr().err
    assert "row 1 of the batch has NoneType None in column 'text', not a string" in error
    assert "'id': 2" in error and "bad.jsonl" in error
    assert not out.exists() or os.listdir(out) == []


def test_cli_usage_errors(model_dir, tmp_path, capsys):
    assert main(["encode", str(tmp_path), "--ray", "-o", str(tmp_path / "x.npy"), "-m", str(model_dir)]) == 2
    assert main(["encode", str(tmp_path), "--ray", "-o", str(tmp_path), "--precision", "int8"]) == 2
    assert "-o FOLDER" in capsys.readouterr().err
