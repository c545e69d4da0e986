"""Weights on disk: safetensors by default, ``torch.load(weights_only=True)`` for legacy .bin files."""

from __future__ import annotations

import os

import torch
from safetensors.torch import load_file, save_file
from torch import nn

SAFETENSORS_NAME = "model.safetensors"
PICKLE_NAME = "pytorch_model.bin"


def save_state_dict(module: nn.Module, folder: str, safe_serialization: bool = True) -> None:
    """Write the module's state dict into ``folder``; tied or shared tensors are stored as copies."""
    os.makedirs(folder, exist_ok=True)
    state_dict = {key: value.detach().contiguous() for key, value in module.state_dict().items()}
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
    if os.path.isfile(safe_path):
        return load_file(safe_path)
    pickle_path = os.path.join(folder, PICKLE_NAME)
    if os.path.isfile(pickle_path):
        return torch.load(pickle_path, map_location="cpu", weights_only=True)
    raise FileNotFoundError(f"No weights in {folder}: expected {SAFETENSORS_NAME} or {PICKLE_NAME}")


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
