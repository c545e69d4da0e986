"""OpenVINO backend: the ONNX export converted to OpenVINO IR (``openvino_model.xml`` + ``.bin``) and compiled."""

from __future__ import annotations

import json
import os
import tempfile
from typing import Any

import numpy as np
from torch import nn
from transformers import PretrainedConfig

from sentence_transformers.backend.onnx import export_onnx
from sentence_transformers.backend.runtime import RuntimeModel, require

OPENVINO_FILE = "openvino_model.xml"


class OpenVINOModel(RuntimeModel):
    """A model in OpenVINO IR, compiled for an OpenVINO device.

    Args:
        model_path: The ``.xml`` file (its weights are the ``.bin`` beside it).
        config: The Hugging Face config it was exported from.
        device: OpenVINO device name (default "CPU").
        ov_config: Compile options, as a dict or the path of a JSON file. Inference runs in float32 unless it
            sets ``INFERENCE_PRECISION_HINT`` (OpenVINO would pick bf16 on processors that have it).
        scratch, task: as for RuntimeModel.
    """

    backend = "openvino"
    subfolder = "openvino"
    default_file = OPENVINO_FILE
    display_name = "OpenVINO"
    file_glob = "openvino*.xml"

    def __init__(
        self,
        model_path: str,
        config: PretrainedConfig,
        device: str = "CPU",
        ov_config: dict[str, Any] | str | None = None,
        scratch: tempfile.TemporaryDirectory | None = None,
        task: str = "feature-extraction",
    ) -> None:
        self.device_name = device
        self.ov_config = {"INFERENCE_PRECISION_HINT": "f32", **_read_ov_config(ov_config)}
        super().__init__(model_path, config, scratch, task)

    def open_session(self) -> Any:
        openvino = require("openvino", "openvino")
        return openvino.Core().compile_model(self.model_path, self.device_name, self.ov_config)

    def graph_inputs(self) -> set[str]:
        return {name for port in self.session.inputs for name in port.get_names()}

    def run(self, inputs: dict[str, np.ndarray]) -> np.ndarray:
        # The result is a view of the request's buffer, which the next call overwrites: keep a copy.
        return np.array(self.session(inputs)[0], copy=True)

    @staticmethod
    def companion_files(model_file: str) -> list[str]:
        return [os.path.splitext(model_file)[0] + ".bin"]


def _read_ov_config(ov_config: dict[str, Any] | str | None) -> dict[str, Any]:
    if ov_config is None:
        return {}
    if isinstance(ov_config, dict):
        return dict(ov_config)
    if not os.path.isfile(ov_config):
        raise FileNotFoundError(f"ov_config {ov_config!r} is neither a dict nor a JSON file")
    with open(ov_config, encoding="utf-8") as f:
        return json.load(f)


def export_openvino(model: nn.Module, folder: str, task: str = "feature-extraction") -> str:
    """Export ``model`` through ONNX to OpenVINO IR in ``folder``; weights stay fp32 (no fp16 compression).

    ``task`` names the graph's output as for ``export_onnx``."""
    openvino = require("openvino", "openvino")
    with tempfile.TemporaryDirectory(prefix="sbert-onnx-") as onnx_folder:
        converted = openvino.convert_model(export_onnx(model, onnx_folder, task=task))
    target = os.path.join(folder, OPENVINO_FILE)
    openvino.save_model(converted, target, compress_to_fp16=False)
    return target
