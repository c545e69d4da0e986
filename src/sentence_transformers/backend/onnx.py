"""ONNX Runtime backend: export a Hugging Face model with torch.onnx and run it in an InferenceSession."""

from __future__ import annotations

import inspect
import os
import tempfile
import warnings
from typing import Any

import numpy as np
import torch
from torch import nn
from transformers import PretrainedConfig

from sentence_transformers.backend.runtime import (
    MODEL_INPUTS,
    PER_TOKEN_TASKS,
    TASK_OUTPUTS,
    RuntimeModel,
    check_runtime_task,
    require,
)

ONNX_FILE = "model.onnx"
OPSET = 17


class OnnxModel(RuntimeModel):
    """A model exported to ONNX, run by ONNX Runtime.

    Args:
        model_path: The ``.onnx`` file.
        config: The Hugging Face config it was exported from.
        provider: Execution provider (default: the first ONNX Runtime has, as upstream; CPUExecutionProvider here).
        provider_options: Options of that provider.
        session_options: An ``onnxruntime.SessionOptions``; by default intra-op threads follow torch's thread count.
        scratch, task: as for RuntimeModel.
    """

    backend = "onnx"
    subfolder = "onnx"
    default_file = ONNX_FILE
    display_name = "ONNX"
    file_glob = "*.onnx"

    def __init__(
        self,
        model_path: str,
        config: PretrainedConfig,
        provider: str | None = None,
        provider_options: dict[str, Any] | None = None,
        session_options: Any = None,
        scratch: tempfile.TemporaryDirectory | None = None,
        task: str = "feature-extraction",
    ) -> None:
        self.provider = provider
        self.provider_options = provider_options
        self.session_options = session_options
        super().__init__(model_path, config, scratch, task)

    def open_session(self) -> Any:
        ort = require("onnxruntime", "onnx")
        provider = self.provider or ort.get_available_providers()[0]
        options = self.session_options
        if options is None:
            options = ort.SessionOptions()
            options.intra_op_num_threads = torch.get_num_threads()
            # Spinning ONNX Runtime threads would take the cores from torch's own threads (Pooling, Normalize …).
            options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        return ort.InferenceSession(
            self.model_path,
            sess_options=options,
            providers=[provider],
            provider_options=[self.provider_options] if self.provider_options else None,
        )

    def graph_inputs(self) -> set[str]:
        return {node.name for node in self.session.get_inputs()}

    def run(self, inputs: dict[str, np.ndarray]) -> np.ndarray:
        return self.session.run(None, inputs)[0]

    @staticmethod
    def companion_files(model_file: str) -> list[str]:
        return [model_file + "_data", model_file + ".data"]  # external weights, as upstream and torch name them


class _FirstOutput(nn.Module):
    """The Hugging Face model reduced to what the Transformer module reads: its first output (the last hidden state,
    the logits of a classification head, or the vocabulary logits of a masked-LM head)."""

    def __init__(self, model: nn.Module, input_names: tuple[str, ...]) -> None:
        super().__init__()
        self.model = model
        self.input_names = input_names

    def forward(self, *inputs: torch.Tensor) -> torch.Tensor:
        return self.model(**dict(zip(self.input_names, inputs, strict=True)), return_dict=True)[0]


def export_onnx(model: nn.Module, folder: str, file_name: str = ONNX_FILE, task: str = "feature-extraction") -> str:
    """Export ``model`` (a Hugging Face model) to ``folder/file_name`` with dynamic batch and sequence axes.

    ``task`` names the output as optimum does: "last_hidden_state" for feature extraction, "logits" for sequence
    classification ([batch, num_labels]) and for fill-mask ([batch, tokens, vocab], what SPLADE pools). Uses
    torch.onnx's TorchScript exporter on the model's eager attention: those graphs are the ones ONNX Runtime's
    transformer optimizer fuses (Attention, SkipLayerNormalization …) and quantizes fastest; an SDPA graph is neither
    fused nor as quick in int8.
    """
    check_runtime_task(task)
    output_name = TASK_OUTPUTS[task][0]
    accepted = inspect.signature(model.forward).parameters
    input_names = tuple(name for name in MODEL_INPUTS if name in accepted)
    was_training = model.training
    attention = getattr(model.config, "_attn_implementation", None)
    if attention not in (None, "eager") and hasattr(model, "set_attn_implementation"):
        model.set_attn_implementation("eager")
    wrapper = _FirstOutput(model.float(), input_names).eval()
    vocab = max(2, int(getattr(model.config, "vocab_size", 2) or 2))
    dummy = {
        "input_ids": torch.randint(1, vocab, (2, 8)),
        "attention_mask": torch.tensor([[1] * 8, [1] * 5 + [0] * 3]),
        "token_type_ids": torch.zeros(2, 8, dtype=torch.long),
    }
    axes = {name: {0: "batch_size", 1: "sequence_length"} for name in input_names}
    # Per-token outputs (hidden states, masked-LM logits) vary in length with the input; the logits of a pair
    # classifier only in the batch.
    axes[output_name] = {0: "batch_size", 1: "sequence_length"} if task in PER_TOKEN_TASKS else {0: "batch_size"}
    os.makedirs(folder, exist_ok=True)
    target = os.path.join(folder, file_name)
    partial = target + ".partial"
    try:
        with warnings.catch_warnings(), torch.no_grad():
            warnings.simplefilter("ignore")  # tracer and deprecation chatter about the TorchScript exporter
            torch.onnx.export(
                wrapper,
                tuple(dummy[name] for name in input_names),
                partial,
                input_names=list(input_names),
                output_names=[output_name],
                dynamic_axes=axes,
                opset_version=OPSET,
                do_constant_folding=True,
                dynamo=False,
            )
        os.replace(partial, target)
    finally:
        model.train(was_training)
        if attention not in (None, "eager") and hasattr(model, "set_attn_implementation"):
            model.set_attn_implementation(attention)
        if os.path.exists(partial):
            os.remove(partial)
    return target
