"""``sbert evaluate``: a model on an STS file (EmbeddingSimilarityEvaluator) or a BEIR-style retrieval set
(InformationRetrievalEvaluator); the metrics go to stdout as ``metric<TAB>value`` lines, sorted, or as JSON.

Files are read whole, through ``cli.inputs`` (as ``sbert train`` reads them): .csv and .tsv files start with a header
line naming the columns; a .jsonl file's columns are the keys of its first object (every line has them); a .parquet
file's are its schema's.

An STS file has two texts and a gold score per row: the first three columns, or those ``--columns`` names. A
retrieval set is BEIR's: queries and corpus JSONL with ``_id`` and ``text`` (and in the corpus an optional ``title``:
when the first document has one, it is put before every text), and a qrels TSV ``query-id corpus-id score`` (with
its header line); documents with a score above 0 are relevant.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from sentence_transformers.cli import UsageError
from sentence_transformers.cli.encode import StagedFile

if TYPE_CHECKING:
    from sentence_transformers.sentence_transformer.evaluation import EmbeddingSimilarityEvaluator

TABLE_FORMATS = ("csv", "tsv", "jsonl", "parquet")


def add_parser(commands: argparse._SubParsersAction) -> None:
    """The ``evaluate`` subcommand's arguments."""
    evaluate = commands.add_parser(
        "evaluate",
        help="score a model on an STS file or a retrieval set",
        description="Evaluate a model: STS correlation (--sts) or retrieval metrics (--queries, --corpus, --qrels).",
        epilog="examples:\n  sbert evaluate all-MiniLM-L6-v2 --sts sts-test.csv --score-scale 5\n"
        "  sbert evaluate my-model --queries queries.jsonl --corpus corpus.jsonl --qrels qrels.tsv --json",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    evaluate.add_argument("model", metavar="MODEL", help="model folder or hub name")
    sts = evaluate.add_argument_group("STS (two texts and a gold score per row: .csv, .tsv, .jsonl or .parquet)")
    sts.add_argument("--sts", metavar="FILE", help="the pairs and their gold scores")
    sts.add_argument("--columns", nargs=3, metavar=("S1", "S2", "SCORE"), help="column names (default: first 3)")
    sts.add_argument("--score-scale", type=float, help="divide the gold scores by this (e.g. 5 for 0-5 scores)")
    retrieval = evaluate.add_argument_group("retrieval (BEIR layout)")
    retrieval.add_argument("--queries", metavar="FILE", help="JSONL with _id and text")
    retrieval.add_argument("--corpus", metavar="FILE", help="JSONL with _id, text and optional title")
    retrieval.add_argument("--qrels", metavar="FILE", help="TSV query-id, corpus-id, score, with a header row")
    evaluate.add_argument("--json", action="store_true", help="print the metrics as one JSON object")
    evaluate.add_argument("--output", metavar="FILE", help="also write the metrics to this JSON file")
    evaluate.add_argument("-b", "--batch-size", type=int, default=32)
    evaluate.add_argument("--device", help="cpu, cuda, cuda:1, mps, … (default: the best available)")
    evaluate.add_argument("--no-progress", action="store_true", help="hide the progress bars")
    evaluate.set_defaults(run=run_evaluate)


def run_evaluate(args: argparse.Namespace) -> int:
    """Read the evaluation files (errors come before the model loads), evaluate, and print the metrics."""
    retrieval = (args.queries, args.corpus, args.qrels)
    if args.sts is not None and any(retrieval):
        raise UsageError("give either --sts or --queries/--corpus/--qrels, not both")
    if args.sts is None and not all(retrieval):
        raise UsageError("give --sts FILE, or all of --queries, --corpus and --qrels")
    if args.batch_size < 1:
        raise UsageError(f"--batch-size must be at least 1, got {args.batch_size}")
    progress = not args.no_progress
    if args.sts is not None:
        evaluator: Any = sts_evaluator(args.sts, args.columns, args.score_scale, args.batch_size, progress)
    else:
        evaluator = retrieval_evaluator(args.queries, args.corpus, args.qrels, args.batch_size, progress)
    from sentence_transformers import SentenceTransformer

    model = SentenceTransformer(args.model, device=args.device)
    metrics = {name: float(value) for name, value in evaluator(model).items()}
    if args.output:
        write_json(args.output, metrics)
        print(f"sbert: wrote {len(metrics)} metrics to {args.output}", file=sys.stderr)  # noqa: T201
    print(format_metrics(metrics, as_json=args.json))  # noqa: T201
    return 0


def format_metrics(metrics: dict[str, float], as_json: bool = False) -> str:
    """``metric<TAB>value`` lines sorted by name (values in full precision), or one JSON object."""
    if as_json:
        return json.dumps(metrics, indent=2, sort_keys=True)
    return "\n".join(f"{name}\t{metrics[name]!r}" for name in sorted(metrics))


def write_json(path: str, metrics: dict[str, float]) -> None:
    """The metrics as a JSON file, put in place whole (a failure leaves ``path`` as it was)."""
    staged = StagedFile(path)
    try:
        with open(staged.path, "w", encoding="utf-8") as f:
            json.dump(metrics, f, indent=2, sort_keys=True)
            f.write("\n")
        staged.commit()
    finally:
        staged.discard()


# ----------------------------------------------------------------------------------------------------- evaluators
def sts_evaluator(
    path: str, columns: Sequence[str] | None, scale: float | None, batch_size: int, progress: bool
) -> EmbeddingSimilarityEvaluator:
    """An EmbeddingSimilarityEvaluator over an STS file's (text, text, score) rows."""
    from sentence_transformers.sentence_transformer.evaluation import EmbeddingSimilarityEvaluator

    if scale is not None and not scale > 0:
        raise UsageError(f"--score-scale must be positive, got {scale}")
    table = read_table(path)
    if columns is None:
        if len(table.columns) < 3:
            found = ", ".join(table.columns)
            raise UsageError(f"{path} needs two text columns and a score, but has {len(table.columns)} ({found})")
        columns = table.columns[:3]
    sentences1, sentences2 = table.texts(columns[0]), table.texts(columns[1])
    scores = [score / (scale or 1.0) for score in table.numbers(columns[2])]
    if not scores:
        raise ValueError(f"{path} has no rows")
    return EmbeddingSimilarityEvaluator(
        sentences1, sentences2, scores, batch_size=batch_size, show_progress_bar=progress, write_csv=False
    )


def retrieval_evaluator(queries: str, corpus: str, qrels: str, batch_size: int, progress: bool) -> Any:
    """An InformationRetrievalEvaluator over BEIR-style queries, corpus and qrels files."""
    from sentence_transformers.sentence_transformer.evaluation import InformationRetrievalEvaluator

    query_table, corpus_table, qrels_table = read_table(queries), read_table(corpus), read_table(qrels)
    query_texts = dict(zip(query_table.ids("_id"), query_table.texts("text"), strict=True))
    titles = corpus_table.texts("title", optional=True) if "title" in corpus_table.columns else None
    texts = corpus_table.texts("text")
    if titles is not None:
        texts = [f"{title} {text}".strip() for title, text in zip(titles, texts, strict=True)]
    documents = dict(zip(corpus_table.ids("_id"), texts, strict=True))
    if len(qrels_table.columns) < 3:
        raise UsageError(f"{qrels} needs the columns query-id, corpus-id and score")
    query_ids, corpus_ids = qrels_table.ids(qrels_table.columns[0]), qrels_table.ids(qrels_table.columns[1])
    relevant: dict[str, set[str]] = {}
    for query_id, corpus_id, score in zip(
        query_ids, corpus_ids, qrels_table.numbers(qrels_table.columns[2]), strict=True
    ):
        if score > 0:
            relevant.setdefault(query_id, set()).add(corpus_id)
    return InformationRetrievalEvaluator(
        query_texts, documents, relevant, batch_size=batch_size, show_progress_bar=progress, write_csv=False
    )


# ---------------------------------------------------------------------------------------------------------- files
@dataclass
class Table:
    """The rows of a file, with its column names; values as read (strings from CSV/TSV, JSON values otherwise)."""

    path: str
    columns: list[str]
    rows: list[list[Any]]

    def column(self, name: str) -> list[Any]:
        """The values of one column (a UsageError names the columns there are)."""
        if name not in self.columns:
            raise UsageError(f"{self.path} has no column {name!r} (columns: {', '.join(self.columns)})")
        index = self.columns.index(name)
        return [row[index] for row in self.rows]

    def texts(self, name: str, optional: bool = False) -> list[str]:
        """A column of strings (``optional``: a missing value is the empty string)."""
        values = self.column(name)
        for number, value in enumerate(values, start=1):
            if value is None and optional:
                values[number - 1] = ""
            elif value is None:
                raise ValueError(f"{self.path} row {number} has no {name!r}")
            elif not isinstance(value, str):
                raise ValueError(f"{self.path} row {number}: column {name!r} is not text: {value!r}")
        return values

    def ids(self, name: str) -> list[str]:
        """A column of ids, as strings (JSON numbers too)."""
        values = self.column(name)
        for number, value in enumerate(values, start=1):
            if not isinstance(value, str | int) or isinstance(value, bool):
                raise ValueError(f"{self.path} row {number}: column {name!r} is not an id: {value!r}")
        return [str(value) for value in values]

    def numbers(self, name: str) -> list[float]:
        """A column of numbers (strings are parsed)."""
        values = self.column(name)
        for number, value in enumerate(values, start=1):
            if not is_number(value):
                raise ValueError(f"{self.path} row {number}: column {name!r} is not a number: {value!r}")
        return [float(value) for value in values]


def is_number(value: Any) -> bool:
    """Whether ``value`` is a finite number, or a string that reads as one."""
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        return False
    try:
        return math.isfinite(float(value))
    except ValueError:
        return False


def read_table(path: str) -> Table:
    """The rows of a .csv, .tsv, .jsonl or .parquet file (read by ``cli.inputs``), with all its columns in order."""
    from sentence_transformers.cli.inputs import InputFile

    source = InputFile(path)
    if source.fmt not in TABLE_FORMATS:
        raise ValueError(f"{path}: a table is needed, in a .csv, .tsv, .jsonl or .parquet file")
    columns = _jsonl_keys(path) if source.fmt == "jsonl" else source.columns() or []
    if source.fmt in ("csv", "tsv") and any(is_number(name) for name in columns):
        raise ValueError(f"{path} starts with a row of data; its first line must name the columns (a header)")
    return Table(path, columns, [list(row) for row in source.rows(columns)])


def _jsonl_keys(path: str) -> list[str]:
    """The keys of the first object of a JSONL file, in order."""
    with open(path, encoding="utf-8") as f:
        for number, line in enumerate(f, start=1):
            if line.strip():
                try:
                    record = json.loads(line)
                except json.JSONDecodeError as exc:
                    raise ValueError(f"{path} line {number} is not valid JSON: {exc}") from exc
                if not isinstance(record, dict) or not record:
                    raise ValueError(f"{path} line {number} is not a JSON object with fields")
                return list(record)
    raise ValueError(f"{path} is empty")
