"""Load a model's ONNX or OpenVINO file, or export the torch model to it when there is none.

``backend_should_export`` decides which; this module opens the file (or makes the export in a temporary folder that
lives as long as the model) and warns that an export should be saved.
"""

from __future__ import annotations

import logging
import os
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

from transformers import PretrainedConfig

from sentence_transformers.backend.onnx import OnnxModel, export_onnx
from sentence_transformers.backend.openvino import OpenVINOModel, export_openvino
from sentence_transformers.backend.runtime import (
    TASK_OUTPUTS,
    RuntimeModel,
    check_runtime_task,
    split_model_kwargs,
    torch_load_kwargs,
)
from sentence_transformers.backend.utils import backend_should_export, backend_warn_to_save, list_backend_files

logger = logging.getLogger(__name__)

SUPPORTED_TASKS = tuple(TASK_OUTPUTS)


def load_onnx_model(
    model_name_or_path: str, config: PretrainedConfig, task_name: str = "feature-extraction", **model_kwargs
) -> OnnxModel:
    """Open ``model.onnx`` (at the root or in ``onnx/``, or ``model_kwargs["file_name"]``) of a model, exporting
    the torch model when it has none.

    Args:
        model_name_or_path: A local model folder or a hub repository id.
        config: The model's Hugging Face config.
        task_name: "feature-extraction" (the last hidden state), "sequence-classification" (the logits) or
            "fill-mask" (the vocabulary logits per token, which SpladePooling pools).
        model_kwargs: ``file_name``, ``subfolder``, ``export`` (True: always export; False: never), ``provider``,
            ``provider_options``, ``session_options``, and hub/torch keys used when exporting.
    """
    options = {"provider", "provider_options", "session_options"}
    return load_runtime_model(OnnxModel, model_name_or_path, config, task_name, model_kwargs, options, export_onnx)


def load_openvino_model(
    model_name_or_path: str, config: PretrainedConfig, task_name: str = "feature-extraction", **model_kwargs
) -> OpenVINOModel:
    """Open ``openvino_model.xml`` (at the root or in ``openvino/``, or ``model_kwargs["file_name"]``) of a model,
    exporting the torch model when it has none.

    Args:
        model_name_or_path: A local model folder or a hub repository id.
        config: The model's Hugging Face config.
        task_name: "feature-extraction" (the last hidden state), "sequence-classification" (the logits) or
            "fill-mask" (the vocabulary logits per token, which SpladePooling pools).
        model_kwargs: ``file_name``, ``subfolder``, ``export``, ``device``, ``ov_config`` (a dict or the path of a
            JSON file), and hub/torch keys used when exporting.
    """
    options = {"device", "ov_config"}
    return load_runtime_model(
        OpenVINOModel, model_name_or_path, config, task_name, model_kwargs, options, export_openvino
    )


def load_runtime_model(
    model_class: type[RuntimeModel],
    model_name_or_path: str,
    config: PretrainedConfig,
    task_name: str,
    model_kwargs: dict[str, Any],
    options: set[str],
    export: Callable[..., str],
) -> RuntimeModel:
    """Open ``model_class``'s file of a model, or export it with ``export(torch_model, folder, task=task_name)``,
    which returns the exported file.

    ``options`` are the model_kwargs the runtime itself takes; any other key that is not a hub or torch key is an
    error.
    """
    check_runtime_task(task_name)
    given = dict(model_kwargs)
    split_model_kwargs(given, options | {"file_name", "export"})  # reject unknown keys before any work
    is_local = os.path.isdir(os.path.expanduser(str(model_name_or_path)))
    load_path = Path(os.path.expanduser(str(model_name_or_path)))
    should_export, located = backend_should_export(
        load_path, is_local, dict(given), model_class.default_file, model_class.file_glob, model_class.display_name
    )
    runtime = {key: value for key, value in located.items() if key in options}
    if should_export:
        scratch = tempfile.TemporaryDirectory(prefix=f"sbert-{model_class.backend}-")
        path = _export(model_name_or_path, config, given, export, scratch.name, task_name)
        model = model_class(path, config, scratch=scratch, task=task_name, **runtime)
        backend_warn_to_save(str(model_name_or_path), is_local, model_class.display_name)
        return model
    path = _model_file(model_class, model_name_or_path, load_path, is_local, located)
    return model_class(path, config, task=task_name, **runtime)


def _export(
    model_name_or_path: str,
    config: PretrainedConfig,
    given: dict[str, Any],
    export: Callable[..., str],
    folder: str,
    task_name: str,
) -> str:
    """Load the torch model of ``task_name`` (with the caller's hub keys and subfolder) and export it into
    ``folder``."""
    from sentence_transformers.base.hub import resolve_folder
    from sentence_transformers.base.modules.transformer import load_auto_model

    torch_kwargs = torch_load_kwargs(given)
    source = resolve_folder(
        str(model_name_or_path),
        token=given.get("token"),
        cache_folder=given.get("cache_dir"),
        revision=given.get("revision"),
        local_files_only=bool(given.get("local_files_only", False)),
    )
    return export(load_auto_model(source, config, torch_kwargs, task_name), folder, task=task_name)


def _model_file(
    model_class: type[RuntimeModel], model_name_or_path: str, load_path: Path, is_local: bool, located: dict[str, Any]
) -> str:
    """The local path of the file ``backend_should_export`` located (fetched from the hub when remote)."""
    file_name = located.get("file_name", model_class.default_file)
    subfolder = located.get("subfolder") or ""
    if not is_local:
        return _fetch(model_class, str(model_name_or_path), file_name, subfolder, located)
    path = os.path.join(load_path, subfolder, file_name)
    if not os.path.isfile(path):  # only with export=False: the decision never exports then
        found = list_backend_files(load_path, True, model_class.file_glob, None, located)
        raise FileNotFoundError(
            f"No {file_name!r} in {str(load_path)!r} or its {model_class.subfolder}/ folder "
            f"(found: {', '.join(found) or 'none'}); pass export=True in model_kwargs to export one"
        )
    return path


def _fetch(model_class: type[RuntimeModel], name: str, file_name: str, subfolder: str, located: dict[str, Any]) -> str:
    """Download the model file and the weights files beside it from the hub; its local path."""
    from sentence_transformers.base.hub import resolve_file

    hub = {
        "token": located.get("token"),
        "cache_folder": located.get("cache_dir"),
        "revision": located.get("revision"),
        "local_files_only": bool(located.get("local_files_only", False)),
    }
    path = resolve_file(name, file_name, subfolder, **hub)
    if path is None:
        raise FileNotFoundError(f"Hub repository {name!r} has no {subfolder}/{file_name}; pass export=True to export")
    for companion in model_class.companion_files(file_name):
        resolve_file(name, companion, subfolder, **hub)
    return path
