"""SparseInformationRetrievalEvaluator: InformationRetrievalEvaluator for SparseEncoder models, with query and corpus
sparsity and the average FLOPS of scoring a query against a document."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

import torch
from torch import Tensor

from sentence_transformers.sentence_transformer.evaluation.information_retrieval import InformationRetrievalEvaluator
from sentence_transformers.sparse_encoder.evaluation._sparsity import SPARSITY_KEYS, SparsityMixin, sparsity_columns
from sentence_transformers.util.tensor import compute_count_vector

if TYPE_CHECKING:
    from sentence_transformers.sparse_encoder.model import SparseEncoder
    from sentence_transformers.util.similarity import SimilarityFunction

_PREFIXES = ("query", "corpus")


class SparseInformationRetrievalEvaluator(SparsityMixin, InformationRetrievalEvaluator):
    """Ranks the corpus for every query by the similarity of sparse embeddings and scores the ranking.

    The metrics of :class:`InformationRetrievalEvaluator` (``<fn>_accuracy@k``, ``<fn>_precision@k``,
    ``<fn>_recall@k``, ``<fn>_mrr@k``, ``<fn>_ndcg@k``, ``<fn>_map@k``; primary: NDCG at the largest k), plus:

    - ``query_active_dims`` / ``query_sparsity_ratio``: mean non-zero dimensions / share of zero dimensions of the
      query embeddings;
    - ``corpus_active_dims`` / ``corpus_sparsity_ratio``: the same for the documents (weighted over the corpus
      chunks, so per document);
    - ``avg_flops``: the expected number of multiplications of a sparse dot product between a query and a document,
      i.e. the dot product of the per-dimension activation frequencies of queries and documents.

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
        max_active_dims: Keep at most this many active dimensions per embedding; None uses the model's setting.
        score_functions: name -> function(query embeddings, document embeddings) -> scores; default: the model's
            similarity function, re-read at every call.
        main_score_function: The score function of the primary metric.
        query_prompt: Prompt text for queries.
        query_prompt_name: Name of a model prompt for queries.
        corpus_prompt: Prompt text for documents.
        corpus_prompt_name: Name of a model prompt for documents.
        write_predictions: Also write the top hits of every query to a JSON-lines file per score function (input
            for :class:`ReciprocalRankFusionEvaluator`).
    """

    sparsity_figures = (*sparsity_columns([f"{prefix}_" for prefix in _PREFIXES]), "avg_flops")

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
        max_active_dims: int | None = None,
        score_functions: dict[str, Callable[[Tensor, Tensor], Tensor]] | None = None,
        main_score_function: str | SimilarityFunction | None = None,
        query_prompt: str | None = None,
        query_prompt_name: str | None = None,
        corpus_prompt: str | None = None,
        corpus_prompt_name: str | None = None,
        write_predictions: bool = False,
    ) -> None:
        self._init_sparsity(max_active_dims)
        super().__init__(
            queries=queries,
            corpus=corpus,
            relevant_docs=relevant_docs,
            corpus_chunk_size=corpus_chunk_size,
            mrr_at_k=mrr_at_k,
            ndcg_at_k=ndcg_at_k,
            accuracy_at_k=accuracy_at_k,
            precision_recall_at_k=precision_recall_at_k,
            map_at_k=map_at_k,
            show_progress_bar=show_progress_bar,
            batch_size=batch_size,
            name=name,
            write_csv=write_csv,
            score_functions=score_functions,
            main_score_function=main_score_function,
            query_prompt=query_prompt,
            query_prompt_name=query_prompt_name,
            corpus_prompt=corpus_prompt,
            corpus_prompt_name=corpus_prompt_name,
            write_predictions=write_predictions,
        )

    def _reset_sparsity(self) -> None:
        """Empty per-call records: sparsity per encoded batch, activation counts per dimension, batch sizes."""
        self.sparsity_stats = {prefix: defaultdict(list) for prefix in _PREFIXES}
        self.count_vectors: dict[str, Tensor] = {}
        self.count_lengths: dict[str, list[int]] = {prefix: [] for prefix in _PREFIXES}

    def _headers(self, fn_names: list[str]) -> list[str]:
        """The parent's metric columns, then the sparsity figures once the score functions are known."""
        headers = super()._headers(fn_names)
        return headers + list(self.sparsity_figures) if fn_names else headers

    def _average_sparsity(self) -> dict[str, float]:
        """Query figures averaged over the encoding calls (the queries are encoded at once), corpus figures weighted
        by chunk size (so per document), and the average FLOPS."""
        figures: dict[str, float] = {}
        for prefix in _PREFIXES:
            records, lengths = self.sparsity_stats[prefix], self.count_lengths[prefix]
            for key in SPARSITY_KEYS:
                if not records[key]:
                    continue
                if prefix == "query":
                    figures[f"{prefix}_{key}"] = sum(records[key]) / len(records[key])
                else:
                    weighted = sum(value * length for value, length in zip(records[key], lengths, strict=True))
                    figures[f"{prefix}_{key}"] = weighted / sum(lengths)
        figures["avg_flops"] = self._calculate_avg_flops()
        return figures

    def compute_all_metrics(
        self,
        model: SparseEncoder,
        corpus_model: SparseEncoder | None = None,
        corpus_embeddings: Tensor | None = None,
        output_path: str | None = None,
    ) -> dict[str, dict[str, dict[int, float]]]:
        """The parent's metrics; precomputed ``corpus_embeddings`` count for the corpus sparsity figures."""
        if corpus_embeddings is not None:
            corpus_embeddings = corpus_embeddings.cpu()
            self._record_sparsity_stats(corpus_model or model, corpus_embeddings, "corpus")
        return super().compute_all_metrics(
            model, corpus_model=corpus_model, corpus_embeddings=corpus_embeddings, output_path=output_path
        )

    def embed_inputs(
        self,
        model: SparseEncoder,
        sentences: Sequence[str],
        encode_fn_name: str | None = None,
        prompt_name: str | None = None,
        prompt: str | None = None,
        **kwargs: Any,
    ) -> Tensor:
        """Encode ``sentences`` as one sparse CPU tensor; record its sparsity as the queries' ("query" or no role) or
        the corpus' ("document")."""
        kwargs.pop("convert_to_tensor", None)
        embeddings = self._encode_sparse(
            model, sentences, encode_fn_name, prompt_name=prompt_name, prompt=prompt, convert_to_tensor=True, **kwargs
        )
        prefix = "query" if encode_fn_name in ("query", None) else "corpus"
        self._record_sparsity_stats(model, embeddings, prefix)
        return embeddings

    def _record_sparsity_stats(self, model: SparseEncoder, embeddings: Tensor, prefix: str) -> None:
        """Record one batch: its sparsity, its per-dimension activation counts and its size."""
        stats = model.sparsity(embeddings)
        for key in SPARSITY_KEYS:
            self.sparsity_stats[prefix][key].append(float(stats[key]))
        counts = compute_count_vector(embeddings).cpu()
        self.count_vectors[prefix] = counts + self.count_vectors[prefix] if prefix in self.count_vectors else counts
        self.count_lengths[prefix].append(len(embeddings))

    def _calculate_avg_flops(self) -> float:
        """Dot product of the mean activation of each dimension over the queries and over the documents: the
        expected number of dimensions a query and a document share (0.0 when either side was not encoded)."""
        if any(prefix not in self.count_vectors or not sum(self.count_lengths[prefix]) for prefix in _PREFIXES):
            return 0.0
        query = self.count_vectors["query"].double() / sum(self.count_lengths["query"])
        corpus = self.count_vectors["corpus"].double() / sum(self.count_lengths["corpus"])
        return float(torch.dot(query, corpus))
