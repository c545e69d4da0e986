"""``sbert serve``: the HTTP server (the ``serve`` extra), its arguments and start."""

from __future__ import annotations

import argparse


def add_parser(commands: argparse._SubParsersAction) -> None:
    """The ``serve`` subcommand's arguments (they live with the server's settings)."""
    from sentence_transformers.serve.settings import add_arguments

    serve = commands.add_parser(
        "serve",
        help="serve a model over HTTP: OpenAI-compatible embeddings, sparse embeddings (/embed_sparse) with a "
        "SparseEncoder, or reranking with a CrossEncoder",
        epilog="example: sbert serve --model all-MiniLM-L6-v2 --port 8000",
    )
    add_arguments(serve)
    serve.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    """Load the model, then serve until SIGTERM/SIGINT."""
    from sentence_transformers.serve import main as serve

    return serve(args)
