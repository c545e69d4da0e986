"""CrossEncoderCorrelationEvaluator: how well a CrossEncoder's pair scores follow gold similarity scores."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

import numpy as np
from scipy.stats import pearsonr, spearmanr

from sentence_transformers.base.evaluation.evaluator import BaseEvaluator
from sentence_transformers.cross_encoder.evaluation._scoring import (
    default_progress_bar,
    one_score_per_pair,
    predict_scores,
)

if TYPE_CHECKING:
    from sentence_transformers.cross_encoder.model import CrossEncoder
    from sentence_transformers.sentence_transformer.readers.input_example import InputExample

logger = logging.getLogger(__name__)


class CrossEncoderCorrelationEvaluator(BaseEvaluator):
    """Pearson and Spearman correlation between a CrossEncoder's scores of text pairs and their gold scores.

    The metrics are ``pearson`` and ``spearman`` (the primary metric), prefixed by ``name``.

    Args:
        sentence_pairs: The text pairs, e.g. ``[["sentence 1", "sentence 2"], ...]``.
        scores: One gold score per pair.
        name: Prefix of the metric names and part of the CSV file name.
        prompt_name: The model prompt to score with (a key of ``model.prompts``).
        batch_size: Batch size of ``model.predict``.
        show_progress_bar: Show a progress bar; None shows one while logging is at INFO or DEBUG.
        write_csv: Append the results to ``CrossEncoderCorrelationEvaluator[_name]_results.csv``.
    """

    def __init__(
        self,
        sentence_pairs: list[list[str]],
        scores: list[float],
        name: str = "",
        prompt_name: str | None = None,
        batch_size: int = 32,
        show_progress_bar: bool | None = None,
        write_csv: bool = True,
    ) -> None:
        super().__init__()
        self.sentence_pairs = sentence_pairs
        self.scores = scores
        self.name = name
        self.prompt_name = prompt_name
        self.batch_size = batch_size
        self.show_progress_bar = default_progress_bar(show_progress_bar)
        self.write_csv = write_csv
        self.csv_file = "CrossEncoderCorrelationEvaluator" + (f"_{name}" if name else "") + "_results.csv"
        self.csv_headers = ["epoch", "steps", "Pearson_Correlation", "Spearman_Correlation"]
        self.primary_metric = "spearman"

    @classmethod
    def from_input_examples(cls, examples: list[InputExample], **kwargs: Any) -> CrossEncoderCorrelationEvaluator:
        """Build the evaluator from 2.x ``InputExample`` pairs: their texts and, as gold scores, their labels."""
        return cls([example.texts for example in examples], [example.label for example in examples], **kwargs)

    def __call__(
        self, model: CrossEncoder, output_path: str | None = None, epoch: int = -1, steps: int = -1
    ) -> dict[str, float]:
        """Score the pairs, correlate with the gold scores, write CSV and return ``pearson`` and ``spearman``."""
        when = self.describe_when(epoch, steps)
        logger.info(f"CrossEncoderCorrelationEvaluator: Evaluating the model on {self.name} dataset{when}:")
        predicted = predict_scores(
            model, self.sentence_pairs, self.prompt_name, self.batch_size, self.show_progress_bar
        )
        predicted = one_score_per_pair(predicted, "Correlation")
        pearson = float(pearsonr(np.asarray(self.scores, dtype=np.float64), predicted)[0])
        spearman = float(spearmanr(self.scores, predicted)[0])
        logger.info(f"Correlation:\tPearson: {pearson:.4f}\tSpearman: {spearman:.4f}")
        if self.write_csv:
            self.write_csv_row(output_path, self.csv_file, self.csv_headers, [epoch, steps, pearson, spearman])
        metrics = self.prefix_name_to_metrics({"pearson": pearson, "spearman": spearman}, self.name)
        self.store_metrics_in_model_card_data(model, metrics, epoch, steps)
        return metrics
