"""Reading the 2.x dataset files: plain or gzipped text, csv rows."""

from __future__ import annotations

import csv
import gzip
import os
from collections.abc import Iterator
from typing import IO


def open_text(path: str) -> IO[str]:
    """A text file for reading, gunzipped when named ``*.gz``; a missing file is named in the error."""
    if not os.path.isfile(path):
        raise FileNotFoundError(f"Dataset file {path} not found")
    if path.endswith(".gz"):
        return gzip.open(path, "rt", encoding="utf-8")
    return open(path, encoding="utf-8", newline="")


def _csv_rows(path: str, delimiter: str, quoting: int) -> Iterator[list[str]]:
    with open_text(path) as f:
        yield from csv.reader(f, delimiter=delimiter, quoting=quoting)
