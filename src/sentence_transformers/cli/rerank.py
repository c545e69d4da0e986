"""``sbert rerank``: score documents against a query with a reranker (CrossEncoder), or score pairs.

Two forms:

- ``sbert rerank MODEL "query" DOCS_FILE [-k 10]``: the documents (any file sbert reads, ``cli.inputs``: text lines,
  JSONL, CSV, TSV, Parquet with ``--column``; ``-`` for stdin) are scored against the query ``CHUNK_SIZE`` at a time,
  and the ``k`` best (``-k 0``: all) printed best first, as a table (rank, score, index, text) or ``--jsonl`` lines
  ``{"rank", "index", "score", "text"}``; ``index`` is the document's position in the file (from 0), and equal scores
  keep file order, as ``CrossEncoder.rank``.
- ``sbert rerank MODEL --pairs FILE``: one score per pair, in input order, as ``score<TAB>a<TAB>b`` lines or
  ``--jsonl`` ``{"score", "a", "b"}``; the pairs file is read as ``sbert similarity --pairs`` reads it (headerless
  two-column TSV/CSV, or ``--columns A B`` of any format).

Scores are ``predict``'s: with the model's activation (Sigmoid for one label), or the logits with ``--raw-scores``.
"""

from __future__ import annotations

import argparse
import itertools
import json
import sys
from collections.abc import Iterator
from typing import Any

import numpy as np

from sentence_transformers.cli import UsageError
from sentence_transformers.cli.encode import quiet
from sentence_transformers.cli.inputs import chunked, read_texts
from sentence_transformers.cli.similarity import format_score, read_pairs

CHUNK_SIZE = 4096  # documents or pairs read, scored and (for pairs) written at a time
EXAMPLES = """examples:
  sbert rerank cross-encoder/ms-marco-MiniLM-L6-v2 "how do I reset my password?" docs.txt -k 5
  sbert rerank ./reranker "capital of France" passages.jsonl --column passage --jsonl
  cat docs.txt | sbert rerank ./reranker "query" -
  sbert rerank ./reranker --pairs pairs.tsv --jsonl
  sbert rerank ./reranker --pairs qrels.parquet --columns query passage"""


def add_parser(commands: argparse._SubParsersAction) -> None:
    """The ``rerank`` subcommand's arguments."""
    rerank = commands.add_parser(
        "rerank",
        help="rank documents against a query with a reranker (CrossEncoder), or score pairs",
        description="Score each document of a file against a query with a reranker and print the best first, or "
        "score each pair of a pairs file.",
        epilog=EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    rerank.add_argument("model", help="reranker folder or hub name")
    rerank.add_argument("query", nargs="?", help="the query text")
    rerank.add_argument(
        "documents",
        nargs="?",
        metavar="DOCS_FILE",
        help="the documents: text (one per line), .jsonl, .csv, .tsv or .parquet; - for stdin",
    )
    rerank.add_argument(
        "--column",
        "--field",
        dest="column",
        help="the column (JSONL field) of the documents (default: 'text', or a CSV/TSV/Parquet file's only column)",
    )
    rerank.add_argument("-k", "--top-k", type=int, default=10, help="documents to print, best first (0: all; 10)")
    rerank.add_argument("--pairs", metavar="FILE", help="score each pair of a headerless TSV (or .csv) file, or -")
    rerank.add_argument(
        "--columns", nargs=2, metavar=("A", "B"), help="with --pairs: the two columns of a file with a header row"
    )
    rerank.add_argument("--jsonl", action="store_true", help="print JSONL lines instead of a table")
    rerank.add_argument("--raw-scores", action="store_true", help="the logits, without the model's activation")
    rerank.add_argument("-b", "--batch-size", type=int, default=32)
    rerank.add_argument("--max-length", type=int, help="longest pair in tokens (default: the model's)")
    rerank.add_argument("--device", help="cpu, cuda, cuda:1, mps, … (default: the best available)")
    rerank.add_argument("--no-progress", action="store_true", help="hide the progress bar")
    rerank.add_argument("-q", "--quiet", action="store_true", help="no progress bar, logs or messages on stderr")
    rerank.set_defaults(run=run_rerank)


def run_rerank(args: argparse.Namespace) -> int:
    """Rank the documents against the query, or score the pairs."""
    _check_arguments(args)
    with quiet(args.quiet):
        if args.pairs is not None:
            return _run_pairs(args)
        return _run_ranking(args)


def _check_arguments(args: argparse.Namespace) -> None:
    """Wrong combinations of arguments raise a UsageError."""
    if args.pairs is not None:
        if args.query is not None or args.documents is not None:
            raise UsageError("give either a query and DOCS_FILE or --pairs FILE, not both")
        if args.column is not None:
            raise UsageError("--column goes with DOCS_FILE; a pairs file takes --columns A B")
    else:
        if args.query is None or args.documents is None:
            raise UsageError("give a query and DOCS_FILE (- for stdin), or --pairs FILE")
        if args.columns is not None:
            raise UsageError("--columns goes with --pairs FILE; DOCS_FILE takes --column")
    if args.top_k < 0:
        raise UsageError(f"-k must be 0 (all) or more, got {args.top_k}")
    if args.batch_size < 1:
        raise UsageError(f"--batch-size must be at least 1, got {args.batch_size}")
    if args.max_length is not None and args.max_length < 1:
        raise UsageError(f"--max-length must be at least 1, got {args.max_length}")


def load_reranker(args: argparse.Namespace) -> Any:
    """The model as a CrossEncoder; an embedding model's folder is refused, naming what it is."""
    from sentence_transformers.cli.models import CROSS_ENCODER, load_model, saved_model_type

    saved = saved_model_type(args.model)
    if saved is not None and saved != CROSS_ENCODER:
        raise ValueError(f"{args.model!r} is a {saved} (embedding model), not a reranker: sbert rerank needs a "
                         "CrossEncoder (try sbert similarity or sbert search)")  # fmt: skip
    return load_model(args.model, CROSS_ENCODER, device=args.device, max_length=args.max_length)


def _predict(model: Any, pairs: list[tuple[str, str]], args: argparse.Namespace) -> np.ndarray:
    import torch

    options: dict[str, Any] = {"batch_size": args.batch_size, "show_progress_bar": False}
    if args.raw_scores:
        options["activation_fn"] = torch.nn.Identity()
    return np.asarray(model.predict(pairs, **options))


def _progress(disable: bool) -> Any:
    from tqdm.autonotebook import tqdm

    return tqdm(desc="Scoring", unit=" pairs", disable=disable, file=sys.stderr)


# ----------------------------------------------------------------------------------------------------- ranking
def _run_ranking(args: argparse.Namespace) -> int:
    """Score the documents a chunk at a time, keeping the ``k`` best, then print them."""
    documents = read_texts(args.documents, args.column)
    chunks = chunked(documents, CHUNK_SIZE)
    first = next(chunks, [])  # a missing or bad file fails before the model loads
    model = load_reranker(args)
    if model.num_labels != 1:
        raise ValueError(
            f"ranking needs one score per pair (num_labels=1); this model has num_labels={model.num_labels} "
            "(score pairs with --pairs instead)"
        )
    best = Best(args.top_k or None)
    with _progress(args.no_progress or args.quiet) as progress:
        for chunk in itertools.chain([first], chunks):
            if chunk:
                best.add(chunk, _predict(model, [(args.query, text) for text in chunk], args))
                progress.update(len(chunk))
    hits = best.hits()
    lines = [_record_line(rank, hit) for rank, hit in enumerate(hits, 1)] if args.jsonl else _table(args.query, hits)
    sys.stdout.write("".join(line + "\n" for line in lines))
    sys.stdout.flush()
    if not args.quiet:
        print(f"sbert: ranked {best.seen} documents", file=sys.stderr)  # noqa: T201
    return 0


class Best:
    """The ``k`` highest-scoring documents so far (all when ``k`` is None), best first; equal scores keep their
    input order."""

    def __init__(self, k: int | None) -> None:
        self.k, self.seen = k, 0
        self.scores = np.empty(0, dtype=np.float64)
        self.indices = np.empty(0, dtype=np.int64)
        self.texts: list[str] = []

    def add(self, texts: list[str], scores: np.ndarray) -> None:
        """Merge a chunk of documents (the next ones of the input) and their scores."""
        scores = np.concatenate([self.scores, np.asarray(scores, dtype=np.float64)])
        indices = np.concatenate([self.indices, np.arange(self.seen, self.seen + len(texts))])
        candidates = self.texts + texts
        order = np.lexsort((indices, -scores))[: self.k]  # by score, then by position
        self.scores, self.indices = scores[order], indices[order]
        self.texts = [candidates[i] for i in order]
        self.seen += len(texts)

    def hits(self) -> list[dict[str, Any]]:
        """``[{"index", "score", "text"}]``, best first."""
        return [
            {"index": int(index), "score": float(score), "text": text}
            for index, score, text in zip(self.indices, self.scores, self.texts, strict=True)
        ]


def _record_line(rank: int, hit: dict[str, Any]) -> str:
    record = {"rank": rank, "index": hit["index"], "score": float(format_score(hit["score"])), "text": hit["text"]}
    return json.dumps(record, ensure_ascii=False)


def _table(query: str, hits: list[dict[str, Any]]) -> list[str]:
    """``query: …`` then aligned ``rank  score  index  text`` rows (texts on one line)."""
    index_width = max([len("index"), *(len(str(hit["index"])) for hit in hits)])
    rank_width = max(len("rank"), len(str(len(hits))))
    rows = [f"query: {_one_line(query)}", f"{'rank':>{rank_width}}  {'score':>9}  {'index':>{index_width}}  text"]
    for rank, hit in enumerate(hits, start=1):
        score = f"{hit['score']:>9.4f}"
        rows.append(f"{rank:>{rank_width}}  {score}  {hit['index']:>{index_width}}  {_one_line(hit['text'])}")
    return rows


def _one_line(text: str) -> str:
    return " ".join(text.split())


# ------------------------------------------------------------------------------------------------------- pairs
def _run_pairs(args: argparse.Namespace) -> int:
    """Stream the pairs file's scores, in input order."""
    chunks: Iterator[list[tuple[str, str]]] = chunked(read_pairs(args.pairs, args.columns), CHUNK_SIZE)
    first = next(chunks, [])  # a missing or bad file fails before the model loads
    model = load_reranker(args)
    count = 0
    with _progress(args.no_progress or args.quiet) as progress:
        for chunk in itertools.chain([first], chunks):
            if chunk:
                _write_pair_scores(chunk, _predict(model, chunk, args), args.jsonl)
                count += len(chunk)
                progress.update(len(chunk))
    if not args.quiet:
        print(f"sbert: scored {count} pairs", file=sys.stderr)  # noqa: T201
    return 0


def _write_pair_scores(pairs: list[tuple[str, str]], scores: np.ndarray, jsonl: bool) -> None:
    """``score<TAB>a<TAB>b`` lines (several labels: comma-separated scores), or JSONL ``{"score", "a", "b"}``."""
    lines = []
    for (first, second), score in zip(pairs, scores, strict=True):
        values = [format_score(value) for value in np.atleast_1d(score)]
        if jsonl:
            number: Any = [float(value) for value in values] if np.ndim(score) else float(values[0])
            lines.append(json.dumps({"score": number, "a": first, "b": second}, ensure_ascii=False))
        else:
            lines.append("\t".join((",".join(values), _field(first), _field(second))))
    sys.stdout.write("".join(line + "\n" for line in lines))
    sys.stdout.flush()


def _field(text: str) -> str:
    """``text`` as one TSV field: tabs and line breaks become spaces."""
    return " ".join(text.replace("\t", " ").splitlines()) if ("\t" in text or "\n" in text or "\r" in text) else text
