"""Module paths of earlier versions (2.x per-class modules, 3.x/5.x flat modules) as aliases of today's modules.

Code written for earlier versions still says ``from sentence_transformers.models.Pooling import Pooling`` or
``from sentence_transformers.trainer import SentenceTransformerTrainer``. No file sits at those paths: a meta path
finder answers them with the module that holds the code today, so each concept keeps one home and the old path is
the same module object. Importing an old path warns (DeprecationWarning, in upstream's words) and names the new
path, the package paths (``import sentence_transformers.losses``) too, as upstream does; the attributes of the
package (``from sentence_transformers import losses``) do not warn.
"""

from __future__ import annotations

import importlib
import importlib.abc
import importlib.machinery
import importlib.util
import sys
import types
import warnings

# The package paths of earlier versions and the package that holds their contents today.
LEGACY_PACKAGES = {
    "sentence_transformers.losses": "sentence_transformers.sentence_transformer.losses",
    "sentence_transformers.evaluation": "sentence_transformers.sentence_transformer.evaluation",
    "sentence_transformers.models": "sentence_transformers.sentence_transformer.modules",
    "sentence_transformers.models.tokenizer": "sentence_transformers.sentence_transformer.modules.tokenizer",
    "sentence_transformers.readers": "sentence_transformers.sentence_transformer.readers",
    "sentence_transformers.datasets": "sentence_transformers.sentence_transformer.datasets",
    "sentence_transformers.sparse_encoder.models": "sentence_transformers.sparse_encoder.modules",
}

# Flat module paths of earlier versions and the module that holds their contents today.
MOVED_MODULES = {
    "sentence_transformers.SentenceTransformer": "sentence_transformers.sentence_transformer.model",
    "sentence_transformers.LoggingHandler": "sentence_transformers.util.logging",
    "sentence_transformers.quantization": "sentence_transformers.util.quantization",
    "sentence_transformers.similarity_functions": "sentence_transformers.util.similarity",
    "sentence_transformers.training_args": "sentence_transformers.sentence_transformer.training_args",
    "sentence_transformers.trainer": "sentence_transformers.sentence_transformer.trainer",
    "sentence_transformers.sampler": "sentence_transformers.base.sampler",
    "sentence_transformers.peft_mixin": "sentence_transformers.base.peft_mixin",
    "sentence_transformers.model_card": "sentence_transformers.sentence_transformer.model_card",
    "sentence_transformers.data_collator": "sentence_transformers.sentence_transformer.data_collator",
    "sentence_transformers.sentence_transformer.modules.normalize": "sentence_transformers.base.modules.normalize",
    # sbert's own earlier homes of the engine and the loader, before they moved to base/.
    "sentence_transformers.sentence_transformer.encoding": "sentence_transformers.base.encoding",
    "sentence_transformers.sentence_transformer.loading": "sentence_transformers.base.loading",
}


# Packages of today whose classes had per-class module paths in 2.x–5.x (``cross_encoder.CrossEncoder``).
PER_CLASS_PACKAGES = {
    "sentence_transformers.cross_encoder",
    "sentence_transformers.cross_encoder.losses",
    "sentence_transformers.cross_encoder.evaluation",
    "sentence_transformers.sparse_encoder",
    "sentence_transformers.sparse_encoder.losses",
    "sentence_transformers.sparse_encoder.evaluation",
}


def current_path(legacy: str) -> str | None:
    """The module that answers the import of ``legacy`` today, or None when ``legacy`` is not an old path.

    A per-class path ``<legacy package>.<Name>`` answers with the module that defines ``Name``, so helpers that
    lived beside a class (``SiameseDistanceMetric`` in ``losses.ContrastiveLoss``) import from it as well.
    """
    if legacy in LEGACY_PACKAGES:
        return LEGACY_PACKAGES[legacy]
    if legacy in MOVED_MODULES:
        return MOVED_MODULES[legacy]
    package, _, name = legacy.rpartition(".")
    if not name[:1].isupper() or (package not in LEGACY_PACKAGES and package not in PER_CLASS_PACKAGES):
        return None
    value = getattr(importlib.import_module(LEGACY_PACKAGES.get(package, package)), name, None)
    home = getattr(value, "__module__", None)
    if isinstance(home, str) and home.startswith("sentence_transformers."):
        return home
    return None


class _KeepsObjects(types.ModuleType):
    """A package whose classes and functions are never replaced by a submodule of the same name.

    Importing ``parent.Child`` ends with ``setattr(parent, "Child", module)``; where ``Child`` is also a class the
    package exports (``sentence_transformers.SentenceTransformer``, ``models.Pooling``), the class must stay.
    """

    def __setattr__(self, name: str, value: object) -> None:
        current = self.__dict__.get(name)
        if isinstance(value, types.ModuleType) and current is not None and not isinstance(current, types.ModuleType):
            return
        super().__setattr__(name, value)


class _AliasLoader(importlib.abc.Loader):
    """Hands out an already imported module under another name, without executing anything."""

    def __init__(self, module: types.ModuleType) -> None:
        self.module, self.own_spec = module, module.__spec__

    def create_module(self, spec: importlib.machinery.ModuleSpec) -> types.ModuleType:
        return self.module

    def exec_module(self, module: types.ModuleType) -> None:
        module.__spec__ = self.own_spec  # the import system set the alias's spec; the module keeps its own


class _LegacyPathFinder(importlib.abc.MetaPathFinder):
    """Answers the old module paths with today's modules (see the module docstring)."""

    def find_spec(self, fullname: str, path: object = None, target: object = None) -> importlib.machinery.ModuleSpec:
        if not fullname.startswith("sentence_transformers."):
            return None
        new_path = current_path(fullname)
        if new_path is None:
            return None
        _warn_at_caller(
            f"Importing from '{fullname}' is deprecated and will be removed in a future version. "
            f"Please use '{new_path}' instead."
        )
        module = importlib.import_module(new_path)
        parent = sys.modules.get(fullname.rpartition(".")[0])
        if parent is not None and type(parent) is types.ModuleType:
            parent.__class__ = _KeepsObjects
        return importlib.util.spec_from_loader(fullname, _AliasLoader(module))


def _warn_at_caller(message: str) -> None:
    """A DeprecationWarning that names the first line outside importlib and this file: the user's import."""
    frame = sys._getframe(1)
    while frame is not None and ("importlib" in frame.f_code.co_filename or frame.f_code.co_filename == __file__):
        frame = frame.f_back
    if frame is None:
        warnings.warn(message, DeprecationWarning, stacklevel=2)
        return
    warnings.warn_explicit(
        message,
        DeprecationWarning,
        filename=frame.f_code.co_filename,
        lineno=frame.f_lineno,
        module=frame.f_globals.get("__name__", frame.f_code.co_filename),
        registry=frame.f_globals.setdefault("__warningregistry__", {}),
    )


def setup_deprecated_module_imports() -> None:
    """Install the finder for the old module paths (once; called when ``sentence_transformers`` is imported)."""
    if not any(isinstance(finder, _LegacyPathFinder) for finder in sys.meta_path):
        sys.meta_path.insert(0, _LegacyPathFinder())
