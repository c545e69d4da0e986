"""Router (and its 2.x form Asym): send inputs through different sub-pipelines by task or input key."""

from __future__ import annotations

import json
import os
from collections.abc import Iterable
from typing import Any

import torch
from torch import nn

from sentence_transformers.base import persistence
from sentence_transformers.base.hub import resolve_folder
from sentence_transformers.base.modules.input_module import InputModule

ROUTER_CONFIG = "router_config.json"
ASYM_CONFIG = "config.json"


class Router(InputModule):
    """Routes features through one of several module lists, chosen per ``encode`` call.

    The route is the ``task`` passed to ``encode`` (``encode_query`` passes "query", ``encode_document``
    "document"), else the key of dict inputs such as ``{"query": "text"}``, else ``default_route``.

    Args:
        sub_modules: Route name → the modules to apply, in order.
        default_route: Route used when a call names none.
        allow_empty_key: If False, a call that names no route (and no default) is an error;
            if True, such features pass through unchanged.
        route_mappings: Optional ``(task, modality) → route`` table; ``None`` in a key matches anything.
    """

    config_file_name: str = ROUTER_CONFIG
    config_keys: list[str] = ["default_route", "allow_empty_key", "route_mappings"]
    forward_kwargs: set[str] = {"task"}
    save_in_root: bool = False

    def __init__(
        self,
        sub_modules: dict[str, Iterable[nn.Module]],
        default_route: str | None = None,
        allow_empty_key: bool = True,
        route_mappings: dict[tuple[str | None, str | None], str] | None = None,
        **kwargs,
    ) -> None:
        super().__init__()
        if not isinstance(sub_modules, dict) or not sub_modules:
            raise ValueError("Router needs a non-empty dict of route name → list of modules")
        self.sub_modules = nn.ModuleDict({route: nn.Sequential(*modules) for route, modules in sub_modules.items()})
        if default_route is not None and default_route not in self.sub_modules:
            raise ValueError(f"default_route {default_route!r} is not a route; routes: {list(self.sub_modules)}")
        self.default_route = default_route
        self.allow_empty_key = allow_empty_key
        self.route_mappings = dict(route_mappings or {})

    @classmethod
    def for_query_document(
        cls,
        query_modules: list[nn.Module],
        document_modules: list[nn.Module],
        default_route: str | None = "document",
        allow_empty_key: bool = True,
    ) -> Router:
        """A Router with a "query" and a "document" route (used by encode_query / encode_document)."""
        return cls(
            {"query": query_modules, "document": document_modules},
            default_route=default_route,
            allow_empty_key=allow_empty_key,
        )

    def route_for(self, task: str | None = None, text_keys: list[str] | None = None) -> str | None:
        """The route for this call, or None when features should pass through unchanged."""
        route = task if task is not None else (text_keys[0] if text_keys else None)
        route = self._mapped(route)
        if route is None:
            route = self.default_route
        if route is None:
            if not self.allow_empty_key:
                raise ValueError(
                    f"No route given: pass task=... (one of {list(self.sub_modules)}) or dict inputs "
                    "like {'query': 'text'}, or set a default_route"
                )
            return None
        if route not in self.sub_modules:
            raise ValueError(f"Unknown route {route!r}; this Router's routes are {list(self.sub_modules)}")
        return route

    def _mapped(self, task: str | None) -> str | None:
        """Apply route_mappings: (task, "text") or (task, None) → route."""
        for key in ((task, "text"), (task, None)):
            if key in self.route_mappings:
                return self.route_mappings[key]
        return task

    def forward(self, features: dict[str, Any], task: str | None = None, **kwargs) -> dict[str, Any]:
        """Apply the chosen route's modules (each gets the kwargs it declares in ``forward_kwargs``)."""
        route = self.route_for(task, features.get("text_keys"))
        if route is None:
            return features
        for module in self.sub_modules[route]:
            accepted = getattr(module, "forward_kwargs", set())
            features = module(features, **{key: value for key, value in kwargs.items() if key in accepted})
        return features

    def tokenize(self, texts: list[Any], task: str | None = None, **kwargs) -> dict[str, torch.Tensor]:
        """Tokenize with the first module of the route (when the Router is the input module)."""
        keys = [next(iter(text)) for text in texts if isinstance(text, dict)]
        route = self.route_for(task, keys)
        first = self.sub_modules[route if route is not None else next(iter(self.sub_modules))][0]
        features = first.tokenize(texts, **kwargs)
        if keys:
            features["text_keys"] = keys
        return features

    @property
    def tokenizer(self) -> Any:
        """The tokenizer of the default (or first) route's first module."""
        return getattr(self._route_modules()[0], "tokenizer", None)

    @property
    def max_seq_length(self) -> int | None:
        """max_seq_length of the default (or first) route's first module."""
        return getattr(self._route_modules()[0], "max_seq_length", None)

    @max_seq_length.setter
    def max_seq_length(self, value: int) -> None:
        for modules in self.sub_modules.values():
            if hasattr(modules[0], "max_seq_length"):
                modules[0].max_seq_length = value

    def _route_modules(self) -> nn.Sequential:
        return self.sub_modules[self.default_route or next(iter(self.sub_modules))]

    def get_sentence_embedding_dimension(self) -> int | None:
        """Output size of the default (or first) route."""
        for module in reversed(list(self._route_modules())):
            method = getattr(module, "get_sentence_embedding_dimension", None)
            if callable(method):
                return method()
        return None

    def get_config_dict(self) -> dict[str, Any]:
        """The routing parameters (route_mappings keys as lists, since JSON keys must be strings)."""
        return {
            "default_route": self.default_route,
            "allow_empty_key": self.allow_empty_key,
            "route_mappings": {json.dumps(list(key)): route for key, route in self.route_mappings.items()},
        }

    def save(self, output_path: str, *args, safe_serialization: bool = True, **kwargs) -> None:
        """Write each route's modules into ``<route>_<index>_<Class>`` folders and the routing config."""
        types, structure = self._save_routes(output_path, safe_serialization)
        config = {"types": types, "structure": structure, "parameters": self.get_config_dict()}
        persistence.write_json(os.path.join(output_path, self.config_file_name), config)

    def _save_routes(self, output_path: str, safe_serialization: bool) -> tuple[dict[str, str], dict[str, list[str]]]:
        types: dict[str, str] = {}
        structure: dict[str, list[str]] = {}
        for route, modules in self.sub_modules.items():
            structure[route] = []
            for index, module in enumerate(modules):
                module_id = f"{route}_{index}_{type(module).__name__}"
                target = os.path.join(output_path, module_id)
                os.makedirs(target, exist_ok=True)
                persistence.save_module(module, target, safe_serialization)
                types[module_id] = persistence.type_name(module)
                structure[route].append(module_id)
        return types, structure

    @classmethod
    def load(
        cls,
        model_name_or_path: str,
        subfolder: str = "",
        token: bool | str | None = None,
        cache_folder: str | None = None,
        revision: str | None = None,
        local_files_only: bool = False,
        trust_remote_code: bool = False,
        **kwargs,
    ) -> Router:
        """Rebuild from router_config.json (or the 2.x Asym config.json) and the route folders."""
        root = resolve_folder(model_name_or_path, token, cache_folder, revision, local_files_only)
        folder = os.path.join(root, subfolder)
        config = _read_routing_config(folder)
        offered = {"token": token, "cache_folder": cache_folder, "revision": revision}
        offered.update(local_files_only=local_files_only, trust_remote_code=trust_remote_code, **kwargs)
        loaded: dict[str, nn.Module] = {}
        for module_id, type_name in config["types"].items():
            module_class = persistence.resolve_type(type_name, root, trust_remote_code, token=token, revision=revision)
            loaded[module_id] = persistence.load_module(module_class, folder, module_id, offered)
        sub_modules = {route: [loaded[i] for i in ids] for route, ids in config["structure"].items()}
        return cls(sub_modules, **_parameters(config.get("parameters", {})))


class Asym(Router):
    """The 2.x name: routes by the key of dict inputs (``{"query": "text"}``); saved in the 2.x format.

    Args:
        sub_modules: Input key → the modules to apply.
        allow_empty_key: If True, inputs without a key pass through; else they are an error.
    """

    config_file_name: str = ASYM_CONFIG

    def __init__(self, sub_modules: dict[str, Iterable[nn.Module]], allow_empty_key: bool = True, **kwargs) -> None:
        super().__init__(sub_modules, allow_empty_key=allow_empty_key, **kwargs)

    def get_config_dict(self) -> dict[str, Any]:
        """Only the 2.x parameter, so every release reads the config."""
        return {"allow_empty_key": self.allow_empty_key}


def _read_routing_config(folder: str) -> dict[str, Any]:
    for name in (ROUTER_CONFIG, ASYM_CONFIG):
        path = os.path.join(folder, name)
        if os.path.isfile(path):
            config = persistence.read_json(path, "router config")
            if isinstance(config, dict) and {"types", "structure"} <= set(config):
                return config
            raise ValueError(f"Corrupt router config {path}: expected 'types' and 'structure'")
    raise FileNotFoundError(f"No {ROUTER_CONFIG} or {ASYM_CONFIG} in router folder {folder}")


def _parameters(parameters: dict[str, Any]) -> dict[str, Any]:
    """Constructor arguments from a saved config; route_mappings keys come back as tuples."""
    result = {key: parameters[key] for key in ("default_route", "allow_empty_key") if key in parameters}
    mappings = parameters.get("route_mappings") or {}
    result["route_mappings"] = {tuple(json.loads(key)): route for key, route in mappings.items()}
    return result
