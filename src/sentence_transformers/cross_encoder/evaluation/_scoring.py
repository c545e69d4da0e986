"""What the CrossEncoder evaluators share: scoring text pairs with the model under evaluation."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

import numpy as np

logger = logging.getLogger(__name__)


def default_progress_bar(show_progress_bar: bool | None) -> bool:
    """``show_progress_bar``, or when None: show it while logging is at INFO or DEBUG."""
    if show_progress_bar is not None:
        return show_progress_bar
    return logger.getEffectiveLevel() in (logging.INFO, logging.DEBUG)


def predict_scores(
    model: Any,
    pairs: Sequence[Sequence[str]],
    prompt_name: str | None,
    batch_size: int,
    show_progress_bar: bool | None,
) -> np.ndarray:
    """``model.predict`` of ``pairs`` as numpy: [pairs] for one label, [pairs, labels] for several.

    ``prompt_name`` is passed only when set, so models whose ``predict`` knows no prompts still work.
    """
    settings: dict[str, Any] = {
        "batch_size": batch_size,
        "convert_to_numpy": True,
        "show_progress_bar": show_progress_bar,
    }
    if prompt_name is not None:
        settings["prompt_name"] = prompt_name
    scores = model.predict(list(pairs), **settings)
    if hasattr(scores, "detach"):
        scores = scores.detach().float().cpu().numpy()
    return np.asarray(scores)


def one_score_per_pair(scores: np.ndarray, task: str) -> np.ndarray:
    """Scores as a 1-D array; a [pairs, 1] output is accepted, several outputs per pair are an error for ``task``."""
    if scores.ndim > 1 and scores.shape[1:] != (1,):
        raise ValueError(
            f"{task} needs one score per pair (a model with num_labels=1); the model gives {scores.shape[1:]} per pair."
        )
    return scores.reshape(-1)
