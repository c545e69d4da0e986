"""MultiVectorRerankingEvaluator: MAP, MRR@k and NDCG@k of a MultiVectorEncoder reranking each query's candidates."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

from torch import Tensor

from sentence_transformers.multi_vector_encoder.evaluation._common import encode_token_embeddings
from sentence_transformers.sentence_transformer.evaluation.reranking import RerankingEvaluator

if TYPE_CHECKING:
    from sentence_transformers.multi_vector_encoder.model import MultiVectorEncoder


class MultiVectorRerankingEvaluator(RerankingEvaluator):
    """Ranks each sample's positive and negative documents by late-interaction score with its query.

    Samples are ``{"query": ..., "positive": [...], "negative": [...]}``; the metrics are those of
    :class:`RerankingEvaluator` (``map``, ``mrr@k``, ``ndcg@k``; primary ``ndcg@k``). Queries are encoded with
    ``encode_query``, documents with ``encode_document``, and scored with the model's ``similarity`` (MaxSim by
    default), read at every call.

    Args:
        samples: The samples (a dict of samples is accepted too: its values are used).
        at_k: Cut-off for MRR and NDCG.
        name: Prefix of the metric names and part of the CSV file name.
        write_csv: Append the results to ``RerankingEvaluator[_name]_results_@k.csv``.
        similarity_fct: Scores a list of query token embeddings against a list of document token embeddings
            (returning ``(queries, documents)``), instead of the model's similarity.
        batch_size: Encoding batch size.
        show_progress_bar: Show progress bars while encoding.
        use_batched_encoding: Encode all queries and all documents at once (else sample by sample).
    """

    def __init__(
        self,
        samples: list[dict[str, Any]],
        *,
        at_k: int = 10,
        name: str = "",
        write_csv: bool = True,
        similarity_fct: Callable[[list[Tensor], list[Tensor]], Tensor] | None = None,
        batch_size: int = 16,
        show_progress_bar: bool = False,
        use_batched_encoding: bool = True,
    ) -> None:
        super().__init__(
            samples,
            at_k=at_k,
            name=name,
            write_csv=write_csv,
            batch_size=batch_size,
            show_progress_bar=show_progress_bar,
            use_batched_encoding=use_batched_encoding,
        )
        self._given_similarity_fct = similarity_fct
        self.similarity_fct = _one_query(similarity_fct) if similarity_fct is not None else None

    def __call__(
        self, model: MultiVectorEncoder, output_path: str | None = None, epoch: int = -1, steps: int = -1
    ) -> dict[str, float]:
        """As RerankingEvaluator, scoring with the model's similarity unless one was given."""
        if self._given_similarity_fct is None:
            self.similarity_fct = _one_query(model.similarity)
        return super().__call__(model, output_path, epoch, steps)

    def embed_inputs(
        self,
        model: MultiVectorEncoder,
        sentences: Sequence[Any],
        encode_fn_name: str | None = None,
        show_progress_bar: bool | None = None,
        **kwargs: Any,
    ) -> list[Tensor]:
        """One ``(tokens, dim)`` tensor per input."""
        return encode_token_embeddings(self, model, sentences, encode_fn_name, show_progress_bar, **kwargs)


def _one_query(similarity: Callable[..., Tensor]) -> Callable[[Tensor | list[Tensor], list[Tensor]], Tensor]:
    """Score one query's ``(tokens, dim)`` embeddings (or a one-item list of them) against its documents."""

    def score(query: Tensor | list[Tensor], documents: list[Tensor]) -> Tensor:
        return similarity(query if isinstance(query, list) else [query], list(documents))

    return score


__all__ = ["MultiVectorRerankingEvaluator"]
