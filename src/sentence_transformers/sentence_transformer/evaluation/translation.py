"""TranslationEvaluator: does each source sentence find its own translation as the nearest target (and back)?"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

import numpy as np

from sentence_transformers.base.evaluation.evaluator import SentenceEvaluator
from sentence_transformers.util.similarity import cos_sim

if TYPE_CHECKING:
    from sentence_transformers.sentence_transformer.model import SentenceTransformer

logger = logging.getLogger(__name__)


class TranslationEvaluator(SentenceEvaluator):
    """Accuracy of matching parallel sentences by cosine similarity, in both directions.

    ``src2trg_accuracy`` is the share of source sentences whose most similar target is their translation (a
    target with the same text counts too, so duplicates do not penalize); ``trg2src_accuracy`` the reverse.
    The primary metric is ``mean_accuracy``, their average.

    Args:
        source_sentences: Sentences in one language.
        target_sentences: Their translations, in the same order.
        show_progress_bar: Show a progress bar while encoding.
        batch_size: Encoding batch size.
        name: Prefix of the metric names and part of the CSV file name.
        print_wrong_matches: Print every source whose nearest target is wrong, with the top 5 targets.
        write_csv: Append the results to ``translation_evaluation[_name]_results.csv``.
        truncate_dim: Truncate embeddings to this many dimensions.
    """

    def __init__(
        self,
        source_sentences: list[str],
        target_sentences: list[str],
        show_progress_bar: bool = False,
        batch_size: int = 16,
        name: str = "",
        print_wrong_matches: bool = False,
        write_csv: bool = True,
        truncate_dim: int | None = None,
    ) -> None:
        super().__init__()
        if len(source_sentences) != len(target_sentences):
            raise ValueError(
                f"source_sentences and target_sentences must have the same length, got {len(source_sentences)} "
                f"and {len(target_sentences)}."
            )
        self.source_sentences = source_sentences
        self.target_sentences = target_sentences
        self.show_progress_bar = show_progress_bar
        self.batch_size = batch_size
        self.name = name
        self.print_wrong_matches = print_wrong_matches
        self.write_csv = write_csv
        self.truncate_dim = truncate_dim
        self.csv_file = "translation_evaluation" + (f"_{name}" if name else "") + "_results.csv"
        self.csv_headers = ["epoch", "steps", "src2trg", "trg2src"]
        self.primary_metric = "mean_accuracy"

    def __call__(
        self, model: SentenceTransformer, output_path: str | None = None, epoch: int = -1, steps: int = -1
    ) -> dict[str, float]:
        """Encode both sides, match by cosine similarity in both directions, write CSV and return metrics."""
        when = self.describe_when(epoch, steps, self.truncate_dim)
        logger.info(f"Evaluating translation matching Accuracy of the model on the {self.name} dataset{when}:")
        source = self.embed_inputs(model, self.source_sentences, convert_to_tensor=True)
        target = self.embed_inputs(model, self.target_sentences, convert_to_tensor=True)
        similarities = cos_sim(source, target).detach().cpu().numpy()
        src2trg = _matching_accuracy(similarities, self.target_sentences)
        trg2src = _matching_accuracy(similarities.T, self.source_sentences)
        if self.print_wrong_matches:
            self._print_wrong_matches(similarities)
        logger.info(f"Accuracy src2trg: {src2trg * 100:.2f}")
        logger.info(f"Accuracy trg2src: {trg2src * 100:.2f}")
        if self.write_csv:
            self.write_csv_row(output_path, self.csv_file, self.csv_headers, [epoch, steps, src2trg, trg2src])
        metrics = {"src2trg_accuracy": src2trg, "trg2src_accuracy": trg2src, "mean_accuracy": (src2trg + trg2src) / 2}
        metrics = self.prefix_name_to_metrics(metrics, self.name)
        self.store_metrics_in_model_card_data(model, metrics, epoch, steps)
        return metrics

    def _print_wrong_matches(self, similarities: np.ndarray) -> None:
        """Print each source whose nearest target is not its translation, with its top 5 targets."""
        for i, row in enumerate(similarities):
            best = int(np.argmax(row))
            if self.target_sentences[best] == self.target_sentences[i]:
                continue
            print(f"\nIncorrect  : Source {i} is most similar to target {best} instead of target {i}")  # noqa: T201
            print("Source     :", self.source_sentences[i])  # noqa: T201
            print("Pred Target:", self.target_sentences[best], f"(Score: {row[best]:.4f})")  # noqa: T201
            print("True Target:", self.target_sentences[i], f"(Score: {row[i]:.4f})")  # noqa: T201
            for index in np.argsort(-row, kind="stable")[:5]:
                print("\t", index, f"(Score: {row[index]:.4f})", self.target_sentences[index])  # noqa: T201


def _matching_accuracy(similarities: np.ndarray, candidates: list[str]) -> float:
    """Share of rows whose most similar column holds the same text as the row's own column."""
    if len(similarities) == 0:
        return 0.0
    best = np.argmax(similarities, axis=1)
    correct = sum(candidates[int(column)] == candidates[row] for row, column in enumerate(best))
    return correct / len(similarities)
