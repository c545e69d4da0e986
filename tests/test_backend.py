"""ONNX Runtime and OpenVINO backends: export on first load, same outputs as torch, save layout, optimization and
int8 quantization with upstream's file names."""

from __future__ import annotations

import logging
import os
import pickle
import shutil

import numpy as np
import pytest

from sentence_transformers import SentenceTransformer
from sentence_transformers.backend import (
    OnnxModel,
    OpenVINOModel,
    QuantizationConfig,
    export_dynamic_quantized_onnx_model,
    export_optimized_onnx_model,
)
from sentence_transformers.backend.runtime import require
from sentence_transformers.base import loading

TEXTS = [
    "The quick brown fox jumps over the lazy dog.",
    "A cat.",
    "Two women are sitting at a table and talking.",
    "What is the capital of France? Paris is the capital of France.",
]


@pytest.fixture()
def model_dir(tiny_bert_dir, tmp_path):
    """A saved sentence-transformers folder (Transformer + mean Pooling) that nothing has exported yet."""
    folder = tmp_path / "model"
    SentenceTransformer(str(tiny_bert_dir), device="cpu").save(str(folder))
    return folder


@pytest.fixture()
def reference(model_dir):
    return SentenceTransformer(str(model_dir), device="cpu").encode(TEXTS)


def test_onnx_exports_on_first_load_and_matches_torch(model_dir, reference, caplog):
    with caplog.at_level(logging.WARNING):
        model = SentenceTransformer(str(model_dir), device="cpu", backend="onnx")
    assert "Exporting the model to ONNX" in caplog.text
    assert "Saving the exported ONNX model is heavily recommended" in caplog.text
    assert model.get_backend() == "onnx" and isinstance(model[0].auto_model, OnnxModel)
    np.testing.assert_allclose(model.encode(TEXTS, batch_size=3), reference, atol=1e-5, rtol=0)
    assert not (model_dir / "onnx").exists()  # loading never writes into the model folder


def test_onnx_save_and_reload_without_exporting(model_dir, reference, tmp_path, caplog):
    SentenceTransformer(str(model_dir), device="cpu", backend="onnx").save(str(tmp_path / "saved"))
    assert (tmp_path / "saved" / "onnx" / "model.onnx").is_file()
    assert (tmp_path / "saved" / "config.json").is_file() and (tmp_path / "saved" / "modules.json").is_file()
    caplog.clear()
    with caplog.at_level(logging.WARNING):
        reloaded = SentenceTransformer(str(tmp_path / "saved"), device="cpu", backend="onnx")
    assert "Exporting" not in caplog.text
    assert reloaded[0].auto_model.model_path == str(tmp_path / "saved" / "onnx" / "model.onnx")
    np.testing.assert_allclose(reloaded.encode(TEXTS), reference, atol=1e-5, rtol=0)


def test_onnx_in_a_plain_hugging_face_folder(tiny_bert_dir, tmp_path):
    folder = shutil.copytree(tiny_bert_dir, tmp_path / "plain")
    torch_model = SentenceTransformer(str(folder), device="cpu")
    onnx_model = SentenceTransformer(str(folder), device="cpu", backend="onnx")
    np.testing.assert_allclose(onnx_model.encode(TEXTS), torch_model.encode(TEXTS), atol=1e-5, rtol=0)


def test_missing_files_and_bad_options_are_named(model_dir, reference, caplog):
    # As upstream: a file_name the folder lacks is exported (with a warning), unless export=False forbids it.
    with caplog.at_level(logging.WARNING):
        model = SentenceTransformer(str(model_dir), backend="onnx", model_kwargs={"file_name": "model_O9.onnx"})
    assert "No 'model_O9.onnx' found" in caplog.text
    np.testing.assert_allclose(model.encode(TEXTS), reference, atol=1e-5, rtol=0)
    with pytest.raises(FileNotFoundError, match=r"'model.onnx'.*found: none.*export=True"):
        SentenceTransformer(str(model_dir), backend="onnx", model_kwargs={"export": False})
    with pytest.raises(ValueError, match="Unknown model_kwargs.*colour"):
        SentenceTransformer(str(model_dir), backend="onnx", model_kwargs={"colour": "blue"})
    with pytest.raises(ValueError, match="Unknown backend 'tensorrt'"):
        SentenceTransformer(str(model_dir), backend="tensorrt")
    with pytest.raises(ImportError, match=r"pip install 'sbert\[onnx\]'"):
        require("a_package_that_is_not_there", "onnx")


def test_backend_needs_a_transformer_module():
    from sentence_transformers.sentence_transformer.modules import Pooling

    with pytest.raises(ValueError, match="Pooling and runs 'torch'"):
        SentenceTransformer(modules=[Pooling(4)], backend="onnx")


def test_export_functions_refuse_a_torch_model(model_dir, tmp_path):
    model = SentenceTransformer(str(model_dir), device="cpu")
    with pytest.raises(ValueError, match="backend='onnx'.*'torch'"):
        export_optimized_onnx_model(model, "O2", str(tmp_path))
    with pytest.raises(ValueError, match="backend='onnx'"):
        export_dynamic_quantized_onnx_model(model, "avx2", str(tmp_path))


def test_optimized_models_have_upstreams_names_and_outputs(model_dir, reference):
    model = SentenceTransformer(str(model_dir), device="cpu", backend="onnx")
    for level in ("O1", "O2", "O3"):
        export_optimized_onnx_model(model, level, str(model_dir))
    with pytest.raises(ValueError, match="Unknown config 'O7'"):
        export_optimized_onnx_model(model, "O7", str(model_dir))
    assert sorted(os.listdir(model_dir / "onnx")) == ["model_O1.onnx", "model_O2.onnx", "model_O3.onnx"]
    for level, tolerance in (("O1", 1e-5), ("O2", 1e-5), ("O3", 1e-3)):  # O3 approximates GELU
        kwargs = {"file_name": f"model_{level}.onnx"}
        optimized = SentenceTransformer(str(model_dir), backend="onnx", model_kwargs=kwargs)
        np.testing.assert_allclose(optimized.encode(TEXTS), reference, atol=tolerance, rtol=0)


def _cosine(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return (a * b).sum(1) / np.linalg.norm(a, axis=1) / np.linalg.norm(b, axis=1)


def test_dynamic_quantization_names_and_closeness(model_dir, reference):
    model = SentenceTransformer(str(model_dir), device="cpu", backend="onnx")
    for preset in ("arm64", "avx2", "avx512", "avx512_vnni"):
        export_dynamic_quantized_onnx_model(model, preset, str(model_dir))
    export_dynamic_quantized_onnx_model(model, QuantizationConfig(per_channel=False), str(model_dir), file_suffix="pt")
    names = sorted(os.listdir(model_dir / "onnx"))
    expected = ["model_pt", "model_qint8_arm64", "model_qint8_avx512", "model_qint8_avx512_vnni", "model_quint8_avx2"]
    assert names == [f"{name}.onnx" for name in expected]
    quantized = SentenceTransformer(
        str(model_dir), backend="onnx", model_kwargs={"file_name": "onnx/model_qint8_avx512_vnni.onnx"}
    )
    got = quantized.encode(TEXTS)
    assert not np.allclose(got, reference, atol=1e-6)  # the weights really are int8
    assert _cosine(got, reference).min() > 0.99


def test_export_can_push_to_the_hub(model_dir, monkeypatch):
    uploads = []

    def fake_upload_folder(**kwargs):
        uploads.append({**kwargs, "files": sorted(os.listdir(kwargs["folder_path"]))})

    monkeypatch.setattr("huggingface_hub.upload_folder", fake_upload_folder)
    model = SentenceTransformer(str(model_dir), device="cpu", backend="onnx")
    export_dynamic_quantized_onnx_model(model, "avx2", "me/my-model", push_to_hub=True, create_pr=True)
    (upload,) = uploads
    assert upload["repo_id"] == "me/my-model" and upload["create_pr"] is True
    assert upload["path_in_repo"] == "onnx" and upload["files"] == ["model_quint8_avx2.onnx"]
    assert not os.path.exists("me/my-model")


def test_onnx_model_survives_pickling(model_dir, reference):
    model = SentenceTransformer(str(model_dir), device="cpu", backend="onnx")
    copy = pickle.loads(pickle.dumps(model))
    np.testing.assert_allclose(copy.encode(TEXTS), reference, atol=1e-5, rtol=0)


def test_hub_models_fetch_the_backend_file(monkeypatch):
    fetched = []

    def fake_resolve_file(name, filename, subfolder="", **hub):
        fetched.append(f"{subfolder}/{filename}")
        return "/cache/x" if subfolder == "onnx" and filename == "model_O3.onnx" else None

    monkeypatch.setattr(loading, "resolve_file", fake_resolve_file)
    options = loading.LoadOptions(backend="onnx", model_kwargs={"file_name": "model_O3.onnx"})
    loading._fetch_backend_files("owner/model", options)
    assert fetched == ["onnx/model_O3.onnx", "onnx/model_O3.onnx_data", "onnx/model_O3.onnx.data"]


def test_openvino_backend(model_dir, reference, tmp_path):
    model = SentenceTransformer(str(model_dir), device="cpu", backend="openvino")
    assert model.get_backend() == "openvino" and isinstance(model[0].auto_model, OpenVINOModel)
    np.testing.assert_allclose(model.encode(TEXTS, batch_size=3), reference, atol=1e-5, rtol=0)
    model.save(str(tmp_path / "saved"))
    assert sorted(os.listdir(tmp_path / "saved" / "openvino")) == ["openvino_model.bin", "openvino_model.xml"]
    reloaded = SentenceTransformer(str(tmp_path / "saved"), backend="openvino", model_kwargs={"ov_config": {}})
    np.testing.assert_allclose(reloaded.encode(TEXTS), reference, atol=1e-5, rtol=0)
