"""WordWeights: scale each token embedding by a per-word weight (e.g. idf) before pooling."""

from __future__ import annotations

import logging
from typing import Any

import torch
from torch import nn

from sentence_transformers.base.modules.module import Module

logger = logging.getLogger(__name__)


def vocab_weights(vocab: list[str], word_weights: dict[str, float], unknown_word_weight: float) -> list[float]:
    """The weight of each vocab word: its own, else its lowercase form's, else ``unknown_word_weight``."""
    if not isinstance(word_weights, dict):
        raise TypeError(f"word_weights must be a dict of word → weight, got {type(word_weights).__name__}")
    weights = []
    unknown = 0
    for word in vocab:
        weight = word_weights.get(word, word_weights.get(word.lower()))
        if weight is None:
            unknown += 1
            weight = unknown_word_weight
        weights.append(float(weight))
    logger.info(f"{unknown} of {len(vocab)} words have no weight; they weigh {unknown_word_weight}")
    return weights


class WordWeights(Module):
    """Multiplies each token embedding by its word's weight, for weighted mean pooling (e.g. idf weighting).

    It also writes ``token_weights_sum`` (the summed weights of each text's tokens), which Pooling's mean
    divides by instead of the token count.

    Args:
        vocab: The vocabulary of the tokenizer (the input ids index it).
        word_weights: Word → weight; it may hold more or fewer words than the vocab.
        unknown_word_weight: Weight of vocab words missing from ``word_weights``.
    """

    config_keys: list[str] = ["vocab", "word_weights", "unknown_word_weight"]
    saved_weights = "if_present"  # older folders lack the file; the weights computed from the config stand then

    def __init__(self, vocab: list[str], word_weights: dict[str, float], unknown_word_weight: float = 1) -> None:
        super().__init__()
        if isinstance(vocab, str) or not all(isinstance(word, str) for word in vocab):
            raise TypeError("vocab must be a list of strings")
        self.vocab = list(vocab)
        self.word_weights = word_weights
        self.unknown_word_weight = unknown_word_weight
        weights = torch.tensor(vocab_weights(self.vocab, word_weights, unknown_word_weight), dtype=torch.float32)
        self.emb_layer = nn.Embedding(len(self.vocab), 1)
        self.emb_layer.weight = nn.Parameter(weights.unsqueeze(1))

    def __repr__(self) -> str:
        return f"WordWeights(vocab size {len(self.vocab)}, unknown_word_weight={self.unknown_word_weight})"

    def forward(self, features: dict[str, Any], **kwargs) -> dict[str, Any]:
        """Scale ``token_embeddings`` by the token weights (padding weighs 0) and add ``token_weights_sum``."""
        token_embeddings = features["token_embeddings"]
        weights = self.emb_layer(features["input_ids"]).squeeze(-1) * features["attention_mask"].to(torch.float32)
        features["token_embeddings"] = token_embeddings * weights.unsqueeze(-1).to(token_embeddings.dtype)
        features["token_weights_sum"] = weights.sum(dim=1)
        return features

    def save(self, output_path: str, *args, safe_serialization: bool = True, **kwargs) -> None:
        """Write config.json and the weights."""
        self.save_config(output_path)
        self.save_torch_weights(output_path, safe_serialization=safe_serialization)
