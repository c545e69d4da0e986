"""CrossEncoder on the ONNX Runtime and OpenVINO backends: the sequence-classification graph (``logits`` → ``scores``)
exported with upstream's file names, scores as torch's, and the optimize / quantize exports on a reranker."""

from __future__ import annotations

import json
import logging

import numpy as np
import pytest
import torch

from sentence_transformers.backend import (
    OnnxModel,
    OpenVINOModel,
    export_dynamic_quantized_onnx_model,
    export_optimized_onnx_model,
    export_static_quantized_openvino_model,
)
from sentence_transformers.backend.runtime import require
from sentence_transformers.base.modules.transformer import Transformer
from sentence_transformers.cross_encoder import CrossEncoder

PAIRS = [
    ("A cat.", "A cat sleeps on the warm windowsill in the afternoon sun."),
    ("What is the capital of France?", "Paris is the capital of France."),
    ("The quick brown fox jumps over the lazy dog.", "Two women are sitting at a table and talking."),
    ("A man is playing a guitar on the street.", "query: document: passage: search results ranking retrieval"),
    ("dog", ""),
]
IDENTITY = torch.nn.Identity()


def _save_cross_encoder(tiny_bert_dir, folder, num_labels: int = 1) -> None:
    """A tiny CrossEncoder with a seeded head, scaled so that the logits differ between pairs by ~1e-2 (the fresh
    head's differ by ~1e-4, too little for a 1e-5 comparison to mean much)."""
    torch.manual_seed(0)
    model = CrossEncoder(str(tiny_bert_dir), num_labels=num_labels, device="cpu")
    with torch.no_grad():
        model.model.classifier.weight.mul_(200.0)
    model.save(str(folder))


@pytest.fixture()
def ce_dir(tiny_bert_dir, tmp_path):
    folder = tmp_path / "reranker"
    _save_cross_encoder(tiny_bert_dir, folder)
    return folder


@pytest.fixture()
def reference(ce_dir):
    """torch's logits for PAIRS."""
    return CrossEncoder(str(ce_dir), device="cpu").predict(PAIRS, activation_fn=IDENTITY)


def test_onnx_exports_the_classifier_on_first_load_and_scores_as_torch(ce_dir, reference, caplog):
    assert np.ptp(reference) > 1e-2  # the scaled head: scores that differ well beyond the tolerance
    with caplog.at_level(logging.WARNING):
        model = CrossEncoder(str(ce_dir), device="cpu", backend="onnx")
    assert "Exporting the model to ONNX" in caplog.text
    assert model.get_backend() == "onnx" and isinstance(model.model, OnnxModel)
    np.testing.assert_allclose(model.predict(PAIRS, activation_fn=IDENTITY, batch_size=2), reference, atol=1e-5)
    # the saved activation (Sigmoid for one label) still applies on top of the graph's logits
    np.testing.assert_allclose(model.predict(PAIRS), 1 / (1 + np.exp(-reference)), atol=1e-5)
    assert not (ce_dir / "onnx").exists()  # loading never writes into the model folder


def test_onnx_rank_orders_as_torch(ce_dir, reference):
    model = CrossEncoder(str(ce_dir), device="cpu", backend="onnx")
    query, documents = "A cat.", [b for _, b in PAIRS]
    ranking = model.rank(query, documents, activation_fn=IDENTITY, return_documents=True)
    torch_ranking = CrossEncoder(str(ce_dir), device="cpu").rank(query, documents, activation_fn=IDENTITY)
    assert [item["corpus_id"] for item in ranking] == [item["corpus_id"] for item in torch_ranking]
    np.testing.assert_allclose(
        [item["score"] for item in ranking], [item["score"] for item in torch_ranking], atol=1e-5
    )
    assert ranking[0]["text"] == documents[ranking[0]["corpus_id"]]


def test_onnx_save_writes_upstreams_layout_and_reloads_without_exporting(ce_dir, reference, tmp_path, caplog):
    CrossEncoder(str(ce_dir), device="cpu", backend="onnx").save(str(tmp_path / "saved"))
    graph = tmp_path / "saved" / "onnx" / "model.onnx"
    assert graph.is_file()
    # optimum's ORTModelForSequenceClassification (upstream's loader) reads an output named "logits"
    session = require("onnxruntime", "onnx").InferenceSession(str(graph), providers=["CPUExecutionProvider"])
    assert [output.name for output in session.get_outputs()] == ["logits"]
    assert session.get_outputs()[0].shape[1] == 1
    config = json.loads((tmp_path / "saved" / "config.json").read_text())
    assert config["architectures"] == ["BertForSequenceClassification"]
    settings = json.loads((tmp_path / "saved" / "config_sentence_transformers.json").read_text())
    assert settings["model_type"] == "CrossEncoder"
    caplog.clear()
    with caplog.at_level(logging.WARNING):
        reloaded = CrossEncoder(str(tmp_path / "saved"), device="cpu", backend="onnx")
    assert "Exporting" not in caplog.text
    assert reloaded.model.model_path == str(graph)
    np.testing.assert_allclose(reloaded.predict(PAIRS, activation_fn=IDENTITY), reference, atol=1e-5)


def test_onnx_with_several_labels(tiny_bert_dir, tmp_path):
    _save_cross_encoder(tiny_bert_dir, tmp_path / "three", num_labels=3)
    expected = CrossEncoder(str(tmp_path / "three"), device="cpu").predict(PAIRS, apply_softmax=True)
    model = CrossEncoder(str(tmp_path / "three"), device="cpu", backend="onnx")
    scores = model.predict(PAIRS, apply_softmax=True, batch_size=3)
    assert scores.shape == (len(PAIRS), 3)
    np.testing.assert_allclose(scores, expected, atol=1e-5)
    np.testing.assert_allclose(scores.sum(axis=1), np.ones(len(PAIRS)), atol=1e-6)


def test_onnx_on_a_plain_hugging_face_classifier_folder(ce_dir, reference, tmp_path):
    # How most published rerankers are stored: config.json + weights + tokenizer, no modules.json.
    torch_model = CrossEncoder(str(ce_dir), device="cpu")
    torch_model.model.save_pretrained(tmp_path / "plain")
    torch_model.tokenizer.save_pretrained(tmp_path / "plain")
    model = CrossEncoder(str(tmp_path / "plain"), device="cpu", backend="onnx")
    assert model.num_labels == 1
    np.testing.assert_allclose(model.predict(PAIRS, activation_fn=IDENTITY), reference, atol=1e-5)


def test_optimized_and_quantized_onnx_rerankers(ce_dir, reference):
    model = CrossEncoder(str(ce_dir), device="cpu", backend="onnx")
    model.save_pretrained(str(ce_dir))
    model = CrossEncoder(str(ce_dir), device="cpu", backend="onnx")
    export_optimized_onnx_model(model, "O2", str(ce_dir))
    export_dynamic_quantized_onnx_model(model, "avx512_vnni", str(ce_dir))
    assert sorted(path.name for path in (ce_dir / "onnx").iterdir()) == [
        "model.onnx",
        "model_O2.onnx",
        "model_qint8_avx512_vnni.onnx",
    ]
    optimized = CrossEncoder(str(ce_dir), backend="onnx", model_kwargs={"file_name": "onnx/model_O2.onnx"})
    np.testing.assert_allclose(optimized.predict(PAIRS, activation_fn=IDENTITY), reference, atol=1e-5)
    quantized = CrossEncoder(str(ce_dir), backend="onnx", model_kwargs={"file_name": "model_qint8_avx512_vnni.onnx"})
    assert quantized.model.model_path.endswith("onnx/model_qint8_avx512_vnni.onnx")
    onnx = require("onnx", "onnx")
    operators = {node.op_type for node in onnx.load(quantized.model.model_path).graph.node}
    assert {"DynamicQuantizeLinear", "MatMulInteger"} <= operators  # int8 matrix products
    # int8 moves the logits of this tiny random model by a few percent
    np.testing.assert_allclose(quantized.predict(PAIRS, activation_fn=IDENTITY), reference, rtol=0.1)


def test_openvino_reranker_and_its_static_quantization(ce_dir, reference, tmp_path):
    model = CrossEncoder(str(ce_dir), device="cpu", backend="openvino")
    assert isinstance(model.model, OpenVINOModel)
    np.testing.assert_allclose(model.predict(PAIRS, activation_fn=IDENTITY), reference, atol=1e-5)
    model.save(str(tmp_path / "saved"))
    assert (tmp_path / "saved" / "openvino" / "openvino_model.xml").is_file()
    model = CrossEncoder(str(tmp_path / "saved"), device="cpu", backend="openvino")
    calibration = [f"{a} {b}" for a, b in PAIRS] * 4
    export_static_quantized_openvino_model(
        model, {"num_samples": 20}, str(tmp_path / "saved"), calibration_dataset=calibration
    )
    assert (tmp_path / "saved" / "openvino" / "openvino_model_qint8_quantized.xml").is_file()
    assert (tmp_path / "saved" / "openvino" / "openvino_model_qint8_quantized.bin").is_file()
    quantized = CrossEncoder(
        str(tmp_path / "saved"), backend="openvino", model_kwargs={"file_name": "openvino_model_qint8_quantized.xml"}
    )
    graph = (tmp_path / "saved" / "openvino" / "openvino_model_qint8_quantized.xml").read_text()
    assert 'type="FakeQuantize"' in graph  # calibrated int8 quantization points
    np.testing.assert_allclose(quantized.predict(PAIRS, activation_fn=IDENTITY), reference, rtol=0.1)


def test_export_functions_refuse_a_torch_reranker(ce_dir, tmp_path):
    model = CrossEncoder(str(ce_dir), device="cpu")
    with pytest.raises(ValueError, match="backend='onnx'"):
        export_dynamic_quantized_onnx_model(model, "avx2", str(tmp_path))
    with pytest.raises(ValueError, match="backend='openvino'"):
        export_static_quantized_openvino_model(model, None, str(tmp_path), calibration_dataset=["a"])


def test_tasks_without_a_runtime_graph_stay_on_torch(tiny_bert_dir):
    with pytest.raises(NotImplementedError, match="torch backend only"):
        Transformer(str(tiny_bert_dir), transformer_task="text-generation", backend="onnx")
