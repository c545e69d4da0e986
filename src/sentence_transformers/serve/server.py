"""Load the model, then serve it with uvicorn until SIGTERM or Ctrl-C.

The model loads, and answers once (the batcher's warm-up, in the app's lifespan), before uvicorn opens the port.
On SIGTERM uvicorn stops accepting connections and waits for the requests in flight, then the lifespan drains the
batcher; the process exits 0.
"""

from __future__ import annotations

import signal
import sys
from types import FrameType
from typing import TYPE_CHECKING

from sentence_transformers.serve.settings import ServeSettings

if TYPE_CHECKING:
    from sentence_transformers.base.model import BaseModel


def load_model(settings: ServeSettings) -> BaseModel:
    """The model as the settings ask: its type (detected unless given: a reranker folder loads as a CrossEncoder, a
    sparse model's folder as a SparseEncoder),
    backend, device, dtype; the prompt name is checked here, not per request."""
    import torch

    from sentence_transformers.base.encoding import resolve_prompt
    from sentence_transformers.cli.models import load_model as load_typed

    model = load_typed(settings.model, settings.model_type, device=settings.device, backend=settings.backend)
    if settings.dtype is not None:
        if settings.backend != "torch":
            raise ValueError(f"--dtype applies to the torch backend, not {settings.backend!r}")
        model.to(getattr(torch, settings.dtype))
    if settings.prompt_name is not None:
        resolve_prompt(model, None, settings.prompt_name)
    return model.eval()


def serve(settings: ServeSettings) -> int:
    """Serve until stopped; returns the exit status."""
    import uvicorn

    from sentence_transformers.serve.app import create_app

    model = load_model(settings)
    print(  # noqa: T201
        f"sbert serve: {settings.model_name} ({_shape(model)}, {model.get_backend()}, {model.device}) "
        f"on http://{settings.host}:{settings.port}",
        file=sys.stderr,
    )
    config = uvicorn.Config(
        create_app(model, settings), host=settings.host, port=settings.port, access_log=False, lifespan="on"
    )
    server = uvicorn.Server(config)
    # uvicorn shuts down gracefully on SIGTERM, then raises the signal again: this handler makes that a clean exit.
    previous = signal.signal(signal.SIGTERM, _after_shutdown)
    try:
        server.run()
    except KeyboardInterrupt:
        pass
    finally:
        signal.signal(signal.SIGTERM, previous)
    return 0 if server.started else 1


def _shape(model: BaseModel) -> str:
    """``384 dimensions`` for an embedding model, ``SparseEncoder, 30522 sparse dimensions`` for a sparse one,
    ``CrossEncoder, 1 label`` for a reranker."""
    if model.model_type == "SparseEncoder":
        return f"{model.model_type}, {model.get_embedding_dimension()} sparse dimensions"
    if model.model_type == "MultiVectorEncoder":
        return f"{model.model_type}, {model.get_embedding_dimension()} dimensions per token"
    dimension = getattr(model, "get_sentence_embedding_dimension", None)
    if callable(dimension):
        return f"{dimension()} dimensions"
    labels = getattr(model, "num_labels", None)
    return f"{model.model_type}, {labels} label{'s' if labels != 1 else ''}"


def _after_shutdown(signum: int, frame: FrameType | None) -> None:
    """SIGTERM once uvicorn has shut down: nothing left to do."""
