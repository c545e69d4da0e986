"""ReciprocalRankFusionEvaluator: fuse a dense and a sparse retriever's rankings with Reciprocal Rank Fusion and
score the three rankings."""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Sequence
from typing import Any

import numpy as np
from tqdm import tqdm

from sentence_transformers.base.evaluation.evaluator import BaseEvaluator
from sentence_transformers.sentence_transformer.evaluation import _metrics

logger = logging.getLogger(__name__)

_RETRIEVERS = ("dense", "sparse", "fusion")


class ReciprocalRankFusionEvaluator(BaseEvaluator):
    """MAP, MRR@k and NDCG@k of a dense ranking, a sparse ranking and their Reciprocal Rank Fusion.

    Each sample lists one query's retrieved documents in rank order. A document's fused score is
    ``sum(1 / (rrf_k + rank))`` over the rankings that hold it (ranks start at 1); ties keep the dense ranking's
    order, then the sparse one's. Relevant documents (``positive``) that a ranking missed count as if appended at its
    end; a ranking without any relevant document scores 0. MAP covers the whole ranking, MRR and NDCG its top
    ``at_k``. No model is needed: the rankings come precomputed (e.g. from the ``write_predictions`` files of the
    retrieval evaluators), so the evaluator is called without one.

    Metrics: ``dense_map``, ``dense_mrr@k``, ``dense_ndcg@k``, the same for ``sparse_``, and the fusion's ``map``,
    ``mrr@k`` and ``ndcg@k`` (the primary metric).

    Args:
        dense_samples: One dict per query: ``query_id``, ``query`` (text), ``positive`` (relevant documents, a list
            or one string) and ``documents`` (the dense retriever's ranking).
        sparse_samples: The sparse retriever's results, in the same query order; ``query_id`` and ``documents`` are
            used.
        at_k: Cut-off for MRR and NDCG.
        rrf_k: The constant of the RRF formula (larger values flatten the rank differences).
        name: Prefix of the metric names and part of the file names.
        batch_size: Kept for API compatibility (nothing is encoded).
        show_progress_bar: Show a progress bar over the queries.
        write_csv: Append the results to ``ReciprocalRankFusion_evaluation[_name]_results.csv``.
        write_predictions: Also write the fused rankings to
            ``ReciprocalRankFusion_evaluation[_name]_predictions.jsonl``.
    """

    def __init__(
        self,
        dense_samples: list[dict[str, str | list[str]]],
        sparse_samples: list[dict[str, str | list[str]]],
        at_k: int = 10,
        rrf_k: int = 60,
        name: str = "",
        batch_size: int = 32,
        show_progress_bar: bool = False,
        write_csv: bool = True,
        write_predictions: bool = False,
    ) -> None:
        super().__init__()
        _check_samples(dense_samples, sparse_samples)
        if isinstance(at_k, bool) or not isinstance(at_k, int) or at_k < 1:
            raise ValueError(f"at_k must be a positive integer, got {at_k!r}.")
        if isinstance(rrf_k, bool) or not isinstance(rrf_k, (int, float)) or rrf_k < 0:
            raise ValueError(f"rrf_k must be a non-negative number, got {rrf_k!r}.")
        self.dense_samples = dense_samples
        self.sparse_samples = sparse_samples
        self.at_k = at_k
        self.rrf_k = rrf_k
        self.name = name
        self.batch_size = batch_size
        self.show_progress_bar = show_progress_bar
        self.write_csv = write_csv
        self.write_predictions = write_predictions
        suffix = f"_{name}" if name else ""
        self.csv_file = f"ReciprocalRankFusion_evaluation{suffix}_results.csv"
        self.predictions_file = f"ReciprocalRankFusion_evaluation{suffix}_predictions.jsonl"
        self.csv_headers = ["epoch", "steps"] + [
            f"{retriever.capitalize()}_{metric}"
            for retriever in _RETRIEVERS
            for metric in ("MAP", f"MRR@{at_k}", f"NDCG@{at_k}")
        ]
        self.primary_metric = f"ndcg@{at_k}"

    def __call__(self, output_path: str | None = None, epoch: int = -1, steps: int = -1) -> dict[str, float]:
        """Score the dense, sparse and fused rankings; write CSV (and predictions); return the mean metrics."""
        logger.info(
            f"ReciprocalRankFusionEvaluator: Evaluating hybrid search on the {self.name} dataset"
            f"{self.describe_when(epoch, steps)}:"
        )
        per_query: dict[str, list[tuple[float, float, float]]] = {retriever: [] for retriever in _RETRIEVERS}
        fused_rankings = []
        pairs = zip(self.dense_samples, self.sparse_samples, strict=True)
        for dense, sparse in tqdm(pairs, total=len(self.dense_samples), disable=not self.show_progress_bar):
            positives = _as_list(dense["positive"])
            fused = self.fuse(dense["documents"], sparse["documents"])
            for retriever, ranking in zip(_RETRIEVERS, (dense["documents"], sparse["documents"], fused), strict=True):
                per_query[retriever].append(self._ranking_metrics(ranking, positives))
            fused_rankings.append(
                {"query_id": dense["query_id"], "query": dense["query"], "positive": positives, "documents": fused}
            )
        means = {
            retriever: np.asarray(values, dtype=np.float64).reshape(-1, 3).mean(axis=0)
            for retriever, values in per_query.items()
        }
        self._log(means, [len(_as_list(sample["positive"])) for sample in self.dense_samples])
        if output_path is not None:
            self._write(output_path, epoch, steps, means, fused_rankings)
        metrics: dict[str, float] = {}
        for retriever, (ap, mrr, ndcg) in means.items():
            prefix = "" if retriever == "fusion" else f"{retriever}_"
            metrics |= {f"{prefix}map": ap, f"{prefix}mrr@{self.at_k}": mrr, f"{prefix}ndcg@{self.at_k}": ndcg}
        return self.prefix_name_to_metrics(metrics, self.name)

    def fuse(self, dense_documents: Sequence[str], sparse_documents: Sequence[str]) -> list[str]:
        """The union of both rankings ordered by RRF score, ties in first-seen order (dense ranking first).

        A document listed twice in one ranking counts at its last rank there.
        """
        rankings = (dense_documents, sparse_documents)
        ranks = [{document: rank for rank, document in enumerate(ranking, start=1)} for ranking in rankings]
        documents = dict.fromkeys([*ranks[0], *ranks[1]])
        scores = {
            document: sum(1.0 / (self.rrf_k + rank[document]) for rank in ranks if document in rank)
            for document in documents
        }
        return sorted(scores, key=scores.__getitem__, reverse=True)

    def compute_metrics(self, y_true: Sequence[int], y_pred: Sequence[float]) -> tuple[float, float, float]:
        """(reciprocal rank within at_k, NDCG@at_k, average precision) of relevance labels ranked by ``y_pred``."""
        labels = np.asarray(y_true, dtype=np.float64)
        scores = np.asarray(y_pred, dtype=np.float64)
        top = np.argsort(-scores, kind="stable")[: self.at_k]
        hits = np.flatnonzero(labels[top])
        reciprocal_rank = 1.0 / (hits[0] + 1) if len(hits) else 0.0
        return (
            float(reciprocal_rank),
            _metrics.ndcg_at_k(labels, scores, self.at_k),
            _metrics.average_precision(labels, scores),
        )

    def _ranking_metrics(self, ranking: Sequence[str], positives: list[str]) -> tuple[float, float, float]:
        """(AP, MRR@k, NDCG@k) of one ranking; missed positives count as appended at its end; 0s without a hit."""
        relevant = [int(document in positives) for document in ranking]
        if not any(relevant):
            return 0.0, 0.0, 0.0
        relevant += [1] * max(len(positives) - sum(relevant), 0)
        mrr, ndcg, ap = self.compute_metrics(relevant, np.arange(len(relevant), 0, -1))
        return ap, mrr, ndcg

    def _log(self, means: dict[str, np.ndarray], num_positives: list[int]) -> None:
        """Log the query count and a table of the three rankings' metrics with the fusion's gains."""
        positives = np.asarray(num_positives or [0], dtype=np.float64)
        logger.info(
            f"Queries: {len(num_positives)}\tPositives: Min {positives.min():.1f}, Mean {positives.mean():.1f}, "
            f"Max {positives.max():.1f}"
        )
        logger.info("=" * 75)
        logger.info(
            f"{'Metric':<7} | {'Dense':^8} | {'Sparse':^8} | {'Fusion':^8} | {'Gain vs Dense':^13} | "
            f"{'Gain vs Sparse':^14} |"
        )
        logger.info("-" * 75)
        for index, label in enumerate(("MAP", f"MRR@{self.at_k}", f"NDCG@{self.at_k}")):
            dense, sparse, fusion = (means[retriever][index] for retriever in _RETRIEVERS)
            logger.info(
                f"{label:<7} | {dense:>8.2%} | {sparse:>8.2%} | {fusion:>8.2%} | {fusion - dense:>+13.2%} | "
                f"{fusion - sparse:>+14.2%} |"
            )
        logger.info("=" * 75)

    def _write(
        self,
        output_path: str,
        epoch: int,
        steps: int,
        means: dict[str, np.ndarray],
        fused_rankings: list[dict[str, Any]],
    ) -> None:
        """Append the CSV row and (re)write the predictions file, as enabled."""
        os.makedirs(output_path, exist_ok=True)
        if self.write_csv:
            row = [epoch, steps] + [float(value) for retriever in _RETRIEVERS for value in means[retriever]]
            self.write_csv_row(output_path, self.csv_file, self.csv_headers, row)
        if self.write_predictions and fused_rankings:
            path = os.path.join(output_path, self.predictions_file)
            with open(path, "w", encoding="utf-8") as f:
                for ranking in fused_rankings:
                    f.write(json.dumps(ranking) + "\n")
            logger.info(f"Wrote fused ranking predictions to {path}")

    def get_config_dict(self) -> dict[str, Any]:
        """at_k, rrf_k and write_predictions."""
        return {"at_k": self.at_k, "rrf_k": self.rrf_k, "write_predictions": self.write_predictions}


def _as_list(positive: str | list[str]) -> list[str]:
    return [positive] if isinstance(positive, str) else list(positive)


def _check_samples(dense_samples: list[dict[str, Any]], sparse_samples: list[dict[str, Any]]) -> None:
    """Same number of samples, matching query ids in the same order, and the keys each side needs."""
    if len(dense_samples) != len(sparse_samples):
        raise ValueError(
            f"Dense samples ({len(dense_samples)}) and sparse samples ({len(sparse_samples)}) must have the same length"
        )
    for index, (dense, sparse) in enumerate(zip(dense_samples, sparse_samples, strict=True)):
        if "query_id" not in dense or "query_id" not in sparse:
            raise ValueError(f"Sample at index {index} missing 'query_id' field")
        if dense["query_id"] != sparse["query_id"]:
            raise ValueError(f"Query ID mismatch at index {index}: {dense['query_id']} != {sparse['query_id']}")
        missing = [key for key in ("query", "positive", "documents") if key not in dense]
        if "documents" not in sparse:
            missing.append("documents (sparse)")
        if missing:
            raise ValueError(f"Sample at index {index} ({dense['query_id']!r}) misses {missing}.")
