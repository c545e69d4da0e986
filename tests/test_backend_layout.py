"""The backend package in upstream's layout: the export decision (utils.backend_should_export), the save-me warning,
saving or pushing exported variants (utils.save_or_push_to_hub_model), loading (load), optimization (optimize) and
quantization (quantize, static OpenVINO quantization through NNCF included)."""

from __future__ import annotations

import importlib.util
import logging
import os
import sys
from pathlib import Path

import numpy as np
import onnx
import onnxruntime
import pytest
from onnx import TensorProto, helper, numpy_helper
from transformers import AutoConfig

from sentence_transformers import SentenceTransformer
from sentence_transformers.backend import OnnxModel, OpenVINOModel
from sentence_transformers.backend.load import load_onnx_model, load_openvino_model
from sentence_transformers.backend.optimize import OptimizationConfig, export_optimized_onnx_model
from sentence_transformers.backend.quantize import (
    StaticQuantizationConfig,
    export_dynamic_quantized_onnx_model,
    export_static_quantized_openvino_model,
)
from sentence_transformers.backend.utils import backend_should_export, backend_warn_to_save, save_or_push_to_hub_model

TEXTS = [
    "The quick brown fox jumps over the lazy dog.",
    "A cat.",
    "Two women are sitting at a table and talking.",
    "What is the capital of France? Paris is the capital of France.",
]
CALIBRATION = [
    "A man is playing a guitar on the street.",
    "Sentence embeddings map texts to dense vectors for semantic search.",
    "A cat sleeps on the warm windowsill in the afternoon sun.",
    "query: document: passage: search results ranking retrieval",
] * 3
HAS_NNCF = importlib.util.find_spec("nncf") is not None


@pytest.fixture()
def model_dir(tiny_bert_dir, tmp_path):
    folder = tmp_path / "model"
    SentenceTransformer(str(tiny_bert_dir), device="cpu").save(str(folder))
    return folder


@pytest.fixture()
def reference(model_dir):
    return SentenceTransformer(str(model_dir), device="cpu").encode(TEXTS)


def _touch(root: Path, *names: str) -> Path:
    for name in names:
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_bytes(b"")
    return root


def _decide(root: Path, is_local: bool = True, backend: str = "ONNX", **model_kwargs):
    target, glob = ("model.onnx", "*.onnx") if backend == "ONNX" else ("openvino_model.xml", "openvino*.xml")
    return backend_should_export(root, is_local, model_kwargs, target, glob, backend)


# backend_should_export


def test_file_at_the_root_is_opened_as_is(tmp_path, caplog):
    with caplog.at_level(logging.WARNING):
        assert _decide(_touch(tmp_path, "model.onnx", "onnx/model_O1.onnx")) == (False, {})
    assert caplog.text == ""  # the root file wins without a "multiple files" warning


def test_file_in_the_backend_folder_sets_subfolder(tmp_path, caplog):
    with caplog.at_level(logging.WARNING):
        assert _decide(_touch(tmp_path, "onnx/model.onnx")) == (False, {"subfolder": "onnx", "file_name": "model.onnx"})
    assert caplog.text == ""


def test_several_candidates_warn_unless_file_name_is_given(tmp_path, caplog):
    root = _touch(tmp_path, "onnx/model.onnx", "onnx/model_O1.onnx", "onnx/model_qint8_avx2.onnx", "config.json")
    with caplog.at_level(logging.WARNING):
        assert _decide(root) == (False, {"subfolder": "onnx", "file_name": "model.onnx"})
    assert "Multiple ONNX files found" in caplog.text and "defaulting to 'onnx/model.onnx'" in caplog.text
    assert "onnx/model_qint8_avx2.onnx" in caplog.text and "config.json" not in caplog.text
    caplog.clear()
    with caplog.at_level(logging.WARNING):
        chosen = _decide(root, file_name="model_O1.onnx")
    assert chosen == (False, {"subfolder": "onnx", "file_name": "model_O1.onnx"}) and caplog.text == ""


def test_file_name_with_a_folder_moves_into_subfolder(tmp_path):
    root = _touch(tmp_path, "onnx/model.onnx", "onnx/model_O3.onnx")
    assert _decide(root, file_name="onnx/model_O3.onnx") == (False, {"file_name": "model_O3.onnx", "subfolder": "onnx"})


def test_subfolder_is_searched_with_its_backend_folder(tmp_path):
    root = _touch(tmp_path, "onnx/model.onnx", "sub/onnx/model.onnx")
    assert _decide(root, subfolder="sub") == (False, {"subfolder": "sub/onnx", "file_name": "model.onnx"})


def test_explicit_export_wins_and_is_removed(tmp_path, caplog):
    root = _touch(tmp_path, "onnx/model.onnx")
    with caplog.at_level(logging.WARNING):
        assert _decide(root, export=True, provider="CPUExecutionProvider") == (
            True,
            {"provider": "CPUExecutionProvider"},
        )
    assert caplog.text == ""
    assert _decide(tmp_path / "empty", export=False) == (False, {})  # never exports, even with nothing there


def test_missing_file_exports_and_names_the_files_there(tmp_path, caplog):
    root = _touch(tmp_path, "onnx/model_O1.onnx", "onnx/model_O2.onnx")
    with caplog.at_level(logging.WARNING):
        assert _decide(root) == (True, {})
    assert f"No 'model.onnx' found in '{root.as_posix()}'. Exporting the model to ONNX." in caplog.text
    assert "['onnx/model_O1.onnx', 'onnx/model_O2.onnx']" in caplog.text
    assert '`model_kwargs={"file_name": "onnx/model_O1.onnx"}`' in caplog.text


def test_openvino_files_follow_their_glob(tmp_path, caplog):
    root = _touch(tmp_path, "openvino/openvino_model.xml", "openvino/openvino_model.bin", "openvino/other.xml")
    with caplog.at_level(logging.WARNING):
        decided = _decide(root, backend="OpenVINO")
    assert decided == (False, {"subfolder": "openvino", "file_name": "openvino_model.xml"})
    assert caplog.text == ""  # other.xml is not an OpenVINO model file name, so there is one candidate


def test_hub_repositories_are_listed_through_huggingface_hub(monkeypatch):
    calls = []

    def fake_list_repo_files(repo_id, **kwargs):
        calls.append((repo_id, kwargs))
        return ["config.json", "model.safetensors", "onnx/model.onnx", "onnx/model_O4.onnx"]

    monkeypatch.setattr("huggingface_hub.list_repo_files", fake_list_repo_files)
    decided = backend_should_export(
        Path("me/my-model"), False, {"revision": "v1", "file_name": "model_O4.onnx"}, "model.onnx", "*.onnx", "ONNX"
    )
    assert decided == (False, {"revision": "v1", "file_name": "model_O4.onnx", "subfolder": "onnx"})
    assert calls == [("me/my-model", {"repo_type": "model", "revision": "v1", "token": None})]


def test_warn_to_save_local_and_hub(caplog):
    with caplog.at_level(logging.WARNING):
        backend_warn_to_save("/models/mine", True, "ONNX")
        backend_warn_to_save("me/my-model", False, "OpenVINO")
    local, hub = caplog.messages
    assert local == (
        "Saving the exported ONNX model is heavily recommended to avoid having to export it again. "
        "Do so with `model.save_pretrained('/models/mine')`."
    )
    assert hub.startswith("Saving the exported OpenVINO model") and "push_to_hub('me/my-model', create_pr=True)" in hub


# save_or_push_to_hub_model


def _identity_onnx(path: str, external: bool = False) -> None:
    """A tiny ONNX model y = x + w (w a 4-vector), its weight optionally in a file beside it."""
    weight = numpy_helper.from_array(np.arange(4, dtype=np.float32), "w")
    graph = helper.make_graph(
        [helper.make_node("Add", ["x", "w"], ["y"])],
        "tiny",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [4])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [4])],
        [weight],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    if external:
        onnx.save(model, path, save_as_external_data=True, location=os.path.basename(path) + ".data", size_threshold=0)
    else:
        onnx.save(model, path)


def _run_onnx(path: Path) -> np.ndarray:
    session = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    return session.run(None, {"x": np.ones(4, dtype=np.float32)})[0]


def test_save_onnx_variant_into_the_local_folder(tmp_path):
    save_or_push_to_hub_model(
        lambda save_dir: _identity_onnx(os.path.join(save_dir, "model_tiny.onnx")),
        "export_optimized_onnx_model",
        OptimizationConfig(),
        str(tmp_path),
        file_suffix="tiny",
    )
    assert os.listdir(tmp_path / "onnx") == ["model_tiny.onnx"]
    np.testing.assert_array_equal(_run_onnx(tmp_path / "onnx" / "model_tiny.onnx"), [1, 2, 3, 4])


def test_external_weights_travel_with_the_renamed_model(tmp_path):
    save_or_push_to_hub_model(
        lambda save_dir: _identity_onnx(os.path.join(save_dir, "model.onnx"), external=True),
        "export_optimized_onnx_model",
        OptimizationConfig(),
        str(tmp_path),
        file_suffix="big",
    )
    assert sorted(os.listdir(tmp_path / "onnx")) == ["model_big.onnx", "model_big.onnx_data"]
    np.testing.assert_array_equal(_run_onnx(tmp_path / "onnx" / "model_big.onnx"), [1, 2, 3, 4])


def test_save_openvino_variant_renames_xml_and_bin(tmp_path):
    openvino = pytest.importorskip("openvino")

    def export(save_dir: str) -> None:  # as optimum-intel leaves it: openvino/openvino_model.xml + .bin
        _identity_onnx(os.path.join(save_dir, "tiny.onnx"))
        os.makedirs(os.path.join(save_dir, "openvino"))
        converted = openvino.convert_model(os.path.join(save_dir, "tiny.onnx"))
        openvino.save_model(converted, os.path.join(save_dir, "openvino", "openvino_model.xml"))

    save_or_push_to_hub_model(export, "f", None, str(tmp_path), file_suffix="int8", backend="openvino")
    assert sorted(os.listdir(tmp_path / "openvino")) == ["openvino_model_int8.bin", "openvino_model_int8.xml"]
    compiled = openvino.Core().compile_model(str(tmp_path / "openvino" / "openvino_model_int8.xml"), "CPU")
    np.testing.assert_array_equal(compiled({"x": np.ones(4, dtype=np.float32)})[0], [1, 2, 3, 4])


def test_push_uploads_the_backend_folder(tmp_path, monkeypatch):
    uploads = []

    def fake_upload_folder(**kwargs):
        uploads.append({**kwargs, "files": sorted(os.listdir(kwargs["folder_path"]))})

    monkeypatch.setattr("huggingface_hub.upload_folder", fake_upload_folder)
    monkeypatch.chdir(tmp_path)
    for create_pr in (True, False):
        save_or_push_to_hub_model(
            lambda save_dir: _identity_onnx(os.path.join(save_dir, "model_O2.onnx")),
            "export_optimized_onnx_model",
            OptimizationConfig(optimization_level=2),
            "me/my-model",
            push_to_hub=True,
            create_pr=create_pr,
            file_suffix="O2",
        )
    with_pr, without_pr = uploads
    assert with_pr["repo_id"] == "me/my-model" and with_pr["repo_type"] == "model"
    assert with_pr["create_pr"] is True and without_pr["create_pr"] is False
    assert with_pr["path_in_repo"] == "onnx" and with_pr["files"] == ["model_O2.onnx"]
    assert with_pr["commit_message"] == "Add exported onnx model 'model_O2.onnx'"
    assert "OptimizationConfig(optimization_level=2" in with_pr["commit_description"]
    assert "\"file_name\": 'model_O2.onnx'" in with_pr["commit_description"]
    assert without_pr["commit_description"] == ""
    assert os.listdir(tmp_path) == []  # nothing written locally


def test_save_needs_a_suffix_and_a_known_backend(tmp_path):
    with pytest.raises(ValueError, match="file_suffix"):
        save_or_push_to_hub_model(lambda save_dir: None, "f", None, str(tmp_path))
    with pytest.raises(ValueError, match="'onnx' or 'openvino'"):
        save_or_push_to_hub_model(lambda save_dir: None, "f", None, str(tmp_path), file_suffix="x", backend="tflite")


# load


def test_load_functions_take_upstreams_call_form(model_dir, reference, tmp_path):
    config = AutoConfig.from_pretrained(model_dir)
    SentenceTransformer(str(model_dir), device="cpu", backend="onnx").save(str(tmp_path / "saved"))
    model = load_onnx_model(str(tmp_path / "saved"), config, "feature-extraction", provider="CPUExecutionProvider")
    assert isinstance(model, OnnxModel) and model.model_path == str(tmp_path / "saved" / "onnx" / "model.onnx")
    with pytest.raises(ValueError, match="Unsupported task: 'text-generation'"):
        load_onnx_model(str(tmp_path / "saved"), config, "text-generation")
    exported = load_openvino_model(str(model_dir), config, "feature-extraction", export=True)
    assert isinstance(exported, OpenVINOModel) and not (model_dir / "openvino").exists()


def test_load_from_the_hub_fetches_the_located_file(model_dir, tmp_path, monkeypatch):
    config = AutoConfig.from_pretrained(model_dir)
    SentenceTransformer(str(model_dir), device="cpu", backend="onnx").save(str(tmp_path / "snapshot"))
    fetched = []

    def fake_resolve_file(name, filename, subfolder="", **hub):
        fetched.append((name, f"{subfolder}/{filename}", hub["revision"]))
        path = tmp_path / "snapshot" / subfolder / filename
        return str(path) if path.is_file() else None

    monkeypatch.setattr("huggingface_hub.list_repo_files", lambda repo_id, **kwargs: ["onnx/model.onnx"])
    monkeypatch.setattr("sentence_transformers.base.hub.resolve_file", fake_resolve_file)
    model = load_onnx_model("me/my-model", config, revision="main")
    assert model.model_path == str(tmp_path / "snapshot" / "onnx" / "model.onnx")
    assert fetched[0] == ("me/my-model", "onnx/model.onnx", "main")
    assert [path for _, path, _ in fetched[1:]] == ["onnx/model.onnx_data", "onnx/model.onnx.data"]


# optimize and quantize, through their module paths


def _cosine(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return (a * b).sum(1) / np.linalg.norm(a, axis=1) / np.linalg.norm(b, axis=1)


def test_optimized_variants_load_and_match_torch(model_dir, reference):
    model = SentenceTransformer(str(model_dir), device="cpu", backend="onnx")
    export_optimized_onnx_model(model, "O2", str(model_dir))
    export_optimized_onnx_model(model, OptimizationConfig(optimization_level=1), str(model_dir))
    assert sorted(os.listdir(model_dir / "onnx")) == ["model_O2.onnx", "model_optimized.onnx"]
    for name in ("model_O2.onnx", "onnx/model_optimized.onnx"):
        optimized = SentenceTransformer(str(model_dir), backend="onnx", model_kwargs={"file_name": name})
        np.testing.assert_allclose(optimized.encode(TEXTS), reference, atol=1e-4, rtol=0)


def test_dynamic_quantized_variant_loads_close_to_torch(model_dir, reference):
    model = SentenceTransformer(str(model_dir), device="cpu", backend="onnx")
    export_dynamic_quantized_onnx_model(model, "avx512_vnni", str(model_dir))
    quantized = SentenceTransformer(
        str(model_dir), backend="onnx", model_kwargs={"file_name": "model_qint8_avx512_vnni.onnx"}
    )
    got = quantized.encode(TEXTS)
    assert not np.allclose(got, reference, atol=1e-6)  # int8 weights: not the float model
    assert _cosine(got, reference).min() > 0.99


@pytest.mark.skipif(not HAS_NNCF, reason="nncf is not installed")
def test_static_quantization_refuses_other_backends(model_dir, tmp_path):
    model = SentenceTransformer(str(model_dir), device="cpu", backend="onnx")
    with pytest.raises(ValueError, match="backend='openvino'.*'onnx'"):
        export_static_quantized_openvino_model(model, None, str(tmp_path), calibration_dataset=CALIBRATION)


def test_static_quantization_without_nncf_names_the_package(model_dir, tmp_path, monkeypatch):
    model = SentenceTransformer(str(model_dir), device="cpu")  # the package is checked first, as upstream does
    monkeypatch.setitem(sys.modules, "nncf", None)  # makes `import nncf` fail
    with pytest.raises(ImportError, match=r"sbert\[openvino\]"):
        export_static_quantized_openvino_model(model, None, str(tmp_path), calibration_dataset=CALIBRATION)


@pytest.mark.skipif(not HAS_NNCF, reason="nncf is not installed")
def test_static_quantized_openvino_variant(model_dir, reference):
    model = SentenceTransformer(str(model_dir), device="cpu", backend="openvino")
    export_static_quantized_openvino_model(
        model, StaticQuantizationConfig(num_samples=8), str(model_dir), calibration_dataset=CALIBRATION
    )
    files = sorted(os.listdir(model_dir / "openvino"))
    assert files == ["openvino_model_qint8_quantized.bin", "openvino_model_qint8_quantized.xml"]
    import openvino

    graph = openvino.Core().read_model(str(model_dir / "openvino" / "openvino_model_qint8_quantized.xml"))
    assert "FakeQuantize" in {op.get_type_name() for op in graph.get_ops()}  # int8 ranges were calibrated
    kwargs = {"file_name": "openvino_model_qint8_quantized.xml"}
    got = SentenceTransformer(str(model_dir), backend="openvino", model_kwargs=kwargs).encode(TEXTS)
    assert not np.allclose(got, reference, atol=1e-6)
    assert _cosine(got, reference).min() > 0.99


@pytest.mark.skipif(not HAS_NNCF, reason="nncf is not installed")
def test_static_quantization_calibrates_on_a_hub_dataset(model_dir, reference, monkeypatch):
    datasets = pytest.importorskip("datasets")
    loads = []

    def fake_load_dataset(name, config_name, split):
        loads.append((name, config_name, split))
        return datasets.Dataset.from_dict({"sentence": CALIBRATION, "label": [0] * len(CALIBRATION)})

    monkeypatch.setattr(datasets, "load_dataset", fake_load_dataset)
    model = SentenceTransformer(str(model_dir), device="cpu", backend="openvino")
    with pytest.raises(ValueError, match="Either specify all of"):
        export_static_quantized_openvino_model(model, None, str(model_dir), dataset_name="nyu-mll/glue")
    export_static_quantized_openvino_model(model, {"num_samples": 6}, str(model_dir), file_suffix="sst2")
    assert loads == [("nyu-mll/glue", "sst2", "train")]  # upstream's default calibration set
    kwargs = {"file_name": "openvino/openvino_model_sst2.xml"}
    got = SentenceTransformer(str(model_dir), backend="openvino", model_kwargs=kwargs).encode(TEXTS)
    assert _cosine(got, reference).min() > 0.99
