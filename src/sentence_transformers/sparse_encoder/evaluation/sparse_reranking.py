"""SparseRerankingEvaluator: RerankingEvaluator for SparseEncoder models, with query and document sparsity."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

import torch
from torch import Tensor

from sentence_transformers.sentence_transformer.evaluation.reranking import RerankingEvaluator
from sentence_transformers.sparse_encoder.evaluation._sparsity import SparsityMixin, sparsity_columns
from sentence_transformers.util.similarity import cos_sim

if TYPE_CHECKING:
    from sentence_transformers.sparse_encoder.model import SparseEncoder


class SparseRerankingEvaluator(SparsityMixin, RerankingEvaluator):
    """MAP, MRR@k and NDCG@k of ranking each sample's documents by the similarity of their sparse embeddings to the
    query's.

    The metrics of :class:`RerankingEvaluator` (``map``, ``mrr@k`` and the primary ``ndcg@k``), plus
    ``query_active_dims``, ``query_sparsity_ratio``, ``corpus_active_dims`` and ``corpus_sparsity_ratio``: the
    sparsity of the query and document embeddings, averaged over the encoding calls.

    Args:
        samples: Dicts ``{"query": str, "positive": [str, ...], "negative": [str, ...]}``.
        at_k: Cut-off for MRR and NDCG.
        name: Prefix of the metric names and part of the CSV file name.
        write_csv: Append the results to ``RerankingEvaluator[_name]_results_@k.csv``.
        similarity_fct: Scores one query embedding against document embeddings (default cosine).
        batch_size: Encoding batch size.
        show_progress_bar: Show progress bars while encoding.
        use_batched_encoding: Encode all queries and all documents at once (else sample by sample).
        max_active_dims: Keep at most this many active dimensions per embedding; None uses the model's setting.
        mrr_at_k: Deprecated name of ``at_k``.
    """

    sparsity_figures = tuple(sparsity_columns(["query_", "corpus_"]))

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
        max_active_dims: int | None = None,
        mrr_at_k: int | None = None,
    ) -> None:
        self._init_sparsity(max_active_dims)
        super().__init__(
            samples=samples,
            at_k=at_k,
            name=name,
            write_csv=write_csv,
            similarity_fct=similarity_fct,
            batch_size=batch_size,
            show_progress_bar=show_progress_bar,
            use_batched_encoding=use_batched_encoding,
            mrr_at_k=mrr_at_k,
        )
        self.csv_headers.extend(self.sparsity_figures)

    def embed_inputs(
        self,
        model: SparseEncoder,
        sentences: Sequence[str],
        encode_fn_name: str | None = None,
        show_progress_bar: bool | None = None,
        **kwargs: Any,
    ) -> list[Tensor]:
        """Encode ``sentences`` as a list of sparse CPU vectors (sparse tensors cannot be sliced, lists can) and
        record their sparsity as the queries' ("query" or no role) or the documents'."""
        kwargs.pop("convert_to_tensor", None)
        embeddings = self._encode_sparse(
            model, sentences, encode_fn_name, show_progress_bar=show_progress_bar, convert_to_tensor=False, **kwargs
        )
        if isinstance(embeddings, Tensor):
            embeddings = list(embeddings.unbind(0))
        prefix = "query_" if encode_fn_name in ("query", None) else "corpus_"
        if embeddings:
            self._record_sparsity(model, torch.stack(embeddings), prefix=prefix)
        return embeddings
