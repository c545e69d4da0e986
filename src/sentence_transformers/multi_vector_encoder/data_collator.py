"""The MultiVectorEncoder data collator: columns are tokenized as queries or documents by their position."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sentence_transformers.base.data_collator import DATASET_KEY, BaseDataCollator, column_routes


@dataclass
class MultiVectorEncoderDataCollator(BaseDataCollator):
    """Rows → tokenized columns (``<column>_input_ids`` …), labels and prompts, each column with a ``task``.

    A column's task is its ``router_mapping`` entry; without one, the first text column is a "query" and every other
    column a "document" (the losses read column 0 as the query too). The task picks the query or document
    tokenization (query expansion, length) and travels with the features, where the MultiVectorMask reads it.
    """

    def __call__(self, rows: list[dict[str, Any]]) -> dict[str, Any]:
        if not rows:
            return {}
        routes = column_routes(self.router_mapping, rows[0].get(DATASET_KEY))
        columns = self._text_columns(list(rows[0]))
        tasks = {column: self._get_task_for_column(column, index, routes) for index, column in enumerate(columns)}
        given = self.router_mapping
        self.router_mapping = tasks  # the base collator reads each column's task from here
        try:
            return super().__call__(rows)
        finally:
            self.router_mapping = given

    def _text_columns(self, columns: list[str]) -> list[str]:
        """The columns that hold inputs: all but the dataset name and the label column."""
        columns = [column for column in columns if column != DATASET_KEY]
        label = next((column for column in self.valid_label_columns if column in columns), None)
        return [column for column in columns if column != label]

    def _get_task_for_column(self, column_name: str, column_position: int, router_mapping: dict[str, str]) -> str:
        """The mapped task of a column, else "query" for the first text column and "document" for the others."""
        task = router_mapping.get(column_name)
        if task is not None:
            return task
        return "query" if column_position == 0 else "document"


__all__ = ["MultiVectorEncoderDataCollator"]
