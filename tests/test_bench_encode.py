"""bench/encode.py and its worker: the CPU variants (torch bf16, onnx, openvino fp32/bf16/int8), upstream's n/a
rows, the figures (× upstream fp32 / same, max abs diff, STSb Spearman and its change) and the target lines."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

BENCH = Path(__file__).resolve().parent.parent / "bench"
sys.path.insert(0, str(BENCH))

import _encode_worker as worker  # noqa: E402
import encode  # noqa: E402

from sentence_transformers import SentenceTransformer  # noqa: E402


def test_cpu_defaults_add_bf16_and_openvino_variants():
    args = encode.parse_args(["--model", "m"])
    assert args.variants == encode.CPU_VARIANTS
    assert {"torch bf16", "openvino fp32", "openvino bf16", "openvino int8", "onnx int8"} <= set(args.variants)
    assert encode.parse_args(["--model", "m", "--variants", "OpenVINO-int8"]).variants == ["openvino int8"]
    with pytest.raises(SystemExit):
        encode.parse_args(["--model", "m", "--variants", "openvino int4"])


def test_plan_lists_upstream_for_every_variant_and_marks_runtimes_na():
    args = encode.parse_args(["--model", "m", "--variants", "torch bf16,openvino int8", "--against", "py"])
    args.workloads = ["sentences"]
    assert encode.plan(args) == [
        ("sentences", "torch fp32", "upstream"),
        ("sentences", "torch bf16", "upstream"),
        ("sentences", "torch bf16", "sbert"),
        ("sentences", "openvino int8", "upstream"),
        ("sentences", "openvino int8", "sbert"),
    ]
    rows = encode.rows_of({"na": encode.UPSTREAM_NA}, "sentences", "openvino int8", "upstream", 4, [32])
    assert rows[0]["na"] and "error" in rows[0]  # never counted as a measurement
    assert "| n/a (needs optimum) |" in encode.table(rows, cuda=False)


def test_calibration_sentences_come_from_train_not_test(tmp_path, monkeypatch):
    lines = [f"train {i} a,train {i} b,3.0" for i in range(50)]
    (tmp_path / "stsb-en-train.csv").write_text("\n".join(lines + lines[:5]), encoding="utf-8")
    (tmp_path / "stsb-en-test.csv").write_text("test a,test b,1.0", encoding="utf-8")
    monkeypatch.setattr(encode, "DATA_DIRS", [tmp_path])
    chosen = encode.calibration_sentences(10)
    assert len(chosen) == 10 and len(set(chosen)) == 10
    assert all(text.startswith("train ") for text in chosen)
    assert chosen[0] == "train 0 a" and chosen[1] != "train 1 a"  # spread over the file, not its head


def test_spearman_is_a_fraction_of_the_pairs_in_order():
    gold = np.array([0.0, 1.0, 2.0, 3.0])
    angles = np.array([1.5, 1.0, 0.5, 0.1])  # pair i: cosine cos(angle) rises with gold
    first = np.stack([np.ones(4), np.zeros(4)], 1)
    second = np.stack([np.cos(angles), np.sin(angles)], 1)
    assert encode.spearman(np.concatenate([first, second]), gold) == pytest.approx(1.0)
    assert encode.spearman(np.concatenate([first, second]), gold[::-1].copy()) == pytest.approx(-1.0)


def fake_row(tmp_path: Path, impl: str, variant: str, seconds: float, embeddings: np.ndarray, workload="sentences"):
    path = tmp_path / f"{impl}-{variant.replace(' ', '-')}-{workload}.npy"
    np.save(path, embeddings.astype(np.float32))
    return {"workload": workload, "variant": variant, "impl": impl, "texts": 100, "batch": 32, "seconds": seconds,
            "rss_mb": 1.0, "embeddings": str(path), "tokens_counted": 1000}  # fmt: skip


def pairs(noise: float, seed: int) -> np.ndarray:
    """Sentences-workload embeddings of 50 pairs whose cosine follows GOLD, plus noise."""
    angles = np.linspace(1.5, 0.0, 50) + np.random.default_rng(seed).normal(0, noise, 50)
    first = np.stack([np.ones(50), np.zeros(50)], 1)
    return np.concatenate([first, np.stack([np.cos(angles), np.sin(angles)], 1)])


GOLD = np.arange(50, dtype=float)


def test_figures_ratios_diffs_and_spearman_delta(tmp_path):
    reference = pairs(0.0, 0)
    rows = [
        fake_row(tmp_path, "upstream", "torch fp32", 10.0, reference),
        fake_row(tmp_path, "upstream", "torch bf16", 5.0, reference + 0.01),
        fake_row(tmp_path, "sbert", "torch bf16", 2.0, reference + 0.02),
        fake_row(tmp_path, "sbert", "openvino int8", 1.0, reference),
        {**encode.rows_of({"na": encode.UPSTREAM_NA}, "sentences", "openvino int8", "upstream", 100, [32])[0]},
    ]
    encode.add_figures(rows, GOLD)
    up32, up16, bf16, ov8, na = rows
    assert bf16["ratio_fp32"] == pytest.approx(5.0) and bf16["ratio_same"] == pytest.approx(2.5)
    assert ov8["ratio_fp32"] == pytest.approx(10.0) and "ratio_same" not in ov8  # upstream's row is n/a
    assert bf16["max_abs_diff"] == pytest.approx(0.02, abs=1e-6) and ov8["max_abs_diff"] == 0.0
    assert up32["stsb_spearman"] == pytest.approx(1.0) and ov8["spearman_delta"] == pytest.approx(0.0)
    assert "ratio_fp32" not in up32 and "texts_per_s" not in na
    table = encode.table(rows, cuda=False)
    assert "| sentences | torch bf16 | 32 | sbert | 50.0 | 500 | 5.00 | 2.50 | 2.0e-02 | 1.0000 | +0.0000 |" in table


def test_target_lines_pick_the_fastest_variant_that_keeps_quality(tmp_path):
    reference = pairs(0.0, 0)
    rows = [
        fake_row(tmp_path, "upstream", "torch fp32", 10.0, reference),
        fake_row(tmp_path, "upstream", "torch bf16", 5.0, reference),
        fake_row(tmp_path, "sbert", "torch fp32", 1.0, reference),  # fastest, but not reduced precision
        fake_row(tmp_path, "sbert", "openvino bf16", 2.0, pairs(0.001, 1)),
        fake_row(tmp_path, "sbert", "onnx int8", 1.5, pairs(0.5, 2)),  # faster, but loses Spearman
        fake_row(tmp_path, "upstream", "torch fp32", 10.0, np.ones((3, 2)), workload="passages"),
        fake_row(tmp_path, "sbert", "onnx int8", 1.0, np.ones((3, 2)), workload="passages"),
        fake_row(tmp_path, "sbert", "openvino bf16", 4.0, np.ones((3, 2)), workload="passages"),
    ]
    encode.add_figures(rows, GOLD)
    assert rows[4]["spearman_delta"] < -0.005 < rows[3]["spearman_delta"]
    sentences, passages = encode.target_lines(rows, 0.005)
    assert sentences.startswith("sentences b32: best reduced precision = openvino bf16, 5.00× upstream fp32")
    assert "(target ≥ 4.0×: met); 2.50× upstream bf16 (target ≥ 1.8×: met)" in sentences
    # passages have no Spearman: onnx int8 is ruled out by its sentences score, so openvino bf16 is the best
    assert passages == (
        "passages b32: best reduced precision = openvino bf16, 2.50× upstream fp32 (target ≥ 4.0×: not met)"
    )
    assert encode.target_lines(rows, -1.0)[0].startswith("sentences b32: no reduced-precision variant")


def test_worker_load_arguments_per_variant():
    spec = {"model": "m", "runtime_dir": "r", "device": "cpu", "threads": 2, "int8_config": "avx512_vnni"}
    assert worker.load_arguments({**spec, "variant": "torch fp32"}) == ("m", {"device": "cpu"})
    path, kwargs = worker.load_arguments({**spec, "variant": "torch bf16"})
    assert (path, kwargs["model_kwargs"]) == ("m", {"torch_dtype": torch.bfloat16})
    path, kwargs = worker.load_arguments({**spec, "variant": "onnx int8"})
    assert (path, kwargs["backend"], kwargs["model_kwargs"]) == (
        "r",
        "onnx",
        {"file_name": "model_qint8_avx512_vnni.onnx"},
    )
    assert worker.load_arguments({**spec, "variant": "onnx fp32"})[1]["model_kwargs"] == {"file_name": "model.onnx"}
    _, kwargs = worker.load_arguments({**spec, "variant": "openvino bf16"})
    assert kwargs["backend"] == "openvino"
    assert kwargs["model_kwargs"] == {
        "ov_config": {"INFERENCE_PRECISION_HINT": "bf16", "INFERENCE_NUM_THREADS": 2},
        "file_name": "openvino/openvino_model.xml",
    }
    _, kwargs = worker.load_arguments({**spec, "threads": None, "variant": "openvino int8"})
    assert kwargs["model_kwargs"] == {
        "ov_config": {"INFERENCE_PRECISION_HINT": "f32"},
        "file_name": "openvino/openvino_model_qint8_quantized.xml",
    }
    with pytest.raises(ValueError, match="openvino int4"):
        worker.load_arguments({**spec, "variant": "openvino int4"})


def test_worker_prepares_and_runs_the_openvino_variants(tiny_bert_dir, tmp_path):
    pytest.importorskip("openvino")
    pytest.importorskip("nncf")
    model_dir = tmp_path / "model"
    SentenceTransformer(str(tiny_bert_dir), device="cpu").save(str(model_dir))
    texts = ["A man is playing a guitar.", "A woman is slicing an onion.", "Two dogs run.", "It rains."] * 3
    (tmp_path / "calibration.json").write_text(json.dumps(texts), encoding="utf-8")
    spec = {"model": str(model_dir), "runtime_dir": str(tmp_path / "runtime"), "device": "cpu", "threads": 1,
            "int8_config": "avx512_vnni", "calibration": str(tmp_path / "calibration.json"),
            "variants": ["openvino fp32", "openvino bf16", "openvino int8"]}  # fmt: skip
    assert worker.prepare(spec) == {}
    assert (tmp_path / "runtime" / "openvino" / "openvino_model_qint8_quantized.xml").is_file()
    reference = SentenceTransformer(str(model_dir), device="cpu").encode(texts, convert_to_numpy=True)
    for variant, tolerance in (("openvino fp32", 1e-4), ("openvino bf16", 0.1), ("openvino int8", 0.5)):
        embeddings = worker.load({**spec, "variant": variant}).encode(texts, convert_to_numpy=True)
        assert embeddings.dtype == np.float32 and embeddings.shape == reference.shape
        assert np.abs(embeddings - reference).max() < tolerance, variant


def test_worker_torch_bf16_keeps_the_model_in_bf16_and_returns_float32(tiny_bert_dir):
    spec = {"model": str(tiny_bert_dir), "device": "cpu", "variant": "torch bf16"}
    model = worker.load(spec)
    assert model[0].auto_model.dtype == torch.bfloat16
    embeddings = worker.as_float32(model.encode(["A cat.", "Two dogs run in the park."], convert_to_tensor=True))
    reference = SentenceTransformer(str(tiny_bert_dir), device="cpu").encode(["A cat.", "Two dogs run in the park."])
    assert embeddings.dtype == np.float32
    assert np.abs(embeddings - reference).max() < 0.05


def test_compiled_variants_compile_with_frozen_weights_at_their_precision(monkeypatch):
    assert {"torch fp32 compiled", "torch bf16 compiled"} <= set(encode.CPU_VARIANTS)
    assert not encode.is_reduced("torch fp32 compiled") and encode.is_reduced("torch bf16 compiled")
    path, kwargs = worker.load_arguments({"variant": "torch fp32 compiled", "model": "m", "device": "cpu"})
    assert path == "m" and "model_kwargs" not in kwargs  # fp32 weights
    _, kwargs = worker.load_arguments({"variant": "torch bf16 compiled", "model": "m", "device": "cpu"})
    assert kwargs["model_kwargs"] == {"torch_dtype": torch.bfloat16}
    compiled = []

    class Model:
        def __init__(self, path, **kwargs):
            pass

        def compile(self, **kwargs):
            compiled.append(kwargs)

    monkeypatch.setattr(worker, "SentenceTransformer", Model)
    worker.load({"variant": "torch bf16 compiled", "model": "m", "device": "cpu"})
    worker.load({"variant": "torch bf16", "model": "m", "device": "cpu"})
    assert compiled == [{"freeze": True}]


def test_compiled_rows_compare_with_upstreams_uncompiled_row_at_their_precision():
    rows = [
        {
            "impl": "upstream",
            "variant": "torch fp32",
            "workload": "sentences",
            "batch": 32,
            "texts": 100,
            "seconds": 1.0,
        },
        {
            "impl": "upstream",
            "variant": "torch bf16",
            "workload": "sentences",
            "batch": 32,
            "texts": 100,
            "seconds": 0.5,
        },
        {"impl": "sbert", "variant": "torch bf16 compiled", "workload": "sentences", "batch": 32, "texts_per_s": 400.0},
    ]
    encode.add_ratios(rows, rows[2])
    assert rows[2]["ratio_fp32"] == pytest.approx(4.0) and rows[2]["ratio_same"] == pytest.approx(2.0)
