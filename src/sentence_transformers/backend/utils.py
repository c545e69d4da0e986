"""Shared backend helpers: whether a load must export, the save-me warning, and writing an exported variant.

``backend_should_export`` is the one place that decides between opening an exported file and exporting the torch
model; ``save_or_push_to_hub_model`` is the one place that names and writes the files the export functions produce
(``onnx/model_<suffix>.onnx``, ``openvino/openvino_model_<suffix>.xml`` + ``.bin``), locally or on the hub.
"""

from __future__ import annotations

import logging
import os
import shutil
import tempfile
from collections.abc import Callable, Iterator
from fnmatch import fnmatch
from pathlib import Path, PurePosixPath
from typing import Any

logger = logging.getLogger(__name__)

# The file each backend opens by default; an export function may leave its result under this name.
_DEFAULT_FILES = {"onnx": "model.onnx", "openvino": "openvino_model.xml"}


def list_backend_files(
    load_path: Path, is_local: bool, target_file_glob: str, subfolder: str | None, model_kwargs: dict[str, Any]
) -> list[str]:
    """The model's files (posix paths relative to its root) under ``subfolder`` whose name matches the glob.

    A hub repository is listed through huggingface_hub (``revision`` and ``token`` come from model_kwargs).
    """
    if is_local:
        root = load_path / subfolder if subfolder else load_path
        found = [path.relative_to(load_path).as_posix() for path in root.rglob("*") if path.is_file()]
    else:
        from huggingface_hub import list_repo_files

        from sentence_transformers.base.hub import hub_repo_id

        found = list_repo_files(
            hub_repo_id(load_path.as_posix()),
            repo_type="model",
            revision=model_kwargs.get("revision"),
            token=model_kwargs.get("token"),
        )
        prefix = f"{subfolder.strip('/')}/" if subfolder else ""
        found = [name for name in found if name.startswith(prefix)]
    return sorted(name for name in found if fnmatch(PurePosixPath(name).name, target_file_glob))


def backend_should_export(
    load_path: Path,
    is_local: bool,
    model_kwargs: dict[str, Any],
    target_file_name: str,
    target_file_glob: str,
    backend_name: str,
) -> tuple[bool, dict[str, Any]]:
    """Decide whether to export the torch model to the backend, and point ``file_name``/``subfolder`` at the file.

    1. ``model_kwargs["export"]`` truthy: export (the key is removed either way).
    2. ``<subfolder>/<file_name>`` exists (file_name defaults to ``target_file_name``): open it.
    3. Else ``<subfolder>/<backend>/<file_name>`` exists: open it; subfolder gains the backend folder.
    4. A file_name with folders (``onnx/model_O3.onnx``) moves them into subfolder.

    Warns when the default file was picked from several candidates in the backend folder, and when exporting while
    other files of this backend are present (naming them). ``export=False`` never exports, even if nothing is found.

    Args:
        load_path: The local model folder or the hub repository id.
        is_local: Whether ``load_path`` is a local folder (else the hub repository's files are listed).
        model_kwargs: Notable keys: ``export``, ``file_name``, ``subfolder`` (and ``revision``/``token`` for the hub).
        target_file_name: The file opened by default, e.g. "model.onnx" or "openvino_model.xml".
        target_file_glob: The pattern of this backend's files, e.g. "*.onnx" or "openvino*.xml".
        backend_name: Human-readable backend name, e.g. "ONNX"; its lower case is the backend folder.

    Returns:
        Whether to export, and model_kwargs (the same dict) without ``export``, with ``file_name``/``subfolder`` set.
    """
    export = model_kwargs.pop("export", None)
    if export:
        return True, model_kwargs

    backend = backend_name.lower()
    explicit_name = "file_name" in model_kwargs
    file_name = model_kwargs.get("file_name", target_file_name)
    subfolder = model_kwargs.get("subfolder") or None
    found = list_backend_files(load_path, is_local, target_file_glob, subfolder, model_kwargs)
    primary = PurePosixPath(subfolder or "", file_name).as_posix()
    secondary = PurePosixPath(subfolder or "", backend, file_name).as_posix()

    model_found = primary in found
    if not model_found and secondary in found:
        model_found = True
        if len(found) > 1 and not explicit_name:
            logger.warning(
                "Multiple %s files found in %r: %s, defaulting to %r. Please specify the desired file name via "
                '`model_kwargs={"file_name": "<file_name>"}`.',
                backend_name,
                load_path.as_posix(),
                found,
                secondary,
            )
        model_kwargs["subfolder"] = PurePosixPath(subfolder or "", backend).as_posix()
        model_kwargs["file_name"] = file_name
    if export is None:
        export = not model_found

    parts = PurePosixPath(Path(file_name).as_posix()).parts
    if len(parts) > 1:
        model_kwargs["file_name"] = parts[-1]
        model_kwargs["subfolder"] = PurePosixPath(model_kwargs.get("subfolder") or "", *parts[:-1]).as_posix()

    if export:
        logger.warning("No %r found in %r. Exporting the model to %s.", file_name, load_path.as_posix(), backend_name)
        if found:
            logger.warning(
                "If you intended to load one of the %s %s files, please specify the desired file name via "
                '`model_kwargs={"file_name": "%s"}`.',
                found,
                backend_name,
                found[0],
            )
    return bool(export), model_kwargs


def backend_warn_to_save(model_name_or_path: str, is_local: bool, backend_name: str) -> None:
    """Warn that a model exported at load time should be saved, so the next load need not export it again."""
    message = f"Saving the exported {backend_name} model is heavily recommended to avoid having to export it again."
    if is_local:
        message += f" Do so with `model.save_pretrained({model_name_or_path!r})`."
    else:
        message += f" Do so with `model.push_to_hub({model_name_or_path!r}, create_pr=True)`."
    logger.warning(message)


def save_or_push_to_hub_model(
    export_function: Callable[[str], Any],
    export_function_name: str,
    config: Any,
    model_name_or_path: str,
    push_to_hub: bool = False,
    create_pr: bool = False,
    file_suffix: str | None = None,
    backend: str = "onnx",
    model: Any = None,
) -> None:
    """Run ``export_function(save_dir)`` and save its result as ``<backend>/model_<suffix>.onnx`` (or
    ``openvino/openvino_model_<suffix>.xml`` + ``.bin``) in the local folder ``model_name_or_path``, or upload it to
    that hub repository (``create_pr``: as a pull request describing ``config`` and how to load the file).

    The export function writes its model into ``save_dir`` (or ``save_dir/<backend>/``), named either as the final
    file or as the backend's default file (``model.onnx``, ``openvino_model.xml``); its weights files travel with it.
    """
    if backend not in _DEFAULT_FILES:
        raise ValueError(f"backend must be 'onnx' or 'openvino', got {backend!r}")
    if not file_suffix:
        raise ValueError("file_suffix is required: it names the exported file, beside the backend's default file")
    file_name = f"model_{file_suffix}.onnx" if backend == "onnx" else f"openvino_model_{file_suffix}.xml"
    with tempfile.TemporaryDirectory(prefix="sbert-export-") as save_dir, tempfile.TemporaryDirectory() as staged:
        export_function(save_dir)
        produced = _find_produced(save_dir, file_name, backend)
        _stage(produced, os.path.join(staged, file_name), backend)
        if push_to_hub:
            import huggingface_hub

            description = _pr_description(config, model_name_or_path, file_name, backend, model) if create_pr else ""
            huggingface_hub.upload_folder(
                folder_path=staged,
                path_in_repo=backend,
                repo_id=model_name_or_path,
                repo_type="model",
                commit_message=f"Add exported {backend} model {file_name!r}",
                commit_description=description,
                create_pr=create_pr,
            )
            return
        target = os.path.join(model_name_or_path, backend)
        os.makedirs(target, exist_ok=True)
        for name in sorted(os.listdir(staged)):
            partial = os.path.join(target, name + ".partial")
            shutil.copyfile(os.path.join(staged, name), partial)
            os.replace(partial, os.path.join(target, name))


def _find_produced(save_dir: str, file_name: str, backend: str) -> str:
    """Where the export function left its model file."""
    for name in (file_name, _DEFAULT_FILES[backend]):
        for folder in (save_dir, os.path.join(save_dir, backend)):
            if os.path.isfile(os.path.join(folder, name)):
                return os.path.join(folder, name)
    raise FileNotFoundError(f"The export wrote neither {file_name!r} nor {_DEFAULT_FILES[backend]!r} in {save_dir!r}")


def _stage(produced: str, destination: str, backend: str) -> None:
    """Move the model file to ``destination`` with the files holding its weights, renamed to match it."""
    folder = os.path.dirname(destination)
    if backend == "openvino":
        shutil.move(os.path.splitext(produced)[0] + ".bin", os.path.splitext(destination)[0] + ".bin")
        shutil.move(produced, destination)
        return
    import onnx

    model = onnx.load(produced, load_external_data=False)
    entries = [entry for tensor in _onnx_tensors(model.graph) for entry in _external_locations(tensor)]
    locations = {entry.value for entry in entries}
    if len(locations) == 1 and os.path.dirname(next(iter(locations))) == "":
        # One weights file beside the model: name it "<model>.onnx_data", the name the hub loaders fetch.
        shutil.move(os.path.join(os.path.dirname(produced), locations.pop()), destination + "_data")
        for entry in entries:
            entry.value = os.path.basename(destination) + "_data"
        onnx.save(model, destination)
        os.remove(produced)
        return
    for location in locations:
        os.makedirs(os.path.dirname(os.path.join(folder, location)), exist_ok=True)
        shutil.move(os.path.join(os.path.dirname(produced), location), os.path.join(folder, location))
    shutil.move(produced, destination)


def _onnx_tensors(graph: Any) -> Iterator[Any]:
    """Every tensor of an ONNX graph: initializers and node attributes, subgraphs included."""
    yield from graph.initializer
    for node in graph.node:
        for attribute in node.attribute:
            if attribute.HasField("t"):
                yield attribute.t
            yield from attribute.tensors
            if attribute.HasField("g"):
                yield from _onnx_tensors(attribute.g)
            for subgraph in attribute.graphs:
                yield from _onnx_tensors(subgraph)


def _external_locations(tensor: Any) -> list[Any]:
    """The ``location`` entries of a tensor stored outside the model file (none for an inline tensor)."""
    if tensor.data_location != 1:  # onnx.TensorProto.EXTERNAL
        return []
    return [entry for entry in tensor.external_data if entry.key == "location"]


def _pr_description(config: Any, repo_id: str, file_name: str, backend: str, model: Any) -> str:
    """The pull request text: what was added, with which config, and how to try it before merging."""
    model_class = type(model).__name__ if model is not None else "SentenceTransformer"
    return (
        f"This pull request adds an exported {backend} model: `{backend}/{file_name}`.\n\n"
        f"## Config\n```python\n{config!r}\n```\n\n"
        "## Trying it before merging\n"
        f"```python\nfrom sentence_transformers import {model_class}\n\n"
        "pr_number = 1  # the number of this pull request\n"
        f'model = {model_class}(\n    {repo_id!r},\n    revision=f"refs/pr/{{pr_number}}",\n'
        f'    backend={backend!r},\n    model_kwargs={{"file_name": {file_name!r}}},\n)\n```\n'
    )


def runtime_model_of(model: Any, model_class: type, function_name: str, backend: str) -> Any:
    """The runtime model (``model_class``) inside ``model``, or a ValueError saying which backend is needed."""
    inner = getattr(model, "transformers_model", None)
    if isinstance(inner, model_class):
        return inner
    nested = next((module for module in _modules_of(model) if isinstance(module, model_class)), None)
    if nested is not None:
        # A Router's route (an inference-free SparseEncoder's document side): its Transformer has its own folder,
        # where a load would look for the file, while the export functions write beside the model's modules.json.
        first = type(next(iter(model.children()))).__name__
        raise ValueError(
            f"{function_name} writes the {backend} file of a model whose first module is the Transformer; this "
            f"model's Transformer sits inside its {first}. Load that Transformer's folder on its own with "
            f"backend={backend!r} and export from it"
        )
    running = model.get_backend() if hasattr(model, "get_backend") else "torch"
    raise ValueError(
        f"{function_name} needs a Transformer-based model loaded with backend={backend!r}; this one runs {running!r}"
    )


def _modules_of(model: Any) -> Iterator[Any]:
    """Every submodule of a torch module (nothing for anything else)."""
    modules = getattr(model, "modules", None)
    return modules() if callable(modules) else iter(())
