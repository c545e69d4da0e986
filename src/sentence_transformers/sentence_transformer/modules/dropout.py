"""Dropout: randomly zeroes parts of the sentence embedding while training."""

from __future__ import annotations

from typing import Any

from torch import nn

from sentence_transformers.base.modules.module import Module


class Dropout(Module):
    """Applies dropout to ``sentence_embedding``: a regularizer for training, the identity in eval mode.

    Args:
        dropout: Probability of zeroing each value (kept values are scaled by 1 / (1 - dropout)).
    """

    config_keys: list[str] = ["dropout"]

    def __init__(self, dropout: float = 0.2, **kwargs) -> None:
        super().__init__()
        if isinstance(dropout, bool) or not isinstance(dropout, (int, float)) or not 0 <= dropout <= 1:
            raise ValueError(f"Dropout probability must be a number in [0, 1], got {dropout!r}")
        self.dropout = float(dropout)
        self.dropout_layer = nn.Dropout(self.dropout)

    def __repr__(self) -> str:
        return f"Dropout({self.get_config_dict()})"

    def forward(self, features: dict[str, Any], **kwargs) -> dict[str, Any]:
        """Replace ``sentence_embedding`` by its dropped-out version (unchanged in eval mode)."""
        features["sentence_embedding"] = self.dropout_layer(features["sentence_embedding"])
        return features

    def save(self, output_path: str, *args, safe_serialization: bool = True, **kwargs) -> None:
        """Write config.json; dropout has no weights."""
        self.save_config(output_path)
