"""BinaryClassificationEvaluator: how well a similarity threshold separates duplicate from non-duplicate pairs."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any, Literal

import numpy as np

from sentence_transformers.base.evaluation.evaluator import (
    SentenceEvaluator,
    check_similarity_fn_names,
    pair_columns,
    pairwise_similarities,
)
from sentence_transformers.sentence_transformer.evaluation import _metrics

if TYPE_CHECKING:
    from sentence_transformers.sentence_transformer.model import SentenceTransformer
    from sentence_transformers.sentence_transformer.readers.input_example import InputExample

logger = logging.getLogger(__name__)

# Metric order of the CSV columns (the returned dict lists f1_threshold right after f1).
CSV_METRICS = ("accuracy", "accuracy_threshold", "f1", "precision", "recall", "f1_threshold", "ap", "mcc")
_DISPLAY = {
    "cosine": "Cosine-Similarity",
    "dot": "Dot-Product",
    "manhattan": "Manhattan-Distance",
    "euclidean": "Euclidean-Distance",
}


class BinaryClassificationEvaluator(SentenceEvaluator):
    """Accuracy, F1, precision, recall, average precision and MCC of labelling pairs by a similarity threshold.

    For each similarity function (by default the model's own) the best accuracy threshold and the best F1
    threshold are searched over all cuts; precision, recall and MCC are those at the F1 threshold, and average
    precision ranks pairs by similarity. Manhattan and Euclidean are reported as distances (lower = similar).
    Metrics are ``<fn>_<metric>`` plus ``max_<metric>`` over functions when there are several; the primary
    metric is ``<fn>_ap`` (or ``max_ap``).

    Args:
        sentences1: First sentence of each pair.
        sentences2: Second sentence of each pair.
        labels: 1 for similar / duplicate pairs, 0 otherwise.
        name: Prefix of the metric names and part of the CSV file name.
        batch_size: Encoding batch size.
        show_progress_bar: Show a progress bar while encoding.
        write_csv: Append the results to ``binary_classification_evaluation[_name]_results.csv``.
        truncate_dim: Truncate embeddings to this many dimensions.
        similarity_fn_names: Functions to evaluate, among "cosine", "dot", "euclidean", "manhattan".
    """

    def __init__(
        self,
        sentences1: list[str],
        sentences2: list[str],
        labels: list[int],
        name: str = "",
        batch_size: int = 32,
        show_progress_bar: bool = False,
        write_csv: bool = True,
        truncate_dim: int | None = None,
        similarity_fn_names: list[Literal["cosine", "dot", "euclidean", "manhattan"]] | None = None,
    ) -> None:
        super().__init__()
        if not len(sentences1) == len(sentences2) == len(labels):
            raise ValueError(
                f"sentences1, sentences2 and labels must have the same length, got {len(sentences1)}, "
                f"{len(sentences2)} and {len(labels)}."
            )
        bad = [label for label in labels if label not in (0, 1)]
        if bad:
            raise ValueError(f"labels must be 0 or 1, got {bad[:5]}.")
        self.sentences1 = sentences1
        self.sentences2 = sentences2
        self.labels = labels
        self.name = name
        self.batch_size = batch_size
        self.show_progress_bar = show_progress_bar
        self.write_csv = write_csv
        self.truncate_dim = truncate_dim
        self.similarity_fn_names = check_similarity_fn_names(similarity_fn_names)
        self.csv_file = "binary_classification_evaluation" + (f"_{name}" if name else "") + "_results.csv"

    @property
    def csv_headers(self) -> list[str]:
        """CSV columns: epoch, steps, then <fn>_<metric> for each similarity function and metric."""
        return ["epoch", "steps"] + [f"{fn}_{metric}" for fn in self.similarity_fn_names for metric in CSV_METRICS]

    @classmethod
    def from_input_examples(cls, examples: list[InputExample], **kwargs) -> BinaryClassificationEvaluator:
        """Build from 2.x ``InputExample`` pairs whose label is 0 or 1."""
        return cls(*pair_columns(examples), **kwargs)

    def __call__(
        self, model: SentenceTransformer, output_path: str | None = None, epoch: int = -1, steps: int = -1
    ) -> dict[str, float]:
        """Encode the pairs, find the best thresholds per similarity function, write CSV and return metrics."""
        when = self.describe_when(epoch, steps, self.truncate_dim)
        logger.info(f"Binary Accuracy Evaluation of the model on the {self.name} dataset{when}:")
        self.similarity_fns_for(model)
        scores = self.compute_metrics(model)
        if self.write_csv:
            row = [scores[fn][metric] for fn in self.similarity_fn_names for metric in CSV_METRICS]
            self.write_csv_row(output_path, self.csv_file, self.csv_headers, [epoch, steps, *row])
        metrics = {f"{fn}_{metric}": value for fn, values in scores.items() for metric, value in values.items()}
        if len(self.similarity_fn_names) > 1:
            first = next(iter(scores.values()))
            metrics.update({f"max_{metric}": max(values[metric] for values in scores.values()) for metric in first})
            self.primary_metric = "max_ap"
        else:
            self.primary_metric = f"{self.similarity_fn_names[0]}_ap"
        metrics = self.prefix_name_to_metrics(metrics, self.name)
        self.store_metrics_in_model_card_data(model, metrics, epoch, steps)
        return metrics

    def compute_metrics(self, model: SentenceTransformer) -> dict[str, dict[str, float]]:
        """Metrics per similarity function: {"cosine": {"accuracy": ..., "ap": ...}, ...}."""
        embeddings1, embeddings2 = self._embed_pairs(model)
        labels = np.asarray(self.labels)
        results = {}
        for fn_name in self.similarity_fns_for(model):
            similarities = pairwise_similarities(fn_name, embeddings1, embeddings2)
            is_distance = fn_name in ("manhattan", "euclidean")
            results[fn_name] = self._threshold_metrics(-similarities if is_distance else similarities, labels, fn_name)
        return results

    compute_metrices = compute_metrics  # the 2.x spelling

    @staticmethod
    def _threshold_metrics(scores: np.ndarray, labels: np.ndarray, fn_name: str) -> dict[str, float]:
        """Best-threshold metrics for one score array (distances when ``fn_name`` is a distance)."""
        greater_is_better = fn_name not in ("manhattan", "euclidean")
        accuracy, accuracy_threshold = _metrics.best_accuracy_threshold(scores, labels, greater_is_better)
        f1, precision, recall, f1_threshold = _metrics.best_f1_threshold(scores, labels, greater_is_better)
        ap = _metrics.average_precision(labels, scores if greater_is_better else -scores)
        predicted = scores >= f1_threshold if greater_is_better else scores <= f1_threshold
        mcc = _metrics.matthews_corrcoef(labels, predicted)
        display = _DISPLAY[fn_name]
        logger.info(f"Accuracy with {display}:           {accuracy * 100:.2f}\t(Threshold: {accuracy_threshold:.4f})")
        logger.info(f"F1 with {display}:                 {f1 * 100:.2f}\t(Threshold: {f1_threshold:.4f})")
        logger.info(f"Precision / Recall with {display}: {precision * 100:.2f} / {recall * 100:.2f}")
        logger.info(f"Average Precision / MCC with {display}: {ap * 100:.2f} / {mcc * 100:.2f}")
        return {
            "accuracy": accuracy,
            "accuracy_threshold": accuracy_threshold,
            "f1": f1,
            "f1_threshold": f1_threshold,
            "precision": precision,
            "recall": recall,
            "ap": ap,
            "mcc": mcc,
        }

    def _embed_pairs(self, model: SentenceTransformer) -> tuple[np.ndarray, np.ndarray]:
        """Embeddings of both sides; each distinct sentence is encoded once when the inputs are hashable."""
        try:
            unique = list(dict.fromkeys([*self.sentences1, *self.sentences2]))
        except TypeError:  # e.g. images: encode every input
            return self.embed_inputs(model, self.sentences1), self.embed_inputs(model, self.sentences2)
        embeddings = self.embed_inputs(model, unique)
        position = {sentence: index for index, sentence in enumerate(unique)}
        rows1 = [position[sentence] for sentence in self.sentences1]
        rows2 = [position[sentence] for sentence in self.sentences2]
        return embeddings[rows1], embeddings[rows2]

    @staticmethod
    def find_best_acc_and_threshold(scores: Any, labels: Any, high_score_more_similar: bool) -> tuple[float, float]:
        """Best accuracy and its threshold (see `_metrics.best_accuracy_threshold`)."""
        return _metrics.best_accuracy_threshold(np.asarray(scores), np.asarray(labels), high_score_more_similar)

    @staticmethod
    def find_best_f1_and_threshold(
        scores: Any, labels: Any, high_score_more_similar: bool
    ) -> tuple[float, float, float, float]:
        """Best F1 with its precision, recall and threshold (see `_metrics.best_f1_threshold`)."""
        return _metrics.best_f1_threshold(np.asarray(scores), np.asarray(labels), high_score_more_similar)
