"""CNN: 1-d convolutions of several kernel sizes over the token embeddings, concatenated."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
from torch import nn

from sentence_transformers.base.modules.module import Module
from sentence_transformers.util.decorators import deprecated_kwargs


class CNN(Module):
    """Convolutions with several kernel sizes over the token embeddings; their outputs are concatenated per token.

    Each convolution pads by ``(kernel_size - 1) // 2`` on both sides, so odd kernel sizes with stride 1 keep
    one output per token (as Pooling's attention mask expects).

    Args:
        in_embedding_dimension: Size of the incoming token embeddings (``in_word_embedding_dimension``, its old
            name, still works with a deprecation warning).
        out_channels: Output channels of each convolution.
        kernel_sizes: One convolution per kernel size (default [1, 3, 5]).
        stride_sizes: The stride of each convolution (default 1 each).
    """

    config_file_name: str = "cnn_config.json"
    # The 2.x key name for the input size, which every release reads.
    config_keys: list[str] = ["in_word_embedding_dimension", "out_channels", "kernel_sizes", "stride_sizes"]
    config_key_renames: dict[str, str] = {"in_word_embedding_dimension": "in_embedding_dimension"}
    saved_weights = "required"

    @deprecated_kwargs(in_word_embedding_dimension="in_embedding_dimension")
    def __init__(
        self,
        in_embedding_dimension: int,
        out_channels: int = 256,
        kernel_sizes: Sequence[int] = [1, 3, 5],  # noqa: B006 (upstream's default; copied, never mutated)
        stride_sizes: Sequence[int] | None = None,
    ) -> None:
        super().__init__()
        dimension = in_embedding_dimension
        kernel_sizes = list(kernel_sizes)
        stride_sizes = [1] * len(kernel_sizes) if stride_sizes is None else list(stride_sizes)
        _check_positive_int(dimension, "in_embedding_dimension")
        _check_positive_int(out_channels, "out_channels")
        if not kernel_sizes:
            raise ValueError("kernel_sizes must list at least one kernel size")
        for value in [*kernel_sizes, *stride_sizes]:
            _check_positive_int(value, "kernel_sizes/stride_sizes entries")
        if len(stride_sizes) != len(kernel_sizes):
            raise ValueError(f"stride_sizes {stride_sizes} must have one entry per kernel size {kernel_sizes}")
        self.in_embedding_dimension = dimension
        self.out_channels = out_channels
        self.kernel_sizes = kernel_sizes
        self.stride_sizes = stride_sizes
        self.embeddings_dimension = out_channels * len(kernel_sizes)
        self.convs = nn.ModuleList(
            nn.Conv1d(dimension, out_channels, kernel_size=kernel, stride=stride, padding=(kernel - 1) // 2)
            for kernel, stride in zip(kernel_sizes, stride_sizes, strict=True)
        )

    @property
    def in_word_embedding_dimension(self) -> int:
        """Size of the incoming token embeddings (the 2.x name of in_embedding_dimension)."""
        return self.in_embedding_dimension

    def __repr__(self) -> str:
        return f"CNN({self.get_config_dict()})"

    def get_embedding_dimension(self) -> int:
        """Size of the output token embeddings."""
        return self.embeddings_dimension

    def forward(self, features: dict[str, Any], **kwargs) -> dict[str, Any]:
        """Replace ``token_embeddings`` [batch, tokens, in] by the concatenated convolutions [batch, tokens, out]."""
        channels_first = features["token_embeddings"].transpose(1, 2)
        outputs = [conv(channels_first) for conv in self.convs]
        features["token_embeddings"] = torch.cat(outputs, dim=1).transpose(1, 2)
        return features

    def save(self, output_path: str, *args, safe_serialization: bool = True, **kwargs) -> None:
        """Write cnn_config.json and the weights."""
        self.save_config(output_path)
        self.save_torch_weights(output_path, safe_serialization=safe_serialization)


def _check_positive_int(value: Any, what: str) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"{what} must be a positive integer, got {value!r}")
