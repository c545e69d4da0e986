"""Modules specific to SentenceTransformer models (the base ones are re-exported for convenience)."""

from sentence_transformers.base.modules import Asym, Dense, InputModule, Module, Normalize, Router, Transformer
from sentence_transformers.sentence_transformer.modules.bow import BoW
from sentence_transformers.sentence_transformer.modules.clip_model import CLIPModel
from sentence_transformers.sentence_transformer.modules.cnn import CNN
from sentence_transformers.sentence_transformer.modules.dropout import Dropout
from sentence_transformers.sentence_transformer.modules.layer_norm import LayerNorm
from sentence_transformers.sentence_transformer.modules.lstm import LSTM
from sentence_transformers.sentence_transformer.modules.pooling import Pooling
from sentence_transformers.sentence_transformer.modules.static_embedding import StaticEmbedding
from sentence_transformers.sentence_transformer.modules.tokenizer import (
    ENGLISH_STOP_WORDS,
    PhraseTokenizer,
    WhitespaceTokenizer,
    WordTokenizer,
)
from sentence_transformers.sentence_transformer.modules.weighted_layer_pooling import WeightedLayerPooling
from sentence_transformers.sentence_transformer.modules.wk_pooling import WKPooling
from sentence_transformers.sentence_transformer.modules.word_embeddings import WordEmbeddings
from sentence_transformers.sentence_transformer.modules.word_weights import WordWeights

__all__ = [
    "CNN",
    "CLIPModel",
    "ENGLISH_STOP_WORDS",
    "LSTM",
    "Asym",
    "BoW",
    "Dense",
    "Dropout",
    "InputModule",
    "LayerNorm",
    "Module",
    "Normalize",
    "PhraseTokenizer",
    "Pooling",
    "Router",
    "StaticEmbedding",
    "Transformer",
    "WKPooling",
    "WeightedLayerPooling",
    "WhitespaceTokenizer",
    "WordEmbeddings",
    "WordTokenizer",
    "WordWeights",
]
