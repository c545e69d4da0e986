"""SequentialEvaluator: run several evaluators one after the other and combine their primary scores."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any

from sentence_transformers.base.evaluation.evaluator import SentenceEvaluator

if TYPE_CHECKING:
    from sentence_transformers.sentence_transformer.model import SentenceTransformer


def _last(scores: list[float]) -> float:
    """The default main score: the last evaluator's."""
    return scores[-1]


class SequentialEvaluator(SentenceEvaluator):
    """Calls every evaluator in turn; returns all their metrics plus ``sequential_score`` (the primary metric).

    ``sequential_score`` is ``main_score_function`` applied to the evaluators' primary scores in order (by
    default the last one). An evaluator that returns a plain float contributes it as ``evaluator_<index>``.

    Args:
        evaluators: The evaluators to run.
        main_score_function: Combines the list of primary scores into one, e.g. ``lambda s: sum(s) / len(s)``.
    """

    def __init__(
        self,
        evaluators: Iterable[SentenceEvaluator],
        main_score_function: Callable[[list[float]], float] = _last,
    ) -> None:
        super().__init__()
        self.evaluators = list(evaluators)
        self.main_score_function = main_score_function
        self.primary_metric = "sequential_score"

    def __call__(
        self, model: SentenceTransformer, output_path: str | None = None, epoch: int = -1, steps: int = -1
    ) -> dict[str, float]:
        """Run every evaluator and merge their metrics."""
        results: dict[str, Any] = {}
        scores = []
        for index, evaluator in enumerate(self.evaluators):
            evaluation = evaluator(model, output_path, epoch, steps)
            if not isinstance(evaluation, dict):
                scores.append(evaluation)
                evaluation = {f"evaluator_{index}": evaluation}
            else:
                key = getattr(evaluator, "primary_metric", None) or next(iter(evaluation))
                scores.append(evaluation[key])
            results.update(evaluation)
        self.primary_metric = "sequential_score"
        results["sequential_score"] = self.main_score_function(scores) if scores else 0.0
        return results
