"""WordEmbeddings: a word tokenizer and a fixed embedding matrix (GloVe, word2vec, …) as a pipeline's first step."""

from __future__ import annotations

import gzip
import importlib
import logging
import os
from collections.abc import Iterator
from typing import Any

import numpy as np
import torch
from torch import nn
from transformers import PreTrainedTokenizerBase

from sentence_transformers.base.modules.input_module import InputModule
from sentence_transformers.sentence_transformer.modules.tokenizer import (
    PhraseTokenizer,
    TransformersTokenizerWrapper,
    WhitespaceTokenizer,
    WordTokenizer,
)

logger = logging.getLogger(__name__)

# Tokenizer class → the name written to wordembedding_config.json: one that every sentence-transformers release
# imports (the 2.x module path where one exists).
_TOKENIZER_NAMES: dict[type, str] = {
    WhitespaceTokenizer: "sentence_transformers.models.tokenizer.WhitespaceTokenizer.WhitespaceTokenizer",
    PhraseTokenizer: "sentence_transformers.models.tokenizer.PhraseTokenizer.PhraseTokenizer",
    TransformersTokenizerWrapper: (
        "sentence_transformers.sentence_transformer.modules.tokenizer.word.TransformersTokenizerWrapper"
    ),
}
# Standard tokenizer class names, read back from any ``sentence_transformers.…`` path without importing it.
_TOKENIZER_CLASSES: dict[str, type] = {cls.__name__: cls for cls in _TOKENIZER_NAMES}
PADDING_TOKEN = "PADDING_TOKEN"


class WordEmbeddings(InputModule):
    """Looks up a fixed (or trainable) embedding for each word a WordTokenizer finds.

    Args:
        tokenizer: A WordTokenizer (e.g. WhitespaceTokenizer) or a Hugging Face tokenizer, whose indices
            address the rows of ``embedding_weights``.
        embedding_weights: The embedding matrix, [vocab size, dimension] (list, numpy array or tensor).
        update_embeddings: Whether training updates the embeddings.
        max_seq_length: Longest input, in tokens; longer ones are truncated.
    """

    config_file_name: str = "wordembedding_config.json"
    config_keys: list[str] = ["tokenizer_class", "update_embeddings", "max_seq_length"]
    modalities: list[str] = ["text"]
    save_in_root: bool = False

    def __init__(
        self,
        tokenizer: WordTokenizer | PreTrainedTokenizerBase,
        embedding_weights: Any,
        update_embeddings: bool = False,
        max_seq_length: int = 1000000,
    ) -> None:
        super().__init__()
        if isinstance(tokenizer, PreTrainedTokenizerBase):
            tokenizer = TransformersTokenizerWrapper(tokenizer)
        if not isinstance(tokenizer, WordTokenizer):
            raise TypeError(
                f"tokenizer must be a WordTokenizer or a Hugging Face tokenizer, got {type(tokenizer).__name__}"
            )
        weights = _as_matrix(embedding_weights)
        if not isinstance(max_seq_length, int) or max_seq_length < 1:
            raise ValueError(f"max_seq_length must be a positive integer, got {max_seq_length!r}")
        self.tokenizer = tokenizer
        self.embeddings_dimension = weights.shape[1]
        self.emb_layer = nn.Embedding.from_pretrained(weights, freeze=not update_embeddings)
        self.update_embeddings = update_embeddings
        self.max_seq_length = max_seq_length

    def __repr__(self) -> str:
        return f"WordEmbeddings({self.get_config_dict()}, vocab size {self.emb_layer.num_embeddings})"

    @property
    def tokenizer_class(self) -> str:
        """The tokenizer's class name as written to the config."""
        return tokenizer_class_name(self.tokenizer)

    def get_embedding_dimension(self) -> int:
        """Size of the token embeddings."""
        return self.embeddings_dimension

    def _token_ids(self, texts: list[str]) -> list[list[int]]:
        if isinstance(texts, str):
            raise TypeError("WordEmbeddings.tokenize expects a list of strings, got a single string")
        for text in texts:
            if not isinstance(text, str):
                raise TypeError(f"WordEmbeddings only embeds strings, got {type(text).__name__}: {text!r}")
        return [self.tokenizer.tokenize(text)[: self.max_seq_length] for text in texts]

    def token_lengths(self, texts: list[str]) -> list[int]:
        """Number of tokens ``tokenize`` gives each text (used to sort inputs by length)."""
        return [len(ids) for ids in self._token_ids(texts)]

    def tokenize(self, texts: list[str], **kwargs) -> dict[str, torch.Tensor]:
        """Token ids padded with 0, their attention mask, and each text's token count (``sentence_lengths``)."""
        token_ids = self._token_ids(texts)
        lengths = [len(ids) for ids in token_ids]
        width = max([1, *lengths])
        input_ids = torch.zeros((len(token_ids), width), dtype=torch.long)
        attention_mask = torch.zeros((len(token_ids), width), dtype=torch.long)
        for row, ids in enumerate(token_ids):
            input_ids[row, : len(ids)] = torch.tensor(ids, dtype=torch.long)
            attention_mask[row, : len(ids)] = 1
        sentence_lengths = torch.tensor(lengths, dtype=torch.long)
        return {"input_ids": input_ids, "attention_mask": attention_mask, "sentence_lengths": sentence_lengths}

    def forward(self, features: dict[str, Any], **kwargs) -> dict[str, Any]:
        """Add ``token_embeddings``: the embedding of each input id."""
        features["token_embeddings"] = self.emb_layer(features["input_ids"])
        return features

    def save(self, output_path: str, *args, safe_serialization: bool = True, **kwargs) -> None:
        """Write wordembedding_config.json, the embedding matrix and the tokenizer's files."""
        self.save_config(output_path)
        self.save_torch_weights(output_path, safe_serialization=safe_serialization)
        self.tokenizer.save(output_path)

    @classmethod
    def load(
        cls,
        model_name_or_path: str,
        subfolder: str = "",
        token: bool | str | None = None,
        cache_folder: str | None = None,
        revision: str | None = None,
        local_files_only: bool = False,
        trust_remote_code: bool = False,
        **kwargs,
    ) -> WordEmbeddings:
        """Rebuild from wordembedding_config.json, the tokenizer files and the weights (safetensors or .bin)."""
        hub = {"token": token, "cache_folder": cache_folder, "revision": revision, "local_files_only": local_files_only}
        config = cls.load_config(model_name_or_path, subfolder=subfolder, **hub)
        folder = cls.load_dir_path(model_name_or_path, subfolder=subfolder, **hub)
        if "tokenizer_class" not in config:
            raise ValueError(f"{os.path.join(folder, cls.config_file_name)} does not name a 'tokenizer_class'")
        tokenizer = tokenizer_class_from_name(config.pop("tokenizer_class"), trust_remote_code).load(folder)
        state_dict = cls.load_torch_weights(model_name_or_path, subfolder=subfolder, **hub)
        if "emb_layer.weight" not in state_dict:
            raise ValueError(f"The weights in {folder} have no 'emb_layer.weight' (found: {sorted(state_dict)})")
        return cls(tokenizer=tokenizer, embedding_weights=state_dict["emb_layer.weight"], **config)

    @classmethod
    def from_text_file(
        cls,
        embeddings_file_path: str,
        update_embeddings: bool = False,
        item_separator: str = " ",
        tokenizer: WordTokenizer | None = None,
        max_vocab_size: int | None = None,
    ) -> WordEmbeddings:
        """Build from a GloVe/word2vec text file (plain or .gz): one ``word v1 v2 …`` line per word.

        Row 0 becomes an all-zero ``PADDING_TOKEN`` (the id used for padding). A word2vec header line
        (``count dimension``) is skipped, as are lines whose dimension differs from the first.

        Args:
            embeddings_file_path: The text file.
            update_embeddings: Whether training updates the embeddings.
            item_separator: What separates the word and the numbers on a line.
            tokenizer: The tokenizer to give the file's vocabulary (default: a new WhitespaceTokenizer).
            max_vocab_size: Read at most this many words.
        """
        embeddings_file_path = os.fspath(embeddings_file_path)
        if not os.path.isfile(embeddings_file_path):
            raise FileNotFoundError(f"Embeddings file {embeddings_file_path!r} does not exist")
        tokenizer = WhitespaceTokenizer() if tokenizer is None else tokenizer
        vocab: list[str] = []
        vectors: list[list[float]] = []
        for word, vector in _read_vectors(embeddings_file_path, item_separator):
            if not vocab and len(vector) == 1:  # a word2vec header: "<count> <dimension>"
                continue
            if not vocab:
                vocab.append(PADDING_TOKEN)
                vectors.append([0.0] * len(vector))
            if len(vector) != len(vectors[0]):
                logger.warning(f"Skipping {word!r}: {len(vector)} dimensions instead of {len(vectors[0])}")
                continue
            vocab.append(word)
            vectors.append(vector)
            if max_vocab_size is not None and 0 < max_vocab_size < len(vocab):
                break
        if not vocab:
            raise ValueError(f"Embeddings file {embeddings_file_path!r} holds no 'word v1 v2 …' lines")
        tokenizer.set_vocab(vocab)
        return cls(tokenizer=tokenizer, embedding_weights=np.asarray(vectors), update_embeddings=update_embeddings)


def _read_vectors(path: str, separator: str) -> Iterator[tuple[str, list[float]]]:
    """(word, vector) for each non-empty line of an embeddings text file."""
    opener = gzip.open if path.endswith(".gz") else open
    with opener(path, "rt", encoding="utf8") as f:
        for line_number, line in enumerate(f, start=1):
            fields = line.rstrip().split(separator)
            if fields == [""]:
                continue
            try:
                yield fields[0], [float(value) for value in fields[1:]]
            except ValueError as exc:
                raise ValueError(f"{path}, line {line_number}: not a 'word v1 v2 …' line ({exc})") from exc


def _as_matrix(embedding_weights: Any) -> torch.Tensor:
    weights = torch.as_tensor(
        np.asarray(embedding_weights) if isinstance(embedding_weights, list) else embedding_weights
    )
    if weights.ndim != 2 or weights.shape[0] == 0:
        raise ValueError(
            f"embedding_weights must be a non-empty [vocab size, dimension] matrix, got {tuple(weights.shape)}"
        )
    return weights.detach().to(torch.float32).clone()


def tokenizer_class_name(tokenizer: WordTokenizer) -> str:
    """The name to save for a tokenizer's class: the standard name for ours, else its import path."""
    cls = type(tokenizer)
    return _TOKENIZER_NAMES.get(cls, f"{cls.__module__}.{cls.__qualname__}")


def tokenizer_class_from_name(name: str, trust_remote_code: bool = False) -> type:
    """The tokenizer class a saved name refers to; a class outside sentence_transformers needs trust_remote_code."""
    module_name, _, class_name = name.rpartition(".")
    if name.startswith("sentence_transformers."):
        if class_name not in _TOKENIZER_CLASSES:
            known = ", ".join(sorted(_TOKENIZER_CLASSES))
            raise ValueError(f"Unknown tokenizer class {name!r}; the standard word tokenizers are: {known}")
        return _TOKENIZER_CLASSES[class_name]
    if not trust_remote_code:
        raise ValueError(
            f"Tokenizer class {name!r} is not a sentence-transformers tokenizer; loading it imports outside code. "
            "Pass trust_remote_code=True only if you trust its source."
        )
    try:
        tokenizer_class = getattr(importlib.import_module(module_name), class_name)
    except (ImportError, AttributeError, ValueError) as exc:
        raise ValueError(f"Cannot import tokenizer class {name!r} ({exc})") from exc
    if not (isinstance(tokenizer_class, type) and issubclass(tokenizer_class, WordTokenizer)):
        raise ValueError(f"Tokenizer class {name!r} is not a WordTokenizer")
    return tokenizer_class
