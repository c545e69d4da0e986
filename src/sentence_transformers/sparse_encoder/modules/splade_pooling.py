"""SpladePooling: per-token vocabulary logits → one sparse vector, log(1 + relu(logit)) pooled by max or sum."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Literal

import torch

from sentence_transformers.base.modules.module import Module
from sentence_transformers.util.decorators import deprecated_kwargs

logger = logging.getLogger(__name__)

#: Vocabulary logits computed at once by ``pool_hidden_states``: 2**24 floats (64 MiB) per chunk of tokens.
HEAD_CHUNK_ELEMENTS = 1 << 24


class SpladePooling(Module):
    """Pool masked-LM logits into a SPLADE vector: ``pool_t log(1 + relu(logit_t))`` over the real tokens.

    Args:
        pooling_strategy: "max" (SPLADE v2 and later) or "sum" (the first SPLADE).
        activation_function: "relu" (every SPLADE model), or "log1p_relu" which applies log1p twice (OpenSearch's
            models).
        embedding_dimension: The vocabulary size; learnt from the first forward pass when None.
        chunk_size: Tokens per chunk along the sequence: bounds the memory of the transformed logits. None or 0
            means all at once.
    """

    SPLADE_POOLING_MODES = ("sum", "max")
    SPLADE_ACTIVATION = ["relu", "log1p_relu"]
    config_keys: list[str] = ["pooling_strategy", "activation_function", "embedding_dimension"]
    config_key_renames = {"word_embedding_dimension": "embedding_dimension"}

    @deprecated_kwargs(**config_key_renames)
    def __init__(
        self,
        pooling_strategy: Literal["max", "sum"] = "max",
        activation_function: Literal["relu", "log1p_relu"] = "relu",
        embedding_dimension: int | None = None,
        chunk_size: int | None = None,
    ) -> None:
        super().__init__()
        if pooling_strategy not in self.SPLADE_POOLING_MODES:
            raise ValueError(f"pooling_strategy must be either 'max' or 'sum', got {pooling_strategy!r}")
        if activation_function not in self.SPLADE_ACTIVATION:
            raise ValueError(f"activation_function must be either 'relu' or 'log1p_relu', got {activation_function!r}")
        if chunk_size is not None and (isinstance(chunk_size, bool) or not isinstance(chunk_size, int)):
            raise ValueError(f"chunk_size must be an integer or None, got {chunk_size!r}")
        self.pooling_strategy = pooling_strategy
        self.activation_function = activation_function
        self.embedding_dimension = embedding_dimension
        self.chunk_size = chunk_size

    def _activate(self, values: torch.Tensor) -> torch.Tensor:
        """log1p (twice for log1p_relu) of values already through relu."""
        values = values.log1p()
        return values.log1p() if self.activation_function == "log1p_relu" else values

    def forward(self, features: dict[str, torch.Tensor], **kwargs) -> dict[str, torch.Tensor]:
        """``sentence_embedding`` [batch, vocab] from ``token_embeddings`` (the MLM logits) and ``attention_mask``."""
        logits = features["token_embeddings"]
        mask = features["attention_mask"].unsqueeze(-1).to(torch.bool)
        batch, length, vocab = logits.shape
        step = length if not self.chunk_size or self.chunk_size <= 0 else self.chunk_size
        pooled = None
        for start in range(0, length, step):
            # Padding becomes 0, which relu keeps at 0: it never wins a max and adds nothing to a sum.
            chunk = logits[:, start : start + step].masked_fill(~mask[:, start : start + step], 0).relu()
            if self.pooling_strategy == "max":
                # log1p is increasing, so the max is taken first and transformed once, on [batch, vocab].
                part = chunk.amax(dim=1)
                pooled = part if pooled is None else torch.maximum(pooled, part)
            else:
                part = self._activate(chunk).sum(dim=1)
                pooled = part if pooled is None else pooled + part
        if pooled is None:
            pooled = logits.new_zeros((batch, vocab))
        elif self.pooling_strategy == "max":
            pooled = self._activate(pooled)
        if self.embedding_dimension is None:
            self.embedding_dimension = vocab
        features["sentence_embedding"] = pooled
        return features

    def pool_hidden_states(
        self,
        hidden_states: torch.Tensor,
        attention_mask: torch.Tensor,
        transform: Callable[[torch.Tensor], torch.Tensor],
        weight: torch.Tensor,
        bias: torch.Tensor | None,
    ) -> torch.Tensor:
        """The same vectors as ``forward``, from the encoder's hidden states and the MLM head split in two:
        ``transform`` (hidden → hidden) and the decoder (``weight`` [vocab, hidden], ``bias`` [vocab]).

        Only the real tokens go through the head; the decoder runs on a bounded chunk of them at a time, each input's
        rows reduced as they come, so the [batch, tokens, vocab] logits are never held at once. For max pooling the
        decoder bias is added after the max (the same constant for every token of a vocabulary entry cannot change
        which token wins) and relu and log1p run once, on [batch, vocab]. For inference.
        """
        mask = attention_mask.to(torch.bool)
        lengths = mask.sum(dim=1).tolist()
        tokens = transform(hidden_states[mask])
        vocab = weight.shape[0]
        step = max(1, HEAD_CHUNK_ELEMENTS // vocab)
        if self.chunk_size and self.chunk_size > 0:
            step = min(step, self.chunk_size)
        maximum = self.pooling_strategy == "max"
        pooled = tokens.new_full((len(lengths), vocab), float("-inf") if maximum else 0.0)
        for start, end, segments in _chunks(lengths, step):
            piece = tokens[start:end]
            if maximum:
                logits = piece @ weight.T
            else:
                logits = piece @ weight.T if bias is None else torch.addmm(bias, piece, weight.T)
                logits = self._activate(logits.relu_())
            for row, first, last in segments:
                part = logits[first - start : last - start]
                if maximum:
                    torch.maximum(pooled[row], part.amax(dim=0), out=pooled[row])
                else:
                    pooled[row] += part.sum(dim=0)
        if maximum:
            if bias is not None:
                pooled += bias
            empty = torch.tensor([n == 0 for n in lengths], device=pooled.device)
            pooled = self._activate(pooled.masked_fill_(empty.unsqueeze(1), 0.0).relu_())
        if self.embedding_dimension is None:
            self.embedding_dimension = vocab
        return pooled

    def save(self, output_path: str, *args, safe_serialization: bool = True, **kwargs) -> None:
        self.save_config(output_path)

    def __repr__(self) -> str:
        return f"SpladePooling({self.get_config_dict()})"

    def get_embedding_dimension(self) -> int | None:
        """The vocabulary size (None until known)."""
        return self.embedding_dimension


def _chunks(lengths: list[int], step: int) -> list[tuple[int, int, list[tuple[int, int, int]]]]:
    """Consecutive token ranges of at most ``step`` tokens over inputs of ``lengths`` tokens laid end to end, each
    with its (input, first token, end token) segments; a long input spans several ranges."""
    chunks: list[tuple[int, int, list[tuple[int, int, int]]]] = []
    start, segments, position = 0, [], 0
    for row, length in enumerate(lengths):
        first, end = position, position + length
        while first < end:
            last = min(end, start + step)
            segments.append((row, first, last))
            first = last
            if last - start == step:
                chunks.append((start, last, segments))
                start, segments = last, []
        position = end
    if segments:
        chunks.append((start, position, segments))
    return chunks
