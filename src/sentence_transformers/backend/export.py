"""Optimized and int8 variants of a model's ONNX file, written beside it as upstream names them.

``export_optimized_onnx_model`` runs ONNX Runtime's transformer optimizer ("O1" … "O4"), and
``export_dynamic_quantized_onnx_model`` ONNX Runtime's dynamic quantization ("arm64", "avx2", "avx512",
"avx512_vnni"); the results land in ``onnx/model_<suffix>.onnx`` of a local folder, or in a hub repository.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from dataclasses import dataclass, field
from typing import Any, Literal

from sentence_transformers.backend.onnx import OnnxModel
from sentence_transformers.backend.runtime import require


@dataclass
class OptimizationConfig:
    """What ONNX Runtime's optimizer does (the fields mirror the "O1" … "O4" presets).

    Args:
        optimization_level: ONNX Runtime graph optimization level applied while saving (1 basic, 2 extended).
        enable_transformers_specific_optimizations: Fuse attention, LayerNorm, GELU … into ONNX Runtime's kernels.
        enable_gelu_approximation: Replace GELU by its faster tanh approximation (changes outputs slightly).
        fp16: Convert weights and compute to float16 (for GPUs).
        for_gpu: Optimize for the CUDA execution provider.
    """

    optimization_level: int = 1
    enable_transformers_specific_optimizations: bool = True
    enable_gelu_approximation: bool = False
    fp16: bool = False
    for_gpu: bool = False


OPTIMIZATION_PRESETS = {
    "O1": OptimizationConfig(optimization_level=1, enable_transformers_specific_optimizations=False),
    "O2": OptimizationConfig(optimization_level=2),
    "O3": OptimizationConfig(optimization_level=2, enable_gelu_approximation=True),
    "O4": OptimizationConfig(optimization_level=2, enable_gelu_approximation=True, fp16=True, for_gpu=True),
}


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


def export_optimized_onnx_model(
    model: Any,
    optimization_config: OptimizationConfig | Literal["O1", "O2", "O3", "O4"],
    model_name_or_path: str,
    push_to_hub: bool = False,
    create_pr: bool = False,
    file_suffix: str | None = None,
) -> None:
    """Optimize the ONNX model that ``model`` (loaded with backend="onnx") runs; save ``onnx/model_<suffix>.onnx``.

    Args:
        model: A SentenceTransformer loaded with ``backend="onnx"``.
        optimization_config: "O1" … "O4" or an OptimizationConfig.
        model_name_or_path: The local folder, or with ``push_to_hub`` the hub repository, to write to.
        push_to_hub / create_pr: Upload the file to the hub (as a pull request).
        file_suffix: Name suffix (default: the preset's name, or "optimized").
    """
    source = _onnx_model(model, "export_optimized_onnx_model")
    config, default_suffix = _preset(optimization_config, OPTIMIZATION_PRESETS, OptimizationConfig, "optimized")
    optimizer = require("onnxruntime.transformers.optimizer", "onnx")
    from onnxruntime.transformers.fusion_options import FusionOptions

    options = FusionOptions("bert")
    options.enable_gelu_approximation = config.enable_gelu_approximation
    hf_config = source.config
    with tempfile.TemporaryDirectory(prefix="sbert-optimize-") as scratch:
        optimized = optimizer.optimize_model(
            source.model_path,
            model_type="bert",
            num_heads=int(getattr(hf_config, "num_attention_heads", 0) or 0),
            hidden_size=int(getattr(hf_config, "hidden_size", 0) or 0),
            optimization_options=options,
            opt_level=config.optimization_level,
            use_gpu=config.for_gpu,
            only_onnxruntime=not config.enable_transformers_specific_optimizations,
        )
        if config.fp16:
            optimized.convert_float_to_float16(keep_io_types=True)
        produced = os.path.join(scratch, "model.onnx")
        optimized.save_model_to_file(produced)
        _save_or_push(produced, model_name_or_path, file_suffix or default_suffix, push_to_hub, create_pr)


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
        model: A SentenceTransformer loaded with ``backend="onnx"``.
        quantization_config: "arm64", "avx2", "avx512", "avx512_vnni" or a QuantizationConfig.
        model_name_or_path: The local folder, or with ``push_to_hub`` the hub repository, to write to.
        push_to_hub / create_pr: Upload the file to the hub (as a pull request).
        file_suffix: Name suffix (default: "<weights dtype>_<preset>", or "<weights dtype>_quantized").
    """
    source = _onnx_model(model, "export_dynamic_quantized_onnx_model")
    config, preset = _preset(quantization_config, QUANTIZATION_PRESETS, QuantizationConfig, "quantized")
    quantization = require("onnxruntime.quantization", "onnx")
    weight_type = {"qint8": quantization.QuantType.QInt8, "quint8": quantization.QuantType.QUInt8}
    if config.weights_dtype not in weight_type:
        raise ValueError(f"weights_dtype must be 'qint8' or 'quint8', got {config.weights_dtype!r}")
    with tempfile.TemporaryDirectory(prefix="sbert-quantize-") as scratch:
        produced = os.path.join(scratch, "model.onnx")
        quantization.quantize_dynamic(
            source.model_path,
            produced,
            op_types_to_quantize=config.operators_to_quantize or None,
            per_channel=config.per_channel,
            reduce_range=config.reduce_range,
            weight_type=weight_type[config.weights_dtype],
            # DefaultTensorType: fused ONNX Runtime operators (of an optimized model) have no inferred output type.
            extra_options={"ActivationSymmetric": False, "WeightSymmetric": True, "DefaultTensorType": 1},
        )
        suffix = file_suffix or f"{config.weights_dtype}_{preset}"
        _save_or_push(produced, model_name_or_path, suffix, push_to_hub, create_pr)


def _onnx_model(model: Any, function: str) -> OnnxModel:
    auto_model = getattr(model[0], "auto_model", None) if len(model) else None
    if not isinstance(auto_model, OnnxModel):
        raise ValueError(f"{function} needs a model loaded with backend='onnx'; this one runs {model.get_backend()!r}")
    return auto_model


def _preset(given: Any, presets: dict[str, Any], config_class: type, custom_suffix: str) -> tuple[Any, str]:
    """The config object and the name used in the file suffix."""
    if isinstance(given, config_class):
        return given, custom_suffix
    if isinstance(given, str) and given in presets:
        return presets[given], given
    raise ValueError(f"Unknown config {given!r}; expected one of {', '.join(presets)} or a {config_class.__name__}")


def _save_or_push(produced: str, model_name_or_path: str, suffix: str, push_to_hub: bool, create_pr: bool) -> None:
    """Put ``produced`` at ``onnx/model_<suffix>.onnx`` of the local folder, or upload it to the hub repository."""
    path_in_repo = f"onnx/model_{suffix}.onnx"
    if push_to_hub:
        from huggingface_hub import HfApi

        HfApi().upload_file(
            path_or_fileobj=produced,
            path_in_repo=path_in_repo,
            repo_id=model_name_or_path,
            commit_message=f"Add {path_in_repo}",
            create_pr=create_pr,
        )
        return
    target = os.path.join(model_name_or_path, path_in_repo)
    os.makedirs(os.path.dirname(target), exist_ok=True)
    partial = target + ".partial"
    shutil.copyfile(produced, partial)
    os.replace(partial, target)
