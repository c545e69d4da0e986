"""MSEEvaluatorFromDataFrame: distillation MSE for several language pairs of a parallel-sentence table."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

import numpy as np

from sentence_transformers.base.evaluation.evaluator import SentenceEvaluator

if TYPE_CHECKING:
    from sentence_transformers.sentence_transformer.model import SentenceTransformer

logger = logging.getLogger(__name__)


class MSEEvaluatorFromDataFrame(SentenceEvaluator):
    """MSE (x100) between teacher embeddings of one column and the model's embeddings of another, per pair.

    For each ``(source, target)`` column pair, rows where both cells are non-empty are used: the teacher embeds
    the source cell (once, here), the evaluated model the target cell. The CSV gets one column per pair; the
    returned metric is ``negative_mse``, minus the mean of the pairs' MSEs.

    Args:
        dataframe: Rows of parallel sentences, e.g. ``[{"en": "...", "de": "..."}, ...]`` (or a pandas DataFrame).
        teacher_model: The model that embeds the source columns.
        combinations: Column pairs, e.g. ``[("en", "de"), ("en", "fr")]``.
        batch_size: Encoding batch size.
        name: Prefix of the metric names and part of the CSV file name.
        write_csv: Append the results to ``mse_evaluation[_name]_results.csv``.
        truncate_dim: Truncate embeddings to this many dimensions.
    """

    def __init__(
        self,
        dataframe: list[dict[str, str]],
        teacher_model: SentenceTransformer,
        combinations: list[tuple[str, str]],
        batch_size: int = 8,
        name: str = "",
        write_csv: bool = True,
        truncate_dim: int | None = None,
    ) -> None:
        super().__init__()
        rows = dataframe.to_dict("records") if hasattr(dataframe, "to_dict") else list(dataframe)
        self.combinations = list(combinations)
        self.name = name
        self.batch_size = batch_size
        self.write_csv = write_csv
        self.truncate_dim = truncate_dim
        self.csv_file = "mse_evaluation" + (f"_{name}" if name else "") + "_results.csv"
        self.csv_headers = ["epoch", "steps"] + [f"{src}-{trg}" for src, trg in self.combinations]
        self.primary_metric = "negative_mse"
        self.data: dict[tuple[str, str], tuple[list[str], list[str]]] = {}
        for src, trg in self.combinations:
            kept = [row for row in rows if _filled(row.get(src)) and _filled(row.get(trg))]
            self.data[(src, trg)] = ([row[src] for row in kept], [row[trg] for row in kept])
        sources = list(dict.fromkeys(s for src_sentences, _ in self.data.values() for s in src_sentences))
        logger.info("Compute teacher embeddings")
        embeddings = self.embed_inputs(teacher_model, sources) if sources else []
        self.teacher_embeddings = dict(zip(sources, embeddings, strict=True))

    def __call__(
        self, model: SentenceTransformer, output_path: str | None = None, epoch: int = -1, steps: int = -1
    ) -> dict[str, float]:
        """MSE per column pair with ``model`` as the student; write CSV and return ``negative_mse``."""
        mse_scores = []
        for src, trg in self.combinations:
            src_sentences, trg_sentences = self.data[(src, trg)]
            teacher = np.asarray([self.teacher_embeddings[sentence] for sentence in src_sentences])
            student = self.embed_inputs(model, trg_sentences)
            mse_scores.append(((teacher - student) ** 2).mean() * 100)
            logger.info(f"MSE evaluation on {self.name} dataset - {src}-{trg}:")
            logger.info(f"MSE (*100):\t{mse_scores[-1]:4f}")
        if self.write_csv:
            self.write_csv_row(output_path, self.csv_file, self.csv_headers, [epoch, steps, *map(float, mse_scores)])
        metrics = self.prefix_name_to_metrics({"negative_mse": -np.mean(mse_scores).item()}, self.name)
        self.store_metrics_in_model_card_data(model, metrics, epoch, steps)
        return metrics

    @property
    def description(self) -> str:
        """Shown in model cards."""
        return "Knowledge Distillation"


def _filled(cell: Any) -> bool:
    """A non-blank string cell (missing values and NaN do not count)."""
    return isinstance(cell, str) and cell.strip() != ""
