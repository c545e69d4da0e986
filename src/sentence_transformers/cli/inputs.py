"""Rows of the files the ``sbert`` commands read: plain text, JSONL, CSV, TSV and Parquet, streamed.

The format comes from the file's extension (``.jsonl``/``.ndjson``, ``.csv``, ``.tsv``, ``.parquet``/``.pq``;
anything else, and stdin ``-``, is text: one text per line). Nothing is read whole: text, JSONL, CSV and TSV are read
line by line, Parquet a record batch at a time (only the columns asked for), so memory stays bounded by the caller's
chunk. A file can be read any number of times; stdin once.

- text: one text per line (split as ``str.splitlines`` does). Read with a column, its lines are JSON objects (JSONL).
- JSONL: one JSON object per non-blank line; the text column defaults to ``text``.
- CSV (``,``, with quoting) and TSV (tabs, no quoting: IANA text/tab-separated-values) start with a header line;
  blank lines are skipped; the text column defaults to ``text``, or the only column.
- Parquet: read with pyarrow (``pip install pyarrow``), imported only then; the text column defaults as for CSV.

API::

    read_texts(path, column=None) -> Iterator[str]               # the texts of one column
    read_rows(path, columns) -> Iterator[tuple]                  # several columns, one tuple per row
    count_texts(path, column=None) -> int                        # checks every row, keeps none
    chunked(items, size) -> Iterator[list]                       # lists of ``size`` items
    pyarrow_parquet() -> module                                  # pyarrow.parquet, or a one-line ImportError
    InputFile(path, fmt=None): .fmt .name .columns() .texts(column) .rows(columns) .count(column)
    image_paths(source, column=None) -> list[str]                # ``--images``: a folder's images, or a list file's

Images (``--images SOURCE`` of ``sbert encode`` and ``sbert index build``): a folder is searched recursively for files
with an image extension (IMAGE_EXTENSIONS, any case), skipping hidden files and folders (names starting with ``.``),
and its paths (``SOURCE`` joined with the path inside it) are sorted; any other file is a list of image paths read as
above (one per line, or a column), blank entries skipped, relative paths taken from the current folder, each an
existing file with an image extension or an http(s) URL of one.

Errors are one-line: a missing file raises FileNotFoundError; a missing column, a malformed line or row, or a file
that is not what its extension says raises ValueError naming the file (and the line, or the available columns);
a missing pyarrow raises ImportError naming ``pip install pyarrow``.
"""

from __future__ import annotations

import csv
import itertools
import json
import os
import sys
from collections.abc import Iterable, Iterator, Sequence
from typing import IO, Any, TypeVar
from urllib.parse import urlparse

T = TypeVar("T")

FORMATS = ("text", "jsonl", "csv", "tsv", "parquet")
EXTENSIONS = {".txt": "text", ".jsonl": "jsonl", ".ndjson": "jsonl", ".csv": "csv", ".tsv": "tsv"}
EXTENSIONS |= {".parquet": "parquet", ".pq": "parquet"}
DEFAULT_COLUMN = "text"
PARQUET_BATCH = 8192  # rows per Parquet record batch read
IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".gif", ".bmp", ".tiff", ".webp")
_CSV_FIELD_LIMIT = 2**31 - 1  # csv's default (128 KiB) is too small for long documents


def input_format(path: str) -> str:
    """The format of ``path`` by its extension (one of FORMATS); stdin (``-``) and unknown extensions are text."""
    return EXTENSIONS.get(os.path.splitext(path)[1].lower(), "text") if path != "-" else "text"


def chunked(items: Iterable[T], size: int) -> Iterator[list[T]]:
    """``items`` in lists of ``size`` (the last one shorter), read lazily."""
    iterator = iter(items)
    while chunk := list(itertools.islice(iterator, size)):
        yield chunk


def read_texts(path: str, column: str | None = None, fmt: str | None = None) -> Iterator[str]:
    """The texts of ``column`` of a file or stdin (``-``), streamed; see :meth:`InputFile.texts`."""
    return InputFile(path, fmt).texts(column)


def read_rows(path: str, columns: Sequence[str], fmt: str | None = None) -> Iterator[tuple[Any, ...]]:
    """The values of ``columns`` of every row of a file or stdin (``-``), streamed; see :meth:`InputFile.rows`."""
    return InputFile(path, fmt).rows(columns)


def count_texts(path: str, column: str | None = None, fmt: str | None = None) -> int:
    """The number of texts :func:`read_texts` gives, from a pass that checks them all and keeps none."""
    return InputFile(path, fmt).count(column)


def image_paths(source: str, column: str | None = None) -> list[str]:
    """The images of ``--images SOURCE``: a folder's image files (recursive, hidden names skipped, sorted), or the
    entries of a list file (see the module's docstring). A missing source, an empty folder or list, or a listed path
    that is not an image file raises a one-line FileNotFoundError or ValueError."""
    if os.path.isdir(source):
        if column is not None:
            raise ValueError(f"--column applies to a list file of image paths, not a folder ({source!r})")
        found = []
        for root, folders, files in os.walk(source):
            folders[:] = [name for name in folders if not name.startswith(".")]
            found += [os.path.join(root, name) for name in files
                      if not name.startswith(".") and name.lower().endswith(IMAGE_EXTENSIONS)]  # fmt: skip
        if not found:
            raise ValueError(f"--images {source!r}: no image files ({' '.join(IMAGE_EXTENSIONS)}) in this folder")
        return sorted(found)
    if source == "-" or not os.path.isfile(source):
        raise FileNotFoundError(f"--images {source!r}: no such folder or list file of image paths")
    paths = [path.strip() for path in InputFile(source).texts(column) if path.strip()]
    if not paths:
        raise ValueError(f"--images {source!r}: the list file holds no image paths")
    for path in paths:
        if path.startswith(("http://", "https://")) and " " not in path:
            if not urlparse(path).path.lower().endswith(IMAGE_EXTENSIONS):
                raise ValueError(f"{source}: {path!r} is not the URL of an image file ({' '.join(IMAGE_EXTENSIONS)})")
        elif not os.path.isfile(path):
            raise FileNotFoundError(f"{source}: image file {path!r} not found")
        elif not path.lower().endswith(IMAGE_EXTENSIONS):
            raise ValueError(f"{source}: {path!r} is not an image file ({' '.join(IMAGE_EXTENSIONS)})")
    return paths


class InputFile:
    """A file (or stdin, ``-``) of rows in one of FORMATS (default: by extension), read lazily.

    ``name`` is how messages call it (default: the path); ``errors`` is the text decoding's error handler.
    """

    def __init__(self, path: str, fmt: str | None = None, name: str | None = None, errors: str = "strict") -> None:
        fmt = fmt or input_format(path)
        if fmt not in FORMATS:
            raise ValueError(f"unknown input format {fmt!r}; known: {', '.join(FORMATS)}")
        if path == "-" and fmt == "parquet":
            raise ValueError("Parquet input cannot come from stdin; pass a file")
        if path != "-" and not os.path.isfile(path):
            raise FileNotFoundError(f"input file {path!r} not found")
        self.path, self.fmt, self.errors = path, fmt, errors
        self.name = name or ("<stdin>" if path == "-" else path)

    def columns(self) -> list[str] | None:
        """The column names (CSV/TSV header, Parquet schema); None for text and JSONL, whose rows are free-form.
        On stdin this reads the header line, so call it there only instead of reading rows."""
        if self.fmt in ("csv", "tsv"):
            with self._open() as stream:
                return _csv_header(self._csv_reader(stream), self.name)
        if self.fmt == "parquet":
            return list(_parquet_file(self.path, self.name).schema_arrow.names)
        return None

    def texts(self, column: str | None = None) -> Iterator[str]:
        """The strings of ``column``: by default the lines of a text file, ``text`` of JSONL, and ``text`` or the
        only column of CSV/TSV/Parquet. A missing or non-string value raises a ValueError naming the row."""
        if self.fmt == "text" and column is None:
            return self._lines()
        return (values[0] for values in self._rows([column], texts=True))

    def rows(self, columns: Sequence[str]) -> Iterator[tuple[Any, ...]]:
        """A tuple of the values of ``columns`` for every row: strings from CSV/TSV, JSON values from JSONL (and
        from text lines, read as JSONL), Python values (None for a null) from Parquet. A missing column raises a
        ValueError."""
        if not columns:
            raise ValueError("no columns to read")
        return self._rows(list(columns), texts=False)

    def count(self, column: str | None = None) -> int:
        """The number of texts of ``column``, from a pass that checks every value and keeps none."""
        if self.fmt == "parquet":
            return sum(len(batch) for batch in _parquet_batches(self.path, self.name, [column], texts=True))
        return sum(1 for _ in self.texts(column))

    def _rows(self, columns: list[str | None], texts: bool) -> Iterator[tuple[Any, ...]]:
        """Rows of ``columns``; a None column is the default text column."""
        if self.fmt == "parquet":
            return _parquet_rows(self.path, self.name, columns, texts)
        if self.fmt in ("csv", "tsv"):
            return self._csv_rows(columns, texts)
        return self._jsonl_rows(columns, texts)

    def _open(self) -> IO[str]:
        if self.path == "-":
            return _Borrowed(sys.stdin)  # type: ignore[return-value]
        encoding = "utf-8-sig" if self.fmt in ("csv", "tsv") else "utf-8"  # a spreadsheet's byte-order mark
        newline = "" if self.fmt in ("csv", "tsv") else None
        return open(self.path, encoding=encoding, errors=self.errors, newline=newline)

    def _lines(self) -> Iterator[str]:
        with self._open() as stream:
            for raw in stream:
                yield from raw.splitlines()

    def _jsonl_rows(self, columns: list[str | None], texts: bool) -> Iterator[tuple[Any, ...]]:
        keys = [column or DEFAULT_COLUMN for column in columns]
        for number, line in enumerate(self._lines(), start=1):
            if not line.strip():
                continue
            try:
                record = json.loads(line)
            except json.JSONDecodeError as exc:
                raise ValueError(f"{self.name} line {number} is not valid JSON: {exc}") from exc
            if not isinstance(record, dict):
                raise ValueError(f"{self.name} line {number} is not a JSON object")
            for key in keys:
                if key not in record or (texts and not isinstance(record[key], str)):
                    kind = "string field" if texts else "field"
                    raise ValueError(f"{self.name} line {number} has no {kind} {key!r}{_available(record)}")
            yield tuple(record[key] for key in keys)

    def _csv_reader(self, stream: IO[str]) -> Iterator[list[str]]:
        if csv.field_size_limit() < _CSV_FIELD_LIMIT:
            csv.field_size_limit(_CSV_FIELD_LIMIT)
        if self.fmt == "tsv":
            return csv.reader(stream, delimiter="\t", quoting=csv.QUOTE_NONE)
        return csv.reader(stream)

    def _csv_rows(self, columns: list[str | None], texts: bool) -> Iterator[tuple[Any, ...]]:
        with self._open() as stream:
            reader = self._csv_reader(stream)
            header = _csv_header(reader, self.name)
            indices = [header.index(column) for column in _resolve(header, columns, self.name)]
            try:
                for row in reader:
                    if not row:
                        continue  # a blank line
                    if len(row) != len(header):
                        line = reader.line_num  # type: ignore[attr-defined]
                        raise ValueError(f"{self.name} line {line} has {len(row)} fields; the header has {len(header)}")
                    yield tuple(row[index] for index in indices)
            except csv.Error as exc:
                raise ValueError(f"{self.name} line {reader.line_num}: {exc}") from exc  # type: ignore[attr-defined]


class _Borrowed:
    """A stream used in a ``with`` block without being closed at its end (stdin)."""

    def __init__(self, stream: IO[str]) -> None:
        self.stream = stream

    def __enter__(self) -> IO[str]:
        return self.stream

    def __exit__(self, *exc_info: object) -> None:
        pass


def _available(record: dict[str, Any]) -> str:
    return f" (it has: {', '.join(map(str, record))})" if record else " (it is empty)"


def _resolve(names: list[str], columns: list[str | None], name: str) -> list[str]:
    """``columns``, checked against the file's ``names``; None is ``text``, or the only column."""
    resolved = []
    for column in columns:
        if column is None:
            column = names[0] if len(names) == 1 and DEFAULT_COLUMN not in names else DEFAULT_COLUMN
        if column not in names:
            raise ValueError(f"{name} has no column {column!r}; available: {', '.join(map(repr, names))}")
        resolved.append(column)
    return resolved


def _csv_header(reader: Iterator[list[str]], name: str) -> list[str]:
    try:
        header = next((row for row in reader if row), None)
    except csv.Error as exc:
        raise ValueError(f"{name} header: {exc}") from exc
    if header is None:
        raise ValueError(f"{name} is empty: a header line naming its columns is needed")
    return header


# --------------------------------------------------------------------------------------------------------- parquet
def pyarrow_parquet() -> Any:
    """The ``pyarrow.parquet`` module, or an ImportError that says to ``pip install pyarrow``."""
    try:
        import pyarrow.parquet as pq
    except ImportError as exc:
        raise ImportError("reading or writing Parquet needs pyarrow: pip install pyarrow") from exc
    return pq


def _parquet_file(path: str, name: str) -> Any:
    pq = pyarrow_parquet()
    try:
        return pq.ParquetFile(path)
    except (OSError, ValueError) as exc:  # pyarrow.ArrowInvalid is a ValueError
        raise ValueError(f"{name} is not a readable Parquet file: {exc}") from exc


def _parquet_batches(path: str, name: str, wanted: list[str | None], texts: bool) -> Iterator[Any]:
    """Record batches of the ``wanted`` columns (None: the default one), checked: the columns exist, and if ``texts``
    hold strings and no nulls (rows pass nulls on as None)."""
    parquet = _parquet_file(path, name)  # first: a missing pyarrow gets its one-line error
    import pyarrow as pa

    schema = parquet.schema_arrow
    columns = _resolve(list(schema.names), wanted, name)
    for column in columns:
        kind = schema.field(column).type
        if texts and not _is_string(pa, kind):
            raise ValueError(f"{name} column {column!r} holds {kind}, not text")
    start = 0
    for batch in parquet.iter_batches(batch_size=PARQUET_BATCH, columns=list(dict.fromkeys(columns))):
        batch = batch.select(columns)  # in the order asked for
        for column in columns if texts else ():
            if batch.column(column).null_count:
                row = start + batch.column(column).is_null().to_pylist().index(True) + 1
                raise ValueError(f"{name} row {row} has no value in column {column!r}")
        start += len(batch)
        yield batch


def _parquet_rows(path: str, name: str, wanted: list[str | None], texts: bool) -> Iterator[tuple[Any, ...]]:
    for batch in _parquet_batches(path, name, wanted, texts):
        yield from zip(*(column.to_pylist() for column in batch.columns), strict=True)


def _is_string(pa: Any, kind: Any) -> bool:
    if pa.types.is_dictionary(kind):
        kind = kind.value_type
    is_view = getattr(pa.types, "is_string_view", lambda _: False)  # pyarrow >= 16
    return pa.types.is_string(kind) or pa.types.is_large_string(kind) or is_view(kind)
