"""SparseEmbeddingSimilarityEvaluator: EmbeddingSimilarityEvaluator for SparseEncoder models, with sparsity figures."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, Literal

from sentence_transformers.sentence_transformer.evaluation.embedding_similarity import EmbeddingSimilarityEvaluator
from sentence_transformers.sparse_encoder.evaluation._sparsity import SparsityMixin

if TYPE_CHECKING:
    from torch import Tensor

    from sentence_transformers.sparse_encoder.model import SparseEncoder
    from sentence_transformers.util.similarity import SimilarityFunction


class SparseEmbeddingSimilarityEvaluator(SparsityMixin, EmbeddingSimilarityEvaluator):
    """Pearson and Spearman correlation between gold scores and the similarity of each pair's sparse embeddings.

    The metrics of :class:`EmbeddingSimilarityEvaluator` (``pearson_<fn>``, ``spearman_<fn>``, the max over several
    functions; primary: the Spearman correlation of ``main_similarity``), plus ``active_dims`` and
    ``sparsity_ratio``: the mean number of non-zero dimensions per embedding and the mean share of zero dimensions.

    Args:
        sentences1: First sentence of each pair.
        sentences2: Second sentence of each pair.
        scores: Gold similarity of each pair.
        batch_size: Encoding batch size.
        main_similarity: The function whose Spearman correlation is the primary metric.
        similarity_fn_names: Functions to evaluate, among "cosine", "euclidean", "manhattan", "dot"; default the
            model's ``similarity_fn_name``.
        name: Prefix of the metric names and part of the CSV file name.
        show_progress_bar: Show a progress bar while encoding.
        write_csv: Append the results to ``similarity_evaluation[_name]_results.csv``.
        max_active_dims: Keep at most this many active dimensions per embedding; None uses the model's setting.
    """

    def __init__(
        self,
        sentences1: Sequence[str],
        sentences2: Sequence[str],
        scores: Sequence[float],
        batch_size: int = 16,
        main_similarity: str | SimilarityFunction | None = None,
        similarity_fn_names: list[Literal["cosine", "euclidean", "manhattan", "dot"]] | None = None,
        name: str = "",
        show_progress_bar: bool = False,
        write_csv: bool = True,
        max_active_dims: int | None = None,
    ) -> None:
        self._init_sparsity(max_active_dims)
        super().__init__(
            sentences1=sentences1,
            sentences2=sentences2,
            scores=scores,
            batch_size=batch_size,
            main_similarity=main_similarity,
            similarity_fn_names=similarity_fn_names,
            name=name,
            show_progress_bar=show_progress_bar,
            write_csv=write_csv,
            precision=None,
        )

    @property
    def csv_headers(self) -> list[str]:
        """The parent's columns, then active_dims and sparsity_ratio once the similarity functions are known."""
        headers = super().csv_headers
        return headers + list(self.sparsity_figures) if self.similarity_fn_names else headers

    def _embed_pairs(self, model: SparseEncoder) -> tuple[Tensor, Tensor]:
        """Sparse embeddings of both sides (the similarity functions take sparse tensors as they are)."""
        return self.embed_inputs(model, self.sentences1), self.embed_inputs(model, self.sentences2)

    def embed_inputs(self, model: SparseEncoder, sentences: Sequence[str], **kwargs: Any) -> Tensor:
        """Encode ``sentences`` as one sparse CPU tensor and record its sparsity."""
        embeddings = self._encode_sparse(model, sentences, **kwargs)
        self._record_sparsity(model, embeddings)
        return embeddings
