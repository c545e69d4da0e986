"""Normalize: scales sentence embeddings to unit length."""

from __future__ import annotations

import os
from typing import Any

import torch.nn.functional as F

from sentence_transformers.base.modules.module import Module


class Normalize(Module):
    """L2-normalizes ``sentence_embedding`` so that dot product equals cosine similarity."""

    def forward(self, features: dict[str, Any], **kwargs) -> dict[str, Any]:
        """Replace ``sentence_embedding`` by its unit-length version."""
        features["sentence_embedding"] = F.normalize(features["sentence_embedding"], p=2, dim=1)
        return features

    def save(self, output_path: str, *args, safe_serialization: bool = True, **kwargs) -> None:
        """Nothing to store; the folder is created so the layout matches the standard one."""
        os.makedirs(output_path, exist_ok=True)

    @classmethod
    def load(cls, *args, **kwargs) -> Normalize:
        """Normalize has no state: a missing or empty folder is fine."""
        return cls()
