"""``sbert serve``: an OpenAI-compatible embeddings server (a sparse embeddings server for a SparseEncoder, a
reranker server for a CrossEncoder) with dynamic batching, limits and metrics.

Importing this package imports no server library: FastAPI, uvicorn and prometheus-client (the ``serve`` extra) are
imported when the server starts.
"""

from __future__ import annotations

import argparse
import sys

from sentence_transformers.serve.settings import ServeSettings, add_arguments

__all__ = ["ServeSettings", "add_arguments", "main"]

EXTRA_HINT = 'sbert serve needs FastAPI, uvicorn and prometheus-client: pip install "sbert[serve]"'


def main(args: argparse.Namespace) -> int:
    """Run ``sbert serve`` with parsed ``args``; returns the exit status (1 without the ``serve`` extra)."""
    try:
        import fastapi  # noqa: F401
        import prometheus_client  # noqa: F401
        import uvicorn  # noqa: F401
    except ImportError:
        print(f"sbert: error: {EXTRA_HINT}", file=sys.stderr)  # noqa: T201
        return 1
    from sentence_transformers.serve.server import serve

    return serve(ServeSettings.from_args(args))
