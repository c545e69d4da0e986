"""SparseNanoBEIREvaluator: NanoBEIREvaluator for SparseEncoder models, with sparsity figures per dataset and
aggregated."""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
import torch
from torch import Tensor

from sentence_transformers.sentence_transformer.evaluation.nano_beir import DEFAULT_DATASET_ID, NanoBEIREvaluator
from sentence_transformers.sparse_encoder.evaluation._sparsity import check_max_active_dims, log_sparsity
from sentence_transformers.sparse_encoder.evaluation.sparse_information_retrieval import (
    SparseInformationRetrievalEvaluator,
)

if TYPE_CHECKING:
    from sentence_transformers.sparse_encoder.model import SparseEncoder
    from sentence_transformers.util.similarity import SimilarityFunction

logger = logging.getLogger(__name__)


class SparseNanoBEIREvaluator(NanoBEIREvaluator):
    """Runs a :class:`SparseInformationRetrievalEvaluator` on each NanoBEIR dataset and aggregates their metrics.

    Returns every dataset's metrics (``NanoMSMARCO_dot_ndcg@10``, ``NanoMSMARCO_query_active_dims``, ...) and their
    aggregate (``NanoBEIR_mean_dot_ndcg@10``, the primary metric with the model's default similarity). The aggregated
    sparsity figures are not ``aggregate_fn`` of the datasets' figures: active dims and sparsity ratios are weighted
    by the number of queries / documents of each dataset, and ``avg_flops`` comes from the activation counts of all
    queries and documents together. With ``max_active_dims`` set, the names carry it: ``NanoBEIR_mean_64_...``,
    ``NanoMSMARCO_64_...``.

    Args:
        dataset_names: Short names (case-insensitive), e.g. ["msmarco", "nq"]; default all 13.
        dataset_id: The hub dataset to load from (subsets "corpus", "queries", "qrels", splits ``Nano{Name}``).
        mrr_at_k: Cut-offs for MRR.
        ndcg_at_k: Cut-offs for NDCG.
        accuracy_at_k: Cut-offs for accuracy.
        precision_recall_at_k: Cut-offs for precision and recall.
        map_at_k: Cut-offs for MAP.
        show_progress_bar: Show progress bars.
        batch_size: Encoding batch size.
        write_csv: Append the aggregated results to ``NanoBEIR_evaluation_{aggregate_key}_results.csv`` (and each
            dataset's results to its own file).
        max_active_dims: Keep at most this many active dimensions per embedding; None uses the model's setting.
        score_functions: name -> function(query embeddings, document embeddings) -> scores; default: the model's
            similarity function.
        main_score_function: The score function of the primary metric.
        aggregate_fn: Aggregates one retrieval metric's values over the datasets.
        aggregate_key: Names the aggregate in the metric names (``NanoBEIR_{aggregate_key}_...``).
        query_prompts: A prompt for every query, or dataset name -> prompt (every dataset needs one).
        corpus_prompts: A prompt for every document, or dataset name -> prompt (every dataset needs one).
        write_predictions: Also write each dataset's top hits per query to JSON-lines files.
    """

    information_retrieval_class = SparseInformationRetrievalEvaluator
    sparsity_figures = SparseInformationRetrievalEvaluator.sparsity_figures

    def __init__(
        self,
        dataset_names: Sequence[str] | None = None,
        dataset_id: str = DEFAULT_DATASET_ID,
        mrr_at_k: Sequence[int] = (10,),
        ndcg_at_k: Sequence[int] = (10,),
        accuracy_at_k: Sequence[int] = (1, 3, 5, 10),
        precision_recall_at_k: Sequence[int] = (1, 3, 5, 10),
        map_at_k: Sequence[int] = (100,),
        show_progress_bar: bool = False,
        batch_size: int = 32,
        write_csv: bool = True,
        max_active_dims: int | None = None,
        score_functions: dict[str, Callable[[Tensor, Tensor], Tensor]] | None = None,
        main_score_function: str | SimilarityFunction | None = None,
        aggregate_fn: Callable[[list[float]], float] = np.mean,
        aggregate_key: str = "mean",
        query_prompts: str | dict[str, str] | None = None,
        corpus_prompts: str | dict[str, str] | None = None,
        write_predictions: bool = False,
    ) -> None:
        self.max_active_dims = check_max_active_dims(max_active_dims)
        self.sparsity_stats: dict[str, float] = {}
        self.lengths: dict[str, list[int]] = {}
        super().__init__(
            dataset_names=dataset_names,
            dataset_id=dataset_id,
            mrr_at_k=mrr_at_k,
            ndcg_at_k=ndcg_at_k,
            accuracy_at_k=accuracy_at_k,
            precision_recall_at_k=precision_recall_at_k,
            map_at_k=map_at_k,
            show_progress_bar=show_progress_bar,
            batch_size=batch_size,
            write_csv=write_csv,
            score_functions=score_functions,
            main_score_function=main_score_function,
            aggregate_fn=aggregate_fn,
            aggregate_key=aggregate_key,
            query_prompts=query_prompts,
            corpus_prompts=corpus_prompts,
            write_predictions=write_predictions,
        )
        # the datasets' evaluators are sparse ones: max_active_dims instead of truncate_dim
        self._ir_kwargs.pop("truncate_dim", None)
        self._ir_kwargs["max_active_dims"] = self.max_active_dims
        if self.max_active_dims is not None:
            self.name += f"_{self.max_active_dims}"

    def _get_human_readable_name(self, dataset_name: str) -> str:
        """ "NanoMSMARCO", plus "_{max_active_dims}" when set."""
        name = super()._get_human_readable_name(dataset_name)
        return name + (f"_{self.max_active_dims}" if self.max_active_dims is not None else "")

    def __call__(
        self, model: SparseEncoder, output_path: str | None = None, epoch: int = -1, steps: int = -1, *args, **kwargs
    ) -> dict[str, float]:
        """Every dataset's metrics and the aggregated ones, sparsity figures included."""
        self.sparsity_stats = {}
        self.lengths = {}
        results = super().__call__(model, output_path, epoch, steps, *args, **kwargs)
        log_sparsity(self.sparsity_stats)
        return results

    def _aggregate(self, per_metric: dict[str, list[float]]) -> dict[str, float]:
        """``aggregate_fn`` of the retrieval metrics; the sparsity figures pooled over all queries and documents."""
        aggregated = super()._aggregate(per_metric)
        self.sparsity_stats = self._pooled_sparsity()
        aggregated.update(self.sparsity_stats)
        return aggregated

    def _pooled_sparsity(self) -> dict[str, float]:
        """Active dims and sparsity ratios weighted by each dataset's number of queries / documents; average FLOPS
        from the activation counts of every query and document of all datasets."""
        evaluators = self.evaluators
        self.lengths = {
            "query": [len(evaluator.queries) for evaluator in evaluators],
            "corpus": [len(evaluator.corpus) for evaluator in evaluators],
        }
        figures: dict[str, float] = {}
        for key in self.sparsity_figures:
            if key == "avg_flops" or not all(key in evaluator.sparsity_stats for evaluator in evaluators):
                continue
            lengths = self.lengths[key.split("_")[0]]
            values = [evaluator.sparsity_stats[key] for evaluator in evaluators]
            figures[key] = sum(value * length for value, length in zip(values, lengths, strict=True)) / sum(lengths)
        counts = {}
        for prefix in ("query", "corpus"):
            vectors = [evaluator.count_vectors.get(prefix) for evaluator in evaluators]
            if any(vector is None for vector in vectors) or not sum(self.lengths[prefix]):
                break
            counts[prefix] = torch.stack(vectors).sum(dim=0).double() / sum(self.lengths[prefix])
        figures["avg_flops"] = float(torch.dot(counts["query"], counts["corpus"])) if len(counts) == 2 else 0.0
        return figures

    def _csv_columns(self) -> list[tuple[str, str]]:
        """The retrieval columns, then the aggregated sparsity figures."""
        return super()._csv_columns() + [(figure, figure) for figure in self.sparsity_figures]

    def get_config_dict(self) -> dict[str, Any]:
        """The datasets and hub id, prompts when set, and max_active_dims when set."""
        config = super().get_config_dict()
        if self.max_active_dims is not None:
            config["max_active_dims"] = self.max_active_dims
        return config
