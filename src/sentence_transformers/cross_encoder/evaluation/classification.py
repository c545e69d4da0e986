"""CrossEncoderClassificationEvaluator: how well a CrossEncoder's scores classify text pairs."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

import numpy as np

from sentence_transformers.base.evaluation.evaluator import BaseEvaluator
from sentence_transformers.cross_encoder.evaluation._scoring import default_progress_bar, predict_scores
from sentence_transformers.sentence_transformer.evaluation import _metrics

if TYPE_CHECKING:
    from sentence_transformers.cross_encoder.model import CrossEncoder

logger = logging.getLogger(__name__)

_BINARY_COLUMNS = {  # metric -> CSV header, for models with one output
    "accuracy": "Accuracy",
    "accuracy_threshold": "Accuracy_Threshold",
    "f1": "F1",
    "f1_threshold": "F1_Threshold",
    "precision": "Precision",
    "recall": "Recall",
    "average_precision": "Average_Precision",
}
_MULTICLASS_COLUMNS = {"f1_macro": "Macro_F1", "f1_micro": "Micro_F1", "f1_weighted": "Weighted_F1"}


class CrossEncoderClassificationEvaluator(BaseEvaluator):
    """Classification quality of a CrossEncoder on text pairs with gold labels.

    A model with one output (``num_labels == 1``) is a binary classifier: the evaluator searches the score
    thresholds with the best accuracy and the best F1 and reports ``accuracy``, ``accuracy_threshold``, ``f1``,
    ``f1_threshold``, ``precision``, ``recall`` and ``average_precision`` (the primary metric). A model with several
    outputs predicts the argmax class; the metrics are ``f1_macro`` (primary), ``f1_micro`` and ``f1_weighted``.

    Args:
        sentence_pairs: The text pairs, e.g. ``[["premise", "hypothesis"], ...]``.
        labels: One gold class per pair (0/1 for a binary model).
        name: Prefix of the metric names and part of the CSV file name.
        prompt_name: The model prompt to score with (a key of ``model.prompts``).
        batch_size: Batch size of ``model.predict``.
        show_progress_bar: Show a progress bar; None shows one while logging is at INFO or DEBUG.
        write_csv: Append the results to ``CrossEncoderClassificationEvaluator[_name]_results.csv``.
        **kwargs: Accepted, and unused, for the arguments of the deprecated evaluators this one replaces.
    """

    def __init__(
        self,
        sentence_pairs: list[list[str]],
        labels: list[int],
        *,
        name: str = "",
        prompt_name: str | None = None,
        batch_size: int = 32,
        show_progress_bar: bool | None = None,
        write_csv: bool = True,
        **kwargs: Any,
    ) -> None:
        super().__init__()
        if len(sentence_pairs) != len(labels):
            raise ValueError("sentence_pairs and labels must have the same length")
        self.sentence_pairs = sentence_pairs
        self.labels = np.asarray(labels)
        self.name = name
        self.prompt_name = prompt_name
        self.batch_size = batch_size
        self.show_progress_bar = default_progress_bar(show_progress_bar)
        self.write_csv = write_csv
        self.csv_file = "CrossEncoderClassificationEvaluator" + (f"_{name}" if name else "") + "_results.csv"
        self.csv_headers: list[str] = ["epoch", "steps"]  # completed at the first call, by the model's outputs

    def __call__(
        self, model: CrossEncoder, output_path: str | None = None, epoch: int = -1, steps: int = -1
    ) -> dict[str, float]:
        """Score the pairs, compute the metrics for the model's number of outputs, write CSV, return the metrics."""
        when = self.describe_when(epoch, steps)
        logger.info(f"CrossEncoderClassificationEvaluator: Evaluating the model on {self.name} dataset{when}:")
        scores = predict_scores(model, self.sentence_pairs, self.prompt_name, self.batch_size, self.show_progress_bar)
        if model.num_labels == 1:
            metrics, columns = self._binary_metrics(scores), _BINARY_COLUMNS
            self.primary_metric = "average_precision"
        else:
            metrics, columns = self._multiclass_metrics(scores), _MULTICLASS_COLUMNS
            self.primary_metric = "f1_macro"
        self.csv_headers = ["epoch", "steps", *columns.values()]
        if self.write_csv:
            self.write_csv_row(output_path, self.csv_file, self.csv_headers, [epoch, steps, *metrics.values()])
        metrics = self.prefix_name_to_metrics(metrics, self.name)
        self.store_metrics_in_model_card_data(model, metrics, epoch, steps)
        return metrics

    def _binary_metrics(self, scores: np.ndarray) -> dict[str, float]:
        """Best-threshold accuracy and F1 (with precision and recall at it) and average precision of 1-D scores."""
        scores = scores.reshape(-1)
        accuracy, accuracy_threshold = _metrics.best_accuracy_threshold(scores, self.labels, True)
        f1, precision, recall, f1_threshold = _metrics.best_f1_threshold(scores, self.labels, True)
        average_precision = _metrics.average_precision(self.labels, scores)
        logger.info(f"Accuracy:          {accuracy * 100:.2f}\t(Threshold: {accuracy_threshold:.4f})")
        logger.info(f"F1:                {f1 * 100:.2f}\t(Threshold: {f1_threshold:.4f})")
        logger.info(f"Precision:         {precision * 100:.2f}")
        logger.info(f"Recall:            {recall * 100:.2f}")
        logger.info(f"Average Precision: {average_precision * 100:.2f}")
        values = (accuracy, accuracy_threshold, f1, f1_threshold, precision, recall, average_precision)
        return dict(zip(_BINARY_COLUMNS, values, strict=True))

    def _multiclass_metrics(self, scores: np.ndarray) -> dict[str, float]:
        """Macro, micro and weighted F1 of the argmax class of [pairs, labels] scores."""
        macro, micro, weighted = f1_scores(self.labels, np.argmax(scores, axis=1))
        logger.info(f"Macro F1:           {macro * 100:.2f}")
        logger.info(f"Micro F1:           {micro * 100:.2f}")
        logger.info(f"Weighted F1:        {weighted * 100:.2f}")
        return {"f1_macro": macro, "f1_micro": micro, "f1_weighted": weighted}


def f1_scores(labels: np.ndarray, predictions: np.ndarray) -> tuple[float, float, float]:
    """Macro, micro and support-weighted F1 of single-label multi-class predictions.

    Classes are those seen in ``labels`` or ``predictions``; a class with no true or predicted member has F1 0 (as
    scikit-learn's ``f1_score`` with its default ``zero_division``). Micro F1 equals the accuracy here.
    """
    labels, predictions = np.asarray(labels), np.asarray(predictions)
    if len(labels) == 0:
        return 0.0, 0.0, 0.0
    classes = np.union1d(labels, predictions)
    true_pos = np.array([np.sum((labels == c) & (predictions == c)) for c in classes], dtype=np.float64)
    predicted = np.array([np.sum(predictions == c) for c in classes], dtype=np.float64)
    support = np.array([np.sum(labels == c) for c in classes], dtype=np.float64)
    denominators = predicted + support  # 2 tp + fp + fn
    per_class = np.divide(2 * true_pos, denominators, out=np.zeros_like(true_pos), where=denominators > 0)
    micro = float(true_pos.sum() / len(labels))
    weighted = float(np.sum(per_class * support) / support.sum())
    return float(per_class.mean()), micro, weighted
