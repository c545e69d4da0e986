"""Router (``Asym`` is its 2.x name): send inputs through different sub-pipelines by task or input key."""

from __future__ import annotations

import ast
import json
import logging
import os
from collections.abc import Iterable, Mapping
from typing import Any

import torch
from torch import nn

from sentence_transformers.base import persistence
from sentence_transformers.base.hub import resolve_folder
from sentence_transformers.base.modules.input_module import InputModule

logger = logging.getLogger(__name__)

ROUTER_CONFIG = "router_config.json"
ASYM_CONFIG = "config.json"
TEXT = "text"
_DIMENSION_METHODS = ("get_embedding_dimension", "get_sentence_embedding_dimension", "get_word_embedding_dimension")

RouteKey = tuple[str | None, str | tuple[str, ...] | None]


class Router(InputModule):
    """Routes features through one of several module lists, chosen per call.

    The route comes from, in order: ``route_mappings`` for ``(task, modality)``, then ``(task, None)``,
    ``(None, modality)``, ``(None, None)``; a route named like the task; a route named like the modality
    (always "text" here); ``default_route``. The task is the ``task`` passed to ``encode`` (``encode_query``
    passes "query", ``encode_document`` "document"), the route stamped on the features by the training data
    collator (``router_mapping``), or the key of dict inputs such as ``{"query": "text"}``.

    Args:
        sub_modules: Route name → the modules to apply, in order (at least one per route).
        default_route: Route used when a call names none. With ``allow_empty_key`` and no default, the first
            route is the default (as upstream 6.x does).
        allow_empty_key: If False and there is no ``default_route``, a call that names no route is an error.
        route_mappings: Optional ``(task, modality) → route`` table; ``None`` in a key matches anything.
    """

    config_file_name: str = ROUTER_CONFIG
    config_keys: list[str] = ["default_route", "allow_empty_key", "route_mappings"]
    forward_kwargs: set[str] = {"task", "modality"}
    save_in_root: bool = False

    def __init__(
        self,
        sub_modules: dict[str, Iterable[nn.Module]],
        default_route: str | None = None,
        allow_empty_key: bool = True,
        route_mappings: dict[RouteKey, str] | None = None,
        **kwargs,
    ) -> None:
        super().__init__()
        routes = _checked_routes(sub_modules)
        if isinstance(default_route, bool):
            raise ValueError(
                "default_route must be a route name, got a bool: the 2.x Asym(sub_modules, allow_empty_key) "
                "takes allow_empty_key by keyword now"
            )
        if default_route is not None and default_route not in routes:
            raise ValueError(f"default_route {default_route!r} is not a route; routes: {list(routes)}")
        mappings = dict(route_mappings or {})
        for key, target in mappings.items():
            if not (isinstance(key, tuple) and len(key) == 2):
                raise ValueError(f"route_mappings keys must be (task, modality) tuples, got {key!r}")
            if target not in routes:
                raise ValueError(f"route_mappings maps {key!r} to {target!r}, which is not a route: {list(routes)}")
        self.sub_modules = nn.ModuleDict({route: nn.Sequential(*modules) for route, modules in routes.items()})
        if allow_empty_key and default_route is None:
            default_route = next(iter(routes))
        self.default_route = default_route
        self.allow_empty_key = allow_empty_key
        self.route_mappings = {(task, _sorted_modality(mod)): route for (task, mod), route in mappings.items()}

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

    # ------------------------------------------------------------------ routing
    def route_for(
        self, task: str | None = None, text_keys: list[str] | None = None, modality: str | tuple[str, ...] = TEXT
    ) -> str:
        """The route for a call with this task (or, without one, the first dict-input key)."""
        if task is None and text_keys:
            task = text_keys[0]
        route = self._lookup(task, _sorted_modality(modality))
        if route is None:
            route = self.default_route
        if route is None:
            if self.training:
                raise ValueError(
                    "No route given: set `router_mapping` in the training arguments (dataset column → route), "
                    "or set a default_route on the Router"
                )
            raise ValueError(
                f"No route given: pass task=... (one of {list(self.sub_modules)}) or dict inputs "
                "like {'query': 'text'}, or set a default_route"
            )
        return route

    def _lookup(self, task: str | None, modality: str | tuple[str, ...] | None) -> str | None:
        """route_mappings by priority, then a route named like the task or the modality."""
        for key in ((task, modality), (task, None), (None, modality), (None, None)):
            if key in self.route_mappings:
                return self.route_mappings[key]
        if task is not None and task in self.sub_modules:
            return task
        if isinstance(modality, str) and modality in self.sub_modules:
            return modality
        if task is not None:
            raise ValueError(f"Unknown route {task!r}; this Router's routes are {list(self.sub_modules)}")
        return None

    def forward(
        self,
        features: dict[str, Any],
        task: str | None = None,
        modality: str | tuple[str, ...] | None = None,
        **kwargs,
    ) -> dict[str, Any]:
        """Apply the chosen route's modules (each gets the kwargs it declares in ``forward_kwargs``).

        Without a ``task`` argument, the features' ``task`` (stamped by ``tokenize`` or the training collator)
        or their ``text_keys`` (dict inputs) choose the route.
        """
        if task is None:
            task = features.get("task")
        if modality is None:
            modality = features.get("modality", TEXT)
        route = self.route_for(task, features.get("text_keys"), modality)
        kwargs.update(task=task, modality=modality)
        for module in self.sub_modules[route]:
            accepted = getattr(module, "forward_kwargs", set())
            features = module(features, **{key: value for key, value in kwargs.items() if key in accepted})
        return features

    def tokenize(
        self, texts: list[Any], task: str | None = None, modality: str | None = None, **kwargs
    ) -> dict[str, torch.Tensor]:
        """Tokenize with the first module of the route (when the Router is the input module).

        Dict inputs (``{"query": "text"}``) name the task by their key; the chosen task is stamped on the
        features as ``task`` so that ``forward`` takes the same route.
        """
        return self._prepare("tokenize", texts, task, modality, **kwargs)

    def preprocess(
        self,
        inputs: list[Any],
        prompt: str | None = None,
        task: str | None = None,
        modality: str | None = None,
        **kwargs,
    ) -> dict[str, torch.Tensor]:
        """``preprocess`` of the route's first module (upstream 6.x's name for tokenize), which gets the prompt."""
        return self._prepare("preprocess", inputs, task, modality, prompt=prompt, **kwargs)

    def _prepare(self, method: str, texts: list[Any], task: str | None, modality: str | None, **kwargs) -> dict:
        if task is None:
            texts, task = _unwrap_keyed(texts)
        route = self.route_for(task, modality=modality or TEXT)
        features = dict(getattr(self.sub_modules[route][0], method)(texts, task=task, **kwargs))
        if task is not None:
            features["task"] = task
        return features

    # ------------------------------------------------------------------ properties
    @property
    def modalities(self) -> list[str]:
        """The union of the modalities of every route's input module (text for plain text modules)."""
        found = {m for modules in self.sub_modules.values() for m in getattr(modules[0], "modalities", [TEXT])}
        return sorted(found, key=str)

    @property
    def tokenizer(self) -> Any:
        """The tokenizer of the first route whose input module has one."""
        for modules in self.sub_modules.values():
            tokenizer = getattr(modules[0], "tokenizer", None)
            if tokenizer is not None:
                return tokenizer
        return None

    @property
    def max_seq_length(self) -> int | None:
        """The routes' input-module max_seq_length; the largest (with a warning) when routes differ."""
        lengths = {getattr(modules[0], "max_seq_length", None) for modules in self.sub_modules.values()}
        lengths = {length for length in lengths if length}
        if not lengths:
            return None
        if len(lengths) > 1:
            logger.warning("Different max_seq_lengths across routes: %s; using the largest", sorted(lengths))
        return max(lengths)

    @max_seq_length.setter
    def max_seq_length(self, value: int | None) -> None:
        """Set max_seq_length on every route's input module that has one."""
        targets = [modules[0] for modules in self.sub_modules.values() if hasattr(modules[0], "max_seq_length")]
        if not targets:
            logger.warning("No route's input module has a max_seq_length to set")
        for module in targets:
            module.max_seq_length = value

    def get_embedding_dimension(self) -> int | None:
        """Output size: the last module of each route that knows its size; the first route's when they differ."""
        dimensions = [dim for modules in self.sub_modules.values() if (dim := _route_dimension(modules)) is not None]
        if not dimensions:
            return None
        if len(set(dimensions)) > 1:
            logger.warning("Different embedding dimensions across routes: %s; using the first", dimensions)
        return dimensions[0]

    def on_model_ready(self, model: Any) -> None:
        """Pass the hook on to the modules of every route, which the model does not see itself."""
        for modules in self.sub_modules.values():
            for module in modules:
                if callable(getattr(type(module), "on_model_ready", None)):
                    module.on_model_ready(model)

    def __repr__(self) -> str:
        return nn.Module.__repr__(self)

    def extra_repr(self) -> str:
        default_route, mappings = getattr(self, "default_route", None), getattr(self, "route_mappings", None)
        parts = [f"default_route={default_route!r}"] if default_route is not None else []
        if mappings:
            parts.append(f"route_mappings={mappings}")
        return ", ".join(parts)

    # ------------------------------------------------------------------ persistence
    def get_config_dict(self) -> dict[str, Any]:
        """The routing parameters (route_mappings keys written as ``str(tuple)``, as upstream does)."""
        return {
            "default_route": self.default_route,
            "allow_empty_key": self.allow_empty_key,
            "route_mappings": {str(key): route for key, route in self.route_mappings.items()},
        }

    def save(self, output_path: str, *args, safe_serialization: bool = True, **kwargs) -> None:
        """Write each route's modules into ``<route>_<index>_<Class>`` folders and the routing config.

        A module shared by several routes is written once, and shared again when loaded.
        """
        types, structure = self._save_routes(output_path, safe_serialization)
        config = {"types": types, "structure": structure, "parameters": self.get_config_dict()}
        persistence.write_json(os.path.join(output_path, self.config_file_name), config)

    def _save_routes(self, output_path: str, safe_serialization: bool) -> tuple[dict[str, str], dict[str, list[str]]]:
        types: dict[str, str] = {}
        structure: dict[str, list[str]] = {}
        saved: dict[int, str] = {}
        for route, modules in self.sub_modules.items():
            structure[route] = []
            for index, module in enumerate(modules):
                if id(module) not in saved:
                    module_id = f"{route}_{index}_{type(module).__name__}"
                    target = os.path.join(output_path, module_id)
                    os.makedirs(target, exist_ok=True)
                    persistence.save_module(module, target, safe_serialization)
                    types[module_id] = persistence.type_name(module)
                    saved[id(module)] = module_id
                structure[route].append(saved[id(module)])
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
        module_classes: Mapping[str, type[nn.Module]] | None = None,
        **kwargs,
    ) -> Router:
        """Rebuild from router_config.json (or the 2.x Asym config.json) and the route folders.

        ``module_classes`` maps type names of the config to the classes to load them with, in place of importing
        the named class (e.g. a class defined in a notebook, or a subclass to use instead)."""
        root = resolve_folder(model_name_or_path, token, cache_folder, revision, local_files_only)
        folder = os.path.join(root, subfolder)
        config = _read_routing_config(folder)
        offered = {"token": token, "cache_folder": cache_folder, "revision": revision}
        offered.update(local_files_only=local_files_only, trust_remote_code=trust_remote_code, **kwargs)
        loaded: dict[str, nn.Module] = {}
        for module_id, type_name in config["types"].items():
            module_class = (module_classes or {}).get(type_name) or persistence.resolve_type(
                type_name, root, trust_remote_code, token=token, revision=revision
            )
            loaded[module_id] = persistence.load_module(module_class, folder, module_id, offered)
        sub_modules = {route: [loaded[i] for i in ids] for route, ids in config["structure"].items()}
        return cls(sub_modules, **_parameters(config.get("parameters", {})))


# The 2.x name: upstream 6.x makes it the same class.
Asym = Router


def _checked_routes(sub_modules: Any) -> dict[str, list[nn.Module]]:
    """The routes as lists of modules, or a ValueError naming what is wrong with the mapping."""
    if not isinstance(sub_modules, dict) or not sub_modules:
        raise ValueError("Router needs a non-empty dict of route name → list of modules")
    routes: dict[str, list[nn.Module]] = {}
    for route, modules in sub_modules.items():
        if not isinstance(route, str):
            raise ValueError(f"Router route names must be strings, got {route!r}")
        if isinstance(modules, nn.Module) and not isinstance(modules, nn.Sequential):
            raise ValueError(f"Route {route!r} must be a list of modules, got a single {type(modules).__name__}")
        modules = list(modules) if isinstance(modules, Iterable) else [modules]
        if not modules:
            raise ValueError(f"Route {route!r} has no modules; every route needs at least one")
        wrong = [type(module).__name__ for module in modules if not isinstance(module, nn.Module)]
        if wrong:
            raise ValueError(f"Route {route!r} holds non-Module values ({', '.join(wrong)}); expected torch modules")
        routes[route] = modules
    return routes


def _sorted_modality(modality: Any) -> Any:
    """Several modalities compare as a sorted tuple."""
    return tuple(sorted(modality)) if isinstance(modality, (tuple, list)) else modality


def _unwrap_keyed(texts: list[Any]) -> tuple[list[Any], str | None]:
    """Dict inputs ``{"query": "text"}`` → the texts and their shared key (the task); other inputs unchanged."""
    if not texts or not isinstance(texts[0], dict):
        return texts, None
    keys = {tuple(text) if isinstance(text, dict) else None for text in texts}
    if len(keys) > 1 or None in keys:
        raise ValueError("Router inputs mix different dict keys (or dicts and plain texts): one route per call")
    (key,) = keys
    if len(key) != 1:
        return texts, None
    return [text[key[0]] for text in texts], key[0]


def _route_dimension(modules: nn.Sequential) -> int | None:
    """The output size of one route: from its last module that reports one."""
    for module in reversed(list(modules)):
        for name in _DIMENSION_METHODS:
            method = getattr(type(module), name, None)
            if callable(method):
                return getattr(module, name)()
    return None


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
    result["route_mappings"] = {_mapping_key(key): route for key, route in mappings.items()}
    return result


def _mapping_key(text: str) -> RouteKey:
    """A saved route_mappings key: upstream's ``str(tuple)`` form, or the JSON list earlier sbert wrote."""
    try:
        value = ast.literal_eval(text)
    except (ValueError, SyntaxError):
        value = json.loads(text)
    if not isinstance(value, (tuple, list)) or len(value) != 2:
        raise ValueError(f"Corrupt route_mappings key {text!r}: expected a (task, modality) pair")
    task, modality = value
    return task, tuple(modality) if isinstance(modality, list) else modality
