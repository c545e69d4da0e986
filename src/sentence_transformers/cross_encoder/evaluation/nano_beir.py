"""CrossEncoderNanoBEIREvaluator: rerank BM25's top documents of the NanoBEIR datasets, per dataset and aggregated."""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any, Literal

import numpy as np
from tqdm import tqdm

from sentence_transformers.base.evaluation.evaluator import BaseEvaluator
from sentence_transformers.cross_encoder.evaluation.reranking import CrossEncoderRerankingEvaluator
from sentence_transformers.sentence_transformer.evaluation.nano_beir import (
    DATASET_NAME_TO_HUMAN_READABLE,
    DEFAULT_DATASET_ID,
    load_nanobeir_subset,
)

if TYPE_CHECKING:
    from sentence_transformers.cross_encoder.model import CrossEncoder

logger = logging.getLogger(__name__)

DatasetNameType = Literal[
    "climatefever",
    "dbpedia",
    "fever",
    "fiqa2018",
    "hotpotqa",
    "msmarco",
    "nfcorpus",
    "nq",
    "quoraretrieval",
    "scidocs",
    "arguana",
    "scifact",
    "touche2020",
]
# Argument retrieval differs from the other tasks, so these two are left out unless asked for by name.
_NOT_BY_DEFAULT = ("arguana", "touche2020")
_SUBSET_COLUMNS = {
    "corpus": ["_id", "text"],
    "queries": ["_id", "text"],
    "qrels": ["query-id", "corpus-id"],
    "bm25": ["query-id", "corpus-ids"],
}


class CrossEncoderNanoBEIREvaluator(BaseEvaluator):
    """Runs a :class:`CrossEncoderRerankingEvaluator` on each NanoBEIR dataset's BM25 top ``rerank_k`` documents.

    ``dataset_id`` names a hub dataset with the subsets "corpus", "queries" (columns ``_id``, ``text``), "qrels"
    (``query-id``, ``corpus-id``) and "bm25" (``query-id``, ``corpus-ids``: the BM25 ranking), each with one split
    per dataset named like ``NanoMSMARCO``. Data is loaded at the first use, with the optional ``datasets`` package.

    The result holds each dataset's metrics (``NanoMSMARCO_R100_ndcg@10``, and ``..._base_ndcg@10`` for the BM25
    order) and their aggregate (``NanoBEIR_R100_mean_ndcg@10``, the primary metric). By default every dataset but
    arguana and touche2020 is used (unlike the SentenceTransformer NanoBEIREvaluator, which uses all 13).

    Args:
        dataset_names: Short names (case-insensitive), e.g. ["msmarco", "nq"]; default all but arguana, touche2020.
        dataset_id: The hub dataset to load from.
        rerank_k: How many BM25 documents to rerank per query.
        at_k: Cut-off for MRR and NDCG.
        always_rerank_positives: Rerank all positives, not only those BM25 ranked within ``rerank_k``.
        prompt_name: The model prompt to score with (a key of ``model.prompts``).
        batch_size: Batch size of ``model.predict``.
        show_progress_bar: Show progress bars.
        write_csv: Append the aggregated results to ``NanoBEIR_evaluation_{aggregate_key}_results.csv`` (and each
            dataset's results to its own file).
        aggregate_fn: Aggregates one metric's values over the datasets.
        aggregate_key: Names the aggregate in the metric names (``NanoBEIR_R{rerank_k}_{aggregate_key}_...``).
    """

    def __init__(
        self,
        dataset_names: Sequence[DatasetNameType | str] | None = None,
        dataset_id: str = DEFAULT_DATASET_ID,
        rerank_k: int = 100,
        at_k: int = 10,
        always_rerank_positives: bool = True,
        prompt_name: str | None = None,
        batch_size: int = 32,
        show_progress_bar: bool = False,
        write_csv: bool = True,
        aggregate_fn: Callable[[list[float]], float] = np.mean,
        aggregate_key: str = "mean",
    ) -> None:
        super().__init__()
        if dataset_names is None:
            dataset_names = [name for name in DATASET_NAME_TO_HUMAN_READABLE if name not in _NOT_BY_DEFAULT]
        self.dataset_names = list(dataset_names)
        self.dataset_id = dataset_id
        self.rerank_k = rerank_k
        self.at_k = at_k
        self.always_rerank_positives = always_rerank_positives
        self.prompt_name = prompt_name
        self.batch_size = batch_size
        self.show_progress_bar = show_progress_bar
        self.write_csv = write_csv
        self.aggregate_fn = aggregate_fn
        self.aggregate_key = aggregate_key
        self.name = f"NanoBEIR_R{rerank_k:d}_{aggregate_key}"
        self._validate_dataset_names()
        self.csv_file = f"NanoBEIR_evaluation_{aggregate_key}_results.csv"
        self.csv_headers = ["epoch", "steps", "MAP", f"MRR@{at_k}", f"NDCG@{at_k}"]
        self.primary_metric = f"ndcg@{at_k}"
        self._evaluators: list[CrossEncoderRerankingEvaluator] | None = None

    def _validate_dataset_names(self) -> None:
        """At least one name, each one of the 13 NanoBEIR names (whatever ``dataset_id``: translations share them)."""
        if not self.dataset_names:
            raise ValueError("dataset_names cannot be empty. Use None to evaluate on all datasets.")
        unknown = [name for name in self.dataset_names if name.lower() not in DATASET_NAME_TO_HUMAN_READABLE]
        if unknown:
            raise ValueError(
                f"Dataset(s) {unknown} are not valid NanoBEIR datasets. "
                f"Valid dataset names are: {list(DATASET_NAME_TO_HUMAN_READABLE)}"
            )

    @property
    def evaluators(self) -> list[CrossEncoderRerankingEvaluator]:
        """One reranking evaluator per dataset, loading the datasets at the first access."""
        if self._evaluators is None:
            names = tqdm(self.dataset_names, desc="Loading NanoBEIR datasets", disable=not self.show_progress_bar)
            self._evaluators = [self._load_dataset(name) for name in names]
        return self._evaluators

    def _get_human_readable_name(self, dataset_name: DatasetNameType | str) -> str:
        """The metric prefix of a dataset: "msmarco" -> "NanoMSMARCO_R100"."""
        return f"Nano{DATASET_NAME_TO_HUMAN_READABLE[dataset_name.lower()]}_R{self.rerank_k}"

    def _load_dataset(self, dataset_name: DatasetNameType | str) -> CrossEncoderRerankingEvaluator:
        """The reranking evaluator of one dataset: each BM25-ranked query with its positives and top documents."""
        subsets = {subset: self._load_subset(dataset_name, subset) for subset in _SUBSET_COLUMNS}
        corpus, queries = _texts_by_id(subsets["corpus"]), _texts_by_id(subsets["queries"])
        relevant: dict[str, dict[str, None]] = {}  # query id -> its relevant document ids, in qrels order
        for row in subsets["qrels"]:
            doc_ids = row["corpus-id"] if isinstance(row["corpus-id"], list) else [row["corpus-id"]]
            relevant.setdefault(str(row["query-id"]), {}).update(dict.fromkeys(map(str, doc_ids)))
        samples = [
            {
                "query": queries[str(row["query-id"])],
                "positive": [corpus[doc_id] for doc_id in relevant.get(str(row["query-id"]), {})],
                "documents": [corpus[str(doc_id)] for doc_id in row["corpus-ids"][: self.rerank_k]],
            }
            for row in subsets["bm25"]
        ]
        return CrossEncoderRerankingEvaluator(
            samples=samples,
            name=self._get_human_readable_name(dataset_name),
            at_k=self.at_k,
            always_rerank_positives=self.always_rerank_positives,
            prompt_name=self.prompt_name,
            show_progress_bar=self.show_progress_bar,
            batch_size=self.batch_size,
            write_csv=self.write_csv,
        )

    def _load_subset(self, dataset_name: str, subset: str) -> Any:
        """One subset ("corpus", "queries", "qrels", "bm25") of a dataset, with its required columns only."""
        columns = _SUBSET_COLUMNS[subset]
        return load_nanobeir_subset(self.dataset_id, dataset_name, subset, columns, type(self).__name__)

    def __call__(
        self,
        model: CrossEncoder,
        output_path: str | None = None,
        epoch: int = -1,
        steps: int = -1,
        *args: Any,
        **kwargs: Any,
    ) -> dict[str, Any]:
        """Evaluate on every dataset; return their metrics and the aggregated ``NanoBEIR_R{k}_mean_...`` ones."""
        when = self.describe_when(epoch, steps)
        logger.info(f"NanoBEIR Evaluation of the model on {self.dataset_names} dataset{when}:")
        per_dataset: dict[str, Any] = {}
        per_metric: dict[str, list[float]] = {}
        for evaluator in tqdm(self.evaluators, desc="Evaluating datasets", disable=not self.show_progress_bar):
            logger.info(f"Evaluating {evaluator.name}")
            results = evaluator(model, output_path, epoch, steps)
            per_dataset.update(results)
            for key, value in results.items():
                per_metric.setdefault(key.removeprefix(f"{evaluator.name}_"), []).append(value)
            logger.info("")
        aggregated = {metric: float(self.aggregate_fn(values)) for metric, values in per_metric.items()}
        if self.write_csv:
            keys = ("map", f"mrr@{self.at_k}", f"ndcg@{self.at_k}")
            self.write_csv_row(output_path, self.csv_file, self.csv_headers, [epoch, steps, *map(aggregated.get, keys)])
        self._log_and_store(model, aggregated, epoch, steps)
        return per_dataset | self.prefix_name_to_metrics(aggregated, self.name)

    def _log_and_store(self, model: CrossEncoder, aggregated: dict[str, float], epoch: int, steps: int) -> None:
        """Log the aggregate as base -> reranked, and give the model card each figure with its gain over BM25."""
        logger.info("CrossEncoderNanoBEIREvaluator: Aggregated Results:")
        logger.info(f"{' ' * len(str(self.at_k))}       Base  -> Reranked")
        card = {}
        for key in ("map", f"mrr@{self.at_k}", f"ndcg@{self.at_k}"):
            value, base = aggregated.get(key, 0.0), aggregated.get(f"base_{key}", 0.0)
            padding = " " * max(len(f"NDCG@{self.at_k}:") - len(key) - 1, 1)
            logger.info(f"{key.upper()}:{padding}{base * 100:.2f} -> {value * 100:.2f}")
            card[key] = f"{value:.4f} ({value - base:+.4f})"
        self.store_metrics_in_model_card_data(model, self.prefix_name_to_metrics(card, self.name), epoch, steps)

    def get_config_dict(self) -> dict[str, Any]:
        """The datasets, hub id and reranking settings."""
        return {
            "dataset_names": self.dataset_names,
            "dataset_id": self.dataset_id,
            "rerank_k": self.rerank_k,
            "at_k": self.at_k,
            "always_rerank_positives": self.always_rerank_positives,
        }


def _texts_by_id(rows: Any) -> dict[str, str]:
    """id -> text of a "corpus" or "queries" subset."""
    return {str(row_id): text for row_id, text in zip(rows["_id"], rows["text"], strict=True)}
