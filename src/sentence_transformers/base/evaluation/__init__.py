"""The evaluator base class and the evaluator that runs several in turn."""

from sentence_transformers.base.evaluation.evaluator import BaseEvaluator, SentenceEvaluator
from sentence_transformers.base.evaluation.sequential import SequentialEvaluator

__all__ = ["BaseEvaluator", "SentenceEvaluator", "SequentialEvaluator"]
