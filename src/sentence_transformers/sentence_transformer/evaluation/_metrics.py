"""Classification and ranking metrics in plain numpy, shared by the evaluators.

They follow the usual definitions (scikit-learn's where one exists, ties included), so the evaluators need no
scikit-learn.
"""

from __future__ import annotations

import numpy as np


def _descending_groups(values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Order of ``values`` from high to low (stable) and the last position of each run of equal values."""
    order = np.argsort(-values, kind="stable")
    ordered = values[order]
    ends = np.flatnonzero(np.append(ordered[1:] != ordered[:-1], True))
    return order, ends


def _cut_between(ordered: np.ndarray, ends: np.ndarray, group: int) -> np.generic:
    """A cut just below the ``group``-th run: the midpoint to the next run (or the run's own value when last).

    A midpoint that rounds onto the next value would let that run in, so the run's own value is used then.
    """
    here = ordered[ends[group]]
    if group == len(ends) - 1:
        return here
    following = ordered[ends[group] + 1]
    middle = (here + following) / 2
    return here if middle == following else middle


def _oriented(scores: np.ndarray, greater_is_better: bool) -> np.ndarray:
    """Scores turned so that higher means "more likely positive" (distances are negated)."""
    scores = np.asarray(scores)
    if not np.issubdtype(scores.dtype, np.floating):
        scores = scores.astype(np.float64)
    return scores if greater_is_better else -scores


def best_accuracy_threshold(
    scores: np.ndarray, labels: np.ndarray, greater_is_better: bool = True
) -> tuple[float, float]:
    """Highest accuracy of ``score >= threshold`` (``<=`` for distances) over all cuts, and its threshold.

    The first cut considered predicts every pair negative (a threshold just beyond the best score); among equal
    accuracies the earliest cut, i.e. the strictest threshold, wins.
    """
    values = _oriented(scores, greater_is_better)
    labels = np.asarray(labels)
    if len(values) == 0:
        return 0.0, -1.0
    order, ends = _descending_groups(values)
    ordered = values[order]
    true_pos = np.cumsum(labels[order] == 1)[ends]
    false_pos = ends + 1 - true_pos
    negatives = int(np.sum(labels == 0))
    accuracies = np.concatenate([[negatives], true_pos + negatives - false_pos]) / len(labels)
    best = int(np.argmax(accuracies))
    if best == 0:
        threshold = np.nextafter(ordered[0], np.inf, dtype=np.result_type(ordered.dtype, np.float16))
    else:
        threshold = _cut_between(ordered, ends, best - 1)
    return float(accuracies[best]), float(threshold if greater_is_better else -threshold)


def best_f1_threshold(
    scores: np.ndarray, labels: np.ndarray, greater_is_better: bool = True
) -> tuple[float, float, float, float]:
    """Highest F1 of ``score >= threshold`` (``<=`` for distances) over all cuts: (f1, precision, recall, threshold).

    Returns zeros when no cut finds a positive pair.
    """
    values = _oriented(scores, greater_is_better)
    labels = np.asarray(labels)
    if len(values) == 0 or not np.any(labels == 1):
        return 0.0, 0.0, 0.0, 0.0
    order, ends = _descending_groups(values)
    true_pos = np.cumsum(labels[order] == 1)[ends]
    precision = true_pos / (ends + 1)
    recall = true_pos / np.sum(labels == 1)
    with np.errstate(invalid="ignore", divide="ignore"):
        f1 = np.where(true_pos > 0, 2 * precision * recall / (precision + recall), 0.0)
    best = int(np.argmax(f1))
    if f1[best] <= 0:
        return 0.0, 0.0, 0.0, 0.0
    threshold = _cut_between(values[order], ends, best)
    threshold = threshold if greater_is_better else -threshold
    return float(f1[best]), float(precision[best]), float(recall[best]), float(threshold)


def average_precision(labels: np.ndarray, scores: np.ndarray) -> float:
    """Area under the precision-recall step curve, tied scores counted as one cut (as scikit-learn does).

    Returns 0.0 when there is no positive label.
    """
    labels = np.asarray(labels)
    values = _oriented(scores, True)
    positives = int(np.sum(labels == 1))
    if positives == 0:
        return 0.0
    order, ends = _descending_groups(values)
    true_pos = np.cumsum(labels[order] == 1)[ends]
    precision = true_pos / (ends + 1)
    recall_gain = np.diff(np.concatenate([[0], true_pos])) / positives
    return float(np.sum(recall_gain * precision))


def matthews_corrcoef(labels: np.ndarray, predictions: np.ndarray) -> float:
    """Matthews correlation of binary labels and predictions; 0.0 when a row or column of the table is empty."""
    labels = np.asarray(labels).astype(bool)
    predictions = np.asarray(predictions).astype(bool)
    tp = float(np.sum(labels & predictions))
    tn = float(np.sum(~labels & ~predictions))
    fp = float(np.sum(~labels & predictions))
    fn = float(np.sum(labels & ~predictions))
    denominator = (tp + fp) * (tp + fn) * (tn + fp) * (tn + fn)
    if denominator == 0:
        return 0.0
    return float((tp * tn - fp * fn) / np.sqrt(denominator))


def dcg_at_k(relevances: list[float] | np.ndarray, k: int) -> float:
    """Discounted cumulative gain of relevances listed in rank order, cut at rank ``k``."""
    gains = np.asarray(relevances, dtype=np.float64)[:k]
    return float(np.sum(gains / np.log2(np.arange(len(gains)) + 2)))


def ndcg_at_k(relevances: np.ndarray, scores: np.ndarray, k: int) -> float:
    """NDCG@k of documents ranked by ``scores``; tied documents share the average gain of their tie group.

    This matches scikit-learn's ``ndcg_score`` (with ties averaged) for one query. 0.0 when nothing is relevant.
    """
    relevances = np.asarray(relevances, dtype=np.float64)
    ideal = dcg_at_k(np.sort(relevances)[::-1], k)
    if ideal == 0:
        return 0.0
    order, ends = _descending_groups(np.asarray(scores, dtype=np.float64))
    discounts = 1.0 / np.log2(np.arange(len(relevances)) + 2)
    discounts[k:] = 0.0
    cumulative = np.cumsum(discounts)[ends]
    group_discounts = np.diff(np.concatenate([[0.0], cumulative]))
    starts = np.concatenate([[0], ends[:-1] + 1])
    group_gains = np.add.reduceat(relevances[order], starts) / (ends - starts + 1)
    return float(np.sum(group_gains * group_discounts) / ideal)
