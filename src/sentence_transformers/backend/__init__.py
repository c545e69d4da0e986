"""Inference backends besides torch: ONNX Runtime and OpenVINO, with ONNX optimization and int8 quantization.

Layout (as upstream): ``load`` opens or exports a model's backend file, ``optimize`` and ``quantize`` write optimized
and int8 variants, ``utils`` decides when to export and saves or pushes the variants; ``onnx``, ``openvino`` and
``runtime`` hold the runtime model classes and the torch exporters.
"""

from sentence_transformers.backend.load import load_onnx_model, load_openvino_model
from sentence_transformers.backend.onnx import OnnxModel, export_onnx
from sentence_transformers.backend.openvino import OpenVINOModel, export_openvino
from sentence_transformers.backend.optimize import OptimizationConfig, export_optimized_onnx_model
from sentence_transformers.backend.quantize import (
    QuantizationConfig,
    StaticQuantizationConfig,
    export_dynamic_quantized_onnx_model,
    export_static_quantized_openvino_model,
)
from sentence_transformers.backend.runtime import BACKENDS, RuntimeModel
from sentence_transformers.backend.utils import backend_should_export, backend_warn_to_save, save_or_push_to_hub_model

RUNTIME_MODELS: dict[str, type[RuntimeModel]] = {"onnx": OnnxModel, "openvino": OpenVINOModel}

__all__ = [
    "BACKENDS",
    "OnnxModel",
    "OpenVINOModel",
    "OptimizationConfig",
    "QuantizationConfig",
    "RUNTIME_MODELS",
    "RuntimeModel",
    "StaticQuantizationConfig",
    "backend_should_export",
    "backend_warn_to_save",
    "export_dynamic_quantized_onnx_model",
    "export_onnx",
    "export_openvino",
    "export_optimized_onnx_model",
    "export_static_quantized_openvino_model",
    "load_onnx_model",
    "load_openvino_model",
    "save_or_push_to_hub_model",
]
