"""Matryoshka2dLoss: Matryoshka truncation and adaptive layers together (2D Matryoshka Sentence Embeddings)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from torch import nn

from sentence_transformers.sentence_transformer.losses.adaptive_layer import AdaptiveLayerLoss, LayerWeighting
from sentence_transformers.sentence_transformer.losses.matryoshka import MatryoshkaLoss


class Matryoshka2dLoss(AdaptiveLayerLoss):
    """``AdaptiveLayerLoss(model, MatryoshkaLoss(model, loss, dims, ...))``: every sampled layer, every sampled size.

    Args:
        model: A SentenceTransformer whose first module is a Transformer.
        loss: The base loss (any loss over ``model``).
        matryoshka_dims: Embedding sizes to train.
        matryoshka_weights: Weight per size; 1 for all by default.
        n_layers_per_step: Earlier layers sampled per step (-1: all).
        n_dims_per_step: Sizes sampled per step (-1: all); 1 by default, as in the paper.
        last_layer_weight / prior_layers_weight / kl_div_weight / kl_temperature / layer_weighting:
            As in :class:`AdaptiveLayerLoss`.
    """

    def __init__(
        self,
        model: nn.Module,
        loss: nn.Module,
        matryoshka_dims: Sequence[int],
        matryoshka_weights: Sequence[float] | None = None,
        n_layers_per_step: int = 1,
        n_dims_per_step: int = 1,
        last_layer_weight: float = 1.0,
        prior_layers_weight: float = 1.0,
        kl_div_weight: float = 1.0,
        kl_temperature: float = 0.3,
        layer_weighting: LayerWeighting = "uniform",
    ) -> None:
        matryoshka = MatryoshkaLoss(model, loss, matryoshka_dims, matryoshka_weights, n_dims_per_step=n_dims_per_step)
        super().__init__(
            model,
            matryoshka,
            n_layers_per_step=n_layers_per_step,
            last_layer_weight=last_layer_weight,
            prior_layers_weight=prior_layers_weight,
            kl_div_weight=kl_div_weight,
            kl_temperature=kl_temperature,
            layer_weighting=layer_weighting,
        )

    def get_config_dict(self) -> dict[str, Any]:
        """Both losses' settings; ``loss`` names the base loss."""
        return {**super().get_config_dict(), **self.loss.get_config_dict()}
