"""Names a package exports but imports only on first access (training pulls in transformers' Trainer, some helpers
heavy dependencies): the package's ``__getattr__``."""

from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import Any


def lazy_attributes(
    package: str, names: dict[str, str], namespace: dict[str, Any], modules: frozenset[str] = frozenset()
) -> Callable[[str], Any]:
    """A module ``__getattr__`` for ``package``: ``names`` maps each lazy name to the module defining it (for a name
    in ``modules``, the module itself); the value is imported on first access and kept in ``namespace`` (the
    package's ``globals()``), so later accesses are plain lookups."""

    def __getattr__(name: str) -> Any:
        if name not in names:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        module = importlib.import_module(names[name])
        value = module if name in modules else getattr(module, name)
        namespace[name] = value
        return value

    return __getattr__
