"""Shared bookkeeping of the sparse evaluators: sparse encoding settings and the sparsity figures they report.

Each sparse evaluator subclasses a SentenceTransformer evaluator, encodes through ``embed_inputs`` with sparse
settings (``max_active_dims``, sparse output, results on the CPU), records the model's ``sparsity`` of every batch it
encodes, and after the parent's evaluation adds the averaged figures to the metrics and to the last CSV row.
"""

from __future__ import annotations

import logging
import os
from collections import defaultdict
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from sentence_transformers.util.misc import append_to_last_row

if TYPE_CHECKING:
    from torch import Tensor

    from sentence_transformers.sparse_encoder.model import SparseEncoder

logger = logging.getLogger(__name__)

SPARSITY_KEYS = ("active_dims", "sparsity_ratio")


def check_max_active_dims(max_active_dims: int | None) -> int | None:
    """``max_active_dims`` must be None or a positive integer."""
    if max_active_dims is not None and (
        isinstance(max_active_dims, bool) or not isinstance(max_active_dims, int) or max_active_dims < 1
    ):
        raise ValueError(f"max_active_dims must be None or a positive integer, got {max_active_dims!r}.")
    return max_active_dims


def sparsity_columns(prefixes: Sequence[str] = ("",)) -> list[str]:
    """Names of the sparsity figures (metric keys and CSV columns), e.g. query_active_dims, query_sparsity_ratio."""
    return [f"{prefix}{key}" for prefix in prefixes for key in SPARSITY_KEYS]


class SparsityMixin:
    """Encodes sparsely and reports the mean sparsity of what was encoded; put it before the parent evaluator.

    ``__call__`` resets ``sparsity_stats`` (figure name -> one value per encoded batch), runs the parent evaluation,
    then averages each figure, adds it to the metrics (with the evaluator's name prefix), logs it, stores the metrics
    in the model card and appends the figures to the row the parent just wrote to its CSV file.
    """

    max_active_dims: int | None
    sparsity_stats: dict[str, Any]
    # the figures in CSV order; the parent's CSV headers are extended with the same names
    sparsity_figures: tuple[str, ...] = tuple(sparsity_columns())

    def _init_sparsity(self, max_active_dims: int | None) -> None:
        self.max_active_dims = check_max_active_dims(max_active_dims)
        self._reset_sparsity()

    def __call__(
        self, model: SparseEncoder, output_path: str | None = None, epoch: int = -1, steps: int = -1, *args, **kwargs
    ) -> dict[str, float]:
        """The parent's metrics plus the sparsity figures of this call's embeddings (also appended to the CSV)."""
        self._reset_sparsity()
        metrics = super().__call__(model, output_path, epoch, steps, *args, **kwargs)
        self.sparsity_stats = self._average_sparsity()
        return self._report_sparsity(model, metrics, self.sparsity_stats, output_path, epoch, steps)

    def _reset_sparsity(self) -> None:
        """Forget the figures of earlier calls."""
        self.sparsity_stats = defaultdict(list)

    def _average_sparsity(self) -> dict[str, float]:
        """Each figure's mean over the encoding calls."""
        return {key: sum(values) / len(values) for key, values in self.sparsity_stats.items() if values}

    def _encode_sparse(
        self, model: SparseEncoder, sentences: Sequence[str], encode_fn_name: str | None = None, **kwargs: Any
    ) -> Any:
        """Encode with ``encode`` / ``encode_query`` / ``encode_document`` and the evaluator's sparse settings."""
        if not callable(getattr(model, "sparsity", None)):
            raise TypeError(
                f"{type(self).__name__} evaluates SparseEncoder models (with a `sparsity` method), "
                f"got {type(model).__name__}."
            )
        options = {
            "batch_size": self.batch_size,
            "show_progress_bar": self.show_progress_bar,
            "convert_to_sparse_tensor": True,
            "save_to_cpu": True,
            "max_active_dims": self.max_active_dims,
        }
        return self.encode_function(model, encode_fn_name)(sentences, **{**options, **kwargs})

    def _record_sparsity(self, model: SparseEncoder, embeddings: Tensor, prefix: str = "") -> dict[str, float]:
        """Append the model's sparsity figures of ``embeddings`` (one batch) to ``sparsity_stats``."""
        stats = model.sparsity(embeddings)
        for key in SPARSITY_KEYS:
            self.sparsity_stats[f"{prefix}{key}"].append(float(stats[key]))
        return stats

    def _report_sparsity(
        self,
        model: SparseEncoder,
        metrics: dict[str, float],
        figures: dict[str, float],
        output_path: str | None,
        epoch: int,
        steps: int,
    ) -> dict[str, float]:
        """Add ``figures`` to ``metrics``, log them, store the metrics in the model card, extend the CSV row."""
        figures = {key: figures[key] for key in self.sparsity_figures if key in figures}
        metrics.update(self.prefix_name_to_metrics(figures, self.name))
        self.store_metrics_in_model_card_data(model, metrics, epoch, steps)
        log_sparsity(figures)
        if output_path is not None and self.write_csv:
            append_to_last_row(os.path.join(output_path, self.csv_file), list(figures.values()))
        return metrics

    def get_config_dict(self) -> dict[str, Any]:
        """The parent's settings, plus max_active_dims when set."""
        config = super().get_config_dict()
        if self.max_active_dims is not None:
            config["max_active_dims"] = self.max_active_dims
        return config


def log_sparsity(figures: dict[str, float]) -> None:
    """Log "Model <Prefix> Sparsity: Active Dimensions: ..., Sparsity Ratio: ..." per prefix, and the FLOPS."""
    for key, active_dims in figures.items():
        if not key.endswith("active_dims"):
            continue
        prefix = key.removesuffix("active_dims")
        label = f"Model {prefix.rstrip('_').capitalize()} Sparsity" if prefix else "Model Sparsity"
        ratio = figures.get(f"{prefix}sparsity_ratio", float("nan"))
        logger.info(f"{label}: Active Dimensions: {active_dims:.1f}, Sparsity Ratio: {ratio:.4f}")
    if "avg_flops" in figures:
        logger.info(f"Average FLOPS: {figures['avg_flops']:.2f}")
