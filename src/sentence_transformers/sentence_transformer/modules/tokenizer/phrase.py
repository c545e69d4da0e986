"""PhraseTokenizer: word tokenization that merges multi-word phrases of the vocab (``New_York``) into one token."""

from __future__ import annotations

import logging
import re
import string
from collections.abc import Iterable
from typing import Any

from sentence_transformers.sentence_transformer.modules.tokenizer.word import VocabTokenizer

logger = logging.getLogger(__name__)

# Words (with inner hyphens, apostrophes or dots: "state-of-the-art", "don't", "3.88") or single punctuation marks.
_WORD_PATTERN = re.compile(r"\w+(?:[-'’.]\w+)*|[^\w\s]")


def split_words(text: str) -> list[str]:
    """Split ``text`` into words and punctuation marks.

    Uses NLTK's ``word_tokenize`` (as sentence-transformers does) when nltk is installed, so tokens match
    exactly; otherwise a built-in splitter that agrees with it on plain words and punctuation.
    """
    try:
        from nltk import word_tokenize
    except ImportError:
        return split_words_builtin(text)
    return word_tokenize(text, preserve_line=True)


def split_words_builtin(text: str) -> list[str]:
    """The splitter used without nltk: words (inner ``-'.`` kept) and single punctuation marks."""
    return _WORD_PATTERN.findall(text)


class PhraseTokenizer(VocabTokenizer):
    """Tokenizer that keeps the vocab's phrases together, e.g. ``New York is big`` → ``[New_York, big]``.

    Phrases are vocab entries whose words are joined by ``ngram_separator`` (as in the Google News word2vec
    vocabulary). Longer phrases are merged first, scanning left to right. Each token is then looked up as
    written, lowercased, and with punctuation stripped; stop words and unknown tokens are left out.

    Args:
        vocab: The vocabulary; a word's index is its position.
        stop_words: Words to leave out (default: ``ENGLISH_STOP_WORDS``).
        do_lower_case: Kept in the config for compatibility; as in sentence-transformers, lookups always try the
            token as written before its lowercase form.
        ngram_separator: The string joining the words of a phrase in the vocab; None detects no phrases.
        max_ngram_length: Longest phrase, in words, to detect.
    """

    config_file_name: str = "phrasetokenizer_config.json"

    def __init__(
        self,
        vocab: Iterable[str] | None = None,
        stop_words: Iterable[str] | None = None,
        do_lower_case: bool = False,
        ngram_separator: str | None = "_",
        max_ngram_length: int = 5,
    ) -> None:
        if ngram_separator is not None and (not isinstance(ngram_separator, str) or not ngram_separator):
            raise ValueError(f"ngram_separator must be a non-empty string or None, got {ngram_separator!r}")
        if not isinstance(max_ngram_length, int) or max_ngram_length < 1:
            raise ValueError(f"max_ngram_length must be a positive integer, got {max_ngram_length!r}")
        self.ngram_separator = ngram_separator
        self.max_ngram_length = max_ngram_length
        super().__init__(vocab, stop_words, do_lower_case)

    def set_vocab(self, vocab: Iterable[str]) -> None:
        """Replace the vocabulary and collect its phrases (malformed ones, with a doubled separator, are skipped)."""
        super().set_vocab(vocab)
        separator = self.ngram_separator
        self.ngram_lookup: set[str] = set()
        self.ngram_lengths: set[int] = set()
        for word in self.vocab if separator is not None else []:
            length = word.count(separator) + 1
            if separator in word and separator * 2 not in word and length <= self.max_ngram_length:
                self.ngram_lookup.add(word)
                self.ngram_lengths.add(length)
        if self.ngram_lookup:
            logger.info(f"PhraseTokenizer: {len(self.ngram_lookup)} phrases of lengths {sorted(self.ngram_lengths)}")

    def get_config_dict(self) -> dict[str, Any]:
        """The constructor arguments, as saved."""
        return {
            **super().get_config_dict(),
            "ngram_separator": self.ngram_separator,
            "max_ngram_length": self.max_ngram_length,
        }

    def tokenize(self, text: str, **kwargs) -> list[int]:
        """The vocab indices of the words and phrases of ``text``, stop words and unknown words left out."""
        if not isinstance(text, str):
            raise TypeError(f"PhraseTokenizer.tokenize expects a string, got {type(text).__name__}")
        indices = []
        for token in self.merge_phrases(split_words(text)):
            lowered = token.lower()
            index = self._index_of((token, lowered, lowered.strip(string.punctuation)))
            if index is not None:
                indices.append(index)
        return indices

    def merge_phrases(self, tokens: list[str]) -> list[str]:
        """Replace runs of tokens that form a vocab phrase (as written, else lowercased) by the phrase."""
        tokens = list(tokens)
        for length in sorted(self.ngram_lengths, reverse=True):
            start = 0
            while start <= len(tokens) - length:
                phrase = self.ngram_separator.join(tokens[start : start + length])
                if phrase not in self.ngram_lookup and phrase.lower() in self.ngram_lookup:
                    phrase = phrase.lower()
                if phrase in self.ngram_lookup:
                    tokens[start : start + length] = [phrase]
                start += 1
        return tokens
