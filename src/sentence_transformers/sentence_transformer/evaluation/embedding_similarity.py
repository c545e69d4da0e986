"""EmbeddingSimilarityEvaluator: how well embedding similarities of sentence pairs correlate with gold scores (STS)."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any, Literal

import numpy as np
from scipy.stats import pearsonr, spearmanr

from sentence_transformers.base.evaluation.evaluator import (
    SentenceEvaluator,
    check_similarity_fn_names,
    pair_columns,
    pairwise_similarities,
)
from sentence_transformers.util.similarity import SimilarityFunction

if TYPE_CHECKING:
    from sentence_transformers.sentence_transformer.model import SentenceTransformer
    from sentence_transformers.sentence_transformer.readers.input_example import InputExample

logger = logging.getLogger(__name__)

_QUANTIZED = ("int8", "uint8", "binary", "ubinary")


class EmbeddingSimilarityEvaluator(SentenceEvaluator):
    """Pearson and Spearman correlation between gold scores and the similarity of each pair's embeddings.

    Metrics are ``pearson_<fn>`` and ``spearman_<fn>`` for each similarity function (by default the model's own),
    plus ``pearson_max`` / ``spearman_max`` when several are computed. The primary metric is the Spearman
    correlation of ``main_similarity`` (or of the single function, or the max).

    Args:
        sentences1: First sentence of each pair.
        sentences2: Second sentence of each pair.
        scores: Gold similarity of each pair (any scale: only correlations are computed).
        batch_size: Encoding batch size.
        main_similarity: The function whose Spearman correlation is the primary metric.
        similarity_fn_names: Functions to evaluate, among "cosine", "euclidean", "manhattan", "dot".
        name: Prefix of the metric names and part of the CSV file name.
        show_progress_bar: Show a progress bar while encoding.
        write_csv: Append the results to ``similarity_evaluation[_name][_precision]_results.csv``.
        precision: Quantize the (normalized) embeddings first: "float32", "int8", "uint8", "binary", "ubinary".
        truncate_dim: Truncate embeddings to this many dimensions.
    """

    def __init__(
        self,
        sentences1: list[str],
        sentences2: list[str],
        scores: list[float],
        batch_size: int = 16,
        main_similarity: str | SimilarityFunction | None = None,
        similarity_fn_names: list[Literal["cosine", "euclidean", "manhattan", "dot"]] | None = None,
        name: str = "",
        show_progress_bar: bool = False,
        write_csv: bool = True,
        precision: Literal["float32", "int8", "uint8", "binary", "ubinary"] | None = None,
        truncate_dim: int | None = None,
    ) -> None:
        super().__init__()
        if not len(sentences1) == len(sentences2) == len(scores):
            raise ValueError(
                f"sentences1, sentences2 and scores must have the same length, got {len(sentences1)}, "
                f"{len(sentences2)} and {len(scores)}."
            )
        if precision is not None and precision not in ("float32", *_QUANTIZED):
            raise ValueError(f"precision must be None, 'float32' or one of {_QUANTIZED}, got {precision!r}.")
        self.sentences1 = sentences1
        self.sentences2 = sentences2
        self.scores = scores
        self.batch_size = batch_size
        self.main_similarity = SimilarityFunction(main_similarity) if main_similarity else None
        self.similarity_fn_names = check_similarity_fn_names(similarity_fn_names)
        if not self.similarity_fn_names and self.main_similarity is not None:
            self.similarity_fn_names = [self.main_similarity.value]
        self.name = name
        self.show_progress_bar = show_progress_bar
        self.write_csv = write_csv
        self.precision = precision
        self.truncate_dim = truncate_dim
        self.csv_file = f"similarity_evaluation{_suffix(name)}{_suffix(precision)}_results.csv"

    @property
    def csv_headers(self) -> list[str]:
        """CSV columns: epoch, steps, then <fn>_pearson and <fn>_spearman for each similarity function."""
        kinds = ("pearson", "spearman")
        return ["epoch", "steps"] + [f"{fn}_{kind}" for fn in self.similarity_fn_names for kind in kinds]

    @classmethod
    def from_input_examples(cls, examples: list[InputExample], **kwargs) -> EmbeddingSimilarityEvaluator:
        """Build from 2.x ``InputExample`` pairs whose label is the gold score."""
        return cls(*pair_columns(examples), **kwargs)

    def __call__(
        self, model: SentenceTransformer, output_path: str | None = None, epoch: int = -1, steps: int = -1
    ) -> dict[str, float]:
        """Encode both sides, correlate each similarity with the gold scores, log, write CSV, return metrics."""
        when = self.describe_when(epoch, steps, self.truncate_dim)
        logger.info(f"EmbeddingSimilarityEvaluator: Evaluating the model on the {self.name} dataset{when}:")
        embeddings1, embeddings2 = self._embed_pairs(model)
        metrics: dict[str, float] = {}
        for fn_name in self.similarity_fns_for(model):
            similarities = pairwise_similarities(fn_name, embeddings1, embeddings2)
            metrics[f"pearson_{fn_name}"] = float(pearsonr(self.scores, similarities)[0])
            metrics[f"spearman_{fn_name}"] = float(spearmanr(self.scores, similarities)[0])
            logger.info(
                f"{fn_name.capitalize()}-Similarity:\tPearson: {metrics[f'pearson_{fn_name}']:.4f}\t"
                f"Spearman: {metrics[f'spearman_{fn_name}']:.4f}"
            )
        if self.write_csv:
            row = [metrics[f"{kind}_{fn}"] for fn in self.similarity_fn_names for kind in ("pearson", "spearman")]
            self.write_csv_row(output_path, self.csv_file, self.csv_headers, [epoch, steps, *row])
        if len(self.similarity_fn_names) > 1:
            metrics["pearson_max"] = max(metrics[f"pearson_{fn}"] for fn in self.similarity_fn_names)
            metrics["spearman_max"] = max(metrics[f"spearman_{fn}"] for fn in self.similarity_fn_names)
        self.primary_metric = self._primary_metric()
        metrics = self.prefix_name_to_metrics(metrics, self.name)
        self.store_metrics_in_model_card_data(model, metrics, epoch, steps)
        return metrics

    def _primary_metric(self) -> str:
        """spearman of the main similarity, else of the only function, else spearman_max."""
        if self.main_similarity is not None:
            return f"spearman_{self.main_similarity.value}"
        if len(self.similarity_fn_names) > 1:
            return "spearman_max"
        return f"spearman_{self.similarity_fn_names[0]}"

    def _embed_pairs(self, model: SentenceTransformer) -> tuple[np.ndarray, np.ndarray]:
        """Embeddings of both sides as float arrays; quantized embeddings are unpacked / widened first."""
        if self.precision in ("int8", "uint8"):
            # One calibration for both sides, so a sentence gets the same code wherever it appears.
            both = self.embed_inputs(model, [*self.sentences1, *self.sentences2])
            embeddings1, embeddings2 = both[: len(self.sentences1)], both[len(self.sentences1) :]
        else:
            embeddings1 = self.embed_inputs(model, self.sentences1)
            embeddings2 = self.embed_inputs(model, self.sentences2)
        return _as_float(embeddings1, self.precision), _as_float(embeddings2, self.precision)

    def embed_inputs(self, model: SentenceTransformer, sentences: list[str], **kwargs) -> np.ndarray:
        """Encode ``sentences`` as a numpy array with this evaluator's settings (normalized when quantizing)."""
        options = {"precision": self.precision or "float32", "normalize_embeddings": bool(self.precision), **kwargs}
        return super().embed_inputs(model, sentences, **options)

    @property
    def description(self) -> str:
        """Shown in model cards."""
        return "Semantic Similarity"

    def get_config_dict(self) -> dict[str, Any]:
        """truncate_dim and precision when set."""
        config = {"truncate_dim": self.truncate_dim, "precision": self.precision}
        return {key: value for key, value in config.items() if value is not None}


def _as_float(embeddings: np.ndarray, precision: str | None) -> np.ndarray:
    """Float32 embeddings: binary codes are unpacked to bits (binary shifted to unsigned first), ints widened."""
    embeddings = np.asarray(embeddings)
    if precision == "binary":
        embeddings = embeddings.astype(np.int16) + 128
    if precision in ("binary", "ubinary"):
        embeddings = np.unpackbits(embeddings.astype(np.uint8), axis=1)
    if precision in _QUANTIZED:
        embeddings = embeddings.astype(np.float32)
    return embeddings


def _suffix(part: str | None) -> str:
    """'_part' for a non-empty part, else ''."""
    return f"_{part}" if part else ""
