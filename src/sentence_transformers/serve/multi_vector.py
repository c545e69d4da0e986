"""Serving a MultiVectorEncoder (late interaction): what is its own, beside the shared ``Batcher``.

Its requests (``TokenRequest``: texts and a role, ``task``: query or document) go through the ``Batcher`` as every
other model's do (admission, collection, tokenizing, one engine call per role and prompt into the model's
``TokenSink``, per-request retry); each text comes back as a float32 [tokens, dim] array. Here: the role's prompt
and length (``role_prompt``, ``role_length``: a ``truncate=False`` request is checked against the latter), and the
MaxSim scores of /rerank and /similarity (``score``: ``model.similarity`` on the batcher's engine thread).
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

import numpy as np
import torch

from sentence_transformers.base import encoding
from sentence_transformers.base.model import ROLE_PROMPT_NAMES
from sentence_transformers.serve.batcher import EncodeFailed, TokenEncoded, TokenRequest

if TYPE_CHECKING:
    from sentence_transformers.serve.batcher import Batcher

__all__ = ["DOCUMENT", "QUERY", "TASKS", "TokenEncoded", "TokenRequest", "role_length", "role_prompt", "score"]

logger = logging.getLogger(__name__)

QUERY, DOCUMENT = "query", "document"
TASKS = (QUERY, DOCUMENT)


async def score(batcher: Batcher, queries: list[np.ndarray], documents: list[np.ndarray]) -> np.ndarray:
    """``model.similarity`` (MaxSim) of each query's rows against each document's, [queries, documents] float32,
    on the batcher's engine thread; EncodeFailed when it fails."""
    try:
        return await batcher.call(maxsim, batcher.model, queries, documents)
    except Exception as exc:
        logger.exception("Scoring a request failed")
        raise EncodeFailed(f"scoring failed: {type(exc).__name__}: {exc}") from exc


def maxsim(model: Any, queries: list[np.ndarray], documents: list[np.ndarray]) -> np.ndarray:
    """``model.similarity`` of the token vectors, float32 on the CPU."""
    with torch.inference_mode():
        scores = model.similarity(
            [torch.from_numpy(row) for row in queries],
            [torch.from_numpy(row) for row in documents],
            device=model.device,
        )
    return scores.detach().to("cpu", torch.float32).numpy()


def role_length(model: Any, task: str) -> int | None:
    """The tokens a text of ``task`` is cut to: the Transformer's ``query_length`` / ``document_length``, else the
    model's ``max_seq_length``."""
    from sentence_transformers.base.modules import Transformer

    transformer = next((module for module in model.modules() if isinstance(module, Transformer)), None)
    lengths = {} if transformer is None else {QUERY: transformer.query_length, DOCUMENT: transformer.document_length}
    length = lengths.get(task)
    return model.max_seq_length if length is None else length


def role_prompt(model: Any, request: TokenRequest) -> str | None:
    """The prompt text ``encode_query`` / ``encode_document`` prepend: the named one, else the role's."""
    name = request.prompt_name
    if name is None:
        name = next((key for key in ROLE_PROMPT_NAMES[request.task] if key in model.prompts), None)
    return encoding.resolve_prompt(model, None, name)
