"""The on-disk format: modules.json, the model config, type names, the remote-code gate, atomic save."""

from __future__ import annotations

import contextlib
import importlib
import importlib.util
import inspect
import json
import os
import shutil
import sys
import tempfile
from collections.abc import Iterable, Iterator
from typing import Any

from torch import nn

MODULES_FILE = "modules.json"
MODEL_CONFIG_FILE = "config_sentence_transformers.json"
# The upstream sentence-transformers release whose on-disk format sbert writes. Upstream reads the
# "sentence_transformers" version of config_sentence_transformers.json, so that is where it goes; sbert's own
# version is written under "sbert".
FORMAT_VERSION = "6.2.0"

# Class name → module that defines it. Saved under ``sentence_transformers.models.<Class>``, a name every release reads.
_ST_MODULES = "sentence_transformers.sentence_transformer.modules"
STANDARD_MODULES: dict[str, str] = {
    "Transformer": "sentence_transformers.base.modules.transformer",
    "Dense": "sentence_transformers.base.modules.dense",
    "Normalize": "sentence_transformers.base.modules.normalize",
    "Router": "sentence_transformers.base.modules.router",
    "Asym": "sentence_transformers.base.modules.router",
    "Pooling": f"{_ST_MODULES}.pooling",
    "StaticEmbedding": f"{_ST_MODULES}.static_embedding",
    "BoW": f"{_ST_MODULES}.bow",
    "WordEmbeddings": f"{_ST_MODULES}.word_embeddings",
    "WordWeights": f"{_ST_MODULES}.word_weights",
    "CNN": f"{_ST_MODULES}.cnn",
    "LSTM": f"{_ST_MODULES}.lstm",
    "WeightedLayerPooling": f"{_ST_MODULES}.weighted_layer_pooling",
    "WKPooling": f"{_ST_MODULES}.wk_pooling",
    "Dropout": f"{_ST_MODULES}.dropout",
    "LayerNorm": f"{_ST_MODULES}.layer_norm",
}


def read_json(path: str, what: str) -> Any:
    """Parse a JSON file, naming the file in the error when it is corrupt."""
    with open(path, encoding="utf-8") as f:
        try:
            return json.load(f)
        except json.JSONDecodeError as exc:
            raise ValueError(f"Corrupt {what} {path}: {exc}") from exc


def read_modules(folder: str) -> list[dict[str, Any]]:
    """The entries of modules.json, checked for shape, in pipeline order."""
    path = os.path.join(folder, MODULES_FILE)
    entries = read_json(path, "modules file")
    if not isinstance(entries, list) or not all(isinstance(e, dict) and "type" in e for e in entries):
        raise ValueError(f"Corrupt modules file {path}: expected a list of objects each with a 'type'")
    for position, entry in enumerate(entries):
        if not isinstance(entry["type"], str) or not isinstance(entry.get("path", ""), str):
            raise ValueError(f"Corrupt modules file {path}: entry {position} has a non-string 'type' or 'path'")
    return sorted(entries, key=lambda entry: entry.get("idx", 0))


def read_model_config(folder: str) -> dict[str, Any]:
    """config_sentence_transformers.json, or an empty config when the file is absent."""
    path = os.path.join(folder, MODEL_CONFIG_FILE)
    if not os.path.isfile(path):
        return {}
    config = read_json(path, "model config")
    if not isinstance(config, dict):
        raise ValueError(f"Corrupt model config {path}: expected a JSON object")
    return config


def write_json(path: str, data: Any) -> None:
    """Write indented JSON."""
    with open(path, "w", encoding="utf-8") as f:
        json.dump(data, f, indent=2)


def type_name(module: nn.Module) -> str:
    """The type name to write for a module: the 2.x alias for standard classes, else its import path."""
    cls = type(module)
    if STANDARD_MODULES.get(cls.__name__) == cls.__module__:
        return f"sentence_transformers.models.{cls.__name__}"
    return f"{cls.__module__}.{cls.__qualname__}"


def resolve_type(name: str, folder: str, trust_remote_code: bool = False, **hub_kwargs: Any) -> type:
    """The class a modules.json type name refers to.

    Standard names in any form resolve to sbert's classes. A class whose code sits in the model folder,
    or in a hub repository (``owner/repo--module.Class``), is imported only with ``trust_remote_code=True``.
    """
    if name.startswith("sentence_transformers."):
        return _standard_class(name)
    if "--" in name:
        repo_id, _, dotted = name.partition("--")
        _require_trust(name, f"hub repository {repo_id!r}", trust_remote_code)
        return _class_from_hub(repo_id, dotted, hub_kwargs)
    module_name, _, class_name = name.rpartition(".")
    if not module_name:
        raise ValueError(f"Module type {name!r} is not of the form 'package.module.Class'")
    local_file = _local_code_file(folder, module_name)
    if local_file is not None:
        _require_trust(name, f"the model folder ({os.path.relpath(local_file, folder)})", trust_remote_code)
        return _checked_class(name, getattr(_import_file(module_name, local_file), class_name, None))
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise ValueError(f"Module type {name!r}: cannot import {module_name!r} ({exc})") from exc
    return _checked_class(name, getattr(module, class_name, None))


def _standard_class(name: str) -> type:
    class_name = name.rsplit(".", 1)[-1]
    if class_name not in STANDARD_MODULES:
        known = ", ".join(sorted(STANDARD_MODULES))
        raise ValueError(f"Unknown module type {name!r}; sbert knows these standard modules: {known}")
    return getattr(importlib.import_module(STANDARD_MODULES[class_name]), class_name)


def _require_trust(name: str, where: str, trust_remote_code: bool) -> None:
    if not trust_remote_code:
        raise ValueError(
            f"Module type {name!r} is defined by code in {where}. Running it executes that code: "
            "pass trust_remote_code=True only if you trust its source."
        )


def _local_code_file(folder: str, module_name: str) -> str | None:
    base = os.path.join(folder, *module_name.split("."))
    for candidate in (base + ".py", os.path.join(base, "__init__.py")):
        if os.path.isfile(candidate):
            return candidate
    return None


# Module name → source file, for the custom code imported from model folders; a save copies it along.
_FOLDER_CODE: dict[str, str] = {}


def copy_folder_code(modules: Iterable[nn.Module], folder: str) -> None:
    """Copy the source of custom modules that came from a model folder, so the saved model stays loadable."""
    for module in modules:
        source = _FOLDER_CODE.get(type(module).__module__)
        if source is None:
            continue
        relative = type(module).__module__.replace(".", os.sep) + (
            os.sep + "__init__.py" if source.endswith("__init__.py") else ".py"
        )
        target = os.path.join(folder, relative)
        os.makedirs(os.path.dirname(target), exist_ok=True)
        shutil.copyfile(source, target)


def _import_file(module_name: str, path: str) -> Any:
    """Import a Python file from a model folder under ``module_name`` (so a re-save writes the same type name)."""
    spec = importlib.util.spec_from_file_location(module_name, path)
    if spec is None or spec.loader is None:
        raise ValueError(f"Cannot import module code from {path}")
    module = importlib.util.module_from_spec(spec)
    sys.modules[module_name] = module
    spec.loader.exec_module(module)
    _FOLDER_CODE[module_name] = path
    return module


def _class_from_hub(repo_id: str, dotted: str, hub_kwargs: dict[str, Any]) -> type:
    from huggingface_hub import hf_hub_download

    module_name, _, class_name = dotted.rpartition(".")
    hub_kwargs = {key: hub_kwargs[key] for key in ("token", "revision", "cache_dir") if hub_kwargs.get(key)}
    path = hf_hub_download(repo_id, filename=module_name.replace(".", "/") + ".py", **hub_kwargs)
    return _checked_class(f"{repo_id}--{dotted}", getattr(_import_file(module_name, path), class_name, None))


def _checked_class(name: str, obj: Any) -> type:
    if not (isinstance(obj, type) and issubclass(obj, nn.Module)):
        raise ValueError(f"Module type {name!r} does not name a torch.nn.Module class")
    return obj


def save_module(module: nn.Module, folder: str, safe_serialization: bool = True) -> None:
    """Call the module's ``save``; 2.x modules take only the folder."""
    parameters = inspect.signature(module.save).parameters
    if "safe_serialization" in parameters or _takes_var_kwargs(parameters):
        module.save(folder, safe_serialization=safe_serialization)
    else:
        module.save(folder)


def load_module(module_class: type, folder: str, subfolder: str, offered: dict[str, Any]) -> nn.Module:
    """Call the class's ``load``: the newer (folder, subfolder=…, …) form with the keyword arguments it
    accepts among ``offered``, or the 2.x ``load(path)`` form."""
    parameters = inspect.signature(module_class.load).parameters
    if "subfolder" not in parameters:
        return module_class.load(os.path.join(folder, subfolder))
    takes_any = _takes_var_kwargs(parameters)
    accepted = {key: value for key, value in offered.items() if takes_any or key in parameters}
    return module_class.load(folder, subfolder=subfolder, **accepted)


def _takes_var_kwargs(parameters: Any) -> bool:
    return any(p.kind is inspect.Parameter.VAR_KEYWORD for p in parameters.values())


@contextlib.contextmanager
def atomic_folder(path: str) -> Iterator[str]:
    """Yield a temporary sibling folder to write into; on success it replaces ``path`` in one rename.

    Entries that were in ``path`` and that the new save does not write (an evaluation folder, say) are kept.
    On error the temporary folder is removed and ``path`` is left as it was.
    """
    path = os.path.abspath(path)
    parent = os.path.dirname(path)
    os.makedirs(parent, exist_ok=True)
    temp = tempfile.mkdtemp(prefix=f".{os.path.basename(path)}.saving-", dir=parent)
    os.chmod(temp, 0o777 & ~_umask())
    try:
        yield temp
    except BaseException:
        shutil.rmtree(temp, ignore_errors=True)
        raise
    _swap_into_place(temp, path)


def _swap_into_place(new: str, path: str) -> None:
    if not os.path.exists(path):
        os.replace(new, path)
        return
    if not os.path.isdir(path):
        shutil.rmtree(new, ignore_errors=True)
        raise NotADirectoryError(f"Cannot save a model to {path}: it is a file")
    for entry in os.listdir(path):
        if not os.path.lexists(os.path.join(new, entry)):
            shutil.move(os.path.join(path, entry), os.path.join(new, entry))
    old = tempfile.mkdtemp(prefix=f".{os.path.basename(path)}.old-", dir=os.path.dirname(path))
    os.replace(path, os.path.join(old, "model"))
    os.replace(new, path)
    shutil.rmtree(old, ignore_errors=True)


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask
