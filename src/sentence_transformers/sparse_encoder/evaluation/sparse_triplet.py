"""SparseTripletEvaluator: TripletEvaluator for SparseEncoder models, with sparsity figures per role."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, Literal

from sentence_transformers.sentence_transformer.evaluation.triplet import TripletEvaluator
from sentence_transformers.sparse_encoder.evaluation._sparsity import SPARSITY_KEYS, SparsityMixin, sparsity_columns

if TYPE_CHECKING:
    from torch import Tensor

    from sentence_transformers.sparse_encoder.model import SparseEncoder
    from sentence_transformers.util.similarity import SimilarityFunction

_ROLES = ("anchor", "positive", "negative")  # the order in which TripletEvaluator encodes the three columns


class SparseTripletEvaluator(SparsityMixin, TripletEvaluator):
    """Accuracy of ``similarity(anchor, positive) > similarity(anchor, negative) + margin`` for sparse embeddings.

    The metrics of :class:`TripletEvaluator` (``<fn>_accuracy``, ``max_accuracy``; primary: that of
    ``main_similarity_function``), plus ``anchor_active_dims``, ``anchor_sparsity_ratio`` and the same for the
    positives and negatives. Anchors are encoded with ``encode_query``, positives and negatives with
    ``encode_document``.

    Args:
        anchors: Anchor sentences.
        positives: The sentence that should be closer to each anchor.
        negatives: The sentence that should be farther from each anchor.
        main_similarity_function: The function whose accuracy is the primary metric.
        margin: Required lead of the positive over the negative: one float, or one per function name.
        name: Prefix of the metric names and part of the CSV file name.
        batch_size: Encoding batch size.
        show_progress_bar: Show a progress bar while encoding.
        write_csv: Append the results to ``triplet_evaluation[_name]_results.csv``.
        max_active_dims: Keep at most this many active dimensions per embedding; None uses the model's setting.
        similarity_fn_names: Functions to evaluate, among "cosine", "dot", "euclidean", "manhattan"; default the
            model's ``similarity_fn_name``.
        main_distance_function: Deprecated name of ``main_similarity_function``.
    """

    sparsity_figures = tuple(sparsity_columns([f"{role}_" for role in _ROLES]))

    def __init__(
        self,
        anchors: Sequence[str],
        positives: Sequence[str],
        negatives: Sequence[str],
        main_similarity_function: str | SimilarityFunction | None = None,
        margin: float | dict[str, float] | None = None,
        name: str = "",
        batch_size: int = 16,
        show_progress_bar: bool = False,
        write_csv: bool = True,
        max_active_dims: int | None = None,
        similarity_fn_names: list[Literal["cosine", "dot", "euclidean", "manhattan"]] | None = None,
        main_distance_function: str | SimilarityFunction | None = "deprecated",
    ) -> None:
        self._init_sparsity(max_active_dims)
        super().__init__(
            anchors=anchors,
            positives=positives,
            negatives=negatives,
            main_similarity_function=main_similarity_function,
            margin=margin,
            name=name,
            batch_size=batch_size,
            show_progress_bar=show_progress_bar,
            write_csv=write_csv,
            similarity_fn_names=similarity_fn_names,
            main_distance_function=main_distance_function,
        )

    @property
    def csv_headers(self) -> list[str]:
        """The parent's columns, then the active dims and sparsity ratio of anchors, positives and negatives."""
        headers = super().csv_headers
        return headers + list(self.sparsity_figures) if self.similarity_fn_names else headers

    def embed_inputs(
        self, model: SparseEncoder, sentences: Sequence[str], encode_fn_name: str | None = None, **kwargs: Any
    ) -> Tensor:
        """Encode ``sentences`` as one sparse CPU tensor; its sparsity counts for the anchors, positives or negatives,
        by the order of the calls (the parent encodes them in that order)."""
        embeddings = self._encode_sparse(model, sentences, encode_fn_name, **kwargs)
        roles_seen = len(self.sparsity_stats) // len(SPARSITY_KEYS)
        role = _ROLES[roles_seen % len(_ROLES)]
        self._record_sparsity(model, embeddings, prefix=f"{role}_")
        return embeddings
