"""BoW: a bag-of-words sentence embedding (term frequencies, optionally weighted, e.g. tf-idf)."""

from __future__ import annotations

from typing import Any

import torch

from sentence_transformers.base.modules.input_module import InputModule
from sentence_transformers.sentence_transformer.modules.tokenizer import WhitespaceTokenizer
from sentence_transformers.sentence_transformer.modules.word_weights import vocab_weights


class BoW(InputModule):
    """Bag-of-words embedding: one dimension per vocab word, holding its (weighted) count in the text.

    Words are found with a WhitespaceTokenizer without stop words and case-sensitively (a word missing from
    the vocab is tried stripped of punctuation, then lowercased). With idf values as ``word_weights`` the
    embedding is the tf-idf vector.

    Args:
        vocab: The vocabulary; repeated words are kept once.
        word_weights: Word → weight (default: none, every word weighs ``unknown_word_weight``).
        unknown_word_weight: Weight of vocab words missing from ``word_weights``.
        cumulative_term_frequency: Sum the weight for each occurrence (tf × weight); if False, a word
            present in the text gets its weight once (binary × weight).
    """

    config_keys: list[str] = ["vocab", "word_weights", "unknown_word_weight", "cumulative_term_frequency"]
    modalities: list[str] = ["text"]
    save_in_root: bool = False

    def __init__(
        self,
        vocab: list[str],
        word_weights: dict[str, float] | None = None,
        unknown_word_weight: float = 1,
        cumulative_term_frequency: bool = True,
    ) -> None:
        super().__init__()
        if isinstance(vocab, str) or not all(isinstance(word, str) for word in vocab):
            raise TypeError("vocab must be a list of strings")
        self.vocab = list(dict.fromkeys(vocab))
        self.word_weights = {} if word_weights is None else word_weights
        self.unknown_word_weight = unknown_word_weight
        self.cumulative_term_frequency = cumulative_term_frequency
        self.weights = vocab_weights(self.vocab, self.word_weights, unknown_word_weight)
        self.tokenizer = WhitespaceTokenizer(self.vocab, stop_words=set(), do_lower_case=False)
        self.sentence_embedding_dimension = len(self.vocab)

    def __repr__(self) -> str:
        return f"BoW(vocab size {len(self.vocab)}, cumulative_term_frequency={self.cumulative_term_frequency})"

    def get_embedding_dimension(self) -> int:
        """Size of the embedding."""
        return self.sentence_embedding_dimension

    def tokenize(self, texts: list[str], **kwargs) -> dict[str, torch.Tensor]:
        """The bag-of-words vectors themselves, as ``sentence_embedding`` (forward has nothing left to do)."""
        if isinstance(texts, str):
            raise TypeError("BoW.tokenize expects a list of strings, got a single string")
        for text in texts:
            if not isinstance(text, str):
                raise TypeError(f"BoW only embeds strings, got {type(text).__name__}: {text!r}")
        return self.get_sentence_features([self.tokenizer.tokenize(text) for text in texts])

    def get_sentence_features(self, tokenized_texts: list[list[int]], pad_seq_length: int = 0) -> dict[str, Any]:
        """Bag-of-words vectors from vocab indices: ``{"sentence_embedding": [texts, vocab size]}``."""
        vectors = torch.zeros((len(tokenized_texts), len(self.vocab)), dtype=torch.float32)
        weights = torch.tensor(self.weights, dtype=torch.float32)
        for row, indices in enumerate(tokenized_texts):
            ids = torch.tensor(indices, dtype=torch.long)
            if self.cumulative_term_frequency:
                vectors[row].index_add_(0, ids, weights[ids])
            else:
                vectors[row, ids] = weights[ids]
        return {"sentence_embedding": vectors}

    def forward(self, features: dict[str, Any], **kwargs) -> dict[str, Any]:
        """Nothing to compute: ``tokenize`` already built the embedding."""
        return features

    def save(self, output_path: str, *args, safe_serialization: bool = True, **kwargs) -> None:
        """Write config.json (the vocab and weights; BoW has no tensors)."""
        self.save_config(output_path)
