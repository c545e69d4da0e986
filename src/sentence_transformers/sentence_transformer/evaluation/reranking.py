"""RerankingEvaluator: rank each query's positive and negative documents by similarity and score the ranking."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import numpy as np
from torch import Tensor
from tqdm import tqdm

from sentence_transformers.base.evaluation.evaluator import SentenceEvaluator
from sentence_transformers.sentence_transformer.evaluation import _metrics
from sentence_transformers.util.similarity import cos_sim

if TYPE_CHECKING:
    from sentence_transformers.sentence_transformer.model import SentenceTransformer

logger = logging.getLogger(__name__)


class RerankingEvaluator(SentenceEvaluator):
    """MAP, MRR@k and NDCG@k of ranking each sample's documents (positives + negatives) by similarity to its query.

    Samples are dicts ``{"query": str, "positive": [str, ...], "negative": [str, ...]}`` (a single string is
    accepted for either list); samples without positives or without negatives are dropped. MAP and NDCG treat
    tied scores like scikit-learn (ties share their gain); MRR ranks tied documents in their listed order. The
    metrics are ``map``, ``mrr@k`` and ``ndcg@k``; the primary metric is ``ndcg@k``.

    Args:
        samples: The samples (a dict of samples is accepted too: its values are used).
        at_k: Cut-off for MRR and NDCG.
        name: Prefix of the metric names and part of the CSV file name.
        write_csv: Append the results to ``RerankingEvaluator[_name]_results_@k.csv``.
        similarity_fct: Scores one query embedding against document embeddings (default cosine).
        batch_size: Encoding batch size.
        show_progress_bar: Show progress bars while encoding.
        use_batched_encoding: Encode all queries and all documents at once (else sample by sample).
        truncate_dim: Truncate embeddings to this many dimensions.
        mrr_at_k: Deprecated name of ``at_k``.
    """

    def __init__(
        self,
        samples: list[dict[str, str | list[str]]],
        at_k: int = 10,
        name: str = "",
        write_csv: bool = True,
        similarity_fct: Callable[[Tensor, Tensor], Tensor] = cos_sim,
        batch_size: int = 64,
        show_progress_bar: bool = False,
        use_batched_encoding: bool = True,
        truncate_dim: int | None = None,
        mrr_at_k: int | None = None,
    ) -> None:
        super().__init__()
        if mrr_at_k is not None:
            logger.warning(f"mrr_at_k is deprecated; use at_k={mrr_at_k} instead.")
            at_k = mrr_at_k
        if not isinstance(at_k, int) or at_k < 1:
            raise ValueError(f"at_k must be a positive integer, got {at_k!r}.")
        self.at_k = at_k
        self.samples = _clean_samples(samples)
        self.name = name
        self.write_csv = write_csv
        self.similarity_fct = similarity_fct
        self.batch_size = batch_size
        self.show_progress_bar = show_progress_bar
        self.use_batched_encoding = use_batched_encoding
        self.truncate_dim = truncate_dim
        self.csv_file = "RerankingEvaluator" + (f"_{name}" if name else "") + f"_results_@{at_k}.csv"
        self.csv_headers = ["epoch", "steps", "MAP", f"MRR@{at_k}", f"NDCG@{at_k}"]
        self.primary_metric = f"ndcg@{at_k}"

    def __call__(
        self, model: SentenceTransformer, output_path: str | None = None, epoch: int = -1, steps: int = -1
    ) -> dict[str, float]:
        """Score every sample's ranking, average, write CSV and return ``map``, ``mrr@k``, ``ndcg@k``."""
        when = self.describe_when(epoch, steps, self.truncate_dim)
        logger.info(f"RerankingEvaluator: Evaluating the model on the {self.name} dataset{when}:")
        scores = self.compute_metrics(model)
        logger.info(f"Queries: {len(self.samples)}")
        logger.info(f"MAP: {scores['map'] * 100:.2f}")
        logger.info(f"MRR@{self.at_k}: {scores['mrr'] * 100:.2f}")
        logger.info(f"NDCG@{self.at_k}: {scores['ndcg'] * 100:.2f}")
        if self.write_csv:
            row = [epoch, steps, scores["map"], scores["mrr"], scores["ndcg"]]
            self.write_csv_row(output_path, self.csv_file, self.csv_headers, row)
        metrics = {"map": scores["map"], f"mrr@{self.at_k}": scores["mrr"], f"ndcg@{self.at_k}": scores["ndcg"]}
        metrics = self.prefix_name_to_metrics(metrics, self.name)
        self.store_metrics_in_model_card_data(model, metrics, epoch, steps)
        return metrics

    def compute_metrics(self, model: SentenceTransformer) -> dict[str, float]:
        """Mean AP, MRR@k and NDCG@k over the samples: {"map": ..., "mrr": ..., "ndcg": ...}."""
        if self.use_batched_encoding:
            return self.compute_metrics_batched(model)
        return self.compute_metrics_individual(model)

    def compute_metrics_batched(self, model: SentenceTransformer) -> dict[str, float]:
        """Encode all queries in one call and all documents in another, then score each sample."""
        queries = [sample["query"] for sample in self.samples]
        queries = self.embed_inputs(model, queries, "query", show_progress_bar=self.show_progress_bar)
        documents = [doc for sample in self.samples for doc in (*sample["positive"], *sample["negative"])]
        doc_embeddings = self.embed_inputs(model, documents, "document", show_progress_bar=self.show_progress_bar)
        per_sample, start = [], 0
        for sample, query in zip(self.samples, queries, strict=True):
            count = len(sample["positive"]) + len(sample["negative"])
            per_sample.append(self._score_sample(query, doc_embeddings[start : start + count], len(sample["positive"])))
            start += count
        return _average(per_sample)

    def compute_metrics_individual(self, model: SentenceTransformer) -> dict[str, float]:
        """Encode and score the samples one at a time (less memory)."""
        per_sample = []
        for sample in tqdm(self.samples, disable=not self.show_progress_bar, desc="Samples"):
            query = self.embed_inputs(model, [sample["query"]], "query", show_progress_bar=False)[0]
            documents = [*sample["positive"], *sample["negative"]]
            doc_embeddings = self.embed_inputs(model, documents, "document", show_progress_bar=False)
            per_sample.append(self._score_sample(query, doc_embeddings, len(sample["positive"])))
        return _average(per_sample)

    # the 2.x spellings
    compute_metrices = compute_metrics
    compute_metrices_batched = compute_metrics_batched
    compute_metrices_individual = compute_metrics_individual

    def _score_sample(self, query: Tensor, documents: Tensor, num_positives: int) -> tuple[float, float, float]:
        """(AP, reciprocal rank within k, NDCG@k) of one sample whose first ``num_positives`` documents are relevant."""
        scores = self.similarity_fct(query, documents)
        if scores.dim() > 1:
            scores = scores[0]
        scores = scores.detach().cpu().double().numpy()
        relevant = np.zeros(len(scores))
        relevant[:num_positives] = 1
        ranking = np.argsort(-scores, kind="stable")[: self.at_k]
        first = np.flatnonzero(relevant[ranking])
        reciprocal_rank = 1.0 / (first[0] + 1) if len(first) else 0.0
        return (
            _metrics.average_precision(relevant, scores),
            float(reciprocal_rank),
            _metrics.ndcg_at_k(relevant, scores, self.at_k),
        )

    def embed_inputs(
        self,
        model: SentenceTransformer,
        sentences: list[str],
        encode_fn_name: str | None = None,
        show_progress_bar: bool | None = None,
        **kwargs: Any,
    ) -> Tensor:
        """Encode ``sentences`` as one tensor; ``encode_fn_name`` "query" / "document" picks ``encode_query`` /
        ``encode_document``. ``show_progress_bar`` None leaves the choice to ``encode``."""
        return super().embed_inputs(
            model, sentences, encode_fn_name, show_progress_bar=show_progress_bar, convert_to_tensor=True, **kwargs
        )

    def get_config_dict(self) -> dict[str, Any]:
        """at_k, and truncate_dim when set."""
        config: dict[str, Any] = {"at_k": self.at_k}
        if self.truncate_dim is not None:
            config["truncate_dim"] = self.truncate_dim
        return config


def _clean_samples(samples: list[dict[str, Any]] | dict[Any, dict[str, Any]]) -> list[dict[str, Any]]:
    """Samples as a list with list-valued positive/negative, dropping those with an empty side."""
    if isinstance(samples, dict):
        samples = list(samples.values())
    cleaned = []
    for sample in samples:
        missing = {"query", "positive", "negative"} - set(sample)
        if missing:
            raise ValueError(f"Each reranking sample needs 'query', 'positive' and 'negative'; missing {missing}.")
        sample = {
            **sample,
            "positive": [sample["positive"]] if isinstance(sample["positive"], str) else list(sample["positive"]),
            "negative": [sample["negative"]] if isinstance(sample["negative"], str) else list(sample["negative"]),
        }
        if sample["positive"] and sample["negative"]:
            cleaned.append(sample)
    return cleaned


def _average(per_sample: list[tuple[float, float, float]]) -> dict[str, float]:
    """Means of the per-sample (AP, RR, NDCG) triples; NaN when there are no samples."""
    values = np.asarray(per_sample, dtype=np.float64).reshape(-1, 3)
    with np.errstate(invalid="ignore"):
        means = values.mean(axis=0) if len(values) else np.full(3, np.nan)
    return {"map": float(means[0]), "mrr": float(means[1]), "ndcg": float(means[2])}
