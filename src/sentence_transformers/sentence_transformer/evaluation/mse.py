"""MSEEvaluator: mean squared error between a student's embeddings and a teacher's (knowledge distillation)."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

import numpy as np

from sentence_transformers.base.evaluation.evaluator import SentenceEvaluator

if TYPE_CHECKING:
    from sentence_transformers.sentence_transformer.model import SentenceTransformer

logger = logging.getLogger(__name__)


class MSEEvaluator(SentenceEvaluator):
    """MSE (x100) between the teacher's embeddings of ``source_sentences`` and the model's of ``target_sentences``.

    The teacher embeddings are computed once, here (or passed as ``source_embeddings``). The returned metric
    is ``negative_mse`` (= -MSE x 100), so that higher is better like every other metric; it is the primary one.

    Args:
        source_sentences: Sentences the teacher embeds (e.g. English).
        target_sentences: Sentences the evaluated model embeds (e.g. their translations), in the same order.
        teacher_model: The model whose embeddings are the targets.
        show_progress_bar: Show a progress bar while encoding.
        batch_size: Encoding batch size.
        name: Prefix of the metric names and part of the CSV file name.
        write_csv: Append the results to ``mse_evaluation_<name>_results.csv``.
        truncate_dim: Truncate embeddings to this many dimensions.
        source_embeddings: Precomputed teacher embeddings, one row per source sentence, instead of a teacher.
    """

    def __init__(
        self,
        source_sentences: list[str],
        target_sentences: list[str],
        teacher_model: SentenceTransformer | None = None,
        show_progress_bar: bool = False,
        batch_size: int = 32,
        name: str = "",
        write_csv: bool = True,
        truncate_dim: int | None = None,
        source_embeddings: np.ndarray | None = None,
    ) -> None:
        super().__init__()
        if len(source_sentences) != len(target_sentences):
            raise ValueError(
                f"source_sentences ({len(source_sentences)}) and target_sentences ({len(target_sentences)}) "
                "must have the same length."
            )
        if teacher_model is None and source_embeddings is None:
            raise ValueError("MSEEvaluator needs a teacher_model or precomputed source_embeddings.")
        self.target_sentences = target_sentences
        self.show_progress_bar = show_progress_bar
        self.batch_size = batch_size
        self.name = name
        self.write_csv = write_csv
        self.truncate_dim = truncate_dim
        self.csv_file = f"mse_evaluation_{name}_results.csv"
        self.csv_headers = ["epoch", "steps", "MSE"]
        self.primary_metric = "negative_mse"
        if source_embeddings is None:
            source_embeddings = self.embed_inputs(teacher_model, source_sentences)
        self.source_embeddings = np.asarray(source_embeddings)
        if len(self.source_embeddings) != len(source_sentences):
            raise ValueError(
                f"source_embeddings has {len(self.source_embeddings)} rows for {len(source_sentences)} sentences."
            )

    def __call__(
        self, model: SentenceTransformer, output_path: str | None = None, epoch: int = -1, steps: int = -1
    ) -> dict[str, float]:
        """Embed the targets with ``model``, compare them with the teacher embeddings, write CSV, return metrics."""
        when = self.describe_when(epoch, steps, self.truncate_dim)
        target_embeddings = self.embed_inputs(model, self.target_sentences)
        mse = (((self.source_embeddings - target_embeddings) ** 2).mean() * 100).item()
        logger.info(f"MSE evaluation (lower = better) on the {self.name} dataset{when}:")
        logger.info(f"MSE (*100):\t{mse:4f}")
        if self.write_csv:
            self.write_csv_row(output_path, self.csv_file, self.csv_headers, [epoch, steps, mse])
        metrics = self.prefix_name_to_metrics({"negative_mse": -mse}, self.name)
        self.store_metrics_in_model_card_data(model, metrics, epoch, steps)
        return metrics

    @property
    def description(self) -> str:
        """Shown in model cards."""
        return "Knowledge Distillation"
