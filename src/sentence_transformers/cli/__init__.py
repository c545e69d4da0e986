"""The ``sbert`` command: one module per subcommand, each a thin layer over the library.

Conventions: results go to stdout (so commands pipe), progress and messages to stderr; a user error prints one line
``sbert: error: …`` without a traceback and exits 2 for a usage error (argparse) or 1 for anything else.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

from sentence_transformers import __sbert_version__, __version__


class UsageError(ValueError):
    """A wrong combination or value of arguments that argparse cannot see by itself: exit status 2, as argparse's."""


# The subcommand modules, in the order ``--help`` lists them; each has add_parser(commands) and sets ``run``.
COMMANDS = ("encode", "index", "search", "similarity", "rerank", "evaluate", "export", "info", "train", "serve")


def build_parser() -> argparse.ArgumentParser:
    """The command-line grammar: the global options and every subcommand's."""
    parser = argparse.ArgumentParser(prog="sbert", description="Sentence embeddings from the command line.")
    version = f"sbert {__sbert_version__} (sentence-transformers API {__version__})"
    parser.add_argument("--version", action="version", version=version)
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name in COMMANDS:
        importlib.import_module(f"sentence_transformers.cli.{name}").add_parser(commands)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``sbert`` console script; returns the exit status."""
    args = build_parser().parse_args(argv)
    try:
        return args.run(args)
    except UsageError as exc:
        print(f"sbert {args.command}: error: {_one_line(exc)}", file=sys.stderr)  # noqa: T201
        return 2
    except KeyboardInterrupt:
        print("sbert: interrupted", file=sys.stderr)  # noqa: T201
        return 130
    except (FileNotFoundError, ValueError, TypeError, OSError, ImportError) as exc:
        print(f"sbert: error: {_one_line(exc)}", file=sys.stderr)  # noqa: T201
        return 1


def _one_line(exc: BaseException) -> str:
    """The error's message on one line (multi-line messages from libraries are joined)."""
    return " ".join(str(exc).split()) or type(exc).__name__
