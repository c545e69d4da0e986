"""CrossEncoderRerankingEvaluator: rerank each query's documents by CrossEncoder score and score the ranking."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from sentence_transformers.base.evaluation.evaluator import BaseEvaluator
from sentence_transformers.cross_encoder.evaluation._scoring import one_score_per_pair, predict_scores
from sentence_transformers.sentence_transformer.evaluation import _metrics

if TYPE_CHECKING:
    from sentence_transformers.cross_encoder.model import CrossEncoder

logger = logging.getLogger(__name__)


@dataclass
class _Ranking:
    """One sample made ready to score: the query, the documents to rerank and which of them are relevant."""

    query: str
    documents: list[str]
    relevant: list[int]
    num_positives: int
    base: tuple[float, float, float] | None  # (MRR, NDCG, AP) of the given document order, for "documents"


class CrossEncoderRerankingEvaluator(BaseEvaluator):
    """MAP, MRR@k and NDCG@k of reranking each query's documents by the CrossEncoder's scores.

    Each sample is a dict with "query", "positive" (the relevant documents) and exactly one of "negative" (the
    irrelevant ones) or "documents" (a first-stage ranking, best first, that may hold some positives). With
    "documents" the evaluator also reports the metrics of that given order (``base_map``, ``base_mrr@k``,
    ``base_ndcg@k``), so the gain of reranking shows. All pairs are scored in one ``model.predict`` call.

    ``always_rerank_positives`` (only meaningful with "documents") puts every positive into the reranked list, so a
    perfect reranker reaches 1.0; False reranks the documents as given, so positives the first stage missed count as
    misses, which is the more realistic figure. A sample without any relevant document to rerank scores 0.

    Args:
        samples: The samples (a dict of samples is accepted too: its values are used).
        at_k: Cut-off for MRR and NDCG.
        always_rerank_positives: Rerank all positives, not only those among "documents".
        name: Prefix of the metric names and part of the CSV file name.
        prompt_name: The model prompt to score with (a key of ``model.prompts``).
        batch_size: Batch size of ``model.predict``.
        show_progress_bar: Show a progress bar while scoring.
        write_csv: Append the results to ``CrossEncoderRerankingEvaluator[_name]_results_@k.csv``.
        mrr_at_k: Deprecated name of ``at_k``.
    """

    def __init__(
        self,
        samples: list[dict[str, str | list[str]]],
        at_k: int = 10,
        always_rerank_positives: bool = True,
        name: str = "",
        prompt_name: str | None = None,
        batch_size: int = 64,
        show_progress_bar: bool = False,
        write_csv: bool = True,
        mrr_at_k: int | None = None,
    ) -> None:
        super().__init__()
        if mrr_at_k is not None:
            logger.warning(f"The `mrr_at_k` parameter has been deprecated; please use `at_k={mrr_at_k}` instead.")
            at_k = mrr_at_k
        self.samples = list(samples.values()) if isinstance(samples, dict) else samples
        self.at_k = at_k
        self.always_rerank_positives = always_rerank_positives
        self.name = name
        self.prompt_name = prompt_name
        self.batch_size = batch_size
        self.show_progress_bar = show_progress_bar
        self.write_csv = write_csv
        self.csv_file = "CrossEncoderRerankingEvaluator" + (f"_{name}" if name else "") + f"_results_@{at_k}.csv"
        self.csv_headers = ["epoch", "steps", "MAP", f"MRR@{at_k}", f"NDCG@{at_k}"]
        self.primary_metric = f"ndcg@{at_k}"

    def __call__(
        self, model: CrossEncoder, output_path: str | None = None, epoch: int = -1, steps: int = -1
    ) -> dict[str, Any]:
        """Rerank every sample, average MAP / MRR@k / NDCG@k (and the base figures), write CSV, return them."""
        when = self.describe_when(epoch, steps)
        logger.info(f"CrossEncoderRerankingEvaluator: Evaluating the model on the {self.name} dataset{when}:")
        rankings = [self._prepare(sample) for sample in self.samples]
        per_sample = self._score_rankings(model, rankings)
        mean_mrr, mean_ndcg, mean_ap = (float(np.mean(column)) if len(column) else 0.0 for column in per_sample.T)
        metrics: dict[str, Any] = {"map": mean_ap, f"mrr@{self.at_k}": mean_mrr, f"ndcg@{self.at_k}": mean_ndcg}
        self._log_sizes(rankings)
        bases = np.array([ranking.base for ranking in rankings if ranking.base is not None]).reshape(-1, 3)
        if len(bases):
            base = dict(zip(("mrr", "ndcg", "map"), bases.mean(axis=0).tolist(), strict=True))
            metrics = self._with_base(model, metrics, base, epoch, steps)
        else:
            self._log_line("MAP", mean_ap)
            self._log_line(f"MRR@{self.at_k}", mean_mrr)
            self._log_line(f"NDCG@{self.at_k}", mean_ndcg)
            metrics = self.prefix_name_to_metrics(metrics, self.name)
            self.store_metrics_in_model_card_data(model, metrics, epoch, steps)
        if self.write_csv:
            self.write_csv_row(
                output_path, self.csv_file, self.csv_headers, [epoch, steps, mean_ap, mean_mrr, mean_ndcg]
            )
        return metrics

    def _prepare(self, sample: dict[str, Any]) -> _Ranking:
        """Check one sample and build the documents to rerank, their relevance and the base metrics."""
        if "query" not in sample:
            raise ValueError("CrossEncoderRerankingEvaluator requires a 'query' key in each sample.")
        if "positive" not in sample:
            raise ValueError("CrossEncoderRerankingEvaluator requires a 'positive' key in each sample.")
        if ("negative" in sample) == ("documents" in sample):
            raise ValueError(
                "CrossEncoderRerankingEvaluator requires exactly one of 'negative' and 'documents' in each sample."
            )
        positives = _as_list(sample["positive"])
        if "negative" in sample:
            negatives = _as_list(sample["negative"])
            relevant = [1] * len(positives) + [0] * len(negatives)
            return _Ranking(sample["query"], positives + negatives, relevant, len(positives), None)
        documents = _as_list(sample["documents"])
        base = self._base_metrics(positives, documents)
        if self.always_rerank_positives:
            documents = positives + [document for document in documents if document not in positives]
        relevant = [int(document in positives) for document in documents]
        return _Ranking(sample["query"], documents, relevant, len(positives), base)

    def _base_metrics(self, positives: list[str], documents: list[str]) -> tuple[float, float, float]:
        """(MRR, NDCG, AP) of the given order, positives it lacks placed after it; zeros when it holds none."""
        relevant = [int(document in positives) for document in documents]  # a list: documents may be unhashable
        if sum(relevant) == 0:
            return 0.0, 0.0, 0.0
        relevant += [1] * (len(positives) - sum(relevant))
        return self.compute_metrics(relevant, np.arange(len(relevant), 0, -1))

    def _score_rankings(self, model: CrossEncoder, rankings: list[_Ranking]) -> np.ndarray:
        """[samples, 3] array of (MRR, NDCG, AP); all pairs go through one predict call."""
        scored = [ranking for ranking in rankings if any(ranking.relevant)]
        pairs = [[ranking.query, document] for ranking in scored for document in ranking.documents]
        scores = np.array([])
        if pairs:
            scores = predict_scores(model, pairs, self.prompt_name, self.batch_size, self.show_progress_bar)
            scores = one_score_per_pair(scores, "Reranking")
        per_sample, start = [], 0
        for ranking in rankings:
            if not any(ranking.relevant):
                per_sample.append((0.0, 0.0, 0.0))
                continue
            end = start + len(ranking.documents)
            per_sample.append(self.compute_metrics(ranking.relevant, scores[start:end]))
            start = end
        return np.array(per_sample, dtype=np.float64).reshape(-1, 3)

    def compute_metrics(self, y_true: list[int] | np.ndarray, y_pred: np.ndarray) -> tuple[float, float, float]:
        """(reciprocal rank of the first relevant document within ``at_k``, NDCG@at_k, average precision).

        Documents are ranked by ``y_pred``, highest first; tied scores keep their listed order for the reciprocal
        rank, and share their gain for NDCG and AP (as scikit-learn's ``ndcg_score`` and
        ``average_precision_score``).
        """
        y_true, y_pred = np.asarray(y_true), np.asarray(y_pred, dtype=np.float64)
        ranking = np.argsort(-y_pred, kind="stable")[: self.at_k]
        hits = np.flatnonzero(y_true[ranking])
        mrr = 1.0 / (hits[0] + 1) if len(hits) else 0.0
        ndcg = _metrics.ndcg_at_k(y_true, y_pred, self.at_k)
        return float(mrr), ndcg, _metrics.average_precision(y_true, y_pred)

    def _with_base(
        self, model: CrossEncoder, metrics: dict[str, Any], base: dict[str, float], epoch: int, steps: int
    ) -> dict[str, Any]:
        """Add the base metrics, log base -> reranked, and give the model card each figure with its gain."""
        base = {"map": base["map"], f"mrr@{self.at_k}": base["mrr"], f"ndcg@{self.at_k}": base["ndcg"]}
        logger.info(f"{' ' * len(str(self.at_k))}       Base  -> Reranked")
        for key, value in base.items():
            self._log_line(key.upper(), metrics[key], value)
        card = {key: f"{metrics[key]:.4f} ({metrics[key] - value:+.4f})" for key, value in base.items()}
        self.store_metrics_in_model_card_data(model, self.prefix_name_to_metrics(card, self.name), epoch, steps)
        metrics = {**metrics, **{f"base_{key}": value for key, value in base.items()}}
        return self.prefix_name_to_metrics(metrics, self.name)

    def _log_line(self, label: str, value: float, base: float | None = None) -> None:
        """One aligned "LABEL: [base ->] value" line, in percent."""
        padding = " " * max(len(f"NDCG@{self.at_k}:") - len(label), 1)
        figures = f"{value * 100:.2f}" if base is None else f"{base * 100:.2f} -> {value * 100:.2f}"
        logger.info(f"{label}:{padding}{figures}")

    def _log_sizes(self, rankings: list[_Ranking]) -> None:
        """Number of queries and min/mean/max positives and negatives per query."""
        if not rankings:
            logger.info("Queries: 0")
            return
        positives = np.array([ranking.num_positives for ranking in rankings])
        negatives = np.array([len(ranking.relevant) - sum(ranking.relevant) for ranking in rankings])
        logger.info(
            f"Queries: {len(rankings)}\t"
            f"Positives: Min {positives.min():.1f}, Mean {positives.mean():.1f}, Max {positives.max():.1f}\t"
            f"Negatives: Min {negatives.min():.1f}, Mean {negatives.mean():.1f}, Max {negatives.max():.1f}"
        )

    def get_config_dict(self) -> dict[str, Any]:
        """at_k, and always_rerank_positives when the samples carry "documents" (it changes nothing otherwise)."""
        config: dict[str, Any] = {"at_k": self.at_k}
        if self.samples and "documents" in self.samples[0]:
            config["always_rerank_positives"] = self.always_rerank_positives
        return config


def _as_list(texts: str | list[str]) -> list[str]:
    """A single text as a one-element list; lists (and other sequences) as a list."""
    return [texts] if isinstance(texts, str) else list(texts)
