"""RuntimeModel: a Hugging Face model replaced by an exported graph (ONNX Runtime, OpenVINO) behind the same call.

The Transformer module calls ``auto_model(input_ids=…, attention_mask=…)`` and reads ``output[0]``; a runtime model
answers that call from its session, so the encode engine, Pooling and everything after it are unchanged.
"""

from __future__ import annotations

import logging
import os
import shutil
import tempfile
from abc import abstractmethod
from typing import Any

import numpy as np
import torch
from torch import nn
from transformers import PretrainedConfig
from transformers.modeling_outputs import BaseModelOutput, MaskedLMOutput, ModelOutput, SequenceClassifierOutput

logger = logging.getLogger(__name__)

BACKENDS = ("torch", "onnx", "openvino")
MODEL_INPUTS = ("input_ids", "attention_mask", "token_type_ids")
#: transformer_task → (graph output, the Hugging Face output class a runtime model answers with), as optimum names
#: the outputs of its exports, so that files exported by either side load in the other.
TASK_OUTPUTS: dict[str, tuple[str, type[ModelOutput]]] = {
    "feature-extraction": ("last_hidden_state", BaseModelOutput),
    "sequence-classification": ("logits", SequenceClassifierOutput),
    "fill-mask": ("logits", MaskedLMOutput),  # per-token vocabulary logits [batch, tokens, vocab] (SPLADE)
}
#: The tasks whose graph output has a token axis (axis 1 varies with the input length, as the batch axis does).
PER_TOKEN_TASKS = ("feature-extraction", "fill-mask")
# Keys of model_kwargs that only locate or load torch weights; a runtime backend has no use for them.
_TORCH_ONLY_KEYS = {"torch_dtype", "dtype", "attn_implementation", "device_map", "low_cpu_mem_usage", "revision"}
_HUB_KEYS = {"token", "cache_dir", "local_files_only", "trust_remote_code", "subfolder", "force_download"}


def check_backend(backend: str) -> None:
    """Reject a backend name that is not one of ``BACKENDS``."""
    if backend not in BACKENDS:
        raise ValueError(f"Unknown backend {backend!r}; expected one of {', '.join(map(repr, BACKENDS))}")


def require(package: str, extra: str) -> Any:
    """Import an optional package, or fail naming the extra that installs it."""
    import importlib

    try:
        return importlib.import_module(package)
    except ImportError as exc:
        raise ImportError(f"The {extra!r} backend needs the {package!r} package: pip install 'sbert[{extra}]'") from exc


class RuntimeModel(nn.Module):
    """An exported model file run by an inference runtime; subclasses open the session and run it.

    Args:
        model_path: The model file (``.onnx`` or OpenVINO ``.xml``).
        config: The Hugging Face config of the model it was exported from.
        scratch: A temporary folder that holds an export made at load time; removed with this object.
        task: The transformer_task the graph was exported for (a key of ``TASK_OUTPUTS``): what ``forward`` answers.
    """

    backend: str = ""
    subfolder: str = ""  # where save_pretrained puts the model file, as upstream lays it out
    default_file: str = ""  # the model file opened when model_kwargs name none
    display_name: str = ""  # the backend's name in messages; its lower case is ``subfolder``
    file_glob: str = ""  # the pattern of this backend's model files, to find (and name) the ones a folder has

    def __init__(
        self,
        model_path: str,
        config: PretrainedConfig,
        scratch: tempfile.TemporaryDirectory | None = None,
        task: str = "feature-extraction",
    ) -> None:
        super().__init__()
        check_runtime_task(task)
        self.model_path = model_path
        self.config = config
        self.task = task
        self._scratch = scratch
        self.session = self.open_session()

    @abstractmethod
    def open_session(self) -> Any:
        """Load ``model_path`` into the runtime."""

    @abstractmethod
    def run(self, inputs: dict[str, np.ndarray]) -> np.ndarray:
        """The graph's first output for these int64 inputs: the last hidden state [batch, tokens, hidden], the
        logits [batch, num_labels] of a sequence-classification graph, or the logits [batch, tokens, vocab] of a
        fill-mask graph."""

    @staticmethod
    @abstractmethod
    def companion_files(model_file: str) -> list[str]:
        """The files that may sit beside ``model_file`` and belong to it (its weights)."""

    def model_files(self) -> list[str]:
        """The files that make up the model: the graph, and the companions it has."""
        return [self.model_path, *[path for path in self.companion_files(self.model_path) if os.path.isfile(path)]]

    @property
    def input_names(self) -> tuple[str, ...]:
        """The inputs the graph takes, in MODEL_INPUTS order."""
        return tuple(name for name in MODEL_INPUTS if name in self.graph_inputs())

    @abstractmethod
    def graph_inputs(self) -> set[str]:
        """Names of the graph's inputs."""

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor | None = None, **kwargs) -> Any:
        """Run the graph on the batch; returns the output the Hugging Face model of ``task`` would (``[0]`` = the
        hidden states or the logits, under the name that model gives them)."""
        given = {"input_ids": input_ids, "attention_mask": attention_mask, **kwargs}
        if given["attention_mask"] is None:
            given["attention_mask"] = torch.ones_like(input_ids)
        if given.get("token_type_ids") is None:
            given["token_type_ids"] = torch.zeros_like(input_ids)
        arrays = {name: given[name].detach().cpu().numpy().astype(np.int64, copy=False) for name in self.input_names}
        output_name, output_class = TASK_OUTPUTS[self.task]
        return output_class(**{output_name: torch.from_numpy(self.run(arrays))})

    def save_pretrained(self, save_directory: str, **kwargs) -> None:
        """Write config.json and the model files into ``save_directory/<subfolder>/``."""
        self.config.save_pretrained(save_directory)
        target = os.path.join(save_directory, self.subfolder)
        os.makedirs(target, exist_ok=True)
        for path in self.model_files():
            destination = os.path.join(target, os.path.basename(path))
            if os.path.abspath(path) != os.path.abspath(destination):
                shutil.copyfile(path, destination)

    def __getstate__(self) -> dict[str, Any]:
        # Sessions do not pickle (multi-process pools send the model to each worker): reopen from the file.
        state = self.__dict__.copy()
        state["session"] = None
        state["_scratch"] = None
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        self.session = self.open_session()

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.model_path!r})"


def check_runtime_task(task: str) -> None:
    """Refuse a transformer_task that no exported graph here answers (upstream's message)."""
    if task not in TASK_OUTPUTS:
        raise ValueError(f"Unsupported task: {task!r}. Supported tasks: {', '.join(TASK_OUTPUTS)}")


def split_model_kwargs(model_kwargs: dict[str, Any], known: set[str]) -> dict[str, Any]:
    """The runtime's own keys of model_kwargs; torch and hub keys are left to the export, anything else is an
    error."""
    unknown = set(model_kwargs) - known - _TORCH_ONLY_KEYS - _HUB_KEYS
    if unknown:
        raise ValueError(
            f"Unknown model_kwargs for this backend: {', '.join(sorted(unknown))}; it takes {', '.join(sorted(known))}"
        )
    return {key: value for key, value in model_kwargs.items() if key in known}


def torch_load_kwargs(model_kwargs: dict[str, Any]) -> dict[str, Any]:
    """The model_kwargs that loading the torch model for an export still needs (hub access, remote code)."""
    return {key: value for key, value in model_kwargs.items() if key in _HUB_KEYS}
