"""Word tokenizers for WordEmbeddings and BoW."""

from sentence_transformers.sentence_transformer.modules.tokenizer.phrase import PhraseTokenizer
from sentence_transformers.sentence_transformer.modules.tokenizer.whitespace import WhitespaceTokenizer
from sentence_transformers.sentence_transformer.modules.tokenizer.word import (
    ENGLISH_STOP_WORDS,
    TransformersTokenizerWrapper,
    WordTokenizer,
)

__all__ = [
    "ENGLISH_STOP_WORDS",
    "PhraseTokenizer",
    "TransformersTokenizerWrapper",
    "WhitespaceTokenizer",
    "WordTokenizer",
]
