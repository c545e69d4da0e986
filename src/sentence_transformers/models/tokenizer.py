"""The 2.x import path ``sentence_transformers.models.tokenizer``: re-exports only."""

from sentence_transformers.sentence_transformer.modules.tokenizer import (
    ENGLISH_STOP_WORDS,
    PhraseTokenizer,
    WhitespaceTokenizer,
    WordTokenizer,
)

__all__ = ["ENGLISH_STOP_WORDS", "PhraseTokenizer", "WhitespaceTokenizer", "WordTokenizer"]
