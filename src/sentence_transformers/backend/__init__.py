"""Inference backends besides torch: ONNX Runtime and OpenVINO, with ONNX optimization and int8 quantization."""

from sentence_transformers.backend.export import (
    OptimizationConfig,
    QuantizationConfig,
    export_dynamic_quantized_onnx_model,
    export_optimized_onnx_model,
)
from sentence_transformers.backend.onnx import OnnxModel, export_onnx, load_onnx_model
from sentence_transformers.backend.openvino import OpenVINOModel, export_openvino, load_openvino_model
from sentence_transformers.backend.runtime import BACKENDS, RuntimeModel

RUNTIME_MODELS: dict[str, type[RuntimeModel]] = {"onnx": OnnxModel, "openvino": OpenVINOModel}

__all__ = [
    "BACKENDS",
    "OnnxModel",
    "OpenVINOModel",
    "OptimizationConfig",
    "QuantizationConfig",
    "RUNTIME_MODELS",
    "RuntimeModel",
    "export_dynamic_quantized_onnx_model",
    "export_onnx",
    "export_openvino",
    "export_optimized_onnx_model",
    "load_onnx_model",
    "load_openvino_model",
]
