"""The SparseEncoder data collator: a SparseEncoder tokenizes its columns as a SentenceTransformer does."""

from __future__ import annotations

from dataclasses import dataclass

from sentence_transformers.base.data_collator import BaseDataCollator


@dataclass
class SparseEncoderDataCollator(BaseDataCollator):
    """Rows → tokenized columns (``<column>_input_ids`` …), labels, prompts and Router routes per column."""


__all__ = ["SparseEncoderDataCollator"]
