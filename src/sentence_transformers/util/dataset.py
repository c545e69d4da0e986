"""resolve_ids: turn ID columns of a training dataset into the texts (or images, ...) of separate lookup datasets."""

from __future__ import annotations

import ast
import logging
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, Literal

if TYPE_CHECKING:
    from datasets import Dataset

logger = logging.getLogger(__name__)

# The label columns the data collators recognize by default (base.data_collator keeps the same list).
DEFAULT_LABEL_COLUMNS: tuple[str, ...] = ("label", "labels", "score", "scores")

_FORMAT_HINT = "Call dataset.with_format(None) before applying the transform."


def _output_name(input_col: str, plural: bool = False) -> str:
    """Output column of an ID column: "query_id" -> "query"; plural (lists mode): "document_ids" -> "documents"."""
    suffixes = {"y_ids": "ies", "_ids": "s", "_id": "", "_idx": ""} if plural else {"_ids": "", "_id": "", "_idx": ""}
    for suffix, replacement in suffixes.items():
        if input_col.endswith(suffix):
            return input_col.removesuffix(suffix) + replacement
    return input_col


def _is_encoded_list(value: Any) -> bool:
    """Whether a cell is a list stored as its string form, e.g. ``"['d1', 'd2']"``."""
    return isinstance(value, str) and value.lstrip().startswith("[")


def _decode_lists(column: list[Any], col_name: str) -> list[list[Any]]:
    """Parse a column of string-encoded lists (as some distillation datasets store them) into lists."""
    parsed = []
    for cell in column:
        try:
            value = ast.literal_eval(cell)
        except (ValueError, SyntaxError) as exc:
            raise ValueError(
                f"Column {col_name!r} looks like it holds string-encoded lists, but a row failed to parse ({exc}): "
                f"{cell[:100]!r}"
            ) from None
        if not isinstance(value, (list, tuple)):
            raise ValueError(
                f"Column {col_name!r} looks like it holds string-encoded lists, but a row parsed to "
                f"{type(value).__name__} instead of a list: {cell[:100]!r}"
            )
        parsed.append(list(value))
    return parsed


class _Lookup:
    """One input column's join: ID -> row of the lookup dataset, and that dataset's value column."""

    def __init__(self, input_col: str, dataset: Dataset, index: dict[Any, int], value_col: str) -> None:
        self.input_col = input_col
        self.values = dataset.select_columns([value_col])  # row access then decodes only the value column
        self.index = index
        self.value_col = value_col

    def take(self, ids: list[Any]) -> list[Any]:
        """The values of ``ids``, in order."""
        if not ids:
            return []
        try:
            rows = [self.index[key] for key in ids]
        except TypeError:
            raise TypeError(
                f"IDs from input column {self.input_col!r} are not hashable, which typically means the train "
                f"dataset carries a format (e.g. with_format('numpy')). {_FORMAT_HINT}"
            ) from None
        except KeyError as exc:
            missing = exc.args[0]
            hint = ""
            if _is_encoded_list(missing):
                hint = " The ID looks like a string-encoded list. Convert the column to native lists first."
            raise KeyError(
                f"ID {missing!r} from input column {self.input_col!r} was not found in its lookup dataset.{hint}"
            ) from None
        return self.values[rows][self.value_col]


def _add_column(resolved: dict[str, Any], name: str, values: list[Any]) -> None:
    """Add an output column, refusing to overwrite one (two inputs resolving to the same name)."""
    if name in resolved:
        raise ValueError(
            f"Output column {name!r} is produced more than once (e.g. two lookups entries resolving to the same name, "
            "or an expanded list column colliding with another entry). Rename the input columns to disambiguate."
        )
    resolved[name] = values


class _IdResolver:
    """The batched transform returned by :func:`resolve_ids`: a class rather than a closure, so it pickles (as
    DataLoader workers on spawn-start platforms require)."""

    def __init__(
        self,
        lookups: dict[str, _Lookup],
        keep_columns: tuple[str, ...],
        max_list_length: int | None,
        output_format: Literal["columns", "lists"],
    ) -> None:
        self.lookups = lookups
        self.keep_columns = keep_columns
        self.max_list_length = max_list_length
        self.output_format = output_format

    def __call__(self, batch: dict[str, Any]) -> dict[str, Any]:
        """Resolve one batch (a dict of column lists) into the output columns."""
        if not isinstance(batch, Mapping):
            raise TypeError(
                f"resolve_ids expects batches as plain column dicts, got {type(batch).__name__}: the train dataset "
                f"carries a format (e.g. with_format('pandas')). {_FORMAT_HINT}"
            )
        resolved: dict[str, Any] = {}
        for input_col, lookup in self.lookups.items():
            self._resolve_column(resolved, input_col, batch[input_col], lookup)
        for keep_col in self.keep_columns:
            if keep_col in batch:
                _add_column(resolved, keep_col, self._kept_values(batch[keep_col], keep_col))
        return resolved

    def _truncate(self, rows: list[Any]) -> list[Any]:
        """Cut every row's list to ``max_list_length`` entries."""
        return rows if self.max_list_length is None else [row[: self.max_list_length] for row in rows]

    def _resolve_column(self, resolved: dict[str, Any], input_col: str, column: Any, lookup: _Lookup) -> None:
        """Resolve one input column: one ID per row, or a list of IDs per row (expanded or nested)."""
        if not isinstance(column, list):
            raise TypeError(
                f"Input column {input_col!r} holds a {type(column).__name__} rather than a list, which means the "
                f"train dataset carries a format (e.g. with_format('numpy')). {_FORMAT_HINT}"
            )
        if column and _is_encoded_list(column[0]):
            column = _decode_lists(column, input_col)
        if not (column and isinstance(column[0], (list, tuple))):
            _add_column(resolved, _output_name(input_col), lookup.take(list(column)))
            return
        column = self._truncate(column)
        flat = lookup.take([key for row in column for key in row])
        if self.output_format == "lists":
            nested, offset = [], 0
            for row in column:
                nested.append(flat[offset : offset + len(row)])
                offset += len(row)
            _add_column(resolved, _output_name(input_col, plural=True), nested)
            return
        lengths = {len(row) for row in column}
        if len(lengths) != 1:
            raise ValueError(
                f"Rows of input column {input_col!r} hold lists of differing lengths {sorted(lengths)}. List columns "
                "expand into one output column per position, which requires the same length on every row. Set "
                'max_list_length to cap all rows to a common length, or output_format="lists" to keep nested lists.'
            )
        width = lengths.pop()
        if width == 0:
            raise ValueError(
                f"Rows of input column {input_col!r} hold empty ID lists, so there are no positions to expand into "
                "columns. Filter such rows out of the dataset."
            )
        stem = _output_name(input_col)
        for position in range(width):  # ``flat`` is row-major: a strided slice is one position across rows
            _add_column(resolved, f"{stem}_{position + 1}", flat[position::width])

    def _kept_values(self, values: Any, keep_col: str) -> Any:
        """A passed-through column, with string-encoded lists parsed and list rows truncated like the IDs."""
        if len(values) and _is_encoded_list(values[0]):
            values = _decode_lists(values, keep_col)
        first = values[0] if len(values) else None
        if first is not None and not isinstance(first, (str, bytes)) and hasattr(first, "__len__"):
            values = self._truncate(values)
        return values


def _split_spec(input_col: str, spec: Any) -> tuple[Any, str | None, str | None]:
    """``(dataset, id_col, value_col)`` of a lookups entry: a Dataset, (dataset, id_col) or (dataset, id, value)."""
    if not isinstance(spec, tuple):
        return spec, None, None
    if len(spec) not in (2, 3):
        raise ValueError(
            f"lookups[{input_col!r}] must be a Dataset, (dataset, id_col), or (dataset, id_col, value_col), got a "
            f"tuple of length {len(spec)}."
        )
    return spec[0], spec[1], spec[2] if len(spec) == 3 else None


def _pick_columns(input_col: str, dataset: Dataset, id_col: str | None, value_col: str | None) -> tuple[str, str]:
    """The ID and value columns of a lookup dataset: checked when given, inferred (unambiguously) otherwise."""
    columns = dataset.column_names
    if id_col is None:
        candidates = [col for col in columns if col == "id" or col.endswith("_id")]
        if len(candidates) != 1:
            raise ValueError(
                f"Cannot infer the ID column of lookups[{input_col!r}]: expected exactly one column named 'id' or "
                f"ending in '_id', found {candidates or 'none'} among {sorted(columns)}. Pass an explicit "
                "(dataset, id_col) tuple."
            )
        id_col = candidates[0]
    elif id_col not in columns:
        raise ValueError(
            f"lookups[{input_col!r}]: ID column {id_col!r} is not a column of the lookup dataset "
            f"(columns: {sorted(columns)})."
        )
    if value_col is None:
        remaining = [col for col in columns if col != id_col]
        if len(remaining) != 1:
            raise ValueError(
                f"Cannot infer the value column of lookups[{input_col!r}]: expected exactly one column besides "
                f"{id_col!r}, found {remaining or 'none'}. Pass an explicit (dataset, id_col, value_col) tuple."
            )
        value_col = remaining[0]
    elif value_col not in columns:
        raise ValueError(
            f"lookups[{input_col!r}]: value column {value_col!r} is not a column of the lookup dataset "
            f"(columns: {sorted(columns)})."
        )
    return id_col, value_col


def _build_index(input_col: str, dataset: Dataset, id_col: str) -> dict[Any, int]:
    """``{id: row}`` of a lookup dataset; a duplicated ID maps to its last row (with a warning)."""
    index: dict[Any, int] = {}
    position = 0
    for batch in dataset.select_columns([id_col]).iter(batch_size=50_000):  # respects select/shuffle/filter
        for key in batch[id_col]:
            index[key] = position
            position += 1
    if len(index) != dataset.num_rows:
        logger.warning(
            f"lookups[{input_col!r}] contains duplicate {id_col!r} values ({dataset.num_rows - len(index)} rows "
            "shadowed). Each duplicated ID resolves to its last occurrence."
        )
    return index


def resolve_ids(
    lookups: dict[str, Dataset | tuple[Dataset, str] | tuple[Dataset, str, str]],
    keep_columns: Sequence[str] = DEFAULT_LABEL_COLUMNS,
    max_list_length: int | None = None,
    output_format: Literal["columns", "lists"] = "columns",
) -> Callable[[dict[str, Any]], dict[str, Any]]:
    """Build a batched transform that replaces ID columns by their values, joined from lookup datasets.

    For IR datasets that store query/document IDs next to separate query and document datasets. Pass the result to
    ``Dataset.set_transform`` (lazy) or ``Dataset.map(..., batched=True, remove_columns=list(lookups))`` (eager).

    Args:
        lookups: ``{input_col: lookup}`` in output order (anchor first). A lookup is a ``Dataset`` (ID column: the one
            named ``id`` or ending in ``_id``; value column: the only other one), ``(dataset, id_col)`` or
            ``(dataset, id_col, value_col)``. An input column holds one ID per row ("query_id" -> output "query") or a
            list of IDs per row. Input columns not listed (nor kept) are dropped.
        keep_columns: Columns passed through unresolved (default: the label columns); absent ones are ignored.
        max_list_length: Keep the first N entries of each list column (IDs and list-valued kept columns).
        output_format: "columns" expands an ID list into ``document_1`` ... ``document_N`` (equal lengths needed);
            "lists" keeps one nested column under a plural name (``document_ids`` -> ``documents``).

    Returns:
        A picklable callable mapping a batch dict of ID columns to a batch dict of resolved columns. A missing ID raises
        KeyError when its batch is read.

    Raises:
        TypeError: For a lookup that is no ``Dataset`` (e.g. a ``DatasetDict``) or a string ``keep_columns``.
        ValueError: For invalid arguments, or ID/value columns that are absent or cannot be inferred.
    """
    try:
        from datasets import Dataset, DatasetDict
    except ImportError as exc:
        raise ImportError('resolve_ids needs the `datasets` library: pip install -U "sbert[train]"') from exc
    if isinstance(keep_columns, str):
        raise TypeError(f"keep_columns must be a list or tuple of column names, got the string {keep_columns!r}.")
    if max_list_length is not None and max_list_length < 1:
        raise ValueError(f"max_list_length must be a positive integer or None, got {max_list_length}.")
    if output_format not in ("columns", "lists"):
        raise ValueError(f'output_format must be "columns" or "lists", got {output_format!r}.')

    resolved: dict[str, _Lookup] = {}
    indices: dict[tuple[int, str], dict[Any, int]] = {}  # shared by entries joining the same dataset and ID column
    for input_col, spec in lookups.items():
        dataset, id_col, value_col = _split_spec(input_col, spec)
        if isinstance(dataset, DatasetDict):
            raise TypeError(
                f"lookups[{input_col!r}] holds a `DatasetDict`, expected a `Dataset`. Pass a specific split (e.g. "
                "`dataset_dict['train']`), or load with `load_dataset(..., split='...')`."
            )
        if not isinstance(dataset, Dataset):
            raise TypeError(f"lookups[{input_col!r}] must hold a `Dataset`, got {type(dataset).__name__}.")
        key = id(dataset)
        dataset = dataset.with_format(None)  # plain python IDs and values, whatever format the caller set
        id_col, value_col = _pick_columns(input_col, dataset, id_col, value_col)
        if (key, id_col) not in indices:
            indices[key, id_col] = _build_index(input_col, dataset, id_col)
        resolved[input_col] = _Lookup(input_col, dataset, indices[key, id_col], value_col)
    return _IdResolver(resolved, tuple(keep_columns), max_list_length, output_format)
