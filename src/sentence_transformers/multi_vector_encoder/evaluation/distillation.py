"""MultiVectorDistillationEvaluator: how closely a MultiVectorEncoder's MaxSim scores follow a teacher's."""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
import torch
import torch.nn.functional as F
from scipy.stats import spearmanr

from sentence_transformers.base.evaluation.evaluator import BaseEvaluator
from sentence_transformers.multi_vector_encoder.losses.distill_kl_div import check_temperature
from sentence_transformers.util.misc import similarity_fct_name

if TYPE_CHECKING:
    from torch import Tensor

    from sentence_transformers.multi_vector_encoder.model import MultiVectorEncoder

logger = logging.getLogger(__name__)


class MultiVectorDistillationEvaluator(BaseEvaluator):
    """KL divergence and Spearman correlation between the student's late-interaction scores and teacher scores.

    Two layouts:

    - candidate sets (the distillation training layout): ``documents[i]`` lists N candidates of query ``i`` and
      ``scores`` is ``(num_queries, N)``. The KL divergence is that of MultiVectorDistillKLDivLoss (per query,
      averaged, times the student temperature squared), so with the loss's temperatures it tracks the training loss;
      the Spearman correlation is the mean of the per-query correlations (queries whose teacher or student scores
      are constant are skipped; 0.0 when all are).
    - flat pairs: one document per query and 1-D ``scores``. There is no per-query distribution, so the KL is
      taken over the whole dataset as one distribution (summed, not averaged) and the Spearman correlation is one
      global correlation.

    Metrics: ``kl_divergence`` (lower is better) and ``spearman`` (the primary metric).

    Args:
        queries: The queries.
        documents: One document per query, or one list of N candidate documents per query (N the same for all).
        scores: The teacher's scores: 1-D for flat pairs, ``(num_queries, N)`` for candidate sets.
        temperature: Divides both sides' scores before the softmax; the default of the two below.
        student_temperature: The student's temperature (default: ``temperature``).
        teacher_temperature: The teacher's temperature (default: ``temperature``).
        similarity_fct: Pairwise score of matched query/document token embeddings instead of
            ``model.similarity_pairwise`` (to mirror a loss's non-default scoring).
        name: Prefix of the metric names and part of the CSV file name.
        batch_size: Encoding batch size.
        show_progress_bar: Show a progress bar while encoding.
        write_csv: Append the results to ``distillation_evaluation[_name]_results.csv``.
    """

    def __init__(
        self,
        queries: Sequence[Any],
        documents: Sequence[Any] | Sequence[Sequence[Any]],
        scores: list[float] | list[list[float]] | Tensor,
        *,
        temperature: float = 1.0,
        student_temperature: float | None = None,
        teacher_temperature: float | None = None,
        similarity_fct: Callable[..., Tensor] | None = None,
        name: str = "",
        batch_size: int = 16,
        show_progress_bar: bool = False,
        write_csv: bool = True,
    ) -> None:
        super().__init__()
        if not len(queries) == len(documents) == len(scores):
            raise ValueError(
                f"queries ({len(queries)}), documents ({len(documents)}) and scores ({len(scores)}) must have the "
                "same length."
            )
        self.queries = list(queries)
        self.nested_documents = _is_candidate_lists(documents)
        self.documents = [list(row) for row in documents] if self.nested_documents else list(documents)
        self.scores = torch.as_tensor(scores, dtype=torch.float32).detach().cpu()
        self._check_scores_shape()
        self.temperature = check_temperature("temperature", temperature)
        self.student_temperature = check_temperature(
            "student_temperature", temperature if student_temperature is None else student_temperature
        )
        self.teacher_temperature = check_temperature(
            "teacher_temperature", temperature if teacher_temperature is None else teacher_temperature
        )
        self.similarity_fct = similarity_fct
        self.name = name
        self.batch_size = batch_size
        self.show_progress_bar = show_progress_bar
        self.write_csv = write_csv
        self.csv_file = "distillation_evaluation" + (f"_{name}" if name else "") + "_results.csv"
        self.csv_headers = ["epoch", "steps", "kl_divergence", "spearman"]
        self.primary_metric = "spearman"

    def _check_scores_shape(self) -> None:
        """Candidate sets need ``(num_queries, N)`` scores and one N for all queries; flat pairs 1-D scores."""
        if not self.nested_documents:
            if self.scores.ndim != 1:
                raise ValueError(
                    f"With one document per query, scores must be 1-D, got shape {tuple(self.scores.shape)}; give "
                    "documents as one list of candidates per query to use 2-D scores."
                )
            return
        ways = len(self.documents[0])
        if any(len(row) != ways for row in self.documents):
            raise ValueError("Every query must have the same number of candidate documents.")
        if self.scores.ndim != 2 or self.scores.shape[1] != ways:
            raise ValueError(
                f"With {ways} candidate documents per query, scores must have shape (num_queries, {ways}), got "
                f"{tuple(self.scores.shape)}."
            )

    def __call__(
        self, model: MultiVectorEncoder, output_path: str | None = None, epoch: int = -1, steps: int = -1
    ) -> dict[str, float]:
        """Score the documents with the model, compare with the teacher, write CSV and return the metrics."""
        logger.info(f"{type(self).__name__}: evaluating on the {self.name} dataset{self.describe_when(epoch, steps)}:")
        student = self.student_scores(model)
        teacher_log_probs = F.log_softmax(self.scores / self.teacher_temperature, dim=-1)
        student_log_probs = F.log_softmax(student / self.student_temperature, dim=-1)
        reduction = "batchmean" if self.nested_documents else "sum"
        kl = F.kl_div(student_log_probs, teacher_log_probs, reduction=reduction, log_target=True).item()
        kl *= self.student_temperature**2
        spearman = self._spearman(student)
        logger.info(f"KL divergence:\t{kl:.4f}")
        logger.info(f"Spearman correlation:\t{spearman:.4f}")
        if self.write_csv:
            self.write_csv_row(output_path, self.csv_file, self.csv_headers, [epoch, steps, kl, spearman])
        metrics = self.prefix_name_to_metrics({"kl_divergence": kl, "spearman": spearman}, self.name)
        self.store_metrics_in_model_card_data(model, metrics, epoch, steps)
        return metrics

    def student_scores(self, model: MultiVectorEncoder) -> Tensor:
        """The model's scores of each query with its document(s): ``(num_queries,)`` or ``(num_queries, N)``."""
        pairwise = self.similarity_fct if self.similarity_fct is not None else model.similarity_pairwise
        settings = {"batch_size": self.batch_size, "show_progress_bar": self.show_progress_bar}
        queries = model.encode_query(self.queries, **settings)
        if not self.nested_documents:
            return torch.as_tensor(pairwise(queries, model.encode_document(self.documents, **settings))).float().cpu()
        ways = len(self.documents[0])
        flat = model.encode_document([document for row in self.documents for document in row], **settings)
        columns = [torch.as_tensor(pairwise(queries, list(flat[way::ways]))).float().cpu() for way in range(ways)]
        return torch.stack(columns, dim=1)

    def _spearman(self, student: Tensor) -> float:
        """Mean per-query rank correlation for candidate sets (constant rows skipped), else one global one."""
        if not self.nested_documents:
            value = spearmanr(self.scores.numpy(), student.numpy()).statistic
            return 0.0 if np.isnan(value) else float(value)
        rows = [spearmanr(t, s).statistic for t, s in zip(self.scores.numpy(), student.numpy(), strict=True)]
        rows = [value for value in rows if not np.isnan(value)]
        return float(np.mean(rows)) if rows else 0.0

    def get_config_dict(self) -> dict[str, Any]:
        """The temperatures that differ from the defaults and the similarity function when one was given."""
        config: dict[str, Any] = {}
        if self.temperature != 1.0:
            config["temperature"] = self.temperature
        for side in ("student_temperature", "teacher_temperature"):
            if getattr(self, side) != self.temperature:
                config[side] = getattr(self, side)
        if self.similarity_fct is not None:
            config["similarity_fct"] = similarity_fct_name(self.similarity_fct)
        return config


def _is_candidate_lists(documents: Sequence[Any]) -> bool:
    """Whether each query has a list of candidates (a list of chat messages, dicts, is one document)."""
    first = documents[0] if len(documents) else None
    if not isinstance(first, (list, tuple)):
        return False
    return not (first and isinstance(first[0], dict) and "role" in first[0])


__all__ = ["MultiVectorDistillationEvaluator"]
