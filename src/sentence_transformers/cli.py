"""The ``sbert`` command: encode texts from a file or stdin into .npy or JSONL."""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Sequence
from typing import Any, TextIO

import numpy as np

from sentence_transformers import __version__
from sentence_transformers.sentence_transformer.encoding import PRECISIONS

DEFAULT_MODEL = "sentence-transformers/all-MiniLM-L6-v2"


def build_parser() -> argparse.ArgumentParser:
    """The command-line grammar."""
    parser = argparse.ArgumentParser(prog="sbert", description="Sentence embeddings from the command line.")
    parser.add_argument("--version", action="version", version=f"sbert {__version__}")
    commands = parser.add_subparsers(dest="command", required=True)
    encode = commands.add_parser("encode", help="embed texts: one per line, or a JSONL field")
    encode.add_argument(
        "input", nargs="?", default="-", help="text file (one text per line), .jsonl file, or - for stdin"
    )
    encode.add_argument("-o", "--output", help="write here: .npy, or .jsonl (default: JSONL on stdout)")
    encode.add_argument("--field", help="read texts from this field of each JSONL line (default 'text' for .jsonl)")
    encode.add_argument(
        "-m", "--model", default=DEFAULT_MODEL, help=f"model folder or hub name (default {DEFAULT_MODEL})"
    )
    encode.add_argument("-b", "--batch-size", type=int, default=32)
    encode.add_argument("--normalize", action="store_true", help="scale embeddings to unit length")
    encode.add_argument("--prompt", help="text prepended to every input")
    encode.add_argument("--prompt-name", help="name of one of the model's prompts")
    encode.add_argument("--precision", choices=PRECISIONS, default="float32")
    encode.add_argument("--truncate-dim", type=int, help="keep only the first N dimensions")
    encode.add_argument("--device", help="cpu, cuda, cuda:1, mps, … (default: the best available)")
    encode.add_argument("--no-progress", action="store_true", help="hide the progress bar")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``sbert`` console script; returns the exit status."""
    args = build_parser().parse_args(argv)
    try:
        return run_encode(args)
    except (FileNotFoundError, ValueError, TypeError, OSError) as exc:
        print(f"sbert: error: {exc}", file=sys.stderr)  # noqa: T201
        return 2


def run_encode(args: argparse.Namespace) -> int:
    """Read the texts, encode them, and write the embeddings."""
    texts = read_texts(args.input, args.field)
    from sentence_transformers import SentenceTransformer

    model = SentenceTransformer(args.model, device=args.device)
    embeddings = model.encode(
        texts,
        batch_size=args.batch_size,
        show_progress_bar=not args.no_progress,
        normalize_embeddings=args.normalize,
        prompt=args.prompt,
        prompt_name=args.prompt_name,
        precision=args.precision,
        truncate_dim=args.truncate_dim,
    )
    write_embeddings(embeddings, texts, args.output)
    print(f"sbert: encoded {len(texts)} texts → {embeddings.shape}", file=sys.stderr)  # noqa: T201
    return 0


def read_texts(source: str, field: str | None) -> list[str]:
    """Texts from a file or stdin: one per line, or ``field`` of each JSONL object."""
    if source == "-":
        return _parse(sys.stdin, field, "<stdin>")
    if not os.path.isfile(source):
        raise FileNotFoundError(f"input file {source!r} not found")
    if field is None and source.endswith(".jsonl"):
        field = "text"
    with open(source, encoding="utf-8") as f:
        return _parse(f, field, source)


def _parse(stream: TextIO, field: str | None, name: str) -> list[str]:
    lines = stream.read().splitlines()
    if field is None:
        return lines
    texts = []
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except json.JSONDecodeError as exc:
            raise ValueError(f"{name} line {number} is not valid JSON: {exc}") from exc
        if not isinstance(record, dict) or not isinstance(record.get(field), str):
            raise ValueError(f"{name} line {number} has no string field {field!r}")
        texts.append(record[field])
    return texts


def write_embeddings(embeddings: np.ndarray, texts: list[str], output: str | None) -> None:
    """Save as .npy, or as JSONL lines {"text", "embedding"} to a file or stdout."""
    if output is not None and output.endswith(".npy"):
        np.save(output, embeddings)
        return
    if output is None:
        _write_jsonl(sys.stdout, embeddings, texts)
        return
    with open(output, "w", encoding="utf-8") as f:
        _write_jsonl(f, embeddings, texts)


def _write_jsonl(stream: TextIO, embeddings: np.ndarray, texts: list[str]) -> None:
    for text, embedding in zip(texts, embeddings, strict=True):
        record: dict[str, Any] = {"text": text, "embedding": embedding.tolist()}
        stream.write(json.dumps(record, ensure_ascii=False) + "\n")


if __name__ == "__main__":
    sys.exit(main())
