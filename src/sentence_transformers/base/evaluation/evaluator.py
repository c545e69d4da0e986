"""BaseEvaluator (also named SentenceEvaluator): the base of every evaluator, a callable that scores a model."""

from __future__ import annotations

import csv
import os
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from sentence_transformers.util.similarity import SimilarityFunction

if TYPE_CHECKING:
    from sentence_transformers.sentence_transformer.model import SentenceTransformer

# the single-vector similarities the embedding evaluators compute (the MaxSim family scores multi-vector outputs)
SIMILARITY_NAMES = tuple(name for name in SimilarityFunction.possible_values() if name not in ("maxsim", "meanmaxsim"))


class BaseEvaluator:
    """Scores a model; ``__call__`` returns a dict of metrics whose names carry the evaluator's ``name`` prefix.

    Subclasses set ``primary_metric`` (the key of the metric that model selection uses) and ``greater_is_better``,
    and write their results as CSV rows under ``output_path`` with ``write_csv_row``.
    """

    similarity_fn_names: list[str]  # set by evaluators that compare embeddings with similarity functions
    batch_size: int  # set, like the two below, by evaluators that embed inputs
    show_progress_bar: bool | None = None
    truncate_dim: int | None = None

    def __init__(self) -> None:
        self.greater_is_better = True
        self.primary_metric: str | None = None

    def __call__(
        self, model: SentenceTransformer, output_path: str | None = None, epoch: int = -1, steps: int = -1
    ) -> dict[str, float]:
        """Evaluate ``model``; ``epoch`` and ``steps`` say when during training (-1: outside training)."""
        raise NotImplementedError

    def prefix_name_to_metrics(self, metrics: dict[str, Any], name: str) -> dict[str, Any]:
        """Prefix every metric with ``name_`` (and the primary metric too), so several evaluators can coexist.

        Numpy and torch scalars become plain floats, so the metrics serialize to JSON and log cleanly.
        """
        metrics = {key: _plain_number(value) for key, value in metrics.items()}
        if not name:
            return metrics
        prefixed = {f"{name}_{key}": value for key, value in metrics.items()}
        if self.primary_metric and not self.primary_metric.startswith(f"{name}_"):
            self.primary_metric = f"{name}_{self.primary_metric}"
        return prefixed

    def store_metrics_in_model_card_data(
        self, model: SentenceTransformer, metrics: dict[str, float], epoch: int = 0, step: int = 0
    ) -> None:
        """Remember the latest metrics on the model, so a saved model card can report them.

        Models without ``model_card_data`` (e.g. a bare object with an ``encode`` method) are left alone.
        """
        card = getattr(model, "model_card_data", None)
        if card is None:
            return
        if hasattr(card, "set_evaluation_metrics"):
            card.set_evaluation_metrics(self, metrics, epoch, step)
            return
        evaluations = card.setdefault("eval_results", {})
        evaluations.setdefault(self.description, {}).update({"epoch": epoch, "step": step, **metrics})

    @property
    def description(self) -> str:
        """A readable name: the class name up to "Evaluator", split into words ("Binary Classification")."""
        name = type(self).__name__.partition("Evaluator")[0] or type(self).__name__
        words: list[str] = []
        for index, char in enumerate(name):
            if index and char.isupper() and name[index - 1].islower():
                words.append(" ")
            words.append(char)
        return "".join(words)

    def get_config_dict(self) -> dict[str, Any]:
        """Settings worth reporting next to the metrics in a model card: ``truncate_dim`` when set."""
        return {} if self.truncate_dim is None else {"truncate_dim": self.truncate_dim}

    def embed_inputs(
        self, model: Any, sentences: Sequence[str], encode_fn_name: str | None = None, **kwargs: Any
    ) -> Any:
        """Encode ``sentences`` with this evaluator's batch_size, show_progress_bar and truncate_dim.

        ``encode_fn_name`` "query" / "document" uses ``encode_query`` / ``encode_document``; keywords override the
        settings. The result is a numpy array, or one tensor with ``convert_to_tensor=True``.
        """
        settings = {
            "batch_size": self.batch_size,
            "show_progress_bar": self.show_progress_bar,
            "convert_to_numpy": True,
            "truncate_dim": self.truncate_dim,
        }
        embeddings = self.encode_function(model, encode_fn_name)(sentences, **{**settings, **kwargs})
        return embeddings if kwargs.get("convert_to_tensor") else np.asarray(embeddings)

    @staticmethod
    def write_csv_row(output_path: str | None, filename: str, headers: list[str], row: list[Any]) -> None:
        """Append ``row`` to ``output_path/filename``, writing ``headers`` first when the file is new."""
        if output_path is None:
            return
        os.makedirs(output_path, exist_ok=True)
        path = os.path.join(output_path, filename)
        is_new = not os.path.isfile(path)
        with open(path, "a", newline="", encoding="utf-8") as f:
            writer = csv.writer(f)
            if is_new:
                writer.writerow(headers)
            writer.writerow(row)

    @staticmethod
    def describe_when(epoch: int, steps: int, truncate_dim: int | None = None) -> str:
        """' after epoch 2' / ' in epoch 2 after 100 steps' / '' for log lines, plus the truncation if any."""
        when = ""
        if epoch != -1:
            when = f" after epoch {epoch}" if steps == -1 else f" in epoch {epoch} after {steps} steps"
        if truncate_dim is not None:
            when += f" (truncated to {truncate_dim})"
        return when

    def similarity_fns_for(self, model: SentenceTransformer) -> list[str]:
        """``similarity_fn_names``; when none were given, the model's own function (kept from then on)."""
        if not self.similarity_fn_names:
            self.similarity_fn_names = [model.similarity_fn_name]
        return self.similarity_fn_names

    @staticmethod
    def encode_function(model: Any, role: str | None = None) -> Callable[..., Any]:
        """``model.encode_query`` / ``model.encode_document`` for role "query" / "document", else ``model.encode``.

        Models without the role-specific methods fall back to ``encode``.
        """
        if role not in (None, "query", "document"):
            raise ValueError(f"role must be None, 'query' or 'document', got {role!r}.")
        if role is not None and hasattr(model, f"encode_{role}"):
            return getattr(model, f"encode_{role}")
        return model.encode


def pair_columns(examples: Sequence[Any]) -> tuple[list[str], list[str], list[Any]]:
    """First texts, second texts and labels of 2.x ``InputExample`` pairs: the arguments of pair evaluators."""
    return [e.texts[0] for e in examples], [e.texts[1] for e in examples], [e.label for e in examples]


def check_similarity_fn_names(names: list[str] | None) -> list[str]:
    """A copy of ``names`` (empty for None), rejecting unknown similarity function names."""
    names = list(names or [])
    unknown = [name for name in names if name not in SIMILARITY_NAMES]
    if unknown:
        raise ValueError(f"Unknown similarity_fn_names {unknown}; accepted names are {list(SIMILARITY_NAMES)}.")
    return names


def pairwise_similarities(fn_name: str, embeddings1: Any, embeddings2: Any) -> np.ndarray:
    """Similarity of each row of ``embeddings1`` with the same row of ``embeddings2``, by ``fn_name``.

    Distances come back negated (as ``SimilarityFunction`` defines them), so higher always means more similar.
    """
    similarities = SimilarityFunction.to_similarity_pairwise_fn(fn_name)(embeddings1, embeddings2)
    return similarities.detach().cpu().numpy()


def _plain_number(value: Any) -> Any:
    """A Python float for numpy/torch scalars and numbers; other values unchanged."""
    if isinstance(value, bool):
        return value
    if isinstance(value, (int, float, np.generic)) or (hasattr(value, "item") and getattr(value, "ndim", 1) == 0):
        try:
            return float(value)
        except (TypeError, ValueError):
            return value
    return value


SentenceEvaluator = BaseEvaluator  # the name of earlier versions
