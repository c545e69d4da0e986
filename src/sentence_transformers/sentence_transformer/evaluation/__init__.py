"""Every evaluator."""

from sentence_transformers.base.evaluation.evaluator import BaseEvaluator, SentenceEvaluator
from sentence_transformers.base.evaluation.sequential import SequentialEvaluator
from sentence_transformers.sentence_transformer.evaluation.binary_classification import BinaryClassificationEvaluator
from sentence_transformers.sentence_transformer.evaluation.embedding_similarity import EmbeddingSimilarityEvaluator
from sentence_transformers.sentence_transformer.evaluation.information_retrieval import InformationRetrievalEvaluator
from sentence_transformers.sentence_transformer.evaluation.label_accuracy import LabelAccuracyEvaluator
from sentence_transformers.sentence_transformer.evaluation.mse import MSEEvaluator
from sentence_transformers.sentence_transformer.evaluation.mse_from_dataframe import MSEEvaluatorFromDataFrame
from sentence_transformers.sentence_transformer.evaluation.nano_beir import NanoBEIREvaluator
from sentence_transformers.sentence_transformer.evaluation.paraphrase_mining import ParaphraseMiningEvaluator
from sentence_transformers.sentence_transformer.evaluation.reranking import RerankingEvaluator
from sentence_transformers.sentence_transformer.evaluation.translation import TranslationEvaluator
from sentence_transformers.sentence_transformer.evaluation.triplet import TripletEvaluator
from sentence_transformers.util.similarity import SimilarityFunction

__all__ = [
    "BaseEvaluator",
    "BinaryClassificationEvaluator",
    "EmbeddingSimilarityEvaluator",
    "InformationRetrievalEvaluator",
    "LabelAccuracyEvaluator",
    "MSEEvaluator",
    "MSEEvaluatorFromDataFrame",
    "NanoBEIREvaluator",
    "ParaphraseMiningEvaluator",
    "RerankingEvaluator",
    "SentenceEvaluator",
    "SequentialEvaluator",
    "SimilarityFunction",
    "TranslationEvaluator",
    "TripletEvaluator",
]
