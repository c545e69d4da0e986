"""Dynamic batching: one queue of requests, one worker that encodes the texts of many requests in one engine call.

The way of a request:

1. admission (event loop): refused with ``QueueFull`` while ``max_queue`` requests are in flight;
2. tokenize (the tokenizer thread): the prompt is applied and the texts tokenized once (``encoding.prepare``); the
   token counts give the request's ``usage`` and the batch plan, and the ids are kept for the forward pass;
3. queue: the job waits for the worker;
4. collect (event loop): the worker takes the first job, then the jobs queued within ``max_wait_ms`` of it until
   they fill a forward pass (``max_batch_size`` texts or ``max_batch_tokens`` tokens), then every job already queued,
   up to the engine's window (``encoding.window_size``): when the model is busy, requests pile up, and the next call
   takes them all; it also waits (a bounded part of the last call's time) for as many new jobs as the last call
   answered, so that clients who send their next request on each answer are encoded together, not in turns;
5. encode (the engine thread): per prompt, the jobs' token ids are joined (``concat_token_ids``) and planned into
   forward passes of at most ``max_batch_size`` texts (or more short ones, up to the engine's ``PASS_TOKENS``) and
   ``max_batch_tokens`` padded tokens, sorted longest first and cut where padding is least (``plan_forwards``, as
   ``encode()`` cuts its sorted window into batches of ``batch_size``); the engine's own ``encoding.run`` then runs
   that plan on the prepared ids (its batches made on its background thread) into an ``EmbeddingSink``; each job's
   rows are then truncated and normalized as asked;
   a reranker's jobs (``ScoreRequest``: (query, document) pairs) go the same way into the CrossEncoder's
   ``ScoreSink`` (logits), and each job's scores get the model's activation unless it asked for raw scores;
   images (decoded PIL images, for a model that takes them: ``serve.images``) go through the model's
   ``preprocess`` with the texts of their forward pass, after them (length -1, 0 tokens), as in ``encode()``;
   a SparseEncoder's jobs go into a ``SparseSink``, which keeps each text's non-zero dimensions (after the model's
   ``max_active_dims``) as ``encode()`` does, so that no [texts, vocabulary] output is kept;
   a MultiVectorEncoder's jobs (``TokenRequest``) are joined per role (``task``: query or document) and prompt, and
   go, with that ``task`` (its length, query expansion and skiplist), into the model's ``TokenSink``, as
   ``encode_query`` / ``encode_document`` go: each job gets a float32 [tokens_i, dim] array per text;
6. answer (event loop): each request gets its own rows, or the error of its batch.

Tokenizing and encoding have a thread each, so the event loop never waits on the model, and tokenizing the next
requests overlaps the forward pass of the current ones (as the engine's prefetch thread does for ``encode()``).
A batch that fails is retried request by request, so that only the requests that fail on their own get the error.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
from collections import deque
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, TypeVar

import numpy as np
import torch
import torch.nn.functional as F

from sentence_transformers.base import encoding
from sentence_transformers.base.model import ROLE_PROMPT_NAMES
from sentence_transformers.base.token_ids import TokenIds, tokenizer_lock
from sentence_transformers.cli.sparse import SparseRows, sparse_rows
from sentence_transformers.serve.metrics import Metrics
from sentence_transformers.util.tensor import select_max_active_dims, truncate_embeddings

if TYPE_CHECKING:
    from sentence_transformers.sentence_transformer.model import SentenceTransformer

logger = logging.getLogger(__name__)


class QueueFull(RuntimeError):
    """Too many requests in flight: the client should retry later."""


class InputTooLong(ValueError):
    """A text is longer than the model reads, and the request asked not to truncate it."""


class EncodeFailed(RuntimeError):
    """The engine failed on this request."""


@dataclass(frozen=True)
class BatchLimits:
    """How the worker batches, and how many requests may wait."""

    max_batch_tokens: int = 16_384
    max_batch_size: int = 32
    max_wait_ms: float = 5.0
    max_queue: int = 1024


@dataclass(frozen=True)
class EncodeRequest:
    """The inputs of one HTTP request (texts, and decoded PIL images for a model that takes them) and how its
    embeddings are finished."""

    texts: list[Any]
    prompt: str | None = None
    normalize: bool = False
    dimensions: int | None = None
    truncate: bool = True  # False: a text longer than the model reads is refused (InputTooLong)


@dataclass(frozen=True)
class ScoreRequest:
    """The (query, document) pairs of one rerank request, for a CrossEncoder; ``raw``: the logits, without the
    model's activation."""

    texts: list[tuple[str, str]]
    prompt: str | None = None
    raw: bool = False
    truncate: bool = True


@dataclass(frozen=True)
class TokenRequest:
    """The texts of one request for a MultiVectorEncoder, the role they are encoded for (``query`` or ``document``:
    its prompt, length and query expansion or skiplist), a prompt name that replaces the role's prompt, and whether
    long texts are cut."""

    texts: list[str]
    task: str = "document"
    prompt_name: str | None = None
    truncate: bool = True


@dataclass(frozen=True)
class TokenEncoded:
    """One ``TokenRequest``'s token vectors: a float32 [tokens_i, dim] array per text, in input order."""

    rows: list[np.ndarray]

    @property
    def tokens(self) -> int:
        """Token vectors returned (after the model's mask: expansion kept, skiplist dropped)."""
        return sum(len(row) for row in self.rows)

    @property
    def floats(self) -> int:
        return sum(row.size for row in self.rows)


@dataclass(frozen=True)
class Encoded:
    """One request's embeddings, or for a ``ScoreRequest`` its scores ([pairs, num_labels]); float32, in input
    order, and its token count. A SparseEncoder's embeddings are ``sparse`` (``embeddings`` is then empty)."""

    embeddings: np.ndarray
    tokens: int
    sparse: SparseRows | None = None

    @property
    def scores(self) -> np.ndarray:
        """The scores of a ``ScoreRequest`` (the same array)."""
        return self.embeddings


Request = EncodeRequest | ScoreRequest | TokenRequest
Outcome = Encoded | TokenEncoded | Exception  # of one job, from the engine thread
T = TypeVar("T")


@dataclass(eq=False)
class _Job:
    request: Request
    inputs: list[Any]  # the texts with the prompt applied
    extra: dict[str, Any]  # per-batch features of the prompt (prompt_length)
    prepared: encoding.PreparedInputs
    prompt: str | None = None  # the prompt text applied
    task: str | None = None  # a TokenRequest's role: the engine's ``task``
    future: asyncio.Future[Encoded | TokenEncoded] | None = None
    queued: float = 0.0
    tokens: int = field(init=False)

    def __post_init__(self) -> None:
        self.tokens = int(np.maximum(self.prepared.lengths, 0).sum())  # an image (length -1) counts 0 tokens


class Batcher:
    """The queue and its worker; ``start`` and ``stop`` run in the server's event loop."""

    def __init__(self, model: SentenceTransformer, limits: BatchLimits, metrics: Metrics | None = None) -> None:
        self.model, self.limits = model.eval(), limits
        self.scores = getattr(model, "model_type", None) == "CrossEncoder"  # pairs in, a ScoreSink out
        self.sparse = getattr(model, "model_type", None) == "SparseEncoder"  # texts in, a SparseSink out
        self.multi_vector = getattr(model, "model_type", None) == "MultiVectorEncoder"  # TokenRequests, a TokenSink
        self.metrics = metrics or Metrics()
        self.ready = False
        self._waiting: deque[_Job] = deque()
        self._arrived: asyncio.Event | None = None
        self._idle: asyncio.Event | None = None
        self._in_flight = 0
        self._free_since = 0.0  # when the engine last finished a call (event loop time)
        self._last_call = 0.0  # how long it took
        self._answered = 0  # how many jobs it answered
        self._worker: asyncio.Task[None] | None = None
        self._tokenizer = ThreadPoolExecutor(1, thread_name_prefix="sbert-tokenize")
        self._engine = ThreadPoolExecutor(1, thread_name_prefix="sbert-encode")
        self._tokenizer_lock = threading.Lock()  # a fast tokenizer must not be called from two threads at once

    @property
    def alive(self) -> bool:
        """Whether requests are answered: warmed up, and the worker running."""
        return self.ready and self._worker is not None and not self._worker.done()

    async def start(self) -> None:
        """Start the worker and encode one text, so that the model has answered before the port opens."""
        self._arrived, self._idle = asyncio.Event(), asyncio.Event()
        self._idle.set()
        self._worker = asyncio.create_task(self._work(), name="sbert-batcher")
        if self.scores:
            await self.encode(ScoreRequest([("warm up", "warm up")]))
        else:
            await self.encode(TokenRequest(["warm up"], "query") if self.multi_vector else EncodeRequest(["warm up"]))
        self.ready = True

    async def stop(self) -> None:
        """Finish every request admitted, then stop the worker and its threads."""
        self.ready = False
        if self._idle is not None:
            await self._idle.wait()
        if self._worker is not None:
            self._worker.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._worker
        self._tokenizer.shutdown(wait=False)
        self._engine.shutdown(wait=False)

    async def encode(self, request: Request) -> Encoded | TokenEncoded:
        """Queue ``request`` and wait for its embeddings (or scores, or a ``TokenRequest``'s token vectors).

        Raises QueueFull, InputTooLong (with truncate=False), or EncodeFailed; TypeError for a request that does
        not fit the model (pairs for an embedding model, texts for a reranker); ValueError for a ``TokenRequest``
        whose task is not query or document.
        """
        wanted = ScoreRequest if self.scores else TokenRequest if self.multi_vector else EncodeRequest
        if not isinstance(request, wanted):
            what = {ScoreRequest: "pairs", TokenRequest: "texts and a role", EncodeRequest: "texts"}[wanted]
            raise TypeError(
                f"this batcher's {type(self.model).__name__} takes a {wanted.__name__} ({what}), "
                f"got {type(request).__name__}"
            )
        if isinstance(request, TokenRequest) and request.task not in ROLE_PROMPT_NAMES:
            raise ValueError(f"task must be one of {tuple(ROLE_PROMPT_NAMES)}, got {request.task!r}")
        if self._in_flight >= self.limits.max_queue:
            raise QueueFull(f"{self._in_flight} requests are in flight; this server queues at most "
                            f"{self.limits.max_queue} (--max-queue)")  # fmt: skip
        self._count_in_flight(+1)
        try:
            loop = asyncio.get_running_loop()
            try:
                job = await loop.run_in_executor(self._tokenizer, self._prepare, request)
            except InputTooLong:
                raise
            except Exception as exc:
                logger.exception("Tokenizing a request failed")
                raise EncodeFailed(f"tokenizing failed: {type(exc).__name__}: {exc}") from exc
            job.future, job.queued = loop.create_future(), loop.time()
            self._waiting.append(job)
            self.metrics.queue_depth.set(len(self._waiting))
            self._arrived.set()
            return await job.future
        finally:
            self._count_in_flight(-1)

    async def call(self, function: Callable[..., T], *args: Any) -> T:
        """``function(*args)`` on the engine thread, between engine calls (e.g. a MultiVectorEncoder's MaxSim)."""
        return await asyncio.get_running_loop().run_in_executor(self._engine, function, *args)

    def _count_in_flight(self, change: int) -> None:
        self._in_flight += change
        self.metrics.in_flight.set(self._in_flight)
        if self._idle is not None:
            self._idle.set() if self._in_flight == 0 else self._idle.clear()

    # ------------------------------------------------------------------ tokenizer thread
    def _prepare(self, request: Request) -> _Job:
        """Apply the prompt and tokenize once, as ``encode()`` does (a ``TokenRequest`` as ``encode_query`` /
        ``encode_document`` do: the role's prompt, unless named, and its ``task``)."""
        task, limit, role = None, self.model.max_seq_length, ""
        if isinstance(request, TokenRequest):
            from sentence_transformers.serve.multi_vector import role_length, role_prompt

            task, prompt = request.task, role_prompt(self.model, request)
            limit, role = role_length(self.model, task), f" for a {task}"
        else:
            prompt = request.prompt
        with self._tokenizer_lock:
            inputs, extra = encoding.apply_prompt(self.model, list(request.texts), prompt)
            media = None if self.scores else encoding.check_modalities(self.model, inputs)
            if not request.truncate:
                self._check_lengths(inputs, media, limit, role)
            prepared = encoding.prepare(self.model, inputs, _task_kwargs(task), prompt, media)
        return _Job(request, inputs, extra, prepared, prompt, task)

    def _check_lengths(self, inputs: list[Any], media: list[bool] | None, limit: int | None, role: str = "") -> None:
        """InputTooLong when a text (with its prompt) has more tokens than ``limit`` (the role's, for a
        ``TokenRequest``)."""
        tokenizer = getattr(self.model, "tokenizer", None)
        if limit is None or not callable(tokenizer):
            return
        positions = [position for position in range(len(inputs)) if media is None or not media[position]]
        if not positions:
            return
        with tokenizer_lock(tokenizer):  # the call sets truncation on the shared tokenizer: not under anyone else's
            counted = tokenizer([inputs[position] for position in positions], truncation=False)["input_ids"]
        for position, ids in zip(positions, counted, strict=True):
            if len(ids) > limit:
                what = "pair" if self.scores else "text"
                raise InputTooLong(
                    f"{what} {position} has {len(ids)} tokens; this model reads at most {limit}{role} "
                    "(send truncate: true to cut it)"
                )

    # ------------------------------------------------------------------ worker (event loop)
    async def _work(self) -> None:
        while True:
            jobs = await self._collect()
            if not jobs:
                continue
            try:
                await self._encode(jobs)
            except Exception as exc:  # never let the worker die: answer the batch and go on
                logger.exception("The batch worker failed")
                for job in jobs:
                    if not job.future.done():
                        job.future.set_exception(EncodeFailed(f"{type(exc).__name__}: {exc}"))

    async def _collect(self) -> list[_Job]:
        """The jobs of one engine call: the first queued job, then those queued within ``max_wait_ms`` of it until
        they fill a forward pass (``max_batch_size`` texts or ``max_batch_tokens`` tokens), then every job already
        queued, up to the engine's window: sorted together, they leave little padding.

        It also waits for the requests that the last call answered to come back (as many new jobs as it answered),
        at most ``RETURN_WAIT`` of that call's time (``RETURN_WAIT_MAX_S`` at most, ``max_wait_ms`` at least) after
        it: clients that send their next request on each answer come back over some milliseconds, and a call that
        starts with the first few leaves the others to the next, in smaller and costlier forward passes, and so on
        (cohorts that take turns).
        """
        first = await self._next(None)
        jobs, texts, tokens = [first], len(first.inputs), first.tokens
        back = int(first.queued >= self._free_since)
        wait = self.limits.max_wait_ms / 1000
        fill_deadline = first.queued + wait
        return_deadline = self._free_since + max(wait, min(RETURN_WAIT * self._last_call, RETURN_WAIT_MAX_S))
        window = encoding.window_size(self.limits.max_batch_size)
        loop = asyncio.get_running_loop()
        while texts < window:
            now = loop.time()
            full = texts >= self.limits.max_batch_size or tokens >= self.limits.max_batch_tokens
            timeout = max(0 if full else fill_deadline - now, 0 if back >= self._answered else return_deadline - now)
            job = await self._next(timeout)
            if job is None:
                break
            jobs.append(job)
            texts, tokens = texts + len(job.inputs), tokens + job.tokens
            back += job.queued >= self._free_since
        self.metrics.queue_depth.set(len(self._waiting))
        return [job for job in jobs if not job.future.done()]  # a client that went away is not encoded

    async def _next(self, timeout: float | None) -> _Job | None:
        """The next queued job; None when none is queued within ``timeout`` seconds (None: wait for one)."""
        while not self._waiting:
            if timeout is not None and timeout <= 0:
                return None
            self._arrived.clear()
            try:
                await asyncio.wait_for(self._arrived.wait(), timeout)
            except asyncio.TimeoutError:
                return None
        return self._waiting.popleft()

    async def _encode(self, jobs: list[_Job]) -> None:
        loop = asyncio.get_running_loop()
        started = loop.time()
        for job in jobs:
            self.metrics.queue_seconds.observe(started - job.queued)
        self.metrics.batch_requests.observe(len(jobs))
        outcomes = await loop.run_in_executor(self._engine, self._encode_all, jobs)
        self._free_since = loop.time()
        self._last_call, self._answered = self._free_since - started, len(jobs)
        self.metrics.encode_seconds.observe(self._last_call)
        for job, outcome in zip(jobs, outcomes, strict=True):
            if job.future.done():
                continue
            if not isinstance(outcome, Exception):
                job.future.set_result(outcome)
                self.metrics.texts.inc(len(job.inputs))
                self.metrics.tokens.inc(outcome.tokens)
            else:
                job.future.set_exception(outcome)
                self.metrics.failures.inc()

    # ------------------------------------------------------------------ engine thread
    def _encode_all(self, jobs: list[_Job]) -> list[Outcome]:
        """Each (prompt, task)'s jobs in one engine call; their outcomes in the order of ``jobs``."""
        groups: dict[tuple[str | None, str | None], list[_Job]] = {}
        for job in jobs:
            groups.setdefault((job.prompt, job.task), []).append(job)
        outcomes: dict[int, Outcome] = {}
        for group in groups.values():
            for job, outcome in zip(group, self._encode_isolated(group), strict=True):
                outcomes[id(job)] = outcome
        return [outcomes[id(job)] for job in jobs]

    def _encode_isolated(self, jobs: list[_Job]) -> list[Outcome]:
        """Encode ``jobs`` together; when that fails, each on its own, so that one bad request fails alone."""
        try:
            return self._encode_group(jobs)
        except Exception as exc:
            if len(jobs) > 1:
                return [outcome for job in jobs for outcome in self._encode_isolated([job])]
            logger.exception("Encoding a request of %d texts failed", len(jobs[0].inputs))
            return [EncodeFailed(f"encoding failed: {type(exc).__name__}: {exc}")]

    def _encode_group(self, jobs: list[_Job]) -> list[Encoded] | list[TokenEncoded]:
        """The joined texts of ``jobs`` (one prompt and task) through the engine's ``run`` with a token-budget
        plan, then each job's rows."""
        task = jobs[0].task
        prepared = self._join(jobs)
        plan = plan_forwards(
            prepared.lengths,
            self.limits.max_batch_tokens,
            self.limits.max_batch_size,
            encoding.pass_tokens(self.model, prepared),
        )
        if not isinstance(prepared, TokenIds):  # tokenized per batch, on the engine's thread: not under _prepare
            prepared = _Locked(prepared, self._tokenizer_lock)
        sink = self._sink(len(prepared.lengths), self.model.device, task)
        inputs = [text for job in jobs for text in job.inputs]
        with self._encoding():
            encoding.run(self.model, inputs, jobs[0].extra, _OPTIONS, sink=sink, prepared=prepared, plan=plan,
                         **self._forward_kwargs(), **_task_kwargs(task))  # fmt: skip
        for indices in plan:
            self.metrics.observe_forward(len(indices), len(indices) * max(int(prepared.lengths[indices].max()), 0))
        if isinstance(sink, SparseSink):
            return [Encoded(_NO_ROWS, job.tokens, part) for job, part in zip(jobs, sink.split(jobs), strict=True)]
        if self.multi_vector:
            return split_token_rows(sink.result(None), jobs)
        rows = torch.split(sink.output, [len(job.inputs) for job in jobs])
        return [Encoded(self._finish(part, job.request), job.tokens) for job, part in zip(jobs, rows, strict=True)]

    def _encoding(self) -> contextlib.AbstractContextManager[Any]:
        """What ``encode()`` runs its forward passes in: a SparseEncoder's (fused SPLADE pooling)."""
        inference = getattr(self.model, "_encoding", None) if self.sparse else None
        return inference() if callable(inference) else contextlib.nullcontext()

    def _forward_kwargs(self) -> dict[str, Any]:
        """What ``encode()`` passes to the forward pass: a SparseEncoder's ``max_active_dims`` to the modules that
        take it (a CSR model's k)."""
        limit = getattr(self.model, "max_active_dims", None) if self.sparse else None
        accepts = getattr(self.model, "_accepts_max_active_dims", None)
        return {"max_active_dims": limit} if limit is not None and callable(accepts) and accepts() else {}

    def _sink(self, count: int, device: torch.device, task: str | None = None) -> encoding.Sink:
        """Embeddings, a reranker's logits ([pairs, num_labels]: the activation is each request's own choice), a
        sparse model's rows, or a MultiVectorEncoder's token vectors (its ``TokenSink``, as ``encode`` makes it)."""
        if self.sparse:
            return SparseSink(count, self.model)
        if self.multi_vector:
            from sentence_transformers.multi_vector_encoder.model import TokenSink

            return TokenSink(count, "token_embeddings", False, None, task, self.model)
        if not self.scores:
            return encoding.EmbeddingSink(count, encoding.EncodeOptions(), device)
        from sentence_transformers.cross_encoder.model import ScoreSink

        return ScoreSink(count, None, squeeze=False, softmax=False)

    def _finish(self, rows: torch.Tensor, request: Request) -> np.ndarray:
        if isinstance(request, ScoreRequest):
            return finish_scores(rows, None if request.raw else self.model.activation_fn)
        return finish(rows, request)

    def _join(self, jobs: list[_Job]) -> encoding.PreparedInputs:
        """One prepared input of the texts of ``jobs``, in order: their token ids joined, else prepared anew."""
        parts = [job.prepared for job in jobs]
        if len(parts) == 1:
            return parts[0]
        if all(isinstance(part, TokenIds) for part in parts):
            return concat_token_ids(parts)
        inputs = [text for job in jobs for text in job.inputs]
        with self._tokenizer_lock:  # input modules that tokenize per batch: let the engine prepare them together
            media = None if self.scores else encoding.check_modalities(self.model, inputs)
            return encoding.prepare(self.model, inputs, _task_kwargs(jobs[0].task), jobs[0].prompt, media)


_NO_ROWS = np.zeros((0, 0), dtype=np.float32)
_OPTIONS = encoding.EncodeOptions()  # the sinks are the batcher's: each job is finished as it asks (``finish``)


class _Locked:
    """Prepared inputs whose batches are tokenized under ``lock`` (the batcher's tokenizer thread uses it too)."""

    def __init__(self, prepared: encoding.PreparedInputs, lock: threading.Lock) -> None:
        self.prepared, self.lock, self.lengths = prepared, lock, prepared.lengths

    def features(self, indices: np.ndarray) -> dict[str, Any]:
        with self.lock:
            return self.prepared.features(indices)


class SparseSink:
    """A SparseEncoder's embeddings: each forward pass's ``sentence_embedding`` cut to the model's
    ``max_active_dims`` as ``encode()`` cuts it, and kept as its rows' non-zero entries (on the CPU)."""

    def __init__(self, count: int, model: Any) -> None:
        self.model = model
        self.dimension = 0  # the output's width, from the first forward pass
        self.rows: list[tuple[np.ndarray, np.ndarray] | None] = [None] * count

    def add(self, features: dict[str, Any], positions: torch.Tensor) -> None:
        embeddings = features["sentence_embedding"].detach()
        embeddings = select_max_active_dims(embeddings, getattr(self.model, "max_active_dims", None))
        self.dimension = int(embeddings.shape[1])
        for position, row in zip(positions.tolist(), sparse_rows(embeddings), strict=True):
            self.rows[position] = row

    def result(self, dimension: int | None) -> SparseRows:
        return self._rows(0, len(self.rows))

    def split(self, jobs: list[Any]) -> list[SparseRows]:
        """Each job's rows, in order."""
        parts, start = [], 0
        for job in jobs:
            parts.append(self._rows(start, start + len(job.inputs)))
            start += len(job.inputs)
        return parts

    def _rows(self, start: int, end: int) -> SparseRows:
        rows = self.rows[start:end]
        if any(row is None for row in rows):
            raise RuntimeError("a text was not encoded")
        offsets = np.zeros(len(rows) + 1, dtype=np.int64)
        np.cumsum([len(indices) for indices, _ in rows], out=offsets[1:])
        indices = np.concatenate([row[0] for row in rows]) if rows else np.zeros(0, np.int64)
        values = np.concatenate([row[1] for row in rows]) if rows else np.zeros(0, np.float32)
        return SparseRows(offsets, indices, values, self.dimension)


# A call waits for the requests the last one answered up to this part of that call's time, at most RETURN_WAIT_MAX_S
# (and at least ``max_wait_ms``): at most this much of the engine's time idles, for forward passes planned over all
# the clients (on loopback, 32 clients come back within some 40 ms of an 800 ms call).
RETURN_WAIT = 0.1
RETURN_WAIT_MAX_S = 0.25

# What one more forward pass costs, in padded tokens: splitting a sorted batch pays off when it saves more padding.
FORWARD_COST_TOKENS = 32


def plan_forwards(lengths: np.ndarray, max_tokens: int, max_size: int, pass_tokens: int = 0) -> list[np.ndarray]:
    """Positions of each forward pass: sorted longest first (stable), cut where padding plus a fixed cost per pass
    is least, with at most ``max_size`` texts and ``max_tokens`` padded tokens a pass (a longer text goes alone);
    short texts may go beyond ``max_size``, up to ``pass_tokens`` padded tokens, as ``encode()``'s batches do
    (``encoding.PASS_TOKENS``).

    A round holds fewer texts than ``encode()``'s window, so its length range per ``max_size`` texts is wider; cutting
    at the best places (dynamic programming over the sorted lengths) keeps the padding near ``encode()``'s.
    """
    order = np.argsort(-lengths, kind="stable")
    widths = np.maximum(lengths[order], 1).astype(np.float64)
    count = len(order)
    caps = encoding.pass_capacities(lengths[order], max_size, pass_tokens)  # by a pass's longest (first) text
    reach = int(caps.max()) if count else 0
    best, cut = np.zeros(count + 1), np.zeros(count + 1, dtype=np.int64)
    for end in range(1, count + 1):
        starts = np.arange(max(0, end - reach), end)
        sizes = end - starts
        cost = best[starts] + widths[starts] * sizes + FORWARD_COST_TOKENS
        cost[(widths[starts] * sizes > max_tokens) & (sizes > 1)] = np.inf
        cost[sizes > caps[starts]] = np.inf
        pick = int(np.argmin(cost))
        best[end], cut[end] = cost[pick], starts[pick]
    bounds = [count]
    while bounds[-1] > 0:
        bounds.append(int(cut[bounds[-1]]))
    bounds.reverse()
    return [order[start:end] for start, end in zip(bounds[:-1], bounds[1:], strict=True)]


def _task_kwargs(task: str | None) -> dict[str, Any]:
    """The engine's keyword arguments for a ``TokenRequest``'s role (none for other requests)."""
    return {} if task is None else {"task": task}


def split_token_rows(rows: list[torch.Tensor], jobs: list[Any]) -> list[TokenEncoded]:
    """Each job's token vectors (a ``TokenSink``'s rows, in order) as float32 arrays on the CPU."""
    if any(row is None for row in rows):
        raise RuntimeError("a text was not encoded")
    arrays = [row.detach().to("cpu", torch.float32).numpy() for row in rows]
    parts, start = [], 0
    for job in jobs:
        parts.append(TokenEncoded(arrays[start : start + len(job.inputs)]))
        start += len(job.inputs)
    return parts


def concat_token_ids(parts: list[TokenIds]) -> TokenIds:
    """The texts of ``parts`` in one TokenIds, in order (``TokenIds.concat``)."""
    return TokenIds.concat(parts)


def finish_scores(logits: torch.Tensor, activation_fn: Any) -> np.ndarray:
    """A reranker's scores as ``predict`` gives them: the activation (when not raw) on float32 logits, float32 on
    the CPU, [pairs, num_labels]."""
    from sentence_transformers.cross_encoder.model import activated_scores

    return activated_scores(logits, activation_fn).detach().to("cpu", torch.float32).numpy()


def finish(embeddings: torch.Tensor, request: EncodeRequest) -> np.ndarray:
    """Truncate and normalize as ``encode()`` does, then float32 on the CPU."""
    embeddings = truncate_embeddings(embeddings, request.dimensions)
    if request.normalize:
        embeddings = F.normalize(embeddings, p=2, dim=1)
    return embeddings.detach().to("cpu", torch.float32).numpy()
