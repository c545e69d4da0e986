"""WeightedLayerPooling: token embeddings as a learned weighted mean of the model's hidden layers."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
from torch import nn

from sentence_transformers.base.modules.module import Module
from sentence_transformers.util.decorators import deprecated_kwargs

HIDDEN_STATES_HINT = (
    "Build the Transformer with config_kwargs={'output_hidden_states': True} "
    "(2.x spelling: config_args={'output_hidden_states': True}) so that it adds 'all_layer_embeddings' to the features"
)


class WeightedLayerPooling(Module):
    """Replaces ``token_embeddings`` by a weighted mean of the hidden layers ``layer_start`` … ``num_hidden_layers``.

    Upper layers of a transformer carry different information than the last one alone; a learned
    weight per layer lets training pick the mix. The hidden states come from the Transformer as
    ``all_layer_embeddings`` (the embedding layer's output first, then one entry per layer), which
    it only provides when built with ``config_kwargs={"output_hidden_states": True}``.

    Args:
        embedding_dimension: Size of the token embeddings (``word_embedding_dimension``, its old name, still works
            with a deprecation warning).
        num_hidden_layers: Number of transformer layers (the model returns one more hidden state).
        layer_start: Index of the first hidden state to include (0 is the embedding layer).
        layer_weights: Initial weight per included layer (``num_hidden_layers + 1 - layer_start`` values);
            all ones by default. They are trainable and saved with the module.
    """

    config_keys: list[str] = ["word_embedding_dimension", "layer_start", "num_hidden_layers"]
    config_key_renames: dict[str, str] = {"word_embedding_dimension": "embedding_dimension"}
    saved_weights = "required"

    @deprecated_kwargs(word_embedding_dimension="embedding_dimension")
    def __init__(
        self,
        embedding_dimension: int,
        num_hidden_layers: int = 12,
        layer_start: int = 4,
        layer_weights: Sequence[float] | torch.Tensor | None = None,
    ) -> None:
        super().__init__()
        dimension = embedding_dimension
        if not isinstance(dimension, int) or dimension <= 0:
            raise ValueError(f"WeightedLayerPooling needs a positive embedding dimension, got {dimension!r}")
        if not isinstance(num_hidden_layers, int) or num_hidden_layers < 0:
            raise ValueError(f"num_hidden_layers must be a non-negative int, got {num_hidden_layers!r}")
        if not isinstance(layer_start, int) or not 0 <= layer_start <= num_hidden_layers:
            raise ValueError(
                f"layer_start must be an int in [0, num_hidden_layers={num_hidden_layers}], got {layer_start!r}"
            )
        self.embedding_dimension = dimension
        self.num_hidden_layers = num_hidden_layers
        self.layer_start = layer_start
        self.layer_weights = nn.Parameter(self._initial_weights(layer_weights))

    def _initial_weights(self, layer_weights: Sequence[float] | torch.Tensor | None) -> torch.Tensor:
        count = self.num_hidden_layers + 1 - self.layer_start
        if layer_weights is None:
            return torch.ones(count, dtype=torch.float32)
        weights = torch.as_tensor(layer_weights, dtype=torch.float32).detach().clone()
        if weights.shape != (count,):
            raise ValueError(
                f"layer_weights must hold num_hidden_layers + 1 - layer_start = {count} values, "
                f"got shape {tuple(weights.shape)}"
            )
        return weights

    @property
    def word_embedding_dimension(self) -> int:
        """Size of the token embeddings (the 2.x name of embedding_dimension)."""
        return self.embedding_dimension

    def get_embedding_dimension(self) -> int:
        """Size of the token embeddings this module outputs (the same as it reads)."""
        return self.word_embedding_dimension

    def __repr__(self) -> str:
        return f"WeightedLayerPooling({self.get_config_dict()})"

    def forward(self, features: dict[str, Any], **kwargs) -> dict[str, Any]:
        """Set ``token_embeddings`` to sum_l w_l * hidden_l / sum_l w_l over the layers from ``layer_start``."""
        all_layers = features.get("all_layer_embeddings")
        if all_layers is None:
            raise ValueError(
                f"WeightedLayerPooling needs 'all_layer_embeddings' in the features. {HIDDEN_STATES_HINT}."
            )
        expected = self.num_hidden_layers + 1
        if len(all_layers) != expected:
            raise ValueError(
                f"WeightedLayerPooling(num_hidden_layers={self.num_hidden_layers}) expects {expected} hidden states "
                f"(embeddings + one per layer), got {len(all_layers)}"
            )
        layers = torch.stack(tuple(all_layers[self.layer_start :]))  # [layers, batch, tokens, dim]
        weights = self.layer_weights.to(layers.dtype)
        weighted = (layers * weights.view(-1, 1, 1, 1)).sum(dim=0)
        features["token_embeddings"] = weighted / weights.sum()
        return features

    def save(self, output_path: str, *args, safe_serialization: bool = True, **kwargs) -> None:
        """Write config.json and the layer weights."""
        self.save_config(output_path)
        self.save_torch_weights(output_path, safe_serialization=safe_serialization)
