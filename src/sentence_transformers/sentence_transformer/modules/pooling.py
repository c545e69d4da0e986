"""Pooling: token embeddings → one fixed-size sentence embedding."""

from __future__ import annotations

import functools
import warnings
from collections.abc import Callable, Sequence
from typing import Any

import torch

from sentence_transformers.base.modules.module import Module
from sentence_transformers.util.decorators import deprecated_kwargs

POOLING_MODES = ("cls", "max", "mean", "mean_sqrt_len_tokens", "weightedmean", "lasttoken")
# Config key of each mode, in the order the pooled vectors are concatenated.
_MODE_KEYS = {
    "cls": "pooling_mode_cls_token",
    "max": "pooling_mode_max_tokens",
    "mean": "pooling_mode_mean_tokens",
    "mean_sqrt_len_tokens": "pooling_mode_mean_sqrt_len_tokens",
    "weightedmean": "pooling_mode_weightedmean_tokens",
    "lasttoken": "pooling_mode_lasttoken",
}


def _flags_to_pooling_mode(kwargs: dict[str, Any]) -> dict[str, Any]:
    """Replace the 2.x ``pooling_mode_*`` booleans in ``kwargs`` by one ``pooling_mode`` (mean when none is True);
    an explicit ``pooling_mode`` wins and the booleans are dropped."""
    given = [key for key in _MODE_KEYS.values() if key in kwargs]
    if not given:
        return kwargs
    if "pooling_mode" not in kwargs:
        modes = tuple(mode for mode, key in _MODE_KEYS.items() if kwargs.get(key))
        kwargs["pooling_mode"] = modes or "mean"
    for key in given:
        del kwargs[key]
    return kwargs


def _legacy_mode_flags(init: Callable[..., None]) -> Callable[..., None]:
    """Let ``Pooling.__init__`` take the 2.x ``pooling_mode_*`` booleans, with a FutureWarning."""

    @functools.wraps(init)
    def wrapper(*args: Any, **kwargs: Any) -> None:
        given = [key for key in kwargs if key in _MODE_KEYS.values()]
        if given:
            warnings.warn(
                f"The {', '.join(f'`{key}`' for key in given)} argument(s) are deprecated. "
                "Please use `pooling_mode` instead.",
                FutureWarning,
                stacklevel=3,  # the caller, above deprecated_kwargs' wrapper
            )
            _flags_to_pooling_mode(kwargs)
        return init(*args, **kwargs)

    return wrapper


_ALIASES = {"mean_tokens": "mean", "max_tokens": "max", "cls_token": "cls", "weightedmean_tokens": "weightedmean"}


class Pooling(Module):
    """Pools token embeddings (cls, max, mean, mean_sqrt_len_tokens, weightedmean, lasttoken; several concatenate).

    The 2.x boolean form ``Pooling(dim, pooling_mode_cls_token=True)`` still works with a FutureWarning (only the
    flags passed count, so that example pools cls alone), as does the ``word_embedding_dimension`` name.

    Args:
        embedding_dimension: Size of the token embeddings.
        pooling_mode: One mode name or a sequence of them, concatenated in the order given.
        include_prompt: If False, the prompt's tokens are left out of the pooling.
    """

    POOLING_MODES: tuple[str, ...] = POOLING_MODES
    # The 2.x keys are written (every release reads them) whenever they express the modes' order.
    config_keys: list[str] = ["word_embedding_dimension", *_MODE_KEYS.values(), "include_prompt"]
    config_key_renames: dict[str, str] = {"word_embedding_dimension": "embedding_dimension"}

    @deprecated_kwargs(word_embedding_dimension="embedding_dimension")
    @_legacy_mode_flags
    def __init__(
        self,
        embedding_dimension: int,
        pooling_mode: str | Sequence[str] = "mean",
        include_prompt: bool = True,
    ) -> None:
        super().__init__()
        if (
            isinstance(embedding_dimension, bool)
            or not isinstance(embedding_dimension, int)
            or embedding_dimension <= 0
        ):
            raise ValueError(f"Pooling needs a positive embedding dimension, got {embedding_dimension!r}")
        self.embedding_dimension = embedding_dimension
        self.modes = _parse_modes(pooling_mode)
        if not self.modes:
            raise ValueError(f"Pooling needs at least one mode; valid modes: {', '.join(POOLING_MODES)}")
        for mode, key in _MODE_KEYS.items():
            setattr(self, key, mode in self.modes)
        self.include_prompt = include_prompt
        self.pooling_output_dimension = len(self.modes) * embedding_dimension

    @property
    def word_embedding_dimension(self) -> int:
        """Size of the token embeddings (the 2.x name of embedding_dimension)."""
        return self.embedding_dimension

    @classmethod
    def rename_config_keys(cls, config: dict[str, Any]) -> dict[str, Any]:
        """Old key names renamed, and the 2.x boolean mode keys turned into ``pooling_mode``, silently."""
        return _flags_to_pooling_mode(super().rename_config_keys(config))

    @property
    def pooling_mode(self) -> str | tuple[str, ...]:
        """The active mode, or the tuple of modes when several are concatenated."""
        return self.modes[0] if len(self.modes) == 1 else self.modes

    def __repr__(self) -> str:
        return f"Pooling({self.get_config_dict()})"

    def get_config_dict(self) -> dict[str, Any]:
        """The 2.x boolean keys, which every release reads, when they express the modes' order; else upstream 6.x's
        ``pooling_mode`` list, since the booleans always mean the fixed order cls, max, mean, …"""
        if self.modes == tuple(mode for mode in POOLING_MODES if mode in self.modes):
            return super().get_config_dict()
        return {
            "embedding_dimension": self.embedding_dimension,
            "pooling_mode": list(self.modes),
            "include_prompt": self.include_prompt,
        }

    def get_pooling_mode_str(self) -> str:
        """The modes joined with '+', e.g. 'cls+mean'."""
        return "+".join(self.modes)

    def get_embedding_dimension(self) -> int:
        """Size of the pooled output: the token size times the number of modes."""
        return self.pooling_output_dimension

    def forward(self, features: dict[str, Any], **kwargs) -> dict[str, Any]:
        """Add ``sentence_embedding``, the concatenation of each mode's pooled vector."""
        tokens = features["token_embeddings"]
        mask = features.get("attention_mask")
        mask = torch.ones(tokens.shape[:2], device=tokens.device) if mask is None else mask
        if not self.include_prompt and "prompt_length" in features:
            mask = mask.clone()
            mask[:, : int(features["prompt_length"])] = 0
        mask = mask.to(tokens.dtype)
        pooled = [_POOLERS[mode](tokens, mask, features) for mode in self.modes]
        features["sentence_embedding"] = torch.cat(pooled, dim=1)
        return features

    def save(self, output_path: str, *args, safe_serialization: bool = True, **kwargs) -> None:
        """Write config.json in the 2.x form that every release reads."""
        self.save_config(output_path)


def _parse_modes(pooling_mode: str | Sequence[str]) -> tuple[str, ...]:
    """The mode names in the order given, aliases resolved and repeats dropped."""
    names = [pooling_mode] if isinstance(pooling_mode, str) else list(pooling_mode)
    chosen: dict[str, None] = {}
    for name in names:
        mode = _ALIASES.get(str(name).lower(), str(name).lower())
        if mode not in POOLING_MODES:
            raise ValueError(f"Invalid pooling mode: {name!r}. Valid pooling modes are: {POOLING_MODES}.")
        chosen[mode] = None
    return tuple(chosen)


def _cls(tokens: torch.Tensor, mask: torch.Tensor, features: dict[str, Any]) -> torch.Tensor:
    return features.get("cls_token_embeddings", tokens[:, 0])


def _max(tokens: torch.Tensor, mask: torch.Tensor, features: dict[str, Any]) -> torch.Tensor:
    return tokens.masked_fill(mask.unsqueeze(-1) == 0, -1e9).max(dim=1).values


def _accumulation_dtype(dtype: torch.dtype) -> torch.dtype:
    """Half-precision values are summed in float32: a long sum in fp16/bf16 loses digits."""
    return torch.float32 if dtype in (torch.float16, torch.bfloat16) else dtype


def _masked_sum(
    tokens: torch.Tensor, mask: torch.Tensor, features: dict[str, Any]
) -> tuple[torch.Tensor, torch.Tensor, torch.dtype]:
    """Sum of the unmasked tokens and their count (or summed token weights, when a WordWeights gave them), both
    accumulated in at least float32, and the dtype the pooled result returns in."""
    accumulation = _accumulation_dtype(tokens.dtype)
    summed = (tokens * mask.unsqueeze(-1)).sum(dim=1, dtype=accumulation)
    output_dtype = tokens.dtype
    if "token_weights_sum" in features:
        weights = features["token_weights_sum"]
        output_dtype = torch.promote_types(output_dtype, weights.dtype)
        count = weights.to(accumulation).unsqueeze(-1).expand(summed.shape)
    else:
        count = mask.sum(dim=1, keepdim=True, dtype=accumulation)
    return summed, torch.clamp(count, min=1e-9), output_dtype


def _mean(tokens: torch.Tensor, mask: torch.Tensor, features: dict[str, Any]) -> torch.Tensor:
    summed, count, output_dtype = _masked_sum(tokens, mask, features)
    return (summed / count).to(output_dtype)


def _mean_sqrt_len(tokens: torch.Tensor, mask: torch.Tensor, features: dict[str, Any]) -> torch.Tensor:
    summed, count, output_dtype = _masked_sum(tokens, mask, features)
    return (summed / torch.sqrt(count)).to(output_dtype)


def _weighted_mean(tokens: torch.Tensor, mask: torch.Tensor, features: dict[str, Any]) -> torch.Tensor:
    """Mean where token i weighs i (1-based): later tokens of a causal model have seen more context."""
    accumulation = _accumulation_dtype(tokens.dtype)
    positions = torch.arange(1, tokens.shape[1] + 1, device=tokens.device, dtype=accumulation)
    weights = mask.to(accumulation) * positions.unsqueeze(0)
    summed = (tokens.to(accumulation) * weights.unsqueeze(-1)).sum(dim=1)
    return (summed / torch.clamp(weights.sum(dim=1, keepdim=True), min=1e-9)).to(tokens.dtype)


def _last_token(tokens: torch.Tensor, mask: torch.Tensor, features: dict[str, Any]) -> torch.Tensor:
    """The last unmasked token, for right or left padding alike."""
    seq_len = mask.shape[1]
    last = seq_len - 1 - torch.argmax(mask.flip(dims=[1]), dim=1)
    return tokens[torch.arange(tokens.shape[0], device=tokens.device), last]


_POOLERS = {
    "cls": _cls,
    "max": _max,
    "mean": _mean,
    "mean_sqrt_len_tokens": _mean_sqrt_len,
    "weightedmean": _weighted_mean,
    "lasttoken": _last_token,
}
