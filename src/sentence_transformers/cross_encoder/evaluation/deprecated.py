"""The CrossEncoder evaluators of 2.x/3.x under their old names: they work as their replacements, and warn.

``CEBinaryAccuracyEvaluator``, ``CEBinaryClassificationEvaluator``, ``CEF1Evaluator`` and
``CESoftmaxAccuracyEvaluator`` became :class:`CrossEncoderClassificationEvaluator` (which picks binary or
multi-class metrics from the model's number of outputs); ``CECorrelationEvaluator`` and ``CERerankingEvaluator`` were
renamed. Creating one raises a ``DeprecationWarning``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from typing_extensions import deprecated

from sentence_transformers.cross_encoder.evaluation.classification import CrossEncoderClassificationEvaluator
from sentence_transformers.cross_encoder.evaluation.correlation import CrossEncoderCorrelationEvaluator
from sentence_transformers.cross_encoder.evaluation.reranking import CrossEncoderRerankingEvaluator

if TYPE_CHECKING:
    from sentence_transformers.sentence_transformer.readers.input_example import InputExample

_CLASSIFICATION_MESSAGE = (
    "This evaluator has been deprecated in favor of the more general CrossEncoderClassificationEvaluator. "
    "Please use CrossEncoderClassificationEvaluator instead, which supports both binary and multi-class "
    "evaluation. It accepts approximately the same inputs as this evaluator."
)


class _OldName:
    """Describes a "CE..." evaluator as "Cross Encoder ..." in model cards, like its replacement."""

    @property
    def description(self) -> str:
        """The description of the evaluator class this one was renamed to."""
        return super().description.replace("CE", "Cross Encoder ", 1)  # type: ignore[misc]


class _OldClassification(_OldName, CrossEncoderClassificationEvaluator):
    """A classification evaluator under an old name, with the 2.x ``from_input_examples``."""

    @classmethod
    def from_input_examples(cls, examples: list[InputExample], **kwargs: Any) -> CrossEncoderClassificationEvaluator:
        """Build the evaluator from 2.x ``InputExample`` pairs: their texts and labels."""
        return cls([example.texts for example in examples], [example.label for example in examples], **kwargs)


@deprecated(_CLASSIFICATION_MESSAGE)
class CEBinaryAccuracyEvaluator(_OldClassification):
    """Deprecated: use :class:`CrossEncoderClassificationEvaluator`."""


@deprecated(_CLASSIFICATION_MESSAGE)
class CEBinaryClassificationEvaluator(_OldClassification):
    """Deprecated: use :class:`CrossEncoderClassificationEvaluator`."""


@deprecated(_CLASSIFICATION_MESSAGE)
class CEF1Evaluator(_OldClassification):
    """Deprecated: use :class:`CrossEncoderClassificationEvaluator`."""


@deprecated(_CLASSIFICATION_MESSAGE)
class CESoftmaxAccuracyEvaluator(_OldClassification):
    """Deprecated: use :class:`CrossEncoderClassificationEvaluator`."""


@deprecated(
    "The CECorrelationEvaluator has been renamed to CrossEncoderCorrelationEvaluator. "
    "Please use CrossEncoderCorrelationEvaluator instead."
)
class CECorrelationEvaluator(_OldName, CrossEncoderCorrelationEvaluator):
    """Deprecated: use :class:`CrossEncoderCorrelationEvaluator`."""


@deprecated(
    "The CERerankingEvaluator has been renamed to CrossEncoderRerankingEvaluator. "
    "Please use CrossEncoderRerankingEvaluator instead."
)
class CERerankingEvaluator(_OldName, CrossEncoderRerankingEvaluator):
    """Deprecated: use :class:`CrossEncoderRerankingEvaluator`."""
