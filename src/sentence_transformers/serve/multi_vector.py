"""Serving a MultiVectorEncoder (late interaction): per-token embeddings and MaxSim scores.

The shared ``Batcher`` plans forward passes into single-vector (or sparse, or score) sinks; a MultiVectorEncoder
gives each text a [tokens, dim] matrix, so its requests go through this small runner instead, with the same
admission (``max_queue``), errors (``QueueFull``, ``InputTooLong``, ``EncodeFailed``) and metrics:

1. admission (event loop): refused with ``QueueFull`` while ``max_queue`` requests are in flight;
2. collect (event loop): the first queued request, then those queued within ``max_wait_ms`` of it until they hold
   ``max_batch_size`` texts, then every request already queued, up to the engine's window;
3. encode (one engine thread): the requests of one role (``task``: query or document) and prompt are joined into
   one ``encode_query`` / ``encode_document`` call, which tokenizes once, sorts by length and runs forward passes of
   ``max_batch_size`` texts; each request gets its own rows back (float32 [tokens_i, dim] arrays, on the CPU). A
   request with ``truncate=False`` and a text longer than its role reads (``query_length`` / ``document_length``,
   else ``max_seq_length``) is refused alone (``InputTooLong``); a joined call that fails is retried request by
   request, so that only the requests that fail on their own get the error;
4. score (the same engine thread): ``model.similarity`` (MaxSim, or MeanMaxSim) of query rows against document rows.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import deque
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from sentence_transformers.base import encoding
from sentence_transformers.base.model import ROLE_PROMPT_NAMES
from sentence_transformers.base.token_ids import tokenizer_lock
from sentence_transformers.serve.batcher import BatchLimits, EncodeFailed, InputTooLong, QueueFull
from sentence_transformers.serve.metrics import Metrics

logger = logging.getLogger(__name__)

QUERY, DOCUMENT = "query", "document"
TASKS = (QUERY, DOCUMENT)


@dataclass(frozen=True)
class TokenRequest:
    """The texts of one request, the role they are encoded for (``query`` or ``document``: its prompt, length and
    query expansion or skiplist), a prompt name that replaces the role's prompt, and whether long texts are cut."""

    texts: list[str]
    task: str = DOCUMENT
    prompt_name: str | None = None
    truncate: bool = True


@dataclass(frozen=True)
class TokenEncoded:
    """One request's token vectors: a float32 [tokens_i, dim] array per text, in input order."""

    rows: list[np.ndarray]

    @property
    def tokens(self) -> int:
        """Token vectors returned (after the model's mask: expansion kept, skiplist dropped)."""
        return sum(len(row) for row in self.rows)

    @property
    def floats(self) -> int:
        return sum(row.size for row in self.rows)


@dataclass(eq=False)
class _Job:
    request: TokenRequest
    future: asyncio.Future[TokenEncoded]
    queued: float


class MultiVectorRunner:
    """The queue and engine thread of a MultiVectorEncoder; in the app it stands where the ``Batcher`` does (``alive``,
    ``start``, ``stop``), and ``encode`` / ``score`` run in the server's event loop."""

    scores = False  # what ServeState reads of a Batcher: not a reranker,
    sparse = False  # not a sparse model

    def __init__(self, model: Any, limits: BatchLimits, metrics: Metrics | None = None) -> None:
        self.model, self.limits = model.eval(), limits
        self.metrics = metrics or Metrics()
        self.ready = False
        self._waiting: deque[_Job] = deque()
        self._arrived: asyncio.Event | None = None
        self._idle: asyncio.Event | None = None
        self._in_flight = 0
        self._worker: asyncio.Task[None] | None = None
        self._engine = ThreadPoolExecutor(1, thread_name_prefix="sbert-encode")

    @property
    def alive(self) -> bool:
        """Whether requests are answered: warmed up, and the worker running."""
        return self.ready and self._worker is not None and not self._worker.done()

    async def start(self) -> None:
        """Start the worker and encode one text, so that the model has answered before the port opens."""
        self._arrived, self._idle = asyncio.Event(), asyncio.Event()
        self._idle.set()
        self._worker = asyncio.create_task(self._work(), name="sbert-multi-vector")
        await self.encode(TokenRequest(["warm up"], QUERY))
        self.ready = True

    async def stop(self) -> None:
        """Finish every request admitted, then stop the worker and the engine thread."""
        self.ready = False
        if self._idle is not None:
            await self._idle.wait()
        if self._worker is not None:
            self._worker.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._worker
        self._engine.shutdown(wait=False)

    async def encode(self, request: TokenRequest) -> TokenEncoded:
        """Queue ``request`` and wait for its token vectors. Raises QueueFull, InputTooLong (with truncate=False)
        or EncodeFailed; ValueError for a task other than query or document."""
        if request.task not in TASKS:
            raise ValueError(f"task must be one of {TASKS}, got {request.task!r}")
        if self._in_flight >= self.limits.max_queue:
            raise QueueFull(f"{self._in_flight} requests are in flight; this server queues at most "
                            f"{self.limits.max_queue} (--max-queue)")  # fmt: skip
        self._count_in_flight(+1)
        try:
            loop = asyncio.get_running_loop()
            job = _Job(request, loop.create_future(), loop.time())
            self._waiting.append(job)
            self.metrics.queue_depth.set(len(self._waiting))
            assert self._arrived is not None, "start() the runner first"
            self._arrived.set()
            return await job.future
        finally:
            self._count_in_flight(-1)

    async def score(self, queries: list[np.ndarray], documents: list[np.ndarray]) -> np.ndarray:
        """``model.similarity`` (MaxSim) of each query's rows against each document's, [queries, documents] float32,
        on the engine thread."""
        loop = asyncio.get_running_loop()
        try:
            return await loop.run_in_executor(self._engine, self._similarity, queries, documents)
        except Exception as exc:
            logger.exception("Scoring a request failed")
            raise EncodeFailed(f"scoring failed: {type(exc).__name__}: {exc}") from exc

    def _similarity(self, queries: list[np.ndarray], documents: list[np.ndarray]) -> np.ndarray:
        with torch.inference_mode():
            scores = self.model.similarity(
                [torch.from_numpy(row) for row in queries],
                [torch.from_numpy(row) for row in documents],
                device=self.model.device,
            )
        return scores.detach().to("cpu", torch.float32).numpy()

    def _count_in_flight(self, change: int) -> None:
        self._in_flight += change
        self.metrics.in_flight.set(self._in_flight)
        if self._idle is not None:
            self._idle.set() if self._in_flight == 0 else self._idle.clear()

    # ------------------------------------------------------------------ worker (event loop)
    async def _work(self) -> None:
        while True:
            jobs = await self._collect()
            if not jobs:
                continue
            loop = asyncio.get_running_loop()
            started = loop.time()
            for job in jobs:
                self.metrics.queue_seconds.observe(started - job.queued)
            self.metrics.batch_requests.observe(len(jobs))
            try:
                outcomes = await loop.run_in_executor(self._engine, self._encode_all, jobs)
            except Exception as exc:  # never let the worker die: answer the batch and go on
                logger.exception("The multi-vector worker failed")
                outcomes = [EncodeFailed(f"{type(exc).__name__}: {exc}") for _ in jobs]
            self.metrics.encode_seconds.observe(loop.time() - started)
            self._answer(jobs, outcomes)

    def _answer(self, jobs: list[_Job], outcomes: list[TokenEncoded | Exception]) -> None:
        for job, outcome in zip(jobs, outcomes, strict=True):
            if job.future.done():
                continue
            if isinstance(outcome, TokenEncoded):
                job.future.set_result(outcome)
                self.metrics.texts.inc(len(job.request.texts))
                self.metrics.tokens.inc(outcome.tokens)
            else:
                job.future.set_exception(outcome)
                if not isinstance(outcome, InputTooLong):
                    self.metrics.failures.inc()

    async def _collect(self) -> list[_Job]:
        """The first queued job, then those queued within ``max_wait_ms`` of it until they hold ``max_batch_size``
        texts, then every job already queued, up to the engine's window."""
        first = await self._next(None)
        assert first is not None
        jobs, texts = [first], len(first.request.texts)
        deadline = first.queued + self.limits.max_wait_ms / 1000
        window = encoding.window_size(self.limits.max_batch_size)
        loop = asyncio.get_running_loop()
        while texts < window:
            full = texts >= self.limits.max_batch_size
            job = await self._next(0 if full else deadline - loop.time())
            if job is None:
                break
            jobs.append(job)
            texts += len(job.request.texts)
        self.metrics.queue_depth.set(len(self._waiting))
        return [job for job in jobs if not job.future.done()]  # a client that went away is not encoded

    async def _next(self, timeout: float | None) -> _Job | None:
        """The next queued job; None when none is queued within ``timeout`` seconds (None: wait for one)."""
        assert self._arrived is not None
        while not self._waiting:
            if timeout is not None and timeout <= 0:
                return None
            self._arrived.clear()
            try:
                await asyncio.wait_for(self._arrived.wait(), timeout)
            except asyncio.TimeoutError:
                return None
        return self._waiting.popleft()

    # ------------------------------------------------------------------ engine thread
    def _encode_all(self, jobs: list[_Job]) -> list[TokenEncoded | Exception]:
        """Each (task, prompt)'s jobs in one encode call; the outcomes in the order of ``jobs``."""
        outcomes: dict[int, TokenEncoded | Exception] = {}
        groups: dict[tuple[str, str | None], list[_Job]] = {}
        for job in jobs:
            try:
                if not job.request.truncate:
                    self._check_lengths(job.request)
            except InputTooLong as exc:
                outcomes[id(job)] = exc
                continue
            groups.setdefault((job.request.task, job.request.prompt_name), []).append(job)
        for group in groups.values():
            for job, outcome in zip(group, self._encode_isolated(group), strict=True):
                outcomes[id(job)] = outcome
        return [outcomes[id(job)] for job in jobs]

    def _encode_isolated(self, jobs: list[_Job]) -> list[TokenEncoded | Exception]:
        """Encode ``jobs`` together; when that fails, each on its own, so that one bad request fails alone."""
        try:
            return self._encode_group(jobs)
        except Exception as exc:
            if len(jobs) > 1:
                return [outcome for job in jobs for outcome in self._encode_isolated([job])]
            logger.exception("Encoding a request of %d texts failed", len(jobs[0].request.texts))
            return [EncodeFailed(f"encoding failed: {type(exc).__name__}: {exc}")]

    def _encode_group(self, jobs: list[_Job]) -> list[TokenEncoded]:
        """One ``encode_query`` / ``encode_document`` call over the joined texts of ``jobs`` (one task and prompt)."""
        request = jobs[0].request
        texts = [text for job in jobs for text in job.request.texts]
        encode = self.model.encode_query if request.task == QUERY else self.model.encode_document
        rows = encode(texts, prompt_name=request.prompt_name, batch_size=self.limits.max_batch_size,
                      show_progress_bar=False, convert_to_numpy=True)  # fmt: skip
        rows = [np.asarray(row, dtype=np.float32) for row in rows]
        results, start = [], 0
        for job in jobs:
            end = start + len(job.request.texts)
            results.append(TokenEncoded(rows[start:end]))
            start = end
        return results

    def _check_lengths(self, request: TokenRequest) -> None:
        """InputTooLong when a text (with its prompt) has more tokens than the request's role reads."""
        limit, tokenizer = role_length(self.model, request.task), getattr(self.model, "tokenizer", None)
        if limit is None or not callable(tokenizer):
            return
        inputs, _ = encoding.apply_prompt(self.model, list(request.texts), role_prompt(self.model, request))
        with tokenizer_lock(tokenizer):  # the call sets truncation on the shared tokenizer: not under anyone else's
            counted = tokenizer(inputs, truncation=False)["input_ids"]
        for position, ids in enumerate(counted):
            if len(ids) > limit:
                raise InputTooLong(
                    f"text {position} has {len(ids)} tokens; this model reads at most {limit} for a {request.task} "
                    "(send truncate: true to cut it)"
                )


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
