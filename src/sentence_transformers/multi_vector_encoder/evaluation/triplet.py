"""MultiVectorTripletEvaluator: how often a query's MaxSim with its positive beats that with its negative."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from torch import Tensor

from sentence_transformers.multi_vector_encoder.evaluation._common import (
    encode_token_embeddings,
    refuse_truncate_dim,
)
from sentence_transformers.sentence_transformer.evaluation.triplet import TripletEvaluator
from sentence_transformers.sentence_transformer.evaluation.triplet import _margins as margins_by_name
from sentence_transformers.util.similarity import SimilarityFunction

if TYPE_CHECKING:
    from sentence_transformers.multi_vector_encoder.model import MultiVectorEncoder

# the late-interaction similarities a MultiVectorEncoder scores with
MULTI_VECTOR_SIMILARITIES = (SimilarityFunction.MAXSIM.value, SimilarityFunction.MEAN_MAXSIM.value)


class MultiVectorTripletEvaluator(TripletEvaluator):
    """Accuracy of ``sim(anchor, positive) > sim(anchor, negative) + margin`` with late-interaction similarities.

    Anchors are encoded with ``encode_query``, positives and negatives with ``encode_document``. Metrics are
    ``<fn>_accuracy`` for each of ``similarity_fn_names`` (default: the model's ``similarity_fn_name``), plus
    ``max_accuracy`` over several. MaxSim grows with the query length (about one point per query token with
    normalized embeddings) while MeanMaxSim stays in [-1, 1], so a margin is best given per function.

    Args:
        anchors: Queries.
        positives: The document that should score higher with each query.
        negatives: The document that should score lower.
        main_similarity_function: The function whose accuracy is the primary metric.
        margin: Required lead of the positive: one float, or one per function name ("maxsim", "meanmaxsim").
        name: Prefix of the metric names and part of the CSV file name.
        batch_size: Encoding batch size.
        show_progress_bar: Show a progress bar while encoding.
        write_csv: Append the results to ``triplet_evaluation[_name]_results.csv``.
        truncate_dim: Not supported (token embeddings are not truncated); must stay None.
        similarity_fn_names: Functions to evaluate, among "maxsim" and "meanmaxsim".
        main_distance_function: Deprecated name of ``main_similarity_function``.
    """

    def __init__(
        self,
        anchors: Sequence[Any],
        positives: Sequence[Any],
        negatives: Sequence[Any],
        main_similarity_function: str | SimilarityFunction | None = None,
        margin: float | dict[str, float] | None = None,
        name: str = "",
        batch_size: int = 16,
        show_progress_bar: bool = False,
        write_csv: bool = True,
        truncate_dim: int | None = None,
        similarity_fn_names: list[str] | None = None,
        main_distance_function: str | SimilarityFunction | None = "deprecated",
    ) -> None:
        refuse_truncate_dim(truncate_dim)
        super().__init__(
            anchors,
            positives,
            negatives,
            main_similarity_function=main_similarity_function,
            name=name,
            batch_size=batch_size,
            show_progress_bar=show_progress_bar,
            write_csv=write_csv,
            main_distance_function=main_distance_function,
        )
        if similarity_fn_names:
            self.similarity_fn_names = _check_names(list(similarity_fn_names))
        else:
            _check_names(self.similarity_fn_names)
        self.margin = margins_by_name(margin, MULTI_VECTOR_SIMILARITIES)

    def embed_inputs(
        self, model: MultiVectorEncoder, sentences: Sequence[Any], encode_fn_name: str | None = None, **kwargs: Any
    ) -> list[Tensor]:
        """One ``(tokens, dim)`` tensor per input."""
        return encode_token_embeddings(self, model, sentences, encode_fn_name, **kwargs)


def _check_names(names: list[str]) -> list[str]:
    """Only the late-interaction similarities can score token embeddings."""
    unknown = [name for name in names if name not in MULTI_VECTOR_SIMILARITIES]
    if unknown:
        raise ValueError(
            f"Unknown similarity_fn_names {unknown}; accepted names are {list(MULTI_VECTOR_SIMILARITIES)}."
        )
    return names


__all__ = ["MultiVectorTripletEvaluator"]
