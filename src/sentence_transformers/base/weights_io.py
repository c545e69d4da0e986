"""Weights on disk: safetensors by default, ``torch.load(weights_only=True)`` for legacy .bin files."""

from __future__ import annotations

import glob
import os
import zipfile

import torch
from safetensors import safe_open
from safetensors.torch import load_file, save_file
from torch import nn

SAFETENSORS_NAME = "model.safetensors"
PICKLE_NAME = "pytorch_model.bin"


class DamagedModelError(OSError, ValueError):
    """A model file that is truncated, corrupt or does not match the rest of its folder.

    An OSError, as transformers raises for unreadable model files, and a ValueError (the input is bad).
    """


class MissingModelFileError(FileNotFoundError, ValueError):
    """A file or folder that a model folder's own files say should be there, and is not."""


def save_state_dict(module: nn.Module, folder: str, safe_serialization: bool = True) -> None:
    """Write the module's state dict into ``folder``; tied or shared tensors are stored as copies."""
    save_tensors(module.state_dict(), folder, safe_serialization=safe_serialization)


def save_tensors(state_dict: dict[str, torch.Tensor], folder: str, safe_serialization: bool = True) -> None:
    """Write a state dict into ``folder`` as model.safetensors (or pytorch_model.bin); shared tensors are copied."""
    os.makedirs(folder, exist_ok=True)
    state_dict = {key: value.detach().contiguous() for key, value in state_dict.items()}
    if safe_serialization:
        save_file(_untie(state_dict), os.path.join(folder, SAFETENSORS_NAME), metadata={"format": "pt"})
    else:
        torch.save(state_dict, os.path.join(folder, PICKLE_NAME))


def has_weights(folder: str) -> bool:
    """Whether ``folder`` holds a weights file that ``load_state_dict`` reads."""
    return any(os.path.isfile(os.path.join(folder, name)) for name in (SAFETENSORS_NAME, PICKLE_NAME))


def load_state_dict(folder: str) -> dict[str, torch.Tensor]:
    """Read model.safetensors, else pytorch_model.bin (tensors only, no pickled code)."""
    safe_path = os.path.join(folder, SAFETENSORS_NAME)
    pickle_path = os.path.join(folder, PICKLE_NAME)
    path = safe_path if os.path.isfile(safe_path) else pickle_path
    if not os.path.isfile(path):
        raise FileNotFoundError(f"No weights in {folder}: expected {SAFETENSORS_NAME} or {PICKLE_NAME}")
    try:
        if path == safe_path:
            return load_file(safe_path)
        return torch.load(pickle_path, map_location="cpu", weights_only=True)
    except Exception as exc:  # safetensors, zip and unpickling errors alike: name the file
        raise DamagedModelError(f"Weights file {path} is truncated or corrupt: {exc}") from exc


def weights_problem(path: str) -> str | None:
    """Why the weights file at ``path`` cannot be read, or None when it reads.

    A safetensors file has its header and coverage checked (cheap); a .bin file is loaded, memory-mapped if it is
    a zip archive. Meant for the error path: finding which file made a load fail.
    """
    try:
        if path.endswith(".safetensors"):
            with safe_open(path, framework="pt"):
                return None
        zipped = zipfile.is_zipfile(path)
        torch.load(path, map_location="cpu", weights_only=True, mmap=zipped)
    except Exception as exc:  # every reader error means the same here: this file is the culprit
        return f"{type(exc).__name__}: {exc}"
    return None


def find_damaged_weights(folder: str) -> tuple[str, str] | None:
    """The first weights file in ``folder`` that cannot be read, with the reason; None when all read.

    Only the files transformers would open: the safetensors files when there are any, else the .bin files.
    """
    candidates = sorted(glob.glob(os.path.join(glob.escape(folder), "*.safetensors")))
    if not candidates:
        candidates = sorted(glob.glob(os.path.join(glob.escape(folder), "pytorch_model*.bin")))
    for path in candidates:
        problem = weights_problem(path)
        if problem is not None:
            return path, problem
    return None


def _untie(state_dict: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """safetensors refuses tensors sharing storage: give each one its own."""
    seen: set[int] = set()
    result = {}
    for key, value in state_dict.items():
        pointer = value.untyped_storage().data_ptr() if value.numel() else -1
        result[key] = value.clone() if pointer in seen else value
        if pointer != -1:
            seen.add(pointer)
    return result
