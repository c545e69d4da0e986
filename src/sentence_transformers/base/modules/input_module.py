"""InputModule: the first step of a pipeline, which turns raw inputs into tensors."""

from __future__ import annotations

import inspect
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

import torch

from sentence_transformers.base.modules.module import Module

F = TypeVar("F", bound=Callable[..., Any])

#: Marks a ``preprocess`` that only wraps ``tokenize``: the encode engine may then keep using ``tokenize``.
_WRAPS_TOKENIZE = "_preprocess_wraps_tokenize"


def wraps_tokenize(method: F) -> F:
    """Mark a ``preprocess`` implementation as a thin wrapper around the module's ``tokenize``."""
    setattr(method, _WRAPS_TOKENIZE, True)
    return method


def has_own_preprocess(module: Any) -> bool:
    """Whether ``module`` does its own preprocessing, rather than only wrapping ``tokenize``.

    True for a module (or subclass) that implements ``preprocess`` itself, upstream 6.x's way: callers that want
    every batch to reach the module's own code (the encode engine) then call ``preprocess`` instead of ``tokenize``.
    """
    if "preprocess" in getattr(module, "__dict__", {}) or getattr(module, "takes_media", False):
        return True  # replaced on the instance, or inputs beyond text (images, audio), which it reads itself
    method = getattr(type(module), "preprocess", None)
    if getattr(method, "__name__", None) == "tokenize":
        return False  # ``preprocess = tokenize`` in some class: an alias, so ``tokenize`` is the implementation
    return callable(method) and not getattr(method, _WRAPS_TOKENIZE, False)


def prepend_prompt(inputs: Sequence[Any], prompt: str | None) -> list[Any]:
    """Prepend ``prompt`` to each text: to a string, to the first text of a pair, to each value of a dict input."""
    if not prompt:
        return list(inputs)

    def prompted(item: Any) -> Any:
        if isinstance(item, str):
            return prompt + item
        if isinstance(item, (tuple, list)) and item and isinstance(item[0], str):
            return type(item)([prompt + item[0], *item[1:]])
        if isinstance(item, dict):
            return {key: prompt + value if isinstance(value, str) else value for key, value in item.items()}
        return item

    return [prompted(item) for item in inputs]


class InputModule(Module):
    """The first module of a pipeline: it turns raw inputs into the features ``forward`` expects.

    Subclasses implement ``preprocess`` (upstream 6.x) or, the older way, ``tokenize``; each default delegates to
    the other, so callers may use either name whichever one a module implements.
    """

    save_in_root: bool = True
    tokenizer: Any = None

    @property
    def modalities(self) -> list[str]:
        """The kinds of input this module takes; text only unless a subclass says more (e.g. ``["text", "image"]``)."""
        return ["text"]

    @wraps_tokenize
    def preprocess(self, inputs: Sequence[Any], prompt: str | None = None, **kwargs) -> dict[str, torch.Tensor | Any]:
        """Turn a batch of inputs (with ``prompt`` prepended to their texts) into features for ``forward``.

        This default serves modules that implement ``tokenize`` only: the prompt is prepended, then ``tokenize``
        runs. Override it to preprocess directly.
        """
        if type(self).tokenize is InputModule.tokenize:
            raise NotImplementedError(f"{type(self).__name__} must implement `preprocess` (or the older `tokenize`)")
        return self.tokenize(prepend_prompt(inputs, prompt), **kwargs)

    def tokenize(self, texts: list[Any], **kwargs) -> dict[str, torch.Tensor | Any]:
        """The pre-6.x name of ``preprocess`` (without a prompt): kept so that existing callers keep working.

        This default serves modules that implement ``preprocess`` only.
        """
        if not has_own_preprocess(self):
            raise NotImplementedError(f"{type(self).__name__} must implement `preprocess` (or the older `tokenize`)")
        return self.preprocess(texts, **kwargs)

    def save_tokenizer(self, output_path: str, **kwargs) -> None:
        """Save the tokenizer, when it knows how to save itself."""
        if self.tokenizer is not None and hasattr(self.tokenizer, "save_pretrained"):
            self.tokenizer.save_pretrained(output_path)


def accepts_prompt(method: Callable[..., Any]) -> bool:
    """Whether ``method`` (a ``preprocess``) names a ``prompt`` parameter; older ones get prompted texts instead."""
    try:
        return "prompt" in inspect.signature(method).parameters
    except (TypeError, ValueError):
        return False
