"""NanoBEIREvaluator: information retrieval on the NanoBEIR datasets, per dataset and aggregated over them."""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
from torch import Tensor
from tqdm import tqdm

from sentence_transformers.base.evaluation.evaluator import SentenceEvaluator
from sentence_transformers.sentence_transformer.evaluation.information_retrieval import (
    InformationRetrievalEvaluator,
    _check_cutoffs,
    choose_primary_metric,
)
from sentence_transformers.util.similarity import SimilarityFunction

if TYPE_CHECKING:
    from datasets import Dataset

    from sentence_transformers.sentence_transformer.model import SentenceTransformer

logger = logging.getLogger(__name__)

DEFAULT_DATASET_ID = "sentence-transformers/NanoBEIR-en"
# Short (lower-case) name -> the part after "Nano" of its split name on the hub, e.g. split "NanoMSMARCO".
DATASET_NAME_TO_HUMAN_READABLE = {
    "climatefever": "ClimateFEVER",
    "dbpedia": "DBPedia",
    "fever": "FEVER",
    "fiqa2018": "FiQA2018",
    "hotpotqa": "HotpotQA",
    "msmarco": "MSMARCO",
    "nfcorpus": "NFCorpus",
    "nq": "NQ",
    "quoraretrieval": "QuoraRetrieval",
    "scidocs": "SCIDOCS",
    "arguana": "ArguAna",
    "scifact": "SciFact",
    "touche2020": "Touche2020",
}
# Subset on the hub -> the columns it must have.
_SUBSET_COLUMNS = {"corpus": ["_id", "text"], "queries": ["_id", "text"], "qrels": ["query-id", "corpus-id"]}


class NanoBEIREvaluator(SentenceEvaluator):
    """Runs an :class:`InformationRetrievalEvaluator` on each NanoBEIR dataset and aggregates their metrics.

    NanoBEIR holds 13 small BEIR datasets (50 queries, a few thousand documents each): a quick check of retrieval
    quality. ``dataset_id`` names a hub dataset with the subsets "corpus", "queries" (columns ``_id``, ``text``)
    and "qrels" (``query-id``, ``corpus-id``), each with one split per dataset named like ``NanoMSMARCO``. Data is
    loaded at the first use, with the optional ``datasets`` package.

    The result holds every dataset's metrics (``NanoMSMARCO_cosine_ndcg@10``) and their aggregate
    (``NanoBEIR_mean_cosine_ndcg@10``); the primary metric is the aggregated NDCG at the largest k of
    ``main_score_function`` (default: the score function with the best such NDCG).

    Args:
        dataset_names: Short names (case-insensitive), e.g. ["msmarco", "nq"]; default all 13.
        dataset_id: The hub dataset to load from.
        mrr_at_k: Cut-offs for MRR.
        ndcg_at_k: Cut-offs for NDCG.
        accuracy_at_k: Cut-offs for accuracy.
        precision_recall_at_k: Cut-offs for precision and recall.
        map_at_k: Cut-offs for MAP.
        show_progress_bar: Show progress bars.
        batch_size: Encoding batch size.
        write_csv: Append the aggregated results to ``NanoBEIR_evaluation_{aggregate_key}_results.csv`` (and each
            dataset's results to its own file).
        truncate_dim: Truncate embeddings to this many dimensions.
        score_functions: name -> function(query embeddings, document embeddings) -> scores; default: the model's
            similarity function.
        main_score_function: The score function of the primary metric.
        aggregate_fn: Aggregates one metric's values over the datasets.
        aggregate_key: Names the aggregate in the metric names (``NanoBEIR_{aggregate_key}_...``).
        query_prompts: A prompt for every query, or dataset name -> prompt (every dataset needs one).
        corpus_prompts: A prompt for every document, or dataset name -> prompt (every dataset needs one).
        write_predictions: Also write each dataset's top hits per query to JSON-lines files.
    """

    # the evaluator built for each dataset; a subclass may swap in its own
    information_retrieval_class = InformationRetrievalEvaluator

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
        truncate_dim: int | None = None,
        score_functions: dict[str, Callable[[Tensor, Tensor], Tensor]] | None = None,
        main_score_function: str | SimilarityFunction | None = None,
        aggregate_fn: Callable[[list[float]], float] = np.mean,
        aggregate_key: str = "mean",
        query_prompts: str | dict[str, str] | None = None,
        corpus_prompts: str | dict[str, str] | None = None,
        write_predictions: bool = False,
    ) -> None:
        super().__init__()
        self.dataset_names = list(DATASET_NAME_TO_HUMAN_READABLE) if dataset_names is None else list(dataset_names)
        self.dataset_id = dataset_id
        self._check_dataset_names()
        self.query_prompts = self._prompts_per_dataset("query_prompts", query_prompts)
        self.corpus_prompts = self._prompts_per_dataset("corpus_prompts", corpus_prompts)
        self.mrr_at_k = _check_cutoffs("mrr_at_k", mrr_at_k)
        self.ndcg_at_k = _check_cutoffs("ndcg_at_k", ndcg_at_k)
        self.accuracy_at_k = _check_cutoffs("accuracy_at_k", accuracy_at_k)
        self.precision_recall_at_k = _check_cutoffs("precision_recall_at_k", precision_recall_at_k)
        self.map_at_k = _check_cutoffs("map_at_k", map_at_k)
        self.show_progress_bar = show_progress_bar
        self.batch_size = batch_size
        self.write_csv = write_csv
        self.truncate_dim = truncate_dim
        self.score_functions = score_functions
        self.score_function_names = sorted(score_functions) if score_functions else []
        self.main_score_function = SimilarityFunction(main_score_function) if main_score_function else None
        self.aggregate_fn = aggregate_fn
        self.aggregate_key = aggregate_key
        self.write_predictions = write_predictions
        self.name = f"NanoBEIR_{aggregate_key}" + (f"_{truncate_dim}" if truncate_dim else "")
        self.csv_file = f"NanoBEIR_evaluation_{aggregate_key}_results.csv"
        self._evaluators: list[InformationRetrievalEvaluator] | None = None
        self._ir_kwargs: dict[str, Any] = {
            "mrr_at_k": self.mrr_at_k,
            "ndcg_at_k": self.ndcg_at_k,
            "accuracy_at_k": self.accuracy_at_k,
            "precision_recall_at_k": self.precision_recall_at_k,
            "map_at_k": self.map_at_k,
            "show_progress_bar": show_progress_bar,
            "batch_size": batch_size,
            "write_csv": write_csv,
            "truncate_dim": truncate_dim,
            "score_functions": score_functions,
            "main_score_function": main_score_function,
            "write_predictions": write_predictions,
        }

    def _check_dataset_names(self) -> None:
        """At least one name, each one of the 13 NanoBEIR names (whatever ``dataset_id``: translations share them)."""
        if not self.dataset_names:
            raise ValueError("dataset_names must not be empty; use None to evaluate on every NanoBEIR dataset.")
        unknown = [name for name in self.dataset_names if name.lower() not in DATASET_NAME_TO_HUMAN_READABLE]
        if unknown:
            accepted = list(DATASET_NAME_TO_HUMAN_READABLE)
            raise ValueError(f"Unknown NanoBEIR dataset name(s) {unknown}; accepted names are {accepted}.")

    def _prompts_per_dataset(self, argument: str, prompts: str | dict[str, str] | None) -> dict[str, str] | None:
        """dataset name -> prompt: a single prompt for all, or a dict that must cover every dataset."""
        if prompts is None:
            return None
        if isinstance(prompts, str):
            return dict.fromkeys(self.dataset_names, prompts)
        missing = [name for name in self.dataset_names if name not in prompts]
        if missing:
            raise ValueError(f"{argument} has no prompt for the dataset(s) {missing}; give one for each dataset.")
        return {name: prompts[name] for name in self.dataset_names}

    @staticmethod
    def split_name(dataset_name: str) -> str:
        """The hub split (and metric prefix) of a dataset: "msmarco" -> "NanoMSMARCO"."""
        return "Nano" + DATASET_NAME_TO_HUMAN_READABLE[dataset_name.lower()]

    @property
    def evaluators(self) -> list[InformationRetrievalEvaluator]:
        """One evaluator per dataset, loading the datasets at the first access."""
        if self._evaluators is None:
            names = tqdm(self.dataset_names, desc="Loading NanoBEIR datasets", disable=not self.show_progress_bar)
            self._evaluators = [self._load_evaluator(name) for name in names]
        return self._evaluators

    def _get_human_readable_name(self, dataset_name: str) -> str:
        """The name (metric prefix) of a dataset's evaluator: "NanoMSMARCO", plus "_{truncate_dim}" when set."""
        return self.split_name(dataset_name) + (f"_{self.truncate_dim}" if self.truncate_dim else "")

    def _load_evaluator(self, dataset_name: str) -> InformationRetrievalEvaluator:
        """The retrieval evaluator of one dataset, from its corpus, queries and qrels on the hub."""
        corpus = self._load_subset(dataset_name, "corpus")
        queries = self._load_subset(dataset_name, "queries")
        qrels = self._load_subset(dataset_name, "qrels")
        relevant_docs: dict[str, set[str]] = {}
        for row in qrels:
            doc_ids = row["corpus-id"] if isinstance(row["corpus-id"], list) else [row["corpus-id"]]
            relevant_docs.setdefault(str(row["query-id"]), set()).update(str(doc_id) for doc_id in doc_ids)
        return self.information_retrieval_class(
            queries={str(row["_id"]): row["text"] for row in queries if row["text"]},
            corpus={str(row["_id"]): row["text"] for row in corpus if row["text"]},
            relevant_docs=relevant_docs,
            name=self._get_human_readable_name(dataset_name),
            query_prompt=self.query_prompts[dataset_name] if self.query_prompts else None,
            corpus_prompt=self.corpus_prompts[dataset_name] if self.corpus_prompts else None,
            **self._ir_kwargs,
        )

    def _load_subset(self, dataset_name: str, subset: str) -> Dataset:
        """One subset ("corpus", "queries", "qrels") of a dataset, with its required columns only."""
        return load_nanobeir_subset(self.dataset_id, dataset_name, subset, _SUBSET_COLUMNS[subset], type(self).__name__)

    def __call__(
        self, model: SentenceTransformer, output_path: str | None = None, epoch: int = -1, steps: int = -1, **kwargs
    ) -> dict[str, float]:
        """Evaluate on every dataset; return their metrics and the aggregated ``NanoBEIR_mean_...`` ones."""
        when = self.describe_when(epoch, steps, self.truncate_dim)
        logger.info(f"NanoBEIR Evaluation of the model on {self.dataset_names} dataset{when}:")
        per_dataset: dict[str, float] = {}
        per_metric: dict[str, list[float]] = {}
        for evaluator in self.evaluators:
            logger.info(f"Evaluating {evaluator.name}")
            results = evaluator(model, output_path, epoch, steps)
            per_dataset.update(results)
            for key, value in results.items():
                per_metric.setdefault(key.removeprefix(f"{evaluator.name}_"), []).append(value)
        aggregated = self._aggregate(per_metric)
        self._update_score_function_names(self.evaluators[0].score_function_names)
        if not self.primary_metric:
            self.primary_metric = choose_primary_metric(
                self.main_score_function,
                self.score_function_names,
                self.ndcg_at_k,
                lambda fn, k: aggregated[f"{fn}_ndcg@{k}"],
            )
        self._log_aggregate(aggregated)
        if self.write_csv:
            self._write_csv(output_path, epoch, steps, aggregated)
        metrics = self.prefix_name_to_metrics(aggregated, self.name)
        self.store_metrics_in_model_card_data(model, metrics, epoch, steps)
        return per_dataset | metrics

    def _aggregate(self, per_metric: dict[str, list[float]]) -> dict[str, float]:
        """Each metric's values over the datasets, combined with ``aggregate_fn``."""
        return {metric: float(self.aggregate_fn(values)) for metric, values in per_metric.items()}

    def _update_score_function_names(self, names: list[str]) -> None:
        """Follow the score functions the datasets used (the model's own when none were given)."""
        if names != self.score_function_names:
            self.score_function_names = list(names)
            self.primary_metric = None

    def _csv_columns(self) -> list[tuple[str, str]]:
        """(CSV header, metric name) pairs: the columns of the retrieval evaluator's CSV, aggregated."""
        return self.evaluators[0].csv_columns(self.score_function_names)

    def _write_csv(self, output_path: str | None, epoch: int, steps: int, aggregated: dict[str, float]) -> None:
        """Append one row of aggregated metrics to ``csv_file`` under ``output_path``."""
        columns = self._csv_columns()
        headers = ["epoch", "steps"] + [header for header, _ in columns]
        row = [epoch, steps] + [aggregated[metric] for _, metric in columns]
        self.write_csv_row(output_path, self.csv_file, headers, row)

    def _log_aggregate(self, aggregated: dict[str, float]) -> None:
        """Log the average dataset sizes and the aggregated metrics."""
        logger.info(f"Average Queries: {np.mean([len(e.queries) for e in self.evaluators])}")
        logger.info(f"Average Corpus: {np.mean([len(e.corpus) for e in self.evaluators])}\n")
        for fn_name in self.score_function_names:
            logger.info(f"Aggregated for Score Function: {fn_name}")
            for header, metric in self._csv_columns():
                if header.startswith(f"{fn_name}-"):
                    logger.info(f"{header.removeprefix(f'{fn_name}-')}: {aggregated[metric]:.4f}")

    def store_metrics_in_model_card_data(
        self, model: SentenceTransformer, metrics: dict[str, float], epoch: int = 0, step: int = 0
    ) -> None:
        """Store the aggregate only over several datasets: one dataset's evaluator already stored the same figures."""
        if len(self.dataset_names) > 1:
            super().store_metrics_in_model_card_data(model, metrics, epoch, step)

    def get_config_dict(self) -> dict[str, Any]:
        """The datasets and hub id, plus truncate_dim and prompts when set."""
        config: dict[str, Any] = {"dataset_names": self.dataset_names, "dataset_id": self.dataset_id}
        for key in ("truncate_dim", "query_prompts", "corpus_prompts"):
            if getattr(self, key) is not None:
                config[key] = getattr(self, key)
        return config


def load_nanobeir_subset(
    dataset_id: str, dataset_name: str, subset: str, columns: list[str], evaluator_name: str = "NanoBEIREvaluator"
) -> Dataset:
    """One subset of a NanoBEIR dataset from the hub (split ``Nano{Name}``), keeping only ``columns``.

    Loads with the optional ``datasets`` package; a load failure or a missing column raises a ValueError that names
    the dataset, subset and split. ``evaluator_name`` names the evaluator in the install hint.
    """
    try:
        from datasets import load_dataset
    except ImportError as error:
        raise ImportError(f"{evaluator_name} needs the `datasets` package: pip install datasets") from error
    split = "Nano" + DATASET_NAME_TO_HUMAN_READABLE[dataset_name.lower()]
    try:
        data = load_dataset(dataset_id, subset, split=split)
    except Exception as error:
        raise ValueError(
            f"Could not load NanoBEIR dataset {dataset_name!r}: subset {subset!r}, split {split!r} of "
            f"{dataset_id!r} ({type(error).__name__}: {error})."
        ) from error
    missing = [column for column in columns if column not in data.column_names]
    if missing:
        raise ValueError(
            f"NanoBEIR dataset {dataset_name!r}: subset {subset!r}, split {split!r} of {dataset_id!r} "
            f"lacks the column(s) {missing}; it needs {columns}."
        )
    return data.select_columns(columns)
