"""LayerNorm: layer normalization of the sentence embedding, with a learned scale and shift."""

from __future__ import annotations

from typing import Any

from torch import nn

from sentence_transformers.base.modules.module import Module


class LayerNorm(Module):
    """Normalizes each ``sentence_embedding`` to zero mean and unit variance, then scales and shifts it.

    Args:
        dimension: Size of the sentence embedding.
    """

    config_keys: list[str] = ["dimension"]
    saved_weights = "required"

    def __init__(self, dimension: int, **kwargs) -> None:
        super().__init__()
        if isinstance(dimension, bool) or not isinstance(dimension, int) or dimension <= 0:
            raise ValueError(f"LayerNorm needs a positive int dimension, got {dimension!r}")
        self.dimension = dimension
        self.norm = nn.LayerNorm(dimension)

    def __repr__(self) -> str:
        return f"LayerNorm({self.get_config_dict()})"

    def forward(self, features: dict[str, Any], **kwargs) -> dict[str, Any]:
        """Replace ``sentence_embedding`` by its layer-normalized version."""
        features["sentence_embedding"] = self.norm(features["sentence_embedding"])
        return features

    def get_embedding_dimension(self) -> int:
        """Size of the sentence embedding (unchanged by normalization)."""
        return self.dimension

    def save(self, output_path: str, *args, safe_serialization: bool = True, **kwargs) -> None:
        """Write config.json and the scale and shift weights."""
        self.save_config(output_path)
        self.save_torch_weights(output_path, safe_serialization=safe_serialization)
