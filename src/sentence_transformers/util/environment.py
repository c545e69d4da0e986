"""What this environment has: the accelerator, torch.distributed, optional packages and their versions."""

from __future__ import annotations

import contextlib
import importlib.util
import logging
import platform
import sys
from collections.abc import Iterator
from importlib.metadata import PackageNotFoundError, metadata, version
from typing import Any

import torch

logger = logging.getLogger(__name__)

# Keywords of a missing-dependency error, and the sbert extra (or package) that provides it. Checked in order:
# openvino errors often mention onnx as well, so openvino comes first.
_EXTRA_HINTS: tuple[tuple[tuple[str, ...], str], ...] = (
    (("openvino",), 'pip install -U "sbert[openvino]"'),
    (("onnxruntime", "onnx"), 'pip install -U "sbert[onnx]"'),
    (("datasets", "accelerate"), 'pip install -U "sbert[train]"'),
    (("faiss", "usearch"), 'pip install -U "sbert[search]"'),
    (("model2vec", "skeletoken", "sklearn", "scikit-learn"), 'pip install -U "sbert[distill]"'),
    (("pillow", "pil"), "pip install -U pillow"),
    (("torchvision",), "pip install -U torchvision"),
    (("soundfile", "librosa"), "pip install -U soundfile librosa"),
)


@contextlib.contextmanager
def suggest_extra_on_exception() -> Iterator[None]:
    """Re-raise an ImportError/AttributeError about a missing optional dependency with the pip command to fix it.

    Errors that name no known optional dependency are re-raised unchanged.
    """
    try:
        yield
    except (ImportError, AttributeError) as exc:
        message = str(exc).lower()
        for keywords, hint in _EXTRA_HINTS:
            if any(keyword in message for keyword in keywords):
                raise type(exc)(f"{str(exc).strip()}\n\nTo install the required dependencies, run:\n{hint}") from exc
        raise


def is_dist_initialized() -> bool:
    """Whether ``torch.distributed`` is available in this torch build and a process group has been initialized.

    ``is_available`` comes first: CPU-only or ROCm builds may lack ``is_initialized`` altogether.
    """
    return torch.distributed.is_available() and torch.distributed.is_initialized()


def get_device_name() -> str:
    """Name of the best available accelerator: "cuda", "mps", "npu", else "cpu"."""
    if torch.cuda.is_available():
        return "cuda"
    mps = getattr(torch.backends, "mps", None)
    if mps is not None and mps.is_available():
        return "mps"
    if _npu_available():
        return "npu"
    return "cpu"


def _npu_available() -> bool:
    """True when the Ascend ``torch_npu`` extension is installed and sees a device."""
    if importlib.util.find_spec("torch_npu") is None:
        return False
    import torch_npu  # noqa: F401

    return hasattr(torch, "npu") and torch.npu.is_available()


def check_package_availability(package_name: str, owner: str) -> bool:
    """Whether ``package_name`` is installed *and* published by ``owner`` (e.g. "huggingface").

    The owner is looked up in the distribution's home page (or, for newer metadata, its project URLs), so that an
    unrelated package squatting the same import name does not count.
    """
    try:
        meta = metadata(package_name)
    except PackageNotFoundError:
        return False
    if meta["Name"] is None or meta["Name"].lower().replace("_", "-") != package_name.lower().replace("_", "-"):
        return False
    urls = [meta["Home-page"] or ""] + [entry.split(",", 1)[-1] for entry in meta.get_all("Project-URL") or []]
    return any(owner in url for url in urls)


def is_accelerate_available() -> bool:
    """Whether Hugging Face ``accelerate`` is installed (needed for training)."""
    return check_package_availability("accelerate", "huggingface")


def is_datasets_available() -> bool:
    """Whether Hugging Face ``datasets`` is installed (needed for training)."""
    return check_package_availability("datasets", "huggingface")


def is_training_available() -> bool:
    """Whether the training dependencies (``datasets`` and ``accelerate``, the ``sbert[train]`` extra) are installed."""
    return is_accelerate_available() and is_datasets_available()


def get_installed_version(package_name: str) -> str | None:
    """Version of an installed package ("python" gives the interpreter's), or None when it is not installed.

    An already imported module's ``__version__`` wins over the distribution metadata, which lags behind the running
    code for editable installs.
    """
    if package_name == "python":
        return platform.python_version()
    module = sys.modules.get(package_name.replace("-", "_"))
    module_version = getattr(module, "__version__", None)
    if isinstance(module_version, str):
        return module_version
    try:
        return version(package_name)
    except PackageNotFoundError:
        return None


# config_sentence_transformers.json spells torch as "pytorch" in its __version__ block, so requirements may too.
_PACKAGE_ALIASES = {"pytorch": "torch"}


def _unmet_requirement(package_name: str, requirement: Any, source: str | None) -> tuple[str, str] | None:
    """``(message line, pip spec)`` when ``requirement`` is not met, None when it is met or cannot be checked."""
    from packaging.specifiers import SpecifierSet
    from packaging.version import Version

    package_name = _PACKAGE_ALIASES.get(package_name, package_name)
    is_dict = isinstance(requirement, dict)
    specifier = requirement.get("specifier", "") if is_dict else requirement
    reason = requirement.get("reason", "") if is_dict else ""
    if not isinstance(specifier, str):
        logger.warning(f"Could not verify the {specifier!r} requirement of {source!r}: expected a specifier string.")
        return None
    installed = get_installed_version(package_name)
    try:
        specifiers = SpecifierSet(specifier, prereleases=True)
        if installed is not None and specifiers.contains(Version(installed)):
            return None
    except Exception as exc:  # noqa: BLE001 - a typo in a model config must not make the model unloadable
        logger.warning(f"Could not verify the {specifier!r} requirement of {source!r}: {exc}")
        return None
    found = f"{package_name}=={installed} is installed" if installed else "it is not installed"
    line = f"- {package_name}{specifier}, but {found}. {reason}".rstrip()
    return line, ("" if package_name == "python" else f'"{package_name}{specifier}"')


def check_version_requirements(requirements: dict[str, Any] | None, source: str | None = None) -> None:
    """Raise ImportError when installed packages do not satisfy a model's declared version requirements.

    Args:
        requirements: ``{package: PEP 440 specifier}``, e.g. ``{"transformers": ">=4.41", "python": ">=3.10"}``; a
            value may also be ``{"specifier": ..., "reason": ...}``. "python" is matched against the interpreter.
            Unparsable entries are logged and skipped.
        source: The model name or path that declared them, for the message.

    Raises:
        ImportError: Listing every unmet requirement and a ``pip install -U`` command that fixes them.
    """
    if not requirements:
        return
    if not isinstance(requirements, dict):
        logger.warning(f"Ignoring the `requirements` of {source!r}: expected a dictionary of version specifiers.")
        return
    unmet = [
        result
        for name, requirement in requirements.items()
        if (result := _unmet_requirement(name, requirement, source)) is not None
    ]
    if not unmet:
        return
    lines = [f"The model {source!r} requires:" if source else "This model requires:"]
    lines += [line for line, _ in unmet]
    specs = [spec for _, spec in unmet if spec]
    if specs:
        lines.append(f"Install compatible versions with:\n    pip install -U {' '.join(specs)}")
    raise ImportError("\n".join(lines))
