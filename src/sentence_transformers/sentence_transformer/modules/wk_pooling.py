"""WKPooling: SBERT-WK sentence embeddings from how each token's representation evolves across layers.

Wang & Kuo, "SBERT-WK: A Sentence Embedding Method by Dissecting BERT-based Word Models" (2020),
https://arxiv.org/abs/2002.06652. Two steps, both without training:

1. Unified word representation: each token's hidden states from ``layer_start`` on are averaged with a
   weight per layer. A layer's weight adds its *novelty* (the part of its vector that its neighbouring
   layers cannot explain, from a QR decomposition of the window of layers) and the inverse of its
   *alignment* with those neighbours; both are normalized to sum to one over the layers.
2. Token importance: tokens whose representation changes more from layer to layer (larger variance of
   the cosine similarity between consecutive layers) carry more information; the sentence embedding is
   the importance-weighted mean of the unified token vectors.
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F

from sentence_transformers.base.modules.module import Module

_EPS = 1e-12
_MIN_LAYERS = 3


class WKPooling(Module):
    """SBERT-WK pooling over the Transformer's hidden states; outputs ``sentence_embedding``.

    Needs ``all_layer_embeddings``: build the Transformer with ``config_kwargs={"output_hidden_states": True}``.
    The computation runs on the CPU in float64 (QR decompositions are slow on GPUs, and consecutive layers can
    be so alike that float32 leaves little of their variation), which makes this pooling slower than the others.
    As in the 2.x release and the authors' code, the last unmasked token of each text (the [SEP] token)
    is left out, and a layer with fewer than ``context_window_size`` layers before it is compared with the
    layers after it only.

    Args:
        word_embedding_dimension / embedding_dimension: Size of the token embeddings.
        layer_start: Index of the first hidden state to use (0 is the embedding layer); at least
            three hidden states must remain.
        context_window_size: Number of neighbouring layers on each side that a layer is compared with.
    """

    config_keys: list[str] = ["word_embedding_dimension", "layer_start", "context_window_size"]

    def __init__(
        self,
        word_embedding_dimension: int | None = None,
        layer_start: int = 4,
        context_window_size: int = 2,
        embedding_dimension: int | None = None,
        **kwargs,
    ) -> None:
        super().__init__()
        dimension = word_embedding_dimension if word_embedding_dimension is not None else embedding_dimension
        if not isinstance(dimension, int) or dimension <= 0:
            raise ValueError(f"WKPooling needs a positive embedding dimension, got {dimension!r}")
        if not isinstance(layer_start, int) or layer_start < 0:
            raise ValueError(f"layer_start must be a non-negative int, got {layer_start!r}")
        if not isinstance(context_window_size, int) or context_window_size < 1:
            raise ValueError(f"context_window_size must be a positive int, got {context_window_size!r}")
        self.word_embedding_dimension = dimension
        self.pooling_output_dimension = dimension
        self.layer_start = layer_start
        self.context_window_size = context_window_size

    @property
    def embedding_dimension(self) -> int:
        """Size of the token embeddings (the newer name of word_embedding_dimension)."""
        return self.word_embedding_dimension

    def get_embedding_dimension(self) -> int:
        """Size of the sentence embedding: the same as the token embeddings."""
        return self.pooling_output_dimension

    def __repr__(self) -> str:
        return f"WKPooling({self.get_config_dict()})"

    def forward(self, features: dict[str, Any], **kwargs) -> dict[str, Any]:
        """Add ``sentence_embedding`` computed from ``all_layer_embeddings`` and ``attention_mask``."""
        layers = self._stacked_layers(features)  # [batch, tokens, layers, dim]
        mask = features.get("attention_mask")
        mask = torch.ones(layers.shape[:2], dtype=torch.bool) if mask is None else mask.detach().cpu().bool()
        keep = _tokens_to_pool(mask)
        token_layers = layers.to("cpu", torch.float64)[keep]  # [kept tokens, layers, dim]
        unified = self._unify_tokens(token_layers)
        importance = _layer_variation(token_layers)
        weights = torch.zeros(keep.shape, dtype=torch.float64)
        weights[keep] = importance
        weights = _normalize_rows(weights, keep.double())
        vectors = torch.zeros((*keep.shape, unified.shape[-1]), dtype=torch.float64)
        vectors[keep] = unified
        sentence = torch.einsum("bt,btd->bd", weights, vectors)
        features["sentence_embedding"] = sentence.to(layers.device, layers.dtype)
        return features

    def _stacked_layers(self, features: dict[str, Any]) -> torch.Tensor:
        """The hidden states from ``layer_start`` on, as one [batch, tokens, layers, dim] tensor."""
        all_layers = features.get("all_layer_embeddings")
        if all_layers is None:
            raise ValueError(
                "WKPooling needs 'all_layer_embeddings' in the features. Build the Transformer with "
                "config_kwargs={'output_hidden_states': True} (2.x spelling: config_args=...)."
            )
        used = len(all_layers) - self.layer_start
        if used < _MIN_LAYERS:
            raise ValueError(
                f"WKPooling(layer_start={self.layer_start}) needs at least {_MIN_LAYERS} hidden states from "
                f"layer_start on, but the model returned {len(all_layers)} (embeddings + one per layer); "
                f"use layer_start <= {len(all_layers) - _MIN_LAYERS}"
            )
        layers = torch.stack(tuple(all_layers[self.layer_start :]), dim=2)
        window = min(used, 2 * self.context_window_size + 1)
        if layers.shape[-1] < window:
            raise ValueError(f"WKPooling needs token embeddings of size >= {window}, got {layers.shape[-1]}")
        return layers

    def _unify_tokens(self, token_layers: torch.Tensor) -> torch.Tensor:
        """One vector per token: its layers averaged with weights from novelty and alignment."""
        num_layers = token_layers.shape[1]
        novelty, alignment = [], []
        for layer in range(num_layers):
            neighbours = self._neighbours(layer, num_layers)
            layer_novelty, layer_alignment = _novelty_and_alignment(token_layers, neighbours, layer)
            novelty.append(layer_novelty)
            alignment.append(layer_alignment)
        novelty = _normalize_rows(torch.stack(novelty, dim=1))
        alignment = _normalize_rows(torch.stack(alignment, dim=1))
        alpha = _normalize_rows(novelty + alignment)  # [tokens, layers]
        return torch.einsum("nl,nld->nd", alpha, token_layers)

    def _neighbours(self, layer: int, num_layers: int) -> list[int]:
        """The layers in the context window of ``layer``; the left side only once it fits whole (2.x behaviour)."""
        size = self.context_window_size
        left = list(range(layer - size, layer)) if layer >= size else []
        return left + list(range(layer + 1, min(layer + size + 1, num_layers)))

    def save(self, output_path: str, *args, safe_serialization: bool = True, **kwargs) -> None:
        """Write config.json; WKPooling has no weights."""
        self.save_config(output_path)


def _tokens_to_pool(mask: torch.Tensor) -> torch.Tensor:
    """The unmasked tokens of each row minus the last one (the closing [SEP]), unless it is the only one."""
    keep = mask.clone()
    counts = mask.sum(dim=1)
    last = mask.shape[1] - 1 - torch.argmax(mask.flip(dims=[1]).int(), dim=1)
    rows = torch.nonzero(counts > 1).flatten()
    keep[rows, last[rows]] = False
    return keep


def _novelty_and_alignment(
    token_layers: torch.Tensor, neighbours: list[int], layer: int
) -> tuple[torch.Tensor, torch.Tensor]:
    """Per token, from the QR decomposition of [neighbours…, layer] (one column per layer).

    The last column of R holds the layer's vector in the orthonormal basis Q: its first entries are the
    part inside the neighbours' span, its last entry the part outside it. Novelty is the share outside;
    alignment is the mean cosine between the neighbours and the part inside, and the weight uses its inverse.
    """
    window = token_layers[:, [*neighbours, layer], :].transpose(1, 2)  # [tokens, dim, window]
    r = torch.linalg.qr(window, mode="reduced").R
    own = r[:, :, -1]
    inside = own[:, :-1]
    novelty = own[:, -1].abs() / own.norm(dim=1).clamp(min=_EPS)
    neighbour_directions = F.normalize(r[:, :-1, :-1], dim=1, eps=_EPS).mean(dim=2)
    cosine = (neighbour_directions * inside).sum(dim=1) / inside.norm(dim=1).clamp(min=_EPS)
    alignment = 1.0 / (cosine * 2 * window.shape[-1])
    return novelty, alignment


def _layer_variation(token_layers: torch.Tensor) -> torch.Tensor:
    """Variance of the cosine similarity between consecutive layers, per token."""
    similarity = F.cosine_similarity(token_layers[:, 1:], token_layers[:, :-1], dim=-1)
    return similarity.var(dim=1)


def _normalize_rows(weights: torch.Tensor, fallback: torch.Tensor | None = None) -> torch.Tensor:
    """Scale each row to sum to one; a row summing to zero gets ``fallback`` (uniform by default) instead."""
    if fallback is None:
        fallback = torch.ones_like(weights)
    totals = weights.sum(dim=1, keepdim=True)
    fallback = fallback / fallback.sum(dim=1, keepdim=True).clamp(min=_EPS)
    return torch.where(totals.abs() > _EPS, weights / torch.where(totals.abs() > _EPS, totals, 1.0), fallback)
