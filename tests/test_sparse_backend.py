"""SparseEncoder on the ONNX Runtime and OpenVINO backends: the fill-mask graph (``logits`` [batch, tokens, vocab],
as optimum names it) pooled by SpladePooling on the normal module path, embeddings as torch's, upstream's file names
and layout, and the optimize / quantize exports on a SPLADE model."""

from __future__ import annotations

import json
import logging
import shutil
from pathlib import Path

import pytest
import torch
from transformers import AutoModelForMaskedLM

from sentence_transformers import SparseEncoder
from sentence_transformers.backend import (
    OnnxModel,
    OpenVINOModel,
    export_dynamic_quantized_onnx_model,
    export_optimized_onnx_model,
    export_static_quantized_openvino_model,
)
from sentence_transformers.backend.runtime import require
from sentence_transformers.base.modules import Transformer
from sentence_transformers.sparse_encoder.modules import Router, SparseStaticEmbedding, SpladePooling

TEXTS = [
    "The quick brown fox jumps over the lazy dog.",
    "A cat.",
    "What is the capital of France? Paris is the capital of France.",
    "A man is playing a guitar on the street.",
    "dog",
]


@pytest.fixture(scope="module")
def splade_dir(tiny_mlm_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A plain BertForMaskedLM folder whose head's logits are scaled ×8: the tiny model's SPLADE weights then span
    0 … ~2 (rather than 0 … 0.3), so that a 1e-5 comparison means something."""
    folder = tmp_path_factory.mktemp("splade") / "plain"
    shutil.copytree(tiny_mlm_dir, folder)
    model = AutoModelForMaskedLM.from_pretrained(folder).eval()
    with torch.no_grad():
        model.cls.predictions.transform.LayerNorm.weight.mul_(8.0)
    model.save_pretrained(folder)
    return folder


@pytest.fixture(scope="module")
def reference(splade_dir: Path) -> torch.Tensor:
    """torch's dense SPLADE embeddings of TEXTS."""
    return SparseEncoder(str(splade_dir), device="cpu").encode(TEXTS, convert_to_sparse_tensor=False)


@pytest.fixture()
def model_dir(splade_dir: Path, tmp_path: Path) -> Path:
    """A saved SparseEncoder folder (Transformer(fill-mask) + SpladePooling) that nothing has exported yet."""
    folder = tmp_path / "model"
    SparseEncoder(str(splade_dir), device="cpu").save(str(folder))
    return folder


def _dense(model: SparseEncoder, texts: list[str] = TEXTS, **kwargs) -> torch.Tensor:
    return model.encode(texts, convert_to_sparse_tensor=False, **kwargs)


def test_onnx_exports_the_masked_lm_on_first_load_and_matches_torch(splade_dir, reference, caplog):
    assert reference.max() > 1.0 and (reference > 0).any(dim=1).all()  # the scaled head: weights well above 1e-5
    with caplog.at_level(logging.WARNING):
        model = SparseEncoder(str(splade_dir), device="cpu", backend="onnx")
    assert "Exporting the model to ONNX" in caplog.text
    assert model.get_backend() == "onnx"
    assert isinstance(model[0].auto_model, OnnxModel) and model[0].auto_model.task == "fill-mask"
    assert isinstance(model[1], SpladePooling)
    embeddings = _dense(model, batch_size=2)
    torch.testing.assert_close(embeddings, reference, atol=1e-5, rtol=0)
    assert torch.equal(embeddings > 0, reference > 0)  # the same active dimensions
    sparse = model.encode(TEXTS)  # the default: a torch sparse COO tensor
    assert sparse.is_sparse and sparse.shape == (len(TEXTS), model.get_embedding_dimension())
    torch.testing.assert_close(sparse.to_dense(), reference, atol=1e-5, rtol=0)
    assert not (splade_dir / "onnx").exists()  # loading never writes into the model folder


def test_runtime_backends_take_the_module_path_not_the_fused_torch_one(splade_dir, reference):
    # The fused path splits the torch model into encoder + MLM head; a runtime graph has no such parts, so the
    # Transformer must write the graph's logits as token_embeddings and SpladePooling pool them.
    for backend in ("onnx", "openvino"):
        model = SparseEncoder(str(splade_dir), device="cpu", backend=backend)
        assert model._fused_splade_parts() is None
        seen: list[torch.Size] = []

        def record(_: torch.nn.Module, args: tuple, seen: list[torch.Size] = seen) -> None:
            seen.append(args[0]["token_embeddings"].shape)

        hook = model[1].register_forward_pre_hook(record)
        try:
            embeddings = _dense(model, batch_size=2)
        finally:
            hook.remove()
        vocab = model.get_embedding_dimension()
        assert len(seen) == 3 and all(len(shape) == 3 and shape[2] == vocab for shape in seen)  # 5 texts, 2 a batch
        torch.testing.assert_close(embeddings, reference, atol=1e-5, rtol=0)


def test_onnx_graph_names_its_output_logits_per_token(model_dir):
    SparseEncoder(str(model_dir), device="cpu", backend="onnx").save(str(model_dir))
    graph = model_dir / "onnx" / "model.onnx"
    session = require("onnxruntime", "onnx").InferenceSession(str(graph), providers=["CPUExecutionProvider"])
    # optimum's ORTModelForMaskedLM (upstream's loader) reads "logits", with dynamic batch and sequence axes
    [output] = session.get_outputs()
    vocab = json.loads((model_dir / "config.json").read_text())["vocab_size"]
    assert output.name == "logits" and output.shape == ["batch_size", "sequence_length", vocab]
    assert {node.name for node in session.get_inputs()} == {"input_ids", "attention_mask", "token_type_ids"}


def test_onnx_save_writes_upstreams_layout_and_reloads_without_exporting(model_dir, reference, tmp_path, caplog):
    SparseEncoder(str(model_dir), device="cpu", backend="onnx").save(str(tmp_path / "saved"))
    saved = tmp_path / "saved"
    assert (saved / "onnx" / "model.onnx").is_file() and (saved / "1_SpladePooling" / "config.json").is_file()
    assert json.loads((saved / "config.json").read_text())["architectures"] == ["BertForMaskedLM"]
    assert json.loads((saved / "config_sentence_transformers.json").read_text())["model_type"] == "SparseEncoder"
    modules = json.loads((saved / "modules.json").read_text())
    assert [module["type"].rsplit(".", 1)[-1] for module in modules] == ["Transformer", "SpladePooling"]
    assert json.loads((saved / "sentence_bert_config.json").read_text())["transformer_task"] == "fill-mask"
    caplog.clear()
    with caplog.at_level(logging.WARNING):
        reloaded = SparseEncoder(str(saved), device="cpu", backend="onnx")
    assert "Exporting" not in caplog.text
    assert reloaded[0].auto_model.model_path == str(saved / "onnx" / "model.onnx")
    torch.testing.assert_close(_dense(reloaded), reference, atol=1e-5, rtol=0)
    # the query / document entry points and decode agree with torch's
    torch_model = SparseEncoder(str(model_dir), device="cpu")
    for method in ("encode_query", "encode_document"):
        got = getattr(reloaded, method)(TEXTS, convert_to_sparse_tensor=False)
        torch.testing.assert_close(
            got, getattr(torch_model, method)(TEXTS, convert_to_sparse_tensor=False), atol=1e-5, rtol=0
        )
    limited = _dense(reloaded, max_active_dims=4)
    assert torch.equal((limited > 0).sum(dim=1), torch.full((len(TEXTS),), 4))
    decoded = reloaded.decode(reloaded.encode(TEXTS[:1]), top_k=5)[0]
    expected = torch_model.decode(torch_model.encode(TEXTS[:1]), top_k=5)[0]
    assert [token for token, _ in decoded] == [token for token, _ in expected]
    assert [weight for _, weight in decoded] == pytest.approx([weight for _, weight in expected], abs=1e-5)


def test_openvino_matches_torch_and_saves_upstreams_layout(model_dir, reference, tmp_path, caplog):
    with caplog.at_level(logging.WARNING):
        model = SparseEncoder(str(model_dir), device="cpu", backend="openvino")
    assert "Exporting the model to OpenVINO" in caplog.text
    assert isinstance(model[0].auto_model, OpenVINOModel) and model[0].auto_model.task == "fill-mask"
    torch.testing.assert_close(_dense(model, batch_size=2), reference, atol=1e-5, rtol=0)
    model.save(str(tmp_path / "saved"))
    assert (tmp_path / "saved" / "openvino" / "openvino_model.xml").is_file()
    assert (tmp_path / "saved" / "openvino" / "openvino_model.bin").is_file()
    caplog.clear()
    with caplog.at_level(logging.WARNING):
        reloaded = SparseEncoder(str(tmp_path / "saved"), device="cpu", backend="openvino")
    assert "Exporting" not in caplog.text
    torch.testing.assert_close(_dense(reloaded), reference, atol=1e-5, rtol=0)


def _close_to_fp32(got: torch.Tensor, reference: torch.Tensor) -> None:
    """int8 against fp32 SPLADE weights. int8 weights and activations move the masked-LM logits by a few percent of
    their range, and log1p(relu(·)) and the max over tokens do not amplify that: every weight stays within 5 % of the
    largest (measured: 2.3 % for ONNX dynamic int8, 1.6 % for OpenVINO static int8), and the strongest dimensions
    of each text remain active (only weights near zero may switch on or off)."""
    scale = reference.abs().max()
    assert (got - reference).abs().max() <= 0.05 * scale
    strong = reference > 0.25 * scale
    assert strong.any() and (got[strong] > 0).all()


def test_optimized_and_dynamic_quantized_onnx_splade(model_dir, reference):
    model = SparseEncoder(str(model_dir), device="cpu", backend="onnx")
    model.save_pretrained(str(model_dir))
    model = SparseEncoder(str(model_dir), device="cpu", backend="onnx")
    export_optimized_onnx_model(model, "O3", str(model_dir))
    export_dynamic_quantized_onnx_model(model, "avx512_vnni", str(model_dir))
    assert sorted(path.name for path in (model_dir / "onnx").iterdir()) == [
        "model.onnx",
        "model_O3.onnx",
        "model_qint8_avx512_vnni.onnx",
    ]
    optimized = SparseEncoder(str(model_dir), backend="onnx", model_kwargs={"file_name": "onnx/model_O3.onnx"})
    assert optimized[0].auto_model.model_path.endswith("onnx/model_O3.onnx")
    onnx = require("onnx", "onnx")
    assert "SkipLayerNormalization" in {
        node.op_type for node in onnx.load(optimized[0].auto_model.model_path).graph.node
    }
    # O3 swaps erf-GELU for its tanh approximation: not bit-exact (1.5e-5 here), well within 1e-3
    torch.testing.assert_close(_dense(optimized), reference, atol=1e-3, rtol=0)
    quantized = SparseEncoder(
        str(model_dir), backend="onnx", model_kwargs={"file_name": "model_qint8_avx512_vnni.onnx"}
    )
    assert quantized[0].auto_model.model_path.endswith("onnx/model_qint8_avx512_vnni.onnx")
    operators = {node.op_type for node in onnx.load(quantized[0].auto_model.model_path).graph.node}
    assert {"DynamicQuantizeLinear", "MatMulInteger"} <= operators  # int8 matrix products, the MLM head's too
    _close_to_fp32(_dense(quantized), reference)


def test_static_quantized_openvino_splade(model_dir, reference):
    SparseEncoder(str(model_dir), device="cpu", backend="openvino").save(str(model_dir))
    model = SparseEncoder(str(model_dir), device="cpu", backend="openvino")
    export_static_quantized_openvino_model(model, {"num_samples": 20}, str(model_dir), calibration_dataset=TEXTS * 4)
    folder = model_dir / "openvino"
    assert sorted(path.name for path in folder.iterdir()) == [
        "openvino_model.bin",
        "openvino_model.xml",
        "openvino_model_qint8_quantized.bin",
        "openvino_model_qint8_quantized.xml",
    ]
    assert 'type="FakeQuantize"' in (folder / "openvino_model_qint8_quantized.xml").read_text()
    quantized = SparseEncoder(
        str(model_dir), backend="openvino", model_kwargs={"file_name": "openvino_model_qint8_quantized.xml"}
    )
    assert quantized[0].auto_model.model_path.endswith("openvino/openvino_model_qint8_quantized.xml")
    _close_to_fp32(_dense(quantized), reference)


def test_csr_sparse_encoder_runs_on_onnx(tiny_bert_dir, tmp_path):
    # CSR (Transformer + mean Pooling + SparseAutoEncoder): the feature-extraction graph under a sparse head.
    torch.manual_seed(0)
    SparseEncoder(str(tiny_bert_dir), device="cpu").save(str(tmp_path / "csr"))
    expected = _dense(SparseEncoder(str(tmp_path / "csr"), device="cpu"))
    model = SparseEncoder(str(tmp_path / "csr"), device="cpu", backend="onnx")
    assert model[0].auto_model.task == "feature-extraction"
    torch.testing.assert_close(_dense(model), expected, atol=1e-5, rtol=0)


def test_export_functions_refuse_what_they_cannot_export(splade_dir, tmp_path):
    torch_model = SparseEncoder(str(splade_dir), device="cpu")
    with pytest.raises(ValueError, match="backend='onnx'.*runs 'torch'"):
        export_optimized_onnx_model(torch_model, "O1", str(tmp_path))
    with pytest.raises(ValueError, match="backend='onnx'.*runs 'torch'"):
        export_dynamic_quantized_onnx_model(torch_model, "avx2", str(tmp_path))
    with pytest.raises(ValueError, match="backend='openvino'.*runs 'torch'"):
        export_static_quantized_openvino_model(torch_model, None, str(tmp_path), calibration_dataset=["a"])
    openvino_model = SparseEncoder(str(splade_dir), device="cpu", backend="openvino")
    with pytest.raises(ValueError, match="backend='onnx'.*runs 'openvino'"):
        export_optimized_onnx_model(openvino_model, "O1", str(tmp_path))
    # an inference-free model's document Transformer sits in its Router's folder, not beside modules.json
    document = Transformer(str(splade_dir), transformer_task="fill-mask", backend="onnx")
    query = SparseStaticEmbedding(tokenizer=document.tokenizer, weight=torch.ones(document.tokenizer.vocab_size))
    router = Router.for_query_document(query_modules=[query], document_modules=[document, SpladePooling("max")])
    with pytest.raises(ValueError, match="inside its Router"):
        export_dynamic_quantized_onnx_model(SparseEncoder(modules=[router], device="cpu"), "avx2", str(tmp_path))
    assert not any(tmp_path.iterdir())


def test_unsupported_backends_and_missing_files_are_named(splade_dir):
    with pytest.raises(ValueError, match="Unknown backend 'tensorrt'"):
        SparseEncoder(str(splade_dir), backend="tensorrt")
    with pytest.raises(FileNotFoundError, match="export=True"):
        SparseEncoder(str(splade_dir), backend="onnx", model_kwargs={"export": False})
    with pytest.raises(ValueError, match="Unknown model_kwargs.*providers"):
        SparseEncoder(str(splade_dir), backend="onnx", model_kwargs={"providers": ["CPUExecutionProvider"]})
