"""Decorators that keep deprecated argument names and positions working, with a warning."""

from __future__ import annotations

import functools
import inspect
import logging
from collections.abc import Callable
from typing import Any, TypeVar, cast

logger = logging.getLogger(__name__)

F = TypeVar("F", bound=Callable[..., Any])


@functools.cache
def _warn_once(message: str) -> None:
    """Log a deprecation warning the first time it is given."""
    logger.warning(message)


def _rename_kwarg(kwargs: dict[str, Any], old_name: str, new_name: str, message: str) -> None:
    """Move ``kwargs[old_name]`` to ``new_name`` (an explicit ``new_name`` wins), warning once."""
    if old_name not in kwargs:
        return
    value = kwargs.pop(old_name)
    _warn_once(message)
    kwargs.setdefault(new_name, value)


def deprecated_kwargs(**renames: str) -> Callable[[F], F]:
    """Decorator factory mapping deprecated keyword names to their new names, warning once per old name.

    ``@deprecated_kwargs(sentence_embedding_dimension="embedding_dimension")`` makes a call with
    ``sentence_embedding_dimension=3`` behave as ``embedding_dimension=3``. When both are passed, the new one wins.
    """

    def decorator(func: F) -> F:
        @functools.wraps(func)
        def wrapper(*args, **kwargs) -> Any:
            for old_name, new_name in renames.items():
                message = (
                    f"The `{old_name}` argument was renamed and is now deprecated. Please use `{new_name}` instead."
                )
                _rename_kwarg(kwargs, old_name, new_name, message)
            return func(*args, **kwargs)

        return cast("F", wrapper)

    return decorator


_TRANSFORMER_RENAMES = {
    "model_args": "model_kwargs",
    "tokenizer_args": "processor_kwargs",
    "config_args": "config_kwargs",
}


def transformer_kwargs_decorator(func: F) -> F:
    """For ``Transformer.__init__``: accept the old ``model_args`` / ``tokenizer_args`` / ``config_args`` names
    (now ``model_kwargs`` / ``processor_kwargs`` / ``config_kwargs``) and a top-level ``cache_dir``, which is passed
    on as the ``cache_dir`` of all three kwargs dicts (without overriding one set there)."""

    @functools.wraps(func)
    def wrapper(*args, **kwargs) -> Any:
        for old_name, new_name in _TRANSFORMER_RENAMES.items():
            message = (
                f"The Transformer `{old_name}` argument was renamed and is now deprecated, "
                f"please use `{new_name}` instead."
            )
            _rename_kwarg(kwargs, old_name, new_name, message)
        cache_dir = kwargs.pop("cache_dir", None)
        if cache_dir is not None:
            _warn_once(
                "The Transformer `cache_dir` argument is deprecated. Please pass `cache_dir` via `model_kwargs`, "
                "`processor_kwargs`, and/or `config_kwargs` instead."
            )
            for name in ("model_kwargs", "processor_kwargs", "config_kwargs"):
                kwargs[name] = {**(kwargs.get(name) or {})}
                kwargs[name].setdefault("cache_dir", cache_dir)
        return func(*args, **kwargs)

    return cast("F", wrapper)


def save_to_hub_args_decorator(func: F) -> F:
    """For ``save_to_hub(self, repo_id, organization, token, ...)``: accept the old ``repo_name`` keyword (now
    ``repo_id``), and old positional calls made before ``token`` was added as third parameter (a None is inserted
    at its position)."""

    @functools.wraps(func)
    def wrapper(self: Any, *args, **kwargs) -> Any:
        repo_name = kwargs.pop("repo_name", None)
        if repo_name and "repo_id" not in kwargs:
            _warn_once(
                "Providing a `repo_name` keyword argument to `save_to_hub` is deprecated. Please use `repo_id` instead."
            )
            kwargs["repo_id"] = repo_name
        if len(args) >= 2:
            args = (*args[:2], None, *args[2:])
        return func(self, *args, **kwargs)

    return cast("F", wrapper)


_CROSS_ENCODER_RENAMES = {
    "model_name": "model_name_or_path",
    "automodel_args": "model_kwargs",
    "tokenizer_args": "processor_kwargs",
    "tokenizer_kwargs": "processor_kwargs",
    "config_args": "config_kwargs",
    "cache_dir": "cache_folder",
    "default_activation_function": "activation_fn",
}
# CrossEncoder's parameters after model_name_or_path that 5.3 and earlier took by position; keyword-only now.
_CROSS_ENCODER_POSITIONAL = ("num_labels", "max_length", "activation_fn", "device")


def cross_encoder_init_args_decorator(func: F) -> F:
    """For ``CrossEncoder.__init__``: the 2.x–5.x names (``model_name``, ``automodel_args``, ``tokenizer_args``,
    ``tokenizer_kwargs``, ``config_args``, ``cache_dir``, ``default_activation_function``, ``classifier_dropout``)
    and the old positional ``num_labels, max_length, activation_fn, device`` still work, with a warning."""

    @functools.wraps(func)
    def wrapper(self: Any, *args, **kwargs) -> Any:
        if len(args) > 1 + len(_CROSS_ENCODER_POSITIONAL):
            raise TypeError(
                f"CrossEncoder takes model_name_or_path and at most {len(_CROSS_ENCODER_POSITIONAL)} more positional "
                f"arguments (the old {', '.join(_CROSS_ENCODER_POSITIONAL)}); pass the others by keyword"
            )
        for name, value in zip(_CROSS_ENCODER_POSITIONAL, args[1:], strict=False):
            logger.warning(
                f"Passing `{name}` as a positional argument to CrossEncoder is deprecated. "
                f"Please use `{name}={value!r}` as a keyword argument instead."
            )
            kwargs.setdefault(name, value)
        args = args[:1]
        for old_name, new_name in _CROSS_ENCODER_RENAMES.items():
            message = (
                f"The CrossEncoder `{old_name}` argument was renamed and is now deprecated. "
                f"Please use `{new_name}` instead."
            )
            _rename_kwarg(kwargs, old_name, new_name, message)
        if "classifier_dropout" in kwargs:
            dropout = kwargs.pop("classifier_dropout")
            logger.warning(
                "The CrossEncoder `classifier_dropout` argument is deprecated. Please use "
                f"`config_kwargs={{'classifier_dropout': {dropout}}}` instead."
            )
            kwargs["config_kwargs"] = {**(kwargs.get("config_kwargs") or {}), "classifier_dropout": dropout}
        return func(self, *args, **kwargs)

    return cast("F", wrapper)


def cross_encoder_predict_rank_args_decorator(func: F) -> F:
    """For ``CrossEncoder.predict`` / ``rank``: ``sentences`` is now ``inputs`` and ``activation_fct`` is
    ``activation_fn``; ``num_workers`` (and on ``rank``: ``apply_softmax``, ``convert_to_numpy``,
    ``convert_to_tensor``) no longer do anything and are dropped with a warning."""
    method = func.__name__
    parameters = inspect.signature(func).parameters
    dropped = ["num_workers"] + [name for name in ("convert_to_numpy", "convert_to_tensor") if name not in parameters]
    if method == "rank":
        dropped.append("apply_softmax")

    @deprecated_kwargs(sentences="inputs", activation_fct="activation_fn")
    @functools.wraps(func)
    def wrapper(self: Any, *args, **kwargs) -> Any:
        for name in dropped:
            if name in kwargs:
                kwargs.pop(name)
                _warn_once(
                    f"The CrossEncoder.{method} `{name}` argument is deprecated and has no effect. "
                    "It will be removed in a future version."
                )
        return func(self, *args, **kwargs)

    return cast("F", wrapper)
