"""The Module and InputModule bases: every pipeline step owns its config, save and load."""

from __future__ import annotations

import inspect
import json
import logging
import os
import warnings
from abc import ABC, abstractmethod
from typing import TYPE_CHECKING, Any, Literal

import torch
from torch import nn

from sentence_transformers.base import weights_io
from sentence_transformers.base.hub import resolve_file, resolve_folder

if TYPE_CHECKING:
    from sentence_transformers.base.model import BaseModel

logger = logging.getLogger(__name__)


class Module(ABC, nn.Module):
    """A step of a SentenceTransformer pipeline: takes a features dict and returns it enriched.

    Subclasses list the constructor arguments to persist in ``config_keys``; the default ``load``
    rebuilds the module from that config, and ``save_config`` writes it. A module with parameters sets
    ``saved_weights`` so that the default ``load`` also reads its weights file.
    """

    config_file_name: str = "config.json"
    config_keys: list[str] = []
    #: Old config key → its new name: ``load_config`` renames them silently, so that folders saved before a
    #: rename load without the deprecation warning a user passing the old keyword gets.
    config_key_renames: dict[str, str] = {}
    save_in_root: bool = False
    #: Keyword arguments of ``encode`` (e.g. ``task``) that the model passes on to this module's ``forward``.
    forward_kwargs: set[str] = set()
    #: Whether ``load`` reads model.safetensors / pytorch_model.bin: never, always, or only when the folder has one.
    saved_weights: Literal["none", "required", "if_present"] = "none"

    @abstractmethod
    def forward(self, features: dict[str, Any], **kwargs) -> dict[str, Any]:
        """Compute new features (e.g. ``sentence_embedding``) from the incoming ones."""

    def get_config_dict(self) -> dict[str, Any]:
        """The values of ``config_keys``, as they would be written to the config file."""
        return {key: getattr(self, key) for key in self.config_keys}

    def save_config(self, output_path: str, filename: str | None = None) -> None:
        """Write ``get_config_dict()`` as JSON into ``output_path``."""
        os.makedirs(output_path, exist_ok=True)
        with open(os.path.join(output_path, filename or self.config_file_name), "w", encoding="utf-8") as f:
            json.dump(self.get_config_dict(), f, indent=4)

    def save_torch_weights(self, output_path: str, safe_serialization: bool = True) -> None:
        """Write the state dict as model.safetensors (or pytorch_model.bin)."""
        weights_io.save_state_dict(self, output_path, safe_serialization=safe_serialization)

    @abstractmethod
    def save(self, output_path: str, *args, safe_serialization: bool = True, **kwargs) -> None:
        """Write everything needed to rebuild this module into ``output_path``."""

    @classmethod
    def load(
        cls,
        model_name_or_path: str,
        subfolder: str = "",
        token: bool | str | None = None,
        cache_folder: str | None = None,
        revision: str | None = None,
        local_files_only: bool = False,
        init_defaults: dict[str, Any] | None = None,
        **kwargs,
    ) -> Module:
        """Rebuild the module from its config file, then its weights as ``saved_weights`` says.

        ``init_defaults`` are constructor arguments the loading model supplies; they only fill keys that the saved
        config leaves out. Override to read other files too."""
        hub = {"token": token, "cache_folder": cache_folder, "revision": revision, "local_files_only": local_files_only}
        config = cls.load_config(model_name_or_path, subfolder=subfolder, **hub)
        try:
            model = cls(**with_init_defaults(cls.known_config(config), init_defaults))
        except (TypeError, ValueError) as exc:
            if config or cls.load_file_path(model_name_or_path, cls.config_file_name, subfolder, **hub) is not None:
                raise
            raise cls._missing_config_error(cls.load_dir_path(model_name_or_path, subfolder, **hub), exc) from exc
        return cls.load_saved_weights(model, model_name_or_path, subfolder=subfolder, **hub)

    @classmethod
    def _missing_config_error(cls, folder: str, exc: Exception) -> weights_io.MissingModelFileError:
        """The error for a module that cannot be built without its config file, naming the folder and the file."""
        where = "does not exist" if not os.path.isdir(folder) else f"has no {cls.config_file_name}"
        return weights_io.MissingModelFileError(
            f"Cannot load {cls.__name__} from {folder}: the folder {where}, and {cls.__name__} cannot be built "
            f"without the {cls.config_file_name} it should hold ({exc})"
        )

    @classmethod
    def known_config(cls, config: dict[str, Any]) -> dict[str, Any]:
        """The config without the keys the constructor does not take, each named in a logged warning.

        A newer release may save keys this one does not know; they are dropped rather than failing the load. A
        constructor with ``**kwargs`` still receives them (a custom module may read them there).
        """
        parameters = inspect.signature(cls.__init__).parameters.values()
        named = {p.name for p in parameters if p.kind not in (p.VAR_KEYWORD, p.VAR_POSITIONAL)} - {"self"}
        unknown = sorted(key for key in config if key not in named and key not in cls.config_keys)
        if unknown:
            logger.warning("%s config has unknown key(s) %s; they are ignored", cls.__name__, ", ".join(unknown))
        if any(p.kind is p.VAR_KEYWORD for p in parameters):
            return config
        return {key: value for key, value in config.items() if key in named}

    @classmethod
    def load_saved_weights(cls, model: Module, model_name_or_path: str, subfolder: str = "", **hub: Any) -> Module:
        """Load the weights file into ``model`` as ``saved_weights`` says; return ``model``.

        ``hub`` takes the keywords of ``load_dir_path`` (token, cache_folder, revision, local_files_only).
        """
        if cls.saved_weights == "none":
            return model
        if cls.saved_weights == "if_present":
            folder = cls.load_dir_path(model_name_or_path, subfolder=subfolder, **hub)
            if not weights_io.has_weights(folder):
                return model
        cls.load_torch_weights(model_name_or_path, subfolder=subfolder, model=model, **hub)
        return model

    @classmethod
    def load_config(
        cls,
        model_name_or_path: str,
        subfolder: str = "",
        config_filename: str | None = None,
        token: bool | str | None = None,
        cache_folder: str | None = None,
        revision: str | None = None,
        local_files_only: bool = False,
    ) -> dict[str, Any]:
        """Read the module's JSON config; a missing file means an empty config."""
        path = cls.load_file_path(
            model_name_or_path,
            filename=config_filename or cls.config_file_name,
            subfolder=subfolder,
            token=token,
            cache_folder=cache_folder,
            revision=revision,
            local_files_only=local_files_only,
        )
        if path is None:
            return {}
        with open(path, encoding="utf-8") as f:
            try:
                config = json.load(f)
            except json.JSONDecodeError as exc:
                raise ValueError(f"Corrupt module config {path}: {exc}") from exc
        return cls.rename_config_keys(config)

    @classmethod
    def rename_config_keys(cls, config: dict[str, Any]) -> dict[str, Any]:
        """``config`` with its old key names (``config_key_renames``) replaced by the new ones; a new key that is
        already there wins over its old name."""
        for old_key, new_key in cls.config_key_renames.items():
            if old_key in config and new_key not in config:
                config[new_key] = config.pop(old_key)
        return config

    @staticmethod
    def load_file_path(
        model_name_or_path: str,
        filename: str,
        subfolder: str = "",
        token: bool | str | None = None,
        cache_folder: str | None = None,
        revision: str | None = None,
        local_files_only: bool = False,
    ) -> str | None:
        """Local path of ``subfolder/filename`` in a model folder or hub repository, or None if absent."""
        return resolve_file(
            model_name_or_path,
            filename,
            subfolder=subfolder,
            token=token,
            cache_folder=cache_folder,
            revision=revision,
            local_files_only=local_files_only,
        )

    @staticmethod
    def load_dir_path(
        model_name_or_path: str,
        subfolder: str = "",
        token: bool | str | None = None,
        cache_folder: str | None = None,
        revision: str | None = None,
        local_files_only: bool = False,
    ) -> str:
        """Local path of ``subfolder`` in a model folder or hub repository (downloaded if needed)."""
        root = resolve_folder(
            model_name_or_path,
            token=token,
            cache_folder=cache_folder,
            revision=revision,
            local_files_only=local_files_only,
        )
        return os.path.join(root, subfolder)

    def on_model_ready(self, model: BaseModel) -> None:
        """Called once the model holding this module is fully built (all modules, tokenizer in place).

        Override it to resolve state that depends on the model, e.g. on its tokenizer. It does nothing by default.
        A module appended to a model that is already built does not get the call; saving and reloading does."""

    def __getattr__(self, name: str) -> Any:
        """The pre-6.x names of ``get_embedding_dimension`` still work, with a FutureWarning.

        Resolved here rather than defined as methods, so that ``hasattr(module, old_name)`` stays False for a
        module without ``get_embedding_dimension``."""
        new_name = _RENAMED_METHODS.get(name)
        if new_name is not None and any(new_name in vars(klass) for klass in type(self).__mro__):
            warnings.warn(f"The `{name}` method has been renamed to `{new_name}`.", FutureWarning, stacklevel=2)
            return getattr(self, new_name)
        return super().__getattr__(name)

    @classmethod
    def load_torch_weights(
        cls,
        model_name_or_path: str,
        subfolder: str = "",
        token: bool | str | None = None,
        cache_folder: str | None = None,
        revision: str | None = None,
        local_files_only: bool = False,
        model: Module | None = None,
    ) -> Module | dict[str, torch.Tensor]:
        """Load model.safetensors (or pytorch_model.bin, weights only) into ``model``, or return the state dict."""
        folder = cls.load_dir_path(
            model_name_or_path,
            subfolder=subfolder,
            token=token,
            cache_folder=cache_folder,
            revision=revision,
            local_files_only=local_files_only,
        )
        state_dict = weights_io.load_state_dict(folder)
        if model is None:
            return state_dict
        model.load_state_dict(state_dict)
        return model


_RENAMED_METHODS = {
    "get_sentence_embedding_dimension": "get_embedding_dimension",
    "get_word_embedding_dimension": "get_embedding_dimension",
}


def with_init_defaults(config: dict[str, Any], init_defaults: dict[str, Any] | None) -> dict[str, Any]:
    """``config`` completed with ``init_defaults`` for the keys it lacks: a saved value always wins."""
    return {**(init_defaults or {}), **config}
