"""``sbert similarity``: the score of two texts, or of every pair of a TSV/CSV file, under the model's similarity.

Two texts print one number. ``--pairs FILE`` prints one line per pair, ``score<TAB>a<TAB>b`` (tabs and line breaks
inside the texts become spaces; ``--jsonl`` keeps them exactly), streamed ``CHUNK_SIZE`` pairs at a time. A pairs
file is TSV (CSV for ``.csv``) with two columns and no header; with ``--columns A B`` it is any file sbert reads
(``cli.inputs``: CSV/TSV with a header row, JSONL, Parquet) and A, B name the two columns.
"""

from __future__ import annotations

import argparse
import contextlib
import csv
import itertools
import json
import os
import sys
from collections.abc import Iterator
from typing import Any

import numpy as np

from sentence_transformers.cli import UsageError
from sentence_transformers.cli.encode import DEFAULT_MODEL

CHUNK_SIZE = 4096  # pairs read, encoded and written at a time


def add_parser(commands: argparse._SubParsersAction) -> None:
    """The ``similarity`` subcommand's arguments."""
    similarity = commands.add_parser(
        "similarity",
        help="score two texts, or each pair of a TSV/CSV file, with the model's similarity function",
        description="Score two texts, or each pair of a TSV/CSV file, with the model's similarity function.",
        epilog=(
            "examples:\n"
            "  sbert similarity 'A man plays guitar.' 'Someone is playing an instrument.'\n"
            "  sbert similarity --pairs pairs.tsv --jsonl\n"
            "  sbert similarity --pairs sts.csv --columns sentence1 sentence2"
        ),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    similarity.add_argument("texts", nargs="*", metavar="TEXT", help="the two texts to compare")
    similarity.add_argument("--pairs", metavar="FILE", help="headerless two-column TSV (or .csv) file, or - for stdin")
    similarity.add_argument(
        "--columns",
        nargs=2,
        metavar=("A", "B"),
        help="the two columns of a pairs file with a header row (CSV/TSV), or JSONL/Parquet fields",
    )
    similarity.add_argument("--jsonl", action="store_true", help='with --pairs: JSONL lines {"score", "a", "b"}')
    similarity.add_argument(
        "-m", "--model", default=DEFAULT_MODEL, help=f"model folder or hub name (default {DEFAULT_MODEL})"
    )
    similarity.add_argument("-b", "--batch-size", type=int, default=32)
    similarity.add_argument("--device", help="cpu, cuda, cuda:1, mps, … (default: the best available)")
    similarity.set_defaults(run=run_similarity)


def run_similarity(args: argparse.Namespace) -> int:
    """Score the two texts, or stream the pairs file's scores."""
    _check_arguments(args)
    if args.pairs is None:
        model = _load_model(args)
        first, second = model.encode(args.texts, batch_size=args.batch_size, show_progress_bar=False)
        print(format_score(model.similarity(first[None], second[None])[0, 0]))  # noqa: T201
        return 0
    chunks = _chunks(read_pairs(args.pairs, args.columns), CHUNK_SIZE)
    first_chunk = next(chunks, [])  # reports a missing or bad file before the model loads
    model = _load_model(args)
    count = 0
    for chunk in itertools.chain([first_chunk], chunks):
        if chunk:
            _write_scores(chunk, _score(model, chunk, args.batch_size), args.jsonl)
            count += len(chunk)
    print(f"sbert: scored {count} pairs", file=sys.stderr)  # noqa: T201
    return 0


def _check_arguments(args: argparse.Namespace) -> None:
    """Wrong combinations of arguments raise a UsageError."""
    if args.pairs is not None and args.texts:
        raise UsageError("give either two texts or --pairs FILE, not both")
    if args.pairs is None and len(args.texts) != 2:
        raise UsageError(f"give exactly two texts (or --pairs FILE), got {len(args.texts)}")
    if args.pairs is None and (args.columns or args.jsonl):
        raise UsageError("--columns and --jsonl go with --pairs FILE")
    if args.batch_size < 1:
        raise UsageError(f"--batch-size must be at least 1, got {args.batch_size}")


def _load_model(args: argparse.Namespace) -> Any:
    from sentence_transformers import SentenceTransformer

    return SentenceTransformer(args.model, device=args.device)


def _score(model: Any, pairs: list[tuple[str, str]], batch_size: int) -> np.ndarray:
    """The similarity of each pair, under the model's similarity function."""
    firsts, seconds = ([pair[i] for pair in pairs] for i in (0, 1))
    options = {"batch_size": batch_size, "show_progress_bar": False}
    scores = model.similarity_pairwise(model.encode(firsts, **options), model.encode(seconds, **options))
    return np.asarray(scores.cpu() if hasattr(scores, "cpu") else scores)


def format_score(score: Any) -> str:
    """The shortest text that reads back as the same float32."""
    return str(np.float32(float(score)))


def _write_scores(pairs: list[tuple[str, str]], scores: np.ndarray, jsonl: bool) -> None:
    lines = []
    for (first, second), score in zip(pairs, scores, strict=True):
        if jsonl:
            lines.append(json.dumps({"score": float(format_score(score)), "a": first, "b": second}, ensure_ascii=False))
        else:
            lines.append("\t".join((format_score(score), _one_field(first), _one_field(second))))
    sys.stdout.write("\n".join(lines) + "\n")
    sys.stdout.flush()


def _one_field(text: str) -> str:
    """``text`` as one TSV field: tabs and line breaks become spaces."""
    return " ".join(text.replace("\t", " ").splitlines()) if ("\t" in text or "\n" in text or "\r" in text) else text


# ----------------------------------------------------------------------------------------------------- pairs file
def read_pairs(path: str, columns: list[str] | None) -> Iterator[tuple[str, str]]:
    """The pairs of a file or stdin (``-``): with ``columns``, those two columns of any format sbert reads (the
    header of CSV/TSV, the fields of JSONL, Parquet columns); without, the two fields of each headerless TSV row
    (CSV for ``.csv``)."""
    if path != "-" and not os.path.isfile(path):
        raise FileNotFoundError(f"pairs file {path!r} not found")
    if columns is not None:
        from sentence_transformers.cli.inputs import InputFile

        source = InputFile(path)
        return _checked_strings(source.rows(columns), source.name, columns)
    return _two_column_rows(path, "," if path.lower().endswith(".csv") else "\t")


def _checked_strings(rows: Iterator[tuple[Any, ...]], name: str, columns: list[str]) -> Iterator[tuple[str, str]]:
    """The rows, each checked to hold two strings (JSONL and Parquet values may be anything)."""
    for number, row in enumerate(rows, start=1):
        for column, value in zip(columns, row, strict=True):
            if not isinstance(value, str):
                raise ValueError(f"{name} row {number}: column {column!r} is not a string ({type(value).__name__})")
        yield row[0], row[1]


def _two_column_rows(path: str, delimiter: str) -> Iterator[tuple[str, str]]:
    """Each non-blank row's two fields, from a headerless TSV (no quoting) or CSV file or stdin; any other number
    of fields raises a ValueError naming the line."""
    name = "<stdin>" if path == "-" else path
    with contextlib.ExitStack() as stack:
        stream = sys.stdin if path == "-" else stack.enter_context(open(path, encoding="utf-8-sig", newline=""))
        quoting = csv.QUOTE_NONE if delimiter == "\t" else csv.QUOTE_MINIMAL
        rows = csv.reader(stream, delimiter=delimiter, quoting=quoting)
        try:
            for row in rows:
                if not row:
                    continue
                if len(row) != 2:
                    line = rows.line_num
                    raise ValueError(f"{name} line {line} has {len(row)} fields, not 2 (pick two with --columns A B)")
                yield row[0], row[1]
        except csv.Error as exc:
            raise ValueError(f"{name} line {rows.line_num}: {exc}") from exc


def _chunks(pairs: Iterator[tuple[str, str]], size: int) -> Iterator[list[tuple[str, str]]]:
    while chunk := list(itertools.islice(pairs, size)):
        yield chunk
