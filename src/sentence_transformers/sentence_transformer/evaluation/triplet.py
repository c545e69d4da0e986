"""TripletEvaluator: how often an anchor is closer to its positive than to its negative."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, Literal

import numpy as np

from sentence_transformers.base.evaluation.evaluator import (
    SIMILARITY_NAMES,
    SentenceEvaluator,
    check_similarity_fn_names,
    pairwise_similarities,
)
from sentence_transformers.util.similarity import SimilarityFunction

if TYPE_CHECKING:
    from sentence_transformers.sentence_transformer.model import SentenceTransformer
    from sentence_transformers.sentence_transformer.readers.input_example import InputExample

logger = logging.getLogger(__name__)


class TripletEvaluator(SentenceEvaluator):
    """Accuracy of ``similarity(anchor, positive) > similarity(anchor, negative) + margin`` per similarity function.

    Distances count as negative similarities (higher = closer). Anchors are encoded with ``encode_query``,
    positives and negatives with ``encode_document``. Metrics are ``<fn>_accuracy`` plus ``max_accuracy`` when
    several functions are evaluated; the primary metric is that of ``main_similarity_function`` (else the single
    function's, else the max).

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
        truncate_dim: Truncate embeddings to this many dimensions.
        similarity_fn_names: Functions to evaluate, among "cosine", "dot", "euclidean", "manhattan".
        main_distance_function: Deprecated name of ``main_similarity_function``.
    """

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
        truncate_dim: int | None = None,
        similarity_fn_names: list[Literal["cosine", "dot", "euclidean", "manhattan"]] | None = None,
        main_distance_function: str | SimilarityFunction | None = "deprecated",
    ) -> None:
        super().__init__()
        if not len(anchors) == len(positives) == len(negatives):
            raise ValueError(
                f"anchors, positives and negatives must have the same length, got {len(anchors)}, "
                f"{len(positives)} and {len(negatives)}."
            )
        if main_distance_function != "deprecated" and main_similarity_function is None:
            logger.warning("main_distance_function is deprecated; use main_similarity_function instead.")
            main_similarity_function = main_distance_function
        self.anchors, self.positives, self.negatives = anchors, positives, negatives
        self.main_similarity_function = (
            SimilarityFunction(main_similarity_function) if main_similarity_function else None
        )
        self.similarity_fn_names = check_similarity_fn_names(similarity_fn_names)
        if not self.similarity_fn_names and self.main_similarity_function is not None:
            self.similarity_fn_names = [self.main_similarity_function.value]
        self.margin = _margins(margin)
        self.name = name
        self.batch_size = batch_size
        self.show_progress_bar = show_progress_bar
        self.write_csv = write_csv
        self.truncate_dim = truncate_dim
        self.csv_file = "triplet_evaluation" + (f"_{name}" if name else "") + "_results.csv"

    @property
    def csv_headers(self) -> list[str]:
        """CSV columns: epoch, steps, then accuracy_<fn> for each similarity function."""
        return ["epoch", "steps"] + [f"accuracy_{fn}" for fn in self.similarity_fn_names]

    @classmethod
    def from_input_examples(cls, examples: list[InputExample], **kwargs) -> TripletEvaluator:
        """Build from 2.x ``InputExample`` triplets (anchor, positive, negative)."""
        texts = [example.texts for example in examples]
        return cls([t[0] for t in texts], [t[1] for t in texts], [t[2] for t in texts], **kwargs)

    def __call__(
        self, model: SentenceTransformer, output_path: str | None = None, epoch: int = -1, steps: int = -1
    ) -> dict[str, float]:
        """Encode the triplets, count how often the positive wins per function, write CSV and return metrics."""
        when = self.describe_when(epoch, steps, self.truncate_dim)
        logger.info(f"TripletEvaluator: Evaluating the model on the {self.name} dataset{when}:")
        anchors = self.embed_inputs(model, self.anchors, "query")
        positives = self.embed_inputs(model, self.positives, "document")
        negatives = self.embed_inputs(model, self.negatives, "document")
        metrics = {}
        for fn_name in self.similarity_fns_for(model):
            positive = pairwise_similarities(fn_name, anchors, positives)
            negative = pairwise_similarities(fn_name, anchors, negatives)
            metrics[f"{fn_name}_accuracy"] = float(np.mean(positive > negative + self.margin[fn_name]))
            logger.info(f"Accuracy {fn_name.capitalize()} Similarity:\t{metrics[f'{fn_name}_accuracy']:.2%}")
        if self.write_csv:
            self.write_csv_row(output_path, self.csv_file, self.csv_headers, [epoch, steps, *metrics.values()])
        if len(self.similarity_fn_names) > 1:
            metrics["max_accuracy"] = max(metrics.values())
        if self.main_similarity_function is not None:
            self.primary_metric = f"{self.main_similarity_function.value}_accuracy"
        elif len(self.similarity_fn_names) > 1:
            self.primary_metric = "max_accuracy"
        else:
            self.primary_metric = f"{self.similarity_fn_names[0]}_accuracy"
        metrics = self.prefix_name_to_metrics(metrics, self.name)
        self.store_metrics_in_model_card_data(model, metrics, epoch, steps)
        return metrics

    def get_config_dict(self) -> dict[str, Any]:
        """margin when not all zero, truncate_dim when set."""
        config: dict[str, Any] = {}
        if any(self.margin.values()):
            config["margin"] = self.margin
        if self.truncate_dim is not None:
            config["truncate_dim"] = self.truncate_dim
        return config


def _margins(margin: float | dict[str, float] | None, names: Sequence[str] = SIMILARITY_NAMES) -> dict[str, float]:
    """A margin per similarity function name of ``names`` (0 where not given)."""
    names = list(names)
    if margin is None:
        return dict.fromkeys(names, 0)
    if isinstance(margin, (int, float)) and not isinstance(margin, bool):
        return dict.fromkeys(names, margin)
    if isinstance(margin, dict):
        unknown = sorted(set(margin) - set(names))
        if unknown:
            raise ValueError(f"margin has unknown keys {unknown}; accepted keys are {names}.")
        return {**dict.fromkeys(names, 0), **margin}
    raise ValueError(f"margin must be a float or a dict keyed by {names}, got {margin!r}.")
