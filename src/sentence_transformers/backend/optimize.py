"""ONNX graph optimization ("O1" … "O4") of a model loaded with backend="onnx", saved as ``onnx/model_<suffix>.onnx``.

ONNX Runtime's transformer optimizer fuses attention, LayerNorm, GELU … into its own kernels; the presets follow
upstream's levels: O1 basic, O2 + transformer fusions, O3 + GELU approximation, O4 + fp16 (GPU only).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any, Literal

from sentence_transformers.backend.onnx import OnnxModel
from sentence_transformers.backend.runtime import require
from sentence_transformers.backend.utils import runtime_model_of, save_or_push_to_hub_model


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
        model: A SentenceTransformer, SparseEncoder or CrossEncoder (its Transformer first module) loaded with
            ``backend="onnx"``.
        optimization_config: "O1" … "O4" or an OptimizationConfig.
        model_name_or_path: The local folder, or with ``push_to_hub`` the hub repository, to write to.
        push_to_hub: Upload the file to the hub repository instead of writing it locally.
        create_pr: With push_to_hub, open a pull request rather than committing to the main branch.
        file_suffix: Name suffix (default: the preset's name, or "optimized").
    """
    source = runtime_model_of(model, OnnxModel, "export_optimized_onnx_model", "onnx")
    config, preset = resolve_preset(optimization_config, OPTIMIZATION_PRESETS, OptimizationConfig)
    optimizer = require("onnxruntime.transformers.optimizer", "onnx")
    suffix = file_suffix or preset or "optimized"

    def optimize(save_dir: str) -> None:
        from onnxruntime.transformers.fusion_options import FusionOptions

        options = FusionOptions("bert")
        options.enable_gelu_approximation = config.enable_gelu_approximation
        optimized = optimizer.optimize_model(
            source.model_path,
            model_type="bert",
            num_heads=int(getattr(source.config, "num_attention_heads", 0) or 0),
            hidden_size=int(getattr(source.config, "hidden_size", 0) or 0),
            optimization_options=options,
            opt_level=config.optimization_level,
            use_gpu=config.for_gpu,
            only_onnxruntime=not config.enable_transformers_specific_optimizations,
        )
        if config.fp16:
            optimized.convert_float_to_float16(keep_io_types=True)
        optimized.save_model_to_file(os.path.join(save_dir, f"model_{suffix}.onnx"))

    save_or_push_to_hub_model(
        export_function=optimize,
        export_function_name="export_optimized_onnx_model",
        config=config,
        model_name_or_path=model_name_or_path,
        push_to_hub=push_to_hub,
        create_pr=create_pr,
        file_suffix=suffix,
        backend="onnx",
        model=model,
    )


def resolve_preset(given: Any, presets: dict[str, Any], config_class: type) -> tuple[Any, str | None]:
    """The config object, and the preset's name when ``given`` names one (None for a config object)."""
    if isinstance(given, config_class):
        return given, None
    if isinstance(given, str) and given in presets:
        return presets[given], given
    raise ValueError(f"Unknown config {given!r}; expected one of {', '.join(presets)} or a {config_class.__name__}")
