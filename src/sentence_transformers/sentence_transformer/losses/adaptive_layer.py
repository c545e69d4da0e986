"""AdaptiveLayerLoss: also train the embeddings that earlier Transformer layers would give, so layers can be cut."""

from __future__ import annotations

import math
import random
import warnings
from collections.abc import Callable, Iterable
from typing import Any, Literal

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from sentence_transformers.base.losses.gradcache import uses_gradient_cache
from sentence_transformers.sentence_transformer.losses.matryoshka import _restore

LayerWeighting = Literal["uniform", "log", "linear"] | Callable[[int], float]


class TransformerDecorator:
    """Stands in for the Transformer's forward.

    First pass (``layer_idx`` is None): run the Transformer with hidden states switched on and keep every call's
    ``all_layer_embeddings``. Later passes: for call ``i``, hand the chosen layer's hidden states of call ``i`` on as
    ``token_embeddings`` without running the Transformer again, so the remaining modules (pooling, dense,
    normalize) embed from that layer and gradients flow through the first pass's graph.
    """

    def __init__(self, transformer: nn.Module, original_forward: Callable[..., dict[str, Any]]) -> None:
        self.transformer = transformer
        self.original_forward = original_forward
        self.hidden_states: list[tuple[Tensor, ...]] = []
        self.layer_idx: int | None = None
        self.position = 0

    @property
    def num_layers(self) -> int | None:
        """Hidden states per call (the embedding layer's output and one per Transformer layer)."""
        return len(self.hidden_states[0]) if self.hidden_states else None

    def set_layer_idx(self, layer_idx: int) -> None:
        """Start a pass that replays layer ``layer_idx``."""
        self.layer_idx = layer_idx
        self.position = 0

    def __call__(self, features: dict[str, Any], **kwargs) -> dict[str, Any]:
        if self.layer_idx is None:
            return self.call_grow_cache(features, **kwargs)
        return self.call_use_cache(features)

    def call_grow_cache(self, features: dict[str, Any], **kwargs) -> dict[str, Any]:
        """Run the Transformer with hidden states switched on (restored after) and keep them for later passes."""
        config = self.transformer.auto_model.config
        previous = config.output_hidden_states
        config.output_hidden_states = True
        try:
            output = self.original_forward(features, **kwargs)
        finally:
            config.output_hidden_states = previous
        if "all_layer_embeddings" not in output:
            raise ValueError(f"{type(self.transformer).__name__} returned no all_layer_embeddings (hidden states)")
        self.hidden_states.append(output["all_layer_embeddings"])
        return output

    def call_use_cache(self, features: dict[str, Any]) -> dict[str, Any]:
        """``features`` with layer ``layer_idx`` of the next recorded call as ``token_embeddings``; no model run."""
        if self.position >= len(self.hidden_states):
            raise RuntimeError("The inner loss ran the model more often than on the final layer's pass")
        hidden_states = self.hidden_states[self.position]
        self.position += 1
        return {**features, "all_layer_embeddings": hidden_states, "token_embeddings": hidden_states[self.layer_idx]}


class ForwardDecorator:
    """Stands in for ``model.forward`` and keeps every sentence embedding the inner loss computed."""

    def __init__(self, fn: Callable[..., dict[str, Any]]) -> None:
        self.fn = fn
        self.embeddings: list[Tensor] = []

    def __call__(self, features: dict[str, Any], **kwargs) -> dict[str, Any]:
        output = self.fn(features, **kwargs)
        self.embeddings.append(output["sentence_embedding"])
        return output

    def get_embeddings(self) -> Tensor:
        """All embeddings collected since the last call, concatenated over rows."""
        embeddings, self.embeddings = torch.cat(self.embeddings, dim=0), []
        return embeddings


class AdaptiveLayerLoss(nn.Module):
    """Run ``loss`` on the final layer and on randomly chosen earlier layers, plus a KL term towards the final layer.

    ``total = last_layer_weight * loss(final) + sum over chosen layers of
    prior_layers_weight * layer_weight(l) * loss(layer l) / n_chosen + kl_temperature * kl_div_weight * KL``,
    with the KL divergence between the temperature-softmaxed embeddings of layer l and of the final layer. Layer 0 is
    the embedding layer's output. The Transformer runs once per step; hidden states are switched on for that
    step whatever the model's config says.

    Args:
        model: A SentenceTransformer whose first module is a Transformer.
        loss: The loss to apply to every layer (any loss over ``model``; not a gradient-caching one).
        n_layers_per_step: Earlier layers sampled per step; -1 or a value >= their number trains them all.
        last_layer_weight: Weight of the final layer's loss.
        prior_layers_weight: Weight of the earlier layers' (averaged) loss.
        kl_div_weight: Weight of the KL term.
        kl_temperature: Softmax temperature of the KL term; 0 turns it off.
        layer_weighting: "uniform", "log" (1 / (1 + ln(1 + l))), "linear" (1 / (1 + l)) or a function of l.
    """

    def __init__(
        self,
        model: nn.Module,
        loss: nn.Module,
        n_layers_per_step: int = 1,
        last_layer_weight: float = 1.0,
        prior_layers_weight: float = 1.0,
        kl_div_weight: float = 1.0,
        kl_temperature: float = 0.3,
        layer_weighting: LayerWeighting = "uniform",
    ) -> None:
        super().__init__()
        if not callable(layer_weighting) and layer_weighting not in ("uniform", "log", "linear"):
            raise ValueError(
                f"layer_weighting must be 'uniform', 'log', 'linear' or a function, got {layer_weighting!r}"
            )
        if not hasattr(_unwrap(model)[0], "auto_model"):
            raise ValueError("AdaptiveLayerLoss needs a model whose first module is a Transformer (with auto_model)")
        if uses_gradient_cache(loss):
            warnings.warn(
                f"AdaptiveLayerLoss does not work with the gradient-caching {type(loss).__name__}", stacklevel=2
            )
        self.model = model
        self.loss = loss
        self.n_layers_per_step = n_layers_per_step
        self.last_layer_weight = last_layer_weight
        self.prior_layers_weight = prior_layers_weight
        self.kl_div_weight = kl_div_weight
        self.kl_temperature = kl_temperature
        self.layer_weighting = layer_weighting

    def get_layer_weight(self, layer_idx: int) -> float:
        """Weight of layer ``layer_idx``'s loss under ``layer_weighting``."""
        if callable(self.layer_weighting):
            return self.layer_weighting(layer_idx)
        if self.layer_weighting == "log":
            return 1.0 / (1.0 + math.log(1 + layer_idx))
        if self.layer_weighting == "linear":
            return 1.0 / (1 + layer_idx)
        return 1.0

    def forward(self, sentence_features: Iterable[dict[str, Tensor]], labels: Tensor | None) -> Tensor:
        """The final-layer loss plus the weighted losses (and KL terms) of the sampled earlier layers."""
        sentence_features = list(sentence_features)
        model = _unwrap(self.model)
        transformer = model[0]
        original_transformer, original_model = transformer.__dict__.get("forward"), model.__dict__.get("forward")
        replay = TransformerDecorator(transformer, transformer.forward)
        collector = ForwardDecorator(model.forward)
        transformer.forward, model.forward = replay, collector
        try:
            return self._layer_losses(sentence_features, labels, replay, collector)
        finally:
            _restore(transformer, "forward", original_transformer)
            _restore(model, "forward", original_model)

    def _layer_losses(
        self,
        features: list[dict[str, Tensor]],
        labels: Tensor | None,
        replay: TransformerDecorator,
        collector: ForwardDecorator,
    ) -> Tensor:
        loss = self.loss(features, labels) * self.last_layer_weight
        if replay.num_layers is None:
            raise RuntimeError(f"{type(self.loss).__name__} did not run the model, so there are no layers to train")
        use_kl = self.kl_temperature > 0
        final = collector.get_embeddings()
        target = F.softmax(final / self.kl_temperature, dim=-1).detach() if use_kl else None
        layers = list(range(replay.num_layers - 1))
        if 0 < self.n_layers_per_step < len(layers):
            layers = random.sample(layers, self.n_layers_per_step)
        for layer in layers:
            replay.set_layer_idx(layer)
            layer_loss = self.loss(features, labels)
            loss = loss + layer_loss * self.get_layer_weight(layer) / len(layers) * self.prior_layers_weight
            embeddings = collector.get_embeddings()
            if use_kl:
                log_probs = F.log_softmax(embeddings / self.kl_temperature, dim=-1)
                kl = F.kl_div(log_probs, target, reduction="batchmean")
                loss = loss + kl * self.kl_temperature * self.kl_div_weight
        return loss

    def get_config_dict(self) -> dict[str, Any]:
        """Settings shown in model cards."""
        weighting = self.layer_weighting
        if not isinstance(weighting, str):
            weighting = getattr(weighting, "__name__", "custom")
        return {
            "loss": type(self.loss).__name__,
            "n_layers_per_step": self.n_layers_per_step,
            "last_layer_weight": self.last_layer_weight,
            "prior_layers_weight": self.prior_layers_weight,
            "kl_div_weight": self.kl_div_weight,
            "kl_temperature": self.kl_temperature,
            "layer_weighting": weighting,
        }

    @property
    def citation(self) -> str:
        """BibTeX of the paper behind the loss."""
        return LI_2024


def _unwrap(model: nn.Module) -> nn.Module:
    """The SentenceTransformer inside DistributedDataParallel or torch.compile wrappers."""
    while not isinstance(model, nn.Sequential):
        inner = getattr(model, "_orig_mod", None) or getattr(model, "module", None)
        if inner is None:
            raise TypeError(f"Cannot find a SentenceTransformer inside {type(model).__name__}")
        model = inner
    return model


LI_2024 = """
@misc{li20242d,
    title={2D Matryoshka Sentence Embeddings},
    author={Xianming Li and Zongxi Li and Jing Li and Haoran Xie and Qing Li},
    year={2024},
    eprint={2402.14776},
    archivePrefix={arXiv},
    primaryClass={cs.CL}
}
"""
