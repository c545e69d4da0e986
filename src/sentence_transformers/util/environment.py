"""What this environment has: the accelerator, optional packages and their versions."""

from __future__ import annotations

import importlib.util

import torch


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
