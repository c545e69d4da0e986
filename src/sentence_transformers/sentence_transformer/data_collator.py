"""The SentenceTransformer data collator: the shared collator (``base/data_collator.py``) under its upstream name."""

from __future__ import annotations

from dataclasses import dataclass

from sentence_transformers.base.data_collator import (
    COLUMNS_KEY,
    DATASET_KEY,
    LABEL_COLUMNS,
    BaseDataCollator,
    column_prompt,
    column_routes,
    split_features,
)


@dataclass
class SentenceTransformerDataCollator(BaseDataCollator):
    """Rows → each input column preprocessed by ``model.preprocess`` (see BaseDataCollator), and the labels."""


__all__ = [
    "COLUMNS_KEY",
    "DATASET_KEY",
    "LABEL_COLUMNS",
    "SentenceTransformerDataCollator",
    "column_prompt",
    "column_routes",
    "split_features",
]
