"""WhitespaceTokenizer: split on whitespace, strip punctuation, look words up in the vocab."""

from __future__ import annotations

import string
from collections.abc import Iterable

from sentence_transformers.sentence_transformer.modules.tokenizer.word import VocabTokenizer


class WhitespaceTokenizer(VocabTokenizer):
    """Simple and fast tokenizer: splits on whitespace and maps each word to its vocab index.

    Each word is tried as written, then with surrounding punctuation stripped, then lowercased; the first form
    that is a stop word drops the word, the first form in the vocab gives its index; words not found are dropped.

    Args:
        vocab: The vocabulary; a word's index is its position.
        stop_words: Words to leave out (default: ``ENGLISH_STOP_WORDS``).
        do_lower_case: Lowercase the whole text before splitting.
    """

    config_file_name: str = "whitespacetokenizer_config.json"

    def __init__(
        self,
        vocab: Iterable[str] | None = None,
        stop_words: Iterable[str] | None = None,
        do_lower_case: bool = False,
    ) -> None:
        super().__init__(vocab, stop_words, do_lower_case)

    def tokenize(self, text: str, **kwargs) -> list[int]:
        """The vocab indices of the words of ``text``, stop words and unknown words left out."""
        if not isinstance(text, str):
            raise TypeError(f"WhitespaceTokenizer.tokenize expects a string, got {type(text).__name__}")
        if self.do_lower_case:
            text = text.lower()
        indices = []
        for word in text.split():
            stripped = word.strip(string.punctuation)
            index = self._index_of((word, stripped, stripped.lower()))
            if index is not None:
                indices.append(index)
        return indices
