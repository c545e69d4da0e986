"""int8 variants of an exported model: dynamic ONNX quantization and calibrated (static) OpenVINO quantization.

``export_dynamic_quantized_onnx_model`` quantizes weights ahead and activations at run time with ONNX Runtime
("arm64", "avx2", "avx512", "avx512_vnni" presets) into ``onnx/model_<dtype>_<preset>.onnx``;
``export_static_quantized_openvino_model`` calibrates activation ranges on sample texts with NNCF (post-training
quantization) into ``openvino/openvino_model_<suffix>.xml`` + ``.bin``.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np

from sentence_transformers.backend.onnx import OnnxModel
from sentence_transformers.backend.openvino import OpenVINOModel
from sentence_transformers.backend.optimize import resolve_preset
from sentence_transformers.backend.runtime import require
from sentence_transformers.backend.utils import runtime_model_of, save_or_push_to_hub_model


@dataclass
class QuantizationConfig:
    """Dynamic int8 quantization (weights quantized ahead, activations at run time), as the upstream presets set it.

    Args:
        weights_dtype: "qint8" or "quint8".
        per_channel: One scale per output channel of each weight, rather than one per tensor.
        reduce_range: 7-bit weights, for processors whose int8 dot products can saturate (no VNNI).
        operators_to_quantize: Operator types to quantize (default: every one ONNX Runtime can, dynamically).
    """

    weights_dtype: Literal["qint8", "quint8"] = "qint8"
    per_channel: bool = True
    reduce_range: bool = False
    operators_to_quantize: list[str] = field(default_factory=list)


QUANTIZATION_PRESETS = {
    "arm64": QuantizationConfig("qint8"),
    "avx2": QuantizationConfig("quint8"),
    "avx512": QuantizationConfig("qint8"),
    "avx512_vnni": QuantizationConfig("qint8"),
}


@dataclass
class StaticQuantizationConfig:
    """Post-training int8 quantization of an OpenVINO model with NNCF (field names as optimum-intel's
    OVQuantizationConfig, whose objects are accepted too).

    Args:
        num_samples: Calibration texts used to measure activation ranges.
        sym: Symmetric activations (NNCF's "performance" preset) rather than asymmetric ("mixed").
        model_type: NNCF model type; "transformer" keeps sensitive operations (softmax, LayerNorm …) in float.
        fast_bias_correction: NNCF's faster bias correction (the slower one is rarely more accurate).
        smooth_quant_alpha: SmoothQuant strength for MatMul inputs; None keeps NNCF's default.
    """

    num_samples: int = 300
    sym: bool = False
    model_type: str = "transformer"
    fast_bias_correction: bool = True
    smooth_quant_alpha: float | None = None


def export_dynamic_quantized_onnx_model(
    model: Any,
    quantization_config: QuantizationConfig | Literal["arm64", "avx2", "avx512", "avx512_vnni"],
    model_name_or_path: str,
    push_to_hub: bool = False,
    create_pr: bool = False,
    file_suffix: str | None = None,
) -> None:
    """Quantize the ONNX model that ``model`` (loaded with backend="onnx") runs to int8 weights, with activations
    quantized on the fly; save ``onnx/model_qint8_<preset>.onnx`` (``model_quint8_avx2.onnx`` for avx2).

    Args:
        model: A SentenceTransformer, SparseEncoder or CrossEncoder (its Transformer first module) loaded with
            ``backend="onnx"``.
        quantization_config: "arm64", "avx2", "avx512", "avx512_vnni" or a QuantizationConfig.
        model_name_or_path: The local folder, or with ``push_to_hub`` the hub repository, to write to.
        push_to_hub: Upload the file to the hub repository instead of writing it locally.
        create_pr: With push_to_hub, open a pull request rather than committing to the main branch.
        file_suffix: Name suffix (default: "<weights dtype>_<preset>", or "<weights dtype>_quantized").
    """
    source = runtime_model_of(model, OnnxModel, "export_dynamic_quantized_onnx_model", "onnx")
    config, preset = resolve_preset(quantization_config, QUANTIZATION_PRESETS, QuantizationConfig)
    quantization = require("onnxruntime.quantization", "onnx")
    weight_type = {"qint8": quantization.QuantType.QInt8, "quint8": quantization.QuantType.QUInt8}
    if config.weights_dtype not in weight_type:
        raise ValueError(f"weights_dtype must be 'qint8' or 'quint8', got {config.weights_dtype!r}")
    suffix = file_suffix or f"{config.weights_dtype}_{preset or 'quantized'}"

    def quantize(save_dir: str) -> None:
        quantization.quantize_dynamic(
            source.model_path,
            os.path.join(save_dir, f"model_{suffix}.onnx"),
            op_types_to_quantize=config.operators_to_quantize or None,
            per_channel=config.per_channel,
            reduce_range=config.reduce_range,
            weight_type=weight_type[config.weights_dtype],
            # DefaultTensorType: fused ONNX Runtime operators (of an optimized model) have no inferred output type.
            extra_options={"ActivationSymmetric": False, "WeightSymmetric": True, "DefaultTensorType": 1},
        )

    save_or_push_to_hub_model(
        export_function=quantize,
        export_function_name="export_dynamic_quantized_onnx_model",
        config=config,
        model_name_or_path=model_name_or_path,
        push_to_hub=push_to_hub,
        create_pr=create_pr,
        file_suffix=suffix,
        backend="onnx",
        model=model,
    )


def export_static_quantized_openvino_model(
    model: Any,
    quantization_config: StaticQuantizationConfig | dict | None,
    model_name_or_path: str,
    dataset_name: str | None = None,
    dataset_config_name: str | None = None,
    dataset_split: str | None = None,
    column_name: str | None = None,
    push_to_hub: bool = False,
    create_pr: bool = False,
    file_suffix: str = "qint8_quantized",
    *,
    calibration_dataset: Any = None,
) -> None:
    """Quantize the OpenVINO model that ``model`` (loaded with backend="openvino") runs to int8, calibrating
    activation ranges on sample texts (post-training static quantization with NNCF); save
    ``openvino/openvino_model_<suffix>.xml`` + ``.bin``.

    Args:
        model: A SentenceTransformer, SparseEncoder or CrossEncoder (its Transformer first module) loaded with
            ``backend="openvino"``.
        quantization_config: A StaticQuantizationConfig, a dict of its fields (or an optimum-intel
            OVQuantizationConfig); None for the defaults.
        model_name_or_path: The local folder, or with ``push_to_hub`` the hub repository, to write to.
        dataset_name, dataset_config_name, dataset_split, column_name: The hub dataset whose texts calibrate; give
            all four or none (default: the "sentence" column of nyu-mll/glue sst2's train split).
        push_to_hub: Upload the files to the hub repository instead of writing them locally.
        create_pr: With push_to_hub, open a pull request rather than committing to the main branch.
        file_suffix: Name suffix of the files.
        calibration_dataset: Calibration texts given directly instead of a hub dataset: a list of strings or a
            ``datasets.Dataset`` (its ``column_name`` column, or its only column).
    """
    nncf = _require_nncf()
    source = runtime_model_of(model, OpenVINOModel, "export_static_quantized_openvino_model", "openvino")
    openvino = require("openvino", "openvino")
    config = _static_config(quantization_config)
    dataset_args = (dataset_name, dataset_config_name, dataset_split, column_name)
    if calibration_dataset is None:
        texts = _hub_calibration_texts(*dataset_args, num_samples=config.num_samples)
    elif any(arg is not None for arg in dataset_args[:3]):
        raise ValueError("Give either calibration_dataset or dataset_name/dataset_config_name/dataset_split, not both")
    else:
        texts = _calibration_texts(calibration_dataset, column_name)[: config.num_samples]
    if not texts:
        raise ValueError("The calibration data has no texts")
    encode = _calibration_inputs(model, source.input_names)

    def quantize(save_dir: str) -> None:
        quantized = nncf.quantize(
            openvino.Core().read_model(source.model_path),
            nncf.Dataset(texts, encode),
            preset=nncf.QuantizationPreset.PERFORMANCE if config.sym else nncf.QuantizationPreset.MIXED,
            model_type=nncf.ModelType(config.model_type),
            subset_size=min(config.num_samples, len(texts)),
            fast_bias_correction=config.fast_bias_correction,
            advanced_parameters=_advanced_parameters(config),
        )
        openvino.save_model(quantized, os.path.join(save_dir, "openvino_model.xml"), compress_to_fp16=False)

    save_or_push_to_hub_model(
        export_function=quantize,
        export_function_name="export_static_quantized_openvino_model",
        config=config,
        model_name_or_path=model_name_or_path,
        push_to_hub=push_to_hub,
        create_pr=create_pr,
        file_suffix=file_suffix,
        backend="openvino",
        model=model,
    )


def _require_nncf() -> Any:
    try:
        import nncf
    except ImportError as exc:
        raise ImportError(
            "export_static_quantized_openvino_model needs the 'nncf' package (Neural Network Compression Framework): "
            "pip install 'sbert[openvino]' (it brings nncf)"
        ) from exc
    return nncf


def _static_config(given: Any) -> StaticQuantizationConfig:
    """A StaticQuantizationConfig from None, a dict of its fields, or an object with such attributes."""
    if given is None:
        return StaticQuantizationConfig()
    if isinstance(given, StaticQuantizationConfig):
        return given
    names = [item.name for item in dataclasses.fields(StaticQuantizationConfig)]
    if isinstance(given, dict):
        unknown = set(given) - set(names)
        if unknown:
            raise ValueError(f"Unknown quantization_config keys {sorted(unknown)}; it takes {names}")
        return StaticQuantizationConfig(**given)
    values = {name: getattr(given, name) for name in names if getattr(given, name, None) is not None}
    if not values:
        raise ValueError(f"quantization_config must be a StaticQuantizationConfig, a dict or None, got {given!r}")
    return StaticQuantizationConfig(**values)


def _advanced_parameters(config: StaticQuantizationConfig) -> Any:
    if config.smooth_quant_alpha is None:
        return None
    from nncf.quantization.advanced_parameters import AdvancedQuantizationParameters, AdvancedSmoothQuantParameters

    return AdvancedQuantizationParameters(
        smooth_quant_alphas=AdvancedSmoothQuantParameters(matmul=config.smooth_quant_alpha)
    )


def _hub_calibration_texts(
    name: str | None, config_name: str | None, split: str | None, column: str | None, num_samples: int
) -> list[str]:
    """``num_samples`` texts shuffled from a hub dataset's column (glue sst2 by default, as upstream)."""
    given = [name, config_name, split, column]
    if any(arg is not None for arg in given) and not all(arg is not None for arg in given):
        raise ValueError(
            "Either specify all of `dataset_name`, `dataset_config_name`, `dataset_split`, and `column_name`, "
            "or leave them all unspecified"
        )
    datasets = require("datasets", "train")
    dataset = datasets.load_dataset(name or "nyu-mll/glue", config_name or "sst2", split=split or "train")
    dataset = dataset.shuffle(seed=42).select(range(min(num_samples, len(dataset))))
    return _calibration_texts(dataset, column or "sentence")


def _calibration_texts(data: Any, column: str | None) -> list[str]:
    """The texts of a list of strings, or of a dataset's column (its only column when none is named)."""
    if isinstance(data, str):
        raise ValueError("calibration_dataset must be texts or a dataset, not a single string")
    names = getattr(data, "column_names", None)
    if names is None:
        texts = list(data) if isinstance(data, Sequence) else list(iter(data))
    else:
        if column is None and len(names) != 1:
            raise ValueError(f"calibration_dataset has columns {names}: name the text column with column_name")
        texts = list(data[column or names[0]])
    if not all(isinstance(text, str) for text in texts):
        raise ValueError("The calibration texts must all be strings")
    return texts


def _calibration_inputs(model: Any, input_names: tuple[str, ...]) -> Any:
    """A function turning one text into the graph's int64 inputs, tokenized as the model tokenizes."""
    tokenizer = model.tokenizer
    max_length = getattr(model, "max_seq_length", None) or getattr(tokenizer, "model_max_length", 512)

    def encode(text: str) -> dict[str, np.ndarray]:
        tokens = tokenizer([text], truncation=True, max_length=max_length, return_tensors="np")
        ids = np.asarray(tokens["input_ids"], dtype=np.int64)
        defaults = {"attention_mask": np.ones_like(ids), "token_type_ids": np.zeros_like(ids)}
        return {name: np.asarray(tokens.get(name, defaults.get(name)), dtype=np.int64) for name in input_names}

    return encode
