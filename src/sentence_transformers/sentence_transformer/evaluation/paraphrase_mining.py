"""ParaphraseMiningEvaluator: mine the most similar pairs of a collection and score them against known duplicates."""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Hashable, Iterable
from typing import TYPE_CHECKING, Any

from sentence_transformers.base.evaluation.evaluator import SentenceEvaluator
from sentence_transformers.util.retrieval import paraphrase_mining

if TYPE_CHECKING:
    from sentence_transformers.sentence_transformer.model import SentenceTransformer

logger = logging.getLogger(__name__)

DuplicateGraph = dict[Hashable, dict[Hashable, bool]]


class ParaphraseMiningEvaluator(SentenceEvaluator):
    """Average precision and best F1 of the mined pairs (ranked by similarity) at finding the gold duplicates.

    ``util.paraphrase_mining`` lists candidate pairs best first; walking down the list, every distinct score is a
    possible threshold. Average precision sums the precision at each newly found duplicate over all gold
    duplicates (pairs never mined count as missed); the threshold with the best F1 is reported with its
    precision and recall. The primary metric is ``average_precision``.

    Args:
        sentences_map: sentence id -> sentence.
        duplicates_list: Pairs of ids that are duplicates.
        duplicates_dict: id -> {id: True} for duplicates (merged with ``duplicates_list``).
        add_transitive_closure: Treat duplicates of duplicates as duplicates (whole connected groups).
        query_chunk_size: Passed to ``paraphrase_mining``.
        corpus_chunk_size: Passed to ``paraphrase_mining``.
        max_pairs: Most candidate pairs mined.
        top_k: Candidates mined per sentence.
        show_progress_bar: Show a progress bar while encoding.
        batch_size: Encoding batch size.
        name: Prefix of the metric names and part of the CSV file name.
        write_csv: Append the results to ``paraphrase_mining_evaluation[_name]_results.csv``.
        truncate_dim: Truncate embeddings to this many dimensions.
    """

    def __init__(
        self,
        sentences_map: dict[str, str],
        duplicates_list: list[tuple[str, str]] | None = None,
        duplicates_dict: dict[str, dict[str, bool]] | None = None,
        add_transitive_closure: bool = False,
        query_chunk_size: int = 5000,
        corpus_chunk_size: int = 100000,
        max_pairs: int = 500000,
        top_k: int = 100,
        show_progress_bar: bool = False,
        batch_size: int = 16,
        name: str = "",
        write_csv: bool = True,
        truncate_dim: int | None = None,
    ) -> None:
        super().__init__()
        self.ids = list(sentences_map)
        self.sentences = [sentences_map[sentence_id] for sentence_id in self.ids]
        self.name = name
        self.show_progress_bar = show_progress_bar
        self.batch_size = batch_size
        self.query_chunk_size = query_chunk_size
        self.corpus_chunk_size = corpus_chunk_size
        self.max_pairs = max_pairs
        self.top_k = top_k
        self.truncate_dim = truncate_dim
        self._add_transitive_closure = add_transitive_closure
        self.duplicates = _duplicate_graph(sentences_map, duplicates_list, duplicates_dict)
        if add_transitive_closure:
            self.duplicates = self.add_transitive_closure(self.duplicates)
        self.duplicate_pairs = {
            frozenset((a, b))
            for a, neighbours in self.duplicates.items()
            for b, is_duplicate in neighbours.items()
            if is_duplicate and a != b and a in sentences_map and b in sentences_map
        }
        self.total_num_duplicates = len(self.duplicate_pairs)
        self.write_csv = write_csv
        self.csv_file = "paraphrase_mining_evaluation" + (f"_{name}" if name else "") + "_results.csv"
        self.csv_headers = ["epoch", "steps", "precision", "recall", "f1", "threshold", "average_precision"]
        self.primary_metric = "average_precision"

    def __call__(
        self, model: SentenceTransformer, output_path: str | None = None, epoch: int = -1, steps: int = -1
    ) -> dict[str, float]:
        """Mine pairs with ``model``, score them against the duplicates, write CSV and return metrics."""
        when = self.describe_when(epoch, steps, self.truncate_dim)
        logger.info(f"Paraphrase Mining Evaluation of the model on the {self.name} dataset{when}:")
        pairs = paraphrase_mining(
            model,
            self.sentences,
            show_progress_bar=self.show_progress_bar,
            batch_size=self.batch_size,
            query_chunk_size=self.query_chunk_size,
            corpus_chunk_size=self.corpus_chunk_size,
            max_pairs=self.max_pairs,
            top_k=self.top_k,
            truncate_dim=self.truncate_dim,
        )
        logger.info(f"Number of candidate pairs: {len(pairs)}")
        flags = [frozenset((self.ids[i], self.ids[j])) in self.duplicate_pairs for _, i, j in pairs]
        scores = self.score_ranking([float(pair[0]) for pair in pairs], flags)
        logger.info(f"Average Precision: {scores['average_precision'] * 100:.2f}")
        logger.info(f"Optimal threshold: {scores['threshold']:.4f}")
        logger.info(f"Precision / Recall / F1: {scores['precision']:.4f} / {scores['recall']:.4f} / {scores['f1']:.4f}")
        if self.write_csv:
            row = [epoch, steps] + [scores[column] for column in self.csv_headers[2:]]
            self.write_csv_row(output_path, self.csv_file, self.csv_headers, row)
        metrics = {key: scores[key] for key in ("average_precision", "f1", "precision", "recall", "threshold")}
        metrics = self.prefix_name_to_metrics(metrics, self.name)
        self.store_metrics_in_model_card_data(model, metrics, epoch, steps)
        return metrics

    def score_ranking(self, scores: list[float], is_duplicate: list[bool]) -> dict[str, float]:
        """AP and the best-F1 threshold of candidate pairs listed best first; tied scores form one cut.

        The threshold is the midpoint between the cut's score and the next pair's score.
        """
        total = self.total_num_duplicates
        found = previous = 0
        average_precision = 0.0
        best = {"f1": 0.0, "precision": 0.0, "recall": 0.0, "threshold": 0.0}
        for index, (score, duplicate) in enumerate(zip(scores, is_duplicate, strict=True)):
            found += duplicate
            if index + 1 < len(scores) and scores[index + 1] == score:
                continue
            if found > previous:
                precision = found / (index + 1)
                recall = found / total if total else 0.0
                f1 = 2 * precision * recall / (precision + recall)
                average_precision += precision * (found - previous)
                if f1 > best["f1"]:
                    following = scores[min(index + 1, len(scores) - 1)]
                    best = {"f1": f1, "precision": precision, "recall": recall, "threshold": (score + following) / 2}
            previous = found
        return {"average_precision": average_precision / total if total else 0.0, **best}

    @staticmethod
    def add_transitive_closure(graph: DuplicateGraph) -> DuplicateGraph:
        """Mark every two members of a connected group of duplicates as duplicates (in place; also returned)."""
        seen: set[Hashable] = set()
        for start in list(graph):
            if start in seen:
                continue
            group, frontier = {start}, [start]
            while frontier:
                node = frontier.pop()
                for neighbour, is_duplicate in list(graph.get(node, {}).items()):
                    if is_duplicate and neighbour not in group:
                        group.add(neighbour)
                        frontier.append(neighbour)
            seen |= group
            if len(group) > 1:
                for a in group:
                    for b in group - {a}:
                        graph.setdefault(a, {})[b] = True
        return graph

    def get_config_dict(self) -> dict[str, Any]:
        """The mining settings (and truncate_dim when set)."""
        config: dict[str, Any] = {
            "add_transitive_closure": self._add_transitive_closure,
            "max_pairs": self.max_pairs,
            "top_k": self.top_k,
        }
        if self.truncate_dim is not None:
            config["truncate_dim"] = self.truncate_dim
        return config


def _duplicate_graph(
    sentences_map: dict[str, str],
    duplicates_list: Iterable[tuple[str, str]] | None,
    duplicates_dict: dict[str, dict[str, bool]] | None,
) -> DuplicateGraph:
    """id -> {id: True} for every duplicate pair; pairs with an id outside ``sentences_map`` are dropped."""
    graph: DuplicateGraph = defaultdict(dict)
    for a, neighbours in (duplicates_dict or {}).items():
        for b, is_duplicate in neighbours.items():
            graph[a][b] = bool(is_duplicate)
    for a, b in duplicates_list or []:
        if a in sentences_map and b in sentences_map:
            graph[a][b] = graph[b][a] = True
    return graph
