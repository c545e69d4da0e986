"""Build the module pipeline of a model folder: its modules.json entries, or for a plain Hugging Face folder the
modules the model type chooses (``BaseModel._load_default_modules``)."""

from __future__ import annotations

import logging
import os
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from torch import nn

from sentence_transformers.base import persistence
from sentence_transformers.base.hub import is_local, resolve_file, resolve_folder
from sentence_transformers.base.modules.transformer import Transformer
from sentence_transformers.base.weights_io import MissingModelFileError

logger = logging.getLogger(__name__)


@dataclass
class LoadedPipeline:
    """What a model folder holds: its modules, the forward kwargs each accepts, its model config and card."""

    modules: OrderedDict[str, nn.Module]
    module_kwargs: dict[str, list[str]] = field(default_factory=dict)
    config: dict[str, Any] = field(default_factory=dict)
    model_card_text: str | None = None


@dataclass
class LoadOptions:
    """Where to look and what may run when loading."""

    cache_folder: str | None = None
    revision: str | None = None
    token: bool | str | None = None
    local_files_only: bool = False
    trust_remote_code: bool = False
    model_kwargs: dict[str, Any] | None = None
    tokenizer_kwargs: dict[str, Any] | None = None
    config_kwargs: dict[str, Any] | None = None
    backend: str = "torch"

    def transformers_kwargs(self) -> dict[str, Any]:
        """The keyword arguments of the Hugging Face ``from_pretrained`` loaders."""
        return {
            "token": self.token,
            "revision": self.revision,
            "trust_remote_code": self.trust_remote_code,
            "local_files_only": self.local_files_only,
        }

    def hub(self) -> dict[str, Any]:
        """The keyword arguments that locate files."""
        return {
            "token": self.token,
            "cache_folder": self.cache_folder,
            "revision": self.revision,
            "local_files_only": self.local_files_only,
        }


def load_pipeline(
    model_name_or_path: str,
    options: LoadOptions,
    default_modules: Callable[[str, LoadOptions], OrderedDict[str, nn.Module]],
    model_type: str = "SentenceTransformer",
    converted_modules: Callable[[str, LoadOptions, str], OrderedDict[str, nn.Module]] | None = None,
) -> LoadedPipeline:
    """Resolve the name to a local folder and build its modules: those of its modules.json when it was saved as
    ``model_type``, else ``default_modules(folder, options)`` for a plain Hugging Face folder. A folder saved as
    another model type is converted as upstream does, by ``converted_modules(folder, options, saved_type)`` when
    given, else as a plain folder; its config's prompts and settings do not carry over."""
    folder = resolve_folder(
        model_name_or_path, options.token, options.cache_folder, options.revision, options.local_files_only
    )
    if options.backend != "torch" and not is_local(model_name_or_path):
        _fetch_backend_files(model_name_or_path, options)
    card = _read_card(folder)
    if os.path.isfile(os.path.join(folder, persistence.MODULES_FILE)):
        config = persistence.read_model_config(folder)
        saved_type = config.get("model_type") or "SentenceTransformer"
        if saved_type == model_type:
            modules, module_kwargs = load_saved_modules(folder, options)
            return LoadedPipeline(modules, module_kwargs, config, card)
        logger.warning(f"Converting {saved_type} model {model_name_or_path} to {model_type}.")
        convert = converted_modules or (lambda folder, options, saved_type: default_modules(folder, options))
        return LoadedPipeline(convert(folder, options, saved_type))
    if not os.path.isfile(os.path.join(folder, "config.json")):
        raise FileNotFoundError(
            f"{model_name_or_path!r} ({folder}) is not a model folder: it has neither {persistence.MODULES_FILE} "
            "(a Sentence Transformers model) nor config.json (a Hugging Face model)"
        )
    return LoadedPipeline(default_modules(folder, options), model_card_text=card)


def _fetch_backend_files(name: str, options: LoadOptions) -> None:
    """Hub snapshots leave out onnx/ and openvino/: fetch the one model file the backend opens, and its weights,
    into the same snapshot (when the repository has none, the backend exports one from the torch weights)."""
    from sentence_transformers.backend import RUNTIME_MODELS

    model_class = RUNTIME_MODELS[options.backend]
    file_name = (options.model_kwargs or {}).get("file_name") or model_class.default_file
    for where in (model_class.subfolder, ""):
        if resolve_file(name, file_name, where, **options.hub()):
            for companion in model_class.companion_files(file_name):
                resolve_file(name, companion, where, **options.hub())
            return


def folder_transformer(folder: str, options: LoadOptions, **kwargs: Any) -> Transformer:
    """The Transformer module of a plain Hugging Face folder, loaded as ``options`` say (``kwargs``: e.g. the
    ``transformer_task``)."""
    hub = options.transformers_kwargs()
    return Transformer(
        folder,
        cache_dir=options.cache_folder,
        model_args={**hub, **(options.model_kwargs or {})},
        tokenizer_args={**hub, **(options.tokenizer_kwargs or {})},
        config_args={**hub, **(options.config_kwargs or {})},
        backend=options.backend,
        **kwargs,
    )


def load_saved_modules(
    folder: str,
    options: LoadOptions,
    type_names: dict[str, str] | None = None,
    init_defaults: Callable[[type], dict[str, Any]] | None = None,
) -> tuple[OrderedDict[str, nn.Module], dict[str, list[str]]]:
    """The modules listed in a folder's modules.json, and the forward kwargs each one declares.

    For folders written by other libraries: ``type_names`` maps a listed type name to the one to load (e.g. PyLate's
    Dense to sbert's), and ``init_defaults(module_class)`` gives constructor values for what the saved config leaves
    out (saved values win)."""
    modules: OrderedDict[str, nn.Module] = OrderedDict()
    module_kwargs: dict[str, list[str]] = {}
    for entry in persistence.read_modules(folder):
        type_name = (type_names or {}).get(entry["type"], entry["type"])
        module_class = persistence.resolve_type(
            type_name, folder, options.trust_remote_code, token=options.token, revision=options.revision
        )
        name = str(entry.get("name", len(modules)))
        defaults = init_defaults(module_class) if init_defaults is not None else None
        try:
            modules[name] = _load_module(module_class, folder, entry.get("path", ""), options, defaults)
        except Exception as exc:
            _raise_if_folder_missing(folder, entry, exc)
            raise
        if entry.get("kwargs"):
            module_kwargs[name] = list(entry["kwargs"])
    return modules, module_kwargs


def _load_module(
    module_class: type, folder: str, subfolder: str, options: LoadOptions, init_defaults: dict[str, Any] | None = None
) -> nn.Module:
    offered = {
        **options.hub(),
        "trust_remote_code": options.trust_remote_code,
        "model_kwargs": options.model_kwargs,
        "tokenizer_kwargs": options.tokenizer_kwargs,
        "config_kwargs": options.config_kwargs,
        "backend": options.backend,
    }
    if init_defaults:
        offered["init_defaults"] = init_defaults
    return persistence.load_module(module_class, folder, subfolder, offered)


def _raise_if_folder_missing(folder: str, entry: dict[str, Any], exc: Exception) -> None:
    """A module that failed to load because the folder its modules.json entry names is absent: say so."""
    module_folder = os.path.join(folder, entry.get("path", ""))
    if os.path.isdir(module_folder):
        return
    cause = "" if isinstance(exc, MissingModelFileError) else f" ({type(exc).__name__}: {exc})"
    raise MissingModelFileError(
        f"{os.path.join(folder, persistence.MODULES_FILE)} lists module {entry.get('name', '?')!r} "
        f"({entry['type']}) in folder {module_folder}, which does not exist{cause}"
    ) from exc


def _read_card(folder: str) -> str | None:
    path = os.path.join(folder, "README.md")
    if not os.path.isfile(path):
        return None
    with open(path, encoding="utf-8", errors="replace") as f:
        return f.read()
