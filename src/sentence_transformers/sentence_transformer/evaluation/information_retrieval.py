"""InformationRetrievalEvaluator: retrieve corpus documents for queries and score the ranking (MRR, NDCG, MAP, ...)."""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
import torch
from torch import Tensor
from tqdm import trange

from sentence_transformers.base.evaluation.evaluator import SentenceEvaluator
from sentence_transformers.sentence_transformer.evaluation._metrics import dcg_at_k
from sentence_transformers.util.similarity import SimilarityFunction

if TYPE_CHECKING:
    from sentence_transformers.sentence_transformer.model import SentenceTransformer

logger = logging.getLogger(__name__)

ScoreFunction = Callable[[Tensor, Tensor], Tensor]
# Metric families in the order of the returned dict; CSV columns use the display names.
_FAMILIES = ("accuracy", "precision", "recall", "ndcg", "mrr", "map")
_DISPLAY = {
    "accuracy": "Accuracy",
    "precision": "Precision",
    "recall": "Recall",
    "mrr": "MRR",
    "ndcg": "NDCG",
    "map": "MAP",
}


class InformationRetrievalEvaluator(SentenceEvaluator):
    """Ranks the corpus for every query by embedding similarity and scores the ranking against ``relevant_docs``.

    Metrics per score function and cut-off k: accuracy@k (a relevant document in the top k), precision@k,
    recall@k, MRR@k, NDCG@k (binary relevance) and MAP@k, named like ``cosine_ndcg@10``. Documents with equal
    scores are ranked by ascending corpus id, so the results do not depend on ``corpus_chunk_size``. Queries
    without relevant documents are skipped. The primary metric is NDCG at the largest k of
    ``main_score_function`` (default: the best score function at the first call).

    Args:
        queries: query id -> query text.
        corpus: document id -> document text.
        relevant_docs: query id -> ids of its relevant documents.
        corpus_chunk_size: Documents encoded and scored at a time.
        mrr_at_k: Cut-offs for MRR.
        ndcg_at_k: Cut-offs for NDCG.
        accuracy_at_k: Cut-offs for accuracy.
        precision_recall_at_k: Cut-offs for precision and recall.
        map_at_k: Cut-offs for MAP.
        show_progress_bar: Show progress bars.
        batch_size: Encoding batch size.
        name: Prefix of the metric names and part of the file names.
        write_csv: Append the results to ``Information-Retrieval_evaluation[_name]_results.csv``.
        truncate_dim: Truncate embeddings to this many dimensions.
        score_functions: name -> function(query embeddings, document embeddings) -> scores; default: the model's
            similarity function.
        main_score_function: The score function of the primary metric.
        query_prompt: Prompt text for queries.
        query_prompt_name: Name of a model prompt for queries.
        corpus_prompt: Prompt text for documents.
        corpus_prompt_name: Name of a model prompt for documents.
        write_predictions: Also write the top hits of every query to a JSON-lines file per score function.
    """

    def __init__(
        self,
        queries: dict[str, str],
        corpus: dict[str, str],
        relevant_docs: dict[str, set[str]],
        corpus_chunk_size: int = 50000,
        mrr_at_k: Sequence[int] = (10,),
        ndcg_at_k: Sequence[int] = (10,),
        accuracy_at_k: Sequence[int] = (1, 3, 5, 10),
        precision_recall_at_k: Sequence[int] = (1, 3, 5, 10),
        map_at_k: Sequence[int] = (100,),
        show_progress_bar: bool = False,
        batch_size: int = 32,
        name: str = "",
        write_csv: bool = True,
        truncate_dim: int | None = None,
        score_functions: dict[str, ScoreFunction] | None = None,
        main_score_function: str | SimilarityFunction | None = None,
        query_prompt: str | None = None,
        query_prompt_name: str | None = None,
        corpus_prompt: str | None = None,
        corpus_prompt_name: str | None = None,
        write_predictions: bool = False,
    ) -> None:
        super().__init__()
        if corpus_chunk_size < 1:
            raise ValueError(f"corpus_chunk_size must be a positive integer, got {corpus_chunk_size}.")
        self.cutoffs = {
            "accuracy": _check_cutoffs("accuracy_at_k", accuracy_at_k),
            "precision": _check_cutoffs("precision_recall_at_k", precision_recall_at_k),
            "recall": _check_cutoffs("precision_recall_at_k", precision_recall_at_k),
            "ndcg": _check_cutoffs("ndcg_at_k", ndcg_at_k),
            "mrr": _check_cutoffs("mrr_at_k", mrr_at_k),
            "map": _check_cutoffs("map_at_k", map_at_k),
        }
        self.queries_ids = [qid for qid in queries if len(relevant_docs.get(qid, ())) > 0]
        if not self.queries_ids:
            raise ValueError("No query has relevant documents: relevant_docs must map some query ids to doc ids.")
        self.queries = [queries[qid] for qid in self.queries_ids]
        self.corpus_ids = list(corpus)
        self.corpus = [corpus[cid] for cid in self.corpus_ids]
        self.relevant_docs = relevant_docs
        self.corpus_chunk_size = corpus_chunk_size
        self.mrr_at_k, self.ndcg_at_k, self.map_at_k = list(mrr_at_k), list(ndcg_at_k), list(map_at_k)
        self.accuracy_at_k, self.precision_recall_at_k = list(accuracy_at_k), list(precision_recall_at_k)
        self.show_progress_bar = show_progress_bar
        self.batch_size = batch_size
        self.name = name
        self.write_csv = write_csv
        self.truncate_dim = truncate_dim
        self.score_functions = score_functions
        self._score_functions_from_model = score_functions is None
        self.score_function_names = sorted(score_functions) if score_functions else []
        self.main_score_function = SimilarityFunction(main_score_function) if main_score_function else None
        self.query_prompt, self.query_prompt_name = query_prompt, query_prompt_name
        self.corpus_prompt, self.corpus_prompt_name = corpus_prompt, corpus_prompt_name
        self.write_predictions = write_predictions
        suffix = f"_{name}" if name else ""
        self.csv_file = f"Information-Retrieval_evaluation{suffix}_results.csv"
        self.predictions_file = f"Information-Retrieval_evaluation{suffix}_predictions.jsonl"
        self.csv_headers = ["epoch", "steps"] + self._headers(self.score_function_names)
        self._corpus_order: Tensor | None = None

    def _headers(self, fn_names: list[str]) -> list[str]:
        """CSV columns, e.g. cosine-Accuracy@1 ... cosine-MAP@100."""
        return [header for header, _ in self.csv_columns(fn_names)]

    def csv_columns(self, fn_names: list[str]) -> list[tuple[str, str]]:
        """(CSV header, metric name) pairs in CSV order, e.g. ("cosine-Accuracy@1", "cosine_accuracy@1")."""
        return [
            (f"{fn_name}-{_DISPLAY[family]}@{k}", f"{fn_name}_{family}@{k}")
            for fn_name in fn_names
            for family, cutoffs in self._csv_layout()
            for k in cutoffs
        ]

    def _csv_layout(self) -> list[tuple[str, list[int]]]:
        """Families in CSV column order; precision and recall alternate per k as one pair of columns."""
        layout = [("accuracy", self.cutoffs["accuracy"])]
        for k in self.cutoffs["precision"]:
            layout += [("precision", [k]), ("recall", [k])]
        return layout + [(family, self.cutoffs[family]) for family in ("mrr", "ndcg", "map")]

    def __call__(
        self, model: SentenceTransformer, output_path: str | None = None, epoch: int = -1, steps: int = -1, **kwargs
    ) -> dict[str, float]:
        """Retrieve, score, write CSV (and predictions), and return metrics like ``cosine_ndcg@10``."""
        when = self.describe_when(epoch, steps, self.truncate_dim)
        logger.info(f"Information Retrieval Evaluation of the model on the {self.name} dataset{when}:")
        scores = self.compute_all_metrics(model, output_path=output_path, **kwargs)
        if self.write_csv:
            row: list[Any] = [epoch, steps]
            for fn_name in self.score_function_names:
                row += [scores[fn_name][f"{family}@k"][k] for family, cutoffs in self._csv_layout() for k in cutoffs]
            self.write_csv_row(output_path, self.csv_file, self.csv_headers, row)
        if not self.primary_metric:
            self.primary_metric = choose_primary_metric(
                self.main_score_function,
                self.score_function_names,
                self.ndcg_at_k,
                lambda fn, k: scores[fn]["ndcg@k"][k],
            )
        metrics = {
            f"{fn_name}_{family.replace('@k', f'@{k}')}": value
            for fn_name, families in scores.items()
            for family, values in families.items()
            for k, value in values.items()
        }
        metrics = self.prefix_name_to_metrics(metrics, self.name)
        self.store_metrics_in_model_card_data(model, metrics, epoch, steps)
        return metrics

    def _use_model_score_function(self, model: SentenceTransformer) -> None:
        """Score with the model's own similarity, re-read at every call (the evaluator may see several models)."""
        fn_name = getattr(model, "similarity_fn_name", None) or "cosine"
        score_fn = getattr(model, "similarity", None) or SimilarityFunction.to_similarity_fn(fn_name)
        self.score_functions = {fn_name: score_fn}
        if self.score_function_names != [fn_name]:
            self.score_function_names = [fn_name]
            self.csv_headers = ["epoch", "steps"] + self._headers(self.score_function_names)
            self.primary_metric = None

    def compute_all_metrics(
        self,
        model: SentenceTransformer,
        corpus_model: SentenceTransformer | None = None,
        corpus_embeddings: Tensor | None = None,
        output_path: str | None = None,
    ) -> dict[str, dict[str, dict[int, float]]]:
        """Metrics per score function: {"cosine": {"ndcg@k": {10: 0.7}, ...}}.

        ``corpus_model`` encodes the documents instead of ``model``; ``corpus_embeddings`` skips that encoding.
        """
        if self._score_functions_from_model:
            self._use_model_score_function(model)
        results = self.retrieve(model, corpus_model, corpus_embeddings)
        if self.write_predictions and output_path is not None:
            self._write_predictions(results, output_path)
        logger.info(f"Queries: {len(self.queries)}")
        logger.info(f"Corpus: {len(self.corpus)}\n")
        scores = {fn_name: self.compute_metrics(hits) for fn_name, hits in results.items()}
        for fn_name in self.score_function_names:
            logger.info(f"Score-Function: {fn_name}")
            self.output_scores(scores[fn_name])
        return scores

    def output_scores(self, scores: dict[str, dict[int, float]]) -> None:
        """Log one score function's metrics: accuracy, precision and recall in percent, the ranking metrics as is."""
        for family in ("accuracy", "precision", "recall", "mrr", "ndcg", "map"):
            for k, value in scores[f"{family}@k"].items():
                shown = f"{value * 100:.2f}%" if family in ("accuracy", "precision", "recall") else f"{value:.4f}"
                logger.info(f"{_DISPLAY[family]}@{k}: {shown}")

    compute_metrices = compute_all_metrics  # the 2.x spelling

    def retrieve(
        self,
        model: SentenceTransformer,
        corpus_model: SentenceTransformer | None = None,
        corpus_embeddings: Tensor | None = None,
    ) -> dict[str, list[list[dict[str, Any]]]]:
        """Top hits of every query per score function: [{"corpus_id": ..., "score": ...}, ...], best first."""
        max_k = max(max(cutoffs) for cutoffs in self.cutoffs.values())
        query_embeddings = self.embed_inputs(
            model, self.queries, "query", prompt_name=self.query_prompt_name, prompt=self.query_prompt
        )
        order = self.get_corpus_id_ranks()
        best = {name: _empty_hits(len(self.queries)) for name in self.score_functions}
        for start in trange(
            0, len(self.corpus), self.corpus_chunk_size, desc="Corpus Chunks", disable=not self.show_progress_bar
        ):
            end = min(start + self.corpus_chunk_size, len(self.corpus))
            chunk = self._corpus_chunk(corpus_model or model, corpus_embeddings, start, end)
            for name, score_fn in self.score_functions.items():
                scores = torch.as_tensor(score_fn(query_embeddings, chunk)).detach().cpu().double()
                chunk_scores, chunk_positions = _top_k(scores, order[start:end], max_k)
                candidates = torch.cat([best[name][0], chunk_scores], 1)
                positions = torch.cat([best[name][1], chunk_positions + start], 1)
                best[name] = _top_k_of_candidates(candidates, positions, order, max_k)
        return {name: self._as_hits(*hits) for name, hits in best.items()}

    def _as_hits(self, scores: Tensor, positions: Tensor) -> list[list[dict[str, Any]]]:
        """Per query, the hits as dicts of corpus id and score."""
        return [
            [{"corpus_id": self.corpus_ids[p], "score": s} for s, p in zip(row_s, row_p, strict=True)]
            for row_s, row_p in zip(scores.tolist(), positions.tolist(), strict=True)
        ]

    def get_corpus_id_ranks(self) -> Tensor:
        """Rank of each corpus entry when the ids are sorted ascending (the tie-break between equal scores), cached."""
        if self._corpus_order is None:
            positions = sorted(range(len(self.corpus_ids)), key=self.corpus_ids.__getitem__)
            order = torch.empty(len(positions), dtype=torch.long)
            order[torch.tensor(positions, dtype=torch.long)] = torch.arange(len(positions))
            self._corpus_order = order
        return self._corpus_order

    def _corpus_chunk(self, model: Any, corpus_embeddings: Tensor | None, start: int, end: int) -> Tensor:
        """Embeddings of corpus[start:end]: encoded now, or sliced from precomputed (possibly sparse) ones."""
        if corpus_embeddings is None:
            return self.embed_inputs(
                model,
                self.corpus[start:end],
                "document",
                prompt_name=self.corpus_prompt_name,
                prompt=self.corpus_prompt,
            )
        if isinstance(corpus_embeddings, Tensor) and corpus_embeddings.is_sparse:
            return corpus_embeddings.index_select(0, torch.arange(start, end, device=corpus_embeddings.device))
        return corpus_embeddings[start:end]

    def embed_inputs(
        self,
        model: SentenceTransformer,
        sentences: list[str],
        encode_fn_name: str | None = None,
        prompt_name: str | None = None,
        prompt: str | None = None,
        **kwargs,
    ) -> Tensor:
        """Encode ``sentences`` as one tensor; ``encode_fn_name`` "query" / "document" picks ``encode_query`` /
        ``encode_document``, ``prompt_name`` / ``prompt`` the prompt."""
        return super().embed_inputs(
            model, sentences, encode_fn_name, prompt_name=prompt_name, prompt=prompt, convert_to_tensor=True, **kwargs
        )

    def compute_metrics(self, queries_result_list: list[list[dict[str, Any]]]) -> dict[str, dict[int, float]]:
        """Averages over queries of every metric at every cut-off, from each query's hits."""
        per_query: dict[str, dict[int, list[float]]] = {
            f"{family}@k": {k: [] for k in self.cutoffs[family]} for family in _FAMILIES
        }
        for query_id, hits in zip(self.queries_ids, queries_result_list, strict=True):
            relevant = self.relevant_docs[query_id]
            ranked = sorted(hits, key=lambda hit: (-hit["score"], hit["corpus_id"]))
            is_relevant = [hit["corpus_id"] in relevant for hit in ranked]
            for family in _FAMILIES:
                for k in self.cutoffs[family]:
                    per_query[f"{family}@k"][k].append(_query_metric(family, is_relevant[:k], len(relevant), k))
        return {family: {k: float(np.mean(values)) for k, values in by_k.items()} for family, by_k in per_query.items()}

    @staticmethod
    def compute_dcg_at_k(relevances: list[float], k: int) -> float:
        """Discounted cumulative gain of relevances in rank order, cut at k."""
        return dcg_at_k(relevances, k)

    def _write_predictions(self, results: dict[str, list[list[dict[str, Any]]]], output_path: str) -> None:
        """One JSON line per query with its top hits, one file per score function (rewritten at every call)."""
        os.makedirs(output_path, exist_ok=True)
        for fn_name, per_query in results.items():
            path = os.path.join(output_path, self.predictions_file.replace(".jsonl", f"_{fn_name}.jsonl"))
            with open(path, "w", encoding="utf-8") as f:
                for query_id, query, hits in zip(self.queries_ids, self.queries, per_query, strict=True):
                    f.write(json.dumps({"query_id": query_id, "query": query, "results": hits}) + "\n")

    def get_config_dict(self) -> dict[str, Any]:
        """truncate_dim and prompts when set."""
        keys = ("truncate_dim", "query_prompt", "query_prompt_name", "corpus_prompt", "corpus_prompt_name")
        return {key: getattr(self, key) for key in keys if getattr(self, key) is not None}


def _query_metric(family: str, top_relevant: list[bool], num_relevant: int, k: int) -> float:
    """One query's metric from the relevance flags of its top-k hits."""
    hits = sum(top_relevant)
    if family == "accuracy":
        return float(hits > 0)
    if family == "precision":
        return hits / k
    if family == "recall":
        return hits / num_relevant
    if family == "mrr":
        return next((1.0 / (rank + 1) for rank, flag in enumerate(top_relevant) if flag), 0.0)
    if family == "ndcg":
        return dcg_at_k([float(flag) for flag in top_relevant], k) / dcg_at_k([1.0] * num_relevant, k)
    precisions = [sum(top_relevant[: rank + 1]) / (rank + 1) for rank, flag in enumerate(top_relevant) if flag]
    return sum(precisions) / min(k, num_relevant)


def choose_primary_metric(
    main_score_function: SimilarityFunction | None,
    fn_names: list[str],
    ndcg_at_k: list[int],
    ndcg_of: Callable[[str, int], float],
) -> str:
    """NDCG at the largest k of the main score function, or of the function that scores best on it."""
    k = max(ndcg_at_k)
    if main_score_function is not None:
        return f"{main_score_function.value}_ndcg@{k}"
    best = max(fn_names, key=lambda fn_name: ndcg_of(fn_name, k))
    return f"{best}_ndcg@{k}"


def _check_cutoffs(argument: str, cutoffs: Sequence[int]) -> list[int]:
    """Cut-offs must be a non-empty list of positive integers."""
    if not cutoffs or any(not isinstance(k, int) or isinstance(k, bool) or k < 1 for k in cutoffs):
        raise ValueError(f"{argument} must be a non-empty list of positive integers, got {cutoffs!r}.")
    return list(cutoffs)


def _empty_hits(num_queries: int) -> tuple[Tensor, Tensor]:
    """No hits yet: [num_queries, 0] scores and corpus positions."""
    return torch.empty(num_queries, 0, dtype=torch.float64), torch.empty(num_queries, 0, dtype=torch.long)


def _top_k(scores: Tensor, id_order: Tensor, k: int) -> tuple[Tensor, Tensor]:
    """Per row, the k best columns by (score descending, corpus id ascending): their scores and column indices.

    ``torch.topk`` breaks ties arbitrarily, so rows with a tie at the k-th score are re-ranked exactly.
    """
    k = min(k, scores.shape[1])
    values, columns = torch.topk(scores, k, dim=1)
    if k == 0:
        return values, columns
    tied = (scores >= values[:, -1:]).sum(dim=1) > k
    if tied.any():
        rows = tied.nonzero().squeeze(1)
        by_id = torch.argsort(id_order)
        ranked = torch.sort(scores[rows][:, by_id], dim=1, descending=True, stable=True).indices[:, :k]
        columns[rows] = by_id[ranked]
        values = scores.gather(1, columns)
    return values, columns


def _top_k_of_candidates(scores: Tensor, positions: Tensor, id_order: Tensor, k: int) -> tuple[Tensor, Tensor]:
    """Per row, the k best (score, corpus position) candidates by score descending, then corpus id ascending."""
    by_id = torch.argsort(id_order[positions], dim=1)
    scores, positions = scores.gather(1, by_id), positions.gather(1, by_id)
    ranked = torch.sort(scores, dim=1, descending=True, stable=True).indices[:, :k]
    return scores.gather(1, ranked), positions.gather(1, ranked)
