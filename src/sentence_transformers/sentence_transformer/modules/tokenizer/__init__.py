"""Word tokenizers for WordEmbeddings and BoW."""

from sentence_transformers.sentence_transformer.modules.tokenizer.phrase_tokenizer import PhraseTokenizer
from sentence_transformers.sentence_transformer.modules.tokenizer.whitespace_tokenizer import WhitespaceTokenizer
from sentence_transformers.sentence_transformer.modules.tokenizer.word_tokenizer import (
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
