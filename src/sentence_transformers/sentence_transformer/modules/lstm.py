"""LSTM: a (bidirectional) LSTM over the token embeddings, run on packed sequences so padding is never read."""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from sentence_transformers.base.modules.module import Module
from sentence_transformers.util.decorators import deprecated_kwargs


class LSTM(Module):
    """Runs an LSTM over the token embeddings and returns its per-token outputs as the new token embeddings.

    Each text is packed to its own length (``sentence_lengths``, else the attention mask's count), so the
    padding never enters the recurrence; outputs at padded positions are zeros.

    Args:
        embedding_dimension: Size of the incoming token embeddings (``word_embedding_dimension``, its old name,
            still works with a deprecation warning).
        hidden_dim: Hidden size of the LSTM (per direction).
        num_layers: Number of stacked LSTM layers.
        dropout: Dropout between stacked layers.
        bidirectional: Run in both directions and concatenate (output size 2 × hidden_dim).
    """

    config_file_name: str = "lstm_config.json"
    # The 2.x key name for the input size, which every release reads.
    config_keys: list[str] = ["word_embedding_dimension", "hidden_dim", "num_layers", "dropout", "bidirectional"]
    config_key_renames: dict[str, str] = {"word_embedding_dimension": "embedding_dimension"}
    saved_weights = "required"

    @deprecated_kwargs(word_embedding_dimension="embedding_dimension")
    def __init__(
        self,
        embedding_dimension: int,
        hidden_dim: int,
        num_layers: int = 1,
        dropout: float = 0,
        bidirectional: bool = True,
    ) -> None:
        super().__init__()
        dimension = embedding_dimension
        for value, what in (
            (dimension, "embedding_dimension"),
            (hidden_dim, "hidden_dim"),
            (num_layers, "num_layers"),
        ):
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"LSTM {what} must be a positive integer, got {value!r}")
        self.embedding_dimension = dimension
        self.hidden_dim = hidden_dim
        self.num_layers = num_layers
        self.dropout = dropout
        self.bidirectional = bidirectional
        self.embeddings_dimension = hidden_dim * (2 if bidirectional else 1)
        self.encoder = nn.LSTM(
            dimension, hidden_dim, num_layers=num_layers, dropout=dropout, bidirectional=bidirectional, batch_first=True
        )

    @property
    def word_embedding_dimension(self) -> int:
        """Size of the incoming token embeddings (the 2.x name of embedding_dimension)."""
        return self.embedding_dimension

    def __repr__(self) -> str:
        return f"LSTM({self.get_config_dict()})"

    def get_embedding_dimension(self) -> int:
        """Size of the output token embeddings."""
        return self.embeddings_dimension

    def forward(self, features: dict[str, Any], **kwargs) -> dict[str, Any]:
        """Replace ``token_embeddings`` by the LSTM's outputs, same number of positions as the input."""
        token_embeddings = features["token_embeddings"]
        lengths = features.get("sentence_lengths")
        if lengths is None:
            lengths = features["attention_mask"].sum(dim=1)
        lengths = torch.clamp(lengths.detach().to("cpu", torch.long), min=1)
        packed = nn.utils.rnn.pack_padded_sequence(token_embeddings, lengths, batch_first=True, enforce_sorted=False)
        output, _ = self.encoder(packed)
        unpacked, _ = nn.utils.rnn.pad_packed_sequence(output, batch_first=True, total_length=token_embeddings.shape[1])
        features["token_embeddings"] = unpacked
        return features

    def save(self, output_path: str, *args, safe_serialization: bool = True, **kwargs) -> None:
        """Write lstm_config.json and the weights (copied to the CPU first: cuDNN keeps LSTM weights in one buffer)."""
        self.save_config(output_path)
        device = next(self.parameters()).device
        self.cpu()
        try:
            self.save_torch_weights(output_path, safe_serialization=safe_serialization)
        finally:
            self.to(device)
