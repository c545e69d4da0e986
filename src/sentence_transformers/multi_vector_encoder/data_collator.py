"""The MultiVectorEncoder data collator: columns are tokenized as queries or documents by their position."""

from __future__ import annotations

from dataclasses import dataclass

from sentence_transformers.base.data_collator import BaseDataCollator


@dataclass
class MultiVectorEncoderDataCollator(BaseDataCollator):
    """Rows → tokenized columns (``<column>_input_ids`` …), labels and prompts, each column with a ``task``.

    A column's task is its ``router_mapping`` entry; without one, the first text column is a "query" and every other
    column a "document" (the losses read column 0 as the query too). The task picks the query or document
    tokenization (query expansion, length) and travels with the features, where the MultiVectorMask reads it.
    """

    def _get_task_for_column(self, column_name: str, column_position: int, router_mapping: dict[str, str]) -> str:
        """The mapped task of a column, else "query" for the first text column and "document" for the others."""
        task = router_mapping.get(column_name)
        if task is not None:
            return task
        return "query" if column_position == 0 else "document"


__all__ = ["MultiVectorEncoderDataCollator"]
