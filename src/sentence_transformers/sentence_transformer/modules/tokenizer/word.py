"""Word tokenizers map a text to vocabulary indices: the base class, a shared vocab core, the stop words."""

from __future__ import annotations

import json
import os
from abc import ABC, abstractmethod
from collections.abc import Iterable
from typing import Any

from transformers import AutoTokenizer, PreTrainedTokenizerBase

_PUNCTUATION_STOP_WORDS = ["!", '"', "''", "``", "#", "$", "%", "&", "'", "(", ")", "*", "+", ",", "-", ".", "/"]
_PUNCTUATION_STOP_WORDS += [":", ";", "<", "=", ">", "?", "@", "[", "\\", "]", "^", "_", "`", "{", "|", "}", "~"]
_WORD_STOP_WORDS = """
a about above across after afterwards again against ain all almost alone along already also although always am
among amongst amoungst amount an and another any anyhow anyone anything anyway anywhere are aren around as at
back be became because become becomes becoming been before beforehand behind being below beside besides between
beyond bill both bottom but by call can cannot cant co con could couldn couldnt cry d de describe detail did
didn do does doesn doing don done down due during each eg eight either eleven else elsewhere empty enough etc
even ever every everyone everything everywhere except few fifteen fifty fill find fire first five for former
formerly forty found four from front full further get give go had hadn has hasn hasnt have haven having he hence
her here hereafter hereby herein hereupon hers herself him himself his how however hundred i ie if in inc indeed
interest into is isn it its itself just keep last latter latterly least less ll ltd m ma made many may me
meanwhile might mightn mill mine more moreover most mostly move much must mustn my myself name namely needn
neither never nevertheless next nine no nobody none noone nor not nothing now nowhere o of off often on once one
only onto or other others otherwise our ours ourselves out over own part per perhaps please put rather re s same
see seem seemed seeming seems serious several shan she should shouldn show side since sincere six sixty so some
somehow someone something sometime sometimes somewhere still such system t take ten than that the their theirs
them themselves then thence there thereafter thereby therefore therein thereupon these they thick thin third
this those though three through throughout thru thus to together too top toward towards twelve twenty two un
under until up upon us ve very via was wasn we well were weren what whatever when whence whenever where
whereafter whereas whereby wherein whereupon wherever whether which while whither who whoever whole whom whose
why will with within without won would wouldn y yet you your yours yourself yourselves
"""

# The English stop words of sentence-transformers: ASCII punctuation and the scikit-learn/NLTK English word list.
ENGLISH_STOP_WORDS: list[str] = _PUNCTUATION_STOP_WORDS + _WORD_STOP_WORDS.split()


class WordTokenizer(ABC):
    """Splits a text into words and maps them to indices of a fixed vocabulary (for WordEmbeddings and BoW)."""

    @abstractmethod
    def set_vocab(self, vocab: Iterable[str]) -> None:
        """Replace the vocabulary; a word's index is its position."""

    @abstractmethod
    def get_vocab(self, vocab: Iterable[str] | None = None) -> list[str]:
        """The vocabulary, in index order.

        ``vocab`` is not read: upstream's abstract method names it, so a call that passes one keeps working."""

    @abstractmethod
    def tokenize(self, text: str, **kwargs) -> list[int]:
        """The vocabulary indices of the words of ``text`` (unknown and stop words left out)."""

    @abstractmethod
    def save(self, output_path: str) -> None:
        """Write the tokenizer's files into ``output_path``."""

    @staticmethod
    @abstractmethod
    def load(input_path: str) -> WordTokenizer:
        """Rebuild the tokenizer from the files ``save`` wrote."""


class VocabTokenizer(WordTokenizer):
    """Shared core of the word tokenizers: a vocabulary, stop words, and a JSON config file to save them in.

    Subclasses set ``config_file_name`` and add their own settings through ``get_config_dict``.
    """

    config_file_name: str = "tokenizer_config.json"

    def __init__(self, vocab: Iterable[str] | None, stop_words: Iterable[str] | None, do_lower_case: bool) -> None:
        self.stop_words = set(ENGLISH_STOP_WORDS if stop_words is None else _strings(stop_words, "stop_words"))
        self.do_lower_case = bool(do_lower_case)
        self.set_vocab([] if vocab is None else vocab)

    def set_vocab(self, vocab: Iterable[str]) -> None:
        """Replace the vocabulary; when a word repeats, its last position wins (as in sentence-transformers)."""
        self.vocab = _strings(vocab, "vocab")
        self.word2idx = {word: index for index, word in enumerate(self.vocab)}

    def get_vocab(self) -> list[str]:
        """The vocabulary, in index order."""
        return self.vocab

    def get_config_dict(self) -> dict[str, Any]:
        """The constructor arguments, as saved (stop words sorted so that saves are reproducible)."""
        return {"vocab": list(self.vocab), "stop_words": sorted(self.stop_words), "do_lower_case": self.do_lower_case}

    def save(self, output_path: str) -> None:
        """Write the config file (``config_file_name``) into ``output_path``."""
        os.makedirs(output_path, exist_ok=True)
        with open(os.path.join(output_path, self.config_file_name), "w", encoding="utf-8") as f:
            json.dump(self.get_config_dict(), f)

    @classmethod
    def load(cls, input_path: str) -> VocabTokenizer:
        """Rebuild the tokenizer from the config file in ``input_path``."""
        path = os.path.join(input_path, cls.config_file_name)
        if not os.path.isfile(path):
            raise FileNotFoundError(f"{cls.__name__} config {path} does not exist")
        with open(path, encoding="utf-8") as f:
            try:
                config = json.load(f)
            except json.JSONDecodeError as exc:
                raise ValueError(f"Corrupt {cls.__name__} config {path}: {exc}") from exc
        if not isinstance(config, dict):
            raise ValueError(f"Corrupt {cls.__name__} config {path}: expected a JSON object")
        return cls(**config)

    def _index_of(self, candidates: Iterable[str]) -> int | None:
        """The index of the first candidate form found in the vocab; None if one is a stop word first, or none is."""
        for candidate in candidates:
            if candidate in self.stop_words:
                return None
            if candidate and candidate in self.word2idx:
                return self.word2idx[candidate]
        return None


class TransformersTokenizerWrapper(WordTokenizer):
    """Lets WordEmbeddings use a Hugging Face tokenizer: its input ids index the embedding matrix."""

    def __init__(self, tokenizer: PreTrainedTokenizerBase) -> None:
        if not isinstance(tokenizer, PreTrainedTokenizerBase):
            raise TypeError(f"Expected a Hugging Face PreTrainedTokenizerBase, got {type(tokenizer).__name__}")
        self.tokenizer = tokenizer

    def set_vocab(self, vocab: Iterable[str]) -> None:
        """The Hugging Face tokenizer owns its vocabulary: nothing to set."""

    def get_vocab(self, vocab: Iterable[str] | None = None) -> list[str]:
        """The tokenizer's tokens in id order (``vocab`` is not read, as upstream's is not: the tokenizer owns its
        vocabulary)."""
        vocab = self.tokenizer.get_vocab()
        return sorted(vocab, key=vocab.__getitem__)

    def tokenize(self, sentence: str, **kwargs) -> list[int]:
        """The tokenizer's input ids for ``sentence``, special tokens included."""
        return list(self.tokenizer(sentence)["input_ids"])

    def save(self, output_path: str) -> None:
        """Write the Hugging Face tokenizer files."""
        self.tokenizer.save_pretrained(output_path)

    @staticmethod
    def load(input_path: str) -> TransformersTokenizerWrapper:
        """Load the Hugging Face tokenizer saved in ``input_path``."""
        return TransformersTokenizerWrapper(AutoTokenizer.from_pretrained(input_path, use_fast=True))


def _strings(values: Iterable[str], what: str) -> list[str]:
    if isinstance(values, str) or not isinstance(values, Iterable):
        raise TypeError(f"{what} must be an iterable of strings (e.g. a list), got {type(values).__name__}")
    values = list(values)
    bad = next((value for value in values if not isinstance(value, str)), None)
    if bad is not None:
        raise TypeError(f"{what} must hold only strings, got {bad!r} ({type(bad).__name__})")
    return values
