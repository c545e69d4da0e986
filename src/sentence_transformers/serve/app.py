"""The HTTP application: routes, limits and errors (always ``{"error": {"message", "type", "code"}}``).

Routes: for an embedding model ``POST /v1/embeddings`` (OpenAI), ``POST /embed`` (text-embeddings-inference),
``POST /similarity``; for a sparse embedding model (SparseEncoder) ``POST /embed_sparse`` (text-embeddings-inference)
and ``POST /similarity``; for a reranker (CrossEncoder) ``POST /rerank`` (text-embeddings-inference) and
``POST /v1/rerank`` (Cohere/Jina); for a late-interaction model (MultiVectorEncoder) ``POST /embed_all``
(text-embeddings-inference: each token's vector, ``"task": "query" | "document"``), and ``POST /rerank``,
``POST /v1/rerank`` and ``POST /similarity`` scored by MaxSim (``model.similarity``; the server's ``--prompt-name``
does not apply: each role has its prompt); for all ``GET /health``, ``GET /v1/models``, ``GET /info``,
``GET /metrics`` (Prometheus). A route for another model type answers 400 (``wrong_model_type``). For a model that
takes images (e.g. CLIP), ``/v1/embeddings`` and ``/embed`` take images among the texts (``serve.images``: data URIs,
http(s) URLs, and ``{"type": "image_url", ...}`` objects); another model answers an image with 400
(``unsupported_modality``). Every
text (or pair, or image) goes through the one ``Batcher``, which drives the same engine as
``SentenceTransformer.encode``, ``SparseEncoder.encode`` and ``CrossEncoder.predict``, a MultiVectorEncoder's
texts too (``TokenRequest``: joined per role into the engine calls of ``encode_query`` / ``encode_document``).
"""

from __future__ import annotations

import asyncio
import base64
import functools
import hmac
import json
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import torch
from fastapi import APIRouter, FastAPI, Request
from fastapi.exceptions import RequestValidationError
from starlette.datastructures import Headers
from starlette.exceptions import HTTPException
from starlette.responses import Response
from starlette.types import ASGIApp, Receive, Scope, Send

from sentence_transformers import __sbert_version__
from sentence_transformers.base import encoding
from sentence_transformers.base.modules import Normalize
from sentence_transformers.cross_encoder.model import best_first
from sentence_transformers.serve import images
from sentence_transformers.serve.batcher import (
    Batcher,
    BatchLimits,
    Encoded,
    EncodeFailed,
    EncodeRequest,
    InputTooLong,
    QueueFull,
    ScoreRequest,
)
from sentence_transformers.serve.metrics import Metrics
from sentence_transformers.serve.multi_vector import DOCUMENT, QUERY, TokenEncoded, TokenRequest, score
from sentence_transformers.serve.schemas import (
    CohereRerankRequest,
    EmbedAllRequest,
    EmbeddingsRequest,
    EmbedRequest,
    EmbedSparseRequest,
    RerankRequest,
    SimilarityRequest,
)
from sentence_transformers.serve.settings import ServeSettings
from sentence_transformers.util.misc import fullname

if TYPE_CHECKING:
    from sentence_transformers.base.model import BaseModel

ROUTES = ("/v1/embeddings", "/embed", "/embed_sparse", "/embed_all", "/similarity", "/rerank", "/v1/rerank", "/health",
          "/v1/models", "/info", "/metrics")  # fmt: skip
EMBEDDING, SPARSE, RERANKER = "embedding", "sparse", "reranker"  # what a route needs the model to be
MULTI_VECTOR = "multi_vector"
RETRY_AFTER_S = 1
LARGE_RESPONSE = 100_000  # floats: serialized on a thread, so that other requests go on meanwhile


class ApiError(Exception):
    """An error answered as ``{"error": {...}}`` with ``status``."""

    def __init__(self, status: int, message: str, kind: str, code: str, headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.status, self.message, self.kind, self.code, self.headers = status, message, kind, code, headers

    def response(self) -> Response:
        body = {"error": {"message": self.message, "type": self.kind, "code": self.code}}
        return Response(_dumps(body), self.status, self.headers, media_type="application/json")


@dataclass
class ServeState:
    """What the routes share: the model (a SentenceTransformer, SparseEncoder, CrossEncoder or MultiVectorEncoder),
    its batcher, the settings and the metrics; for images, the URL policy and the threads that decode them (while
    the app runs)."""

    model: BaseModel
    settings: ServeSettings
    batcher: Batcher
    metrics: Metrics
    created: int
    url_policy: images.UrlPolicy = images.UrlPolicy()
    image_pool: ThreadPoolExecutor | None = None

    @property
    def name(self) -> str:
        return self.settings.model_name

    @property
    def model_type(self) -> str:
        return self.model.model_type

    @property
    def reranker(self) -> bool:
        return self.batcher.scores

    @property
    def kind(self) -> str:
        """``embedding``, ``sparse``, ``reranker`` or ``multi_vector``."""
        if self.batcher.multi_vector:
            return MULTI_VECTOR
        return RERANKER if self.batcher.scores else SPARSE if self.batcher.sparse else EMBEDDING

    @property
    def dimension(self) -> int | None:
        name = "get_embedding_dimension" if self.kind in (SPARSE, MULTI_VECTOR) else "get_sentence_embedding_dimension"
        dimension = getattr(self.model, name, None)
        return dimension() if callable(dimension) else None

    @property
    def model_normalizes(self) -> bool:
        return any(isinstance(module, Normalize) for module in self.model.modules())

    def check_model(self, model: str | None) -> None:
        """A request may name the served model, or none."""
        if model is not None and model != self.name:
            message = f"model {model!r} is not served here; this server serves {self.name!r}"
            raise ApiError(404, message, "invalid_request_error", "model_not_found")

    @property
    def takes_images(self) -> bool:
        return "image" in (getattr(self.model, "modalities", None) or ["text"])

    async def encode(
        self,
        texts: list[Any],
        field: str,
        normalize: bool | None = None,
        dimensions: int | None = None,
        prompt_name: str | None = None,
        truncate: bool = True,
    ) -> Encoded:
        """Check ``texts`` (the request's ``field``: texts, and image items for a model that takes images) against
        the limits, decode the images, then embed them through the batcher."""
        self.require(EMBEDDING)
        texts = await self._read_inputs(texts, field)
        if dimensions is not None and self.dimension is not None and dimensions > self.dimension:
            message = f"dimensions: must be at most {self.dimension}, the model's dimension; got {dimensions}"
            raise ApiError(422, message, "invalid_request_error", "invalid_value")
        normalize = self.settings.normalize if normalize is None else normalize
        request = EncodeRequest(
            texts,
            prompt=self._prompt(prompt_name),
            normalize=normalize or (dimensions is not None and self.model_normalizes),  # unit length stays so
            dimensions=dimensions if dimensions is not None else self.model.truncate_dim,
            truncate=truncate,
        )
        return await self._run(request, field)

    async def encode_sparse(
        self, texts: list[str], field: str, prompt_name: str | None = None, truncate: bool = True
    ) -> Encoded:
        """Check ``texts`` against the limits, then embed them with the SparseEncoder through the batcher:
        ``Encoded.sparse`` holds each text's non-zero dimensions."""
        self.require(SPARSE)
        self._check_limits(texts, field)
        return await self._run(EncodeRequest(texts, prompt=self._prompt(prompt_name), truncate=truncate), field)

    async def rerank(
        self, query: str, documents: list[str], field: str, raw: bool = False, truncate: bool = True
    ) -> Encoded:
        """Check the query and ``documents`` (the request's ``field``) against the limits, then score each
        (query, document) pair through the batcher: [documents] scores, with the model's activation unless ``raw``.
        A MultiVectorEncoder scores by MaxSim (``raw`` changes nothing: MaxSim has no activation)."""
        if self.kind == MULTI_VECTOR:
            return await self.late_interaction(query, documents, field, truncate)
        self.require(RERANKER)
        if self.model.num_labels != 1:
            message = (
                f"reranking needs one score per pair (num_labels=1); this model has num_labels={self.model.num_labels}"
            )
            raise ApiError(400, message, "invalid_request_error", "unsupported_model")
        self._check_limits(documents, field)
        self._check_limits([query], "query")
        request = ScoreRequest([(query, text) for text in documents], self._prompt(None), raw, truncate)
        encoded = await self._run(request, field)
        return Encoded(encoded.scores[:, 0], encoded.tokens)

    async def encode_tokens(
        self, texts: list[str], field: str, task: str = DOCUMENT, prompt_name: str | None = None, truncate: bool = True
    ) -> TokenEncoded:
        """Check ``texts`` against the limits, then give each text's token vectors from the MultiVectorEncoder's
        ``encode_query`` (``task="query"``) or ``encode_document``: the role's prompt, unless ``prompt_name``."""
        self.require(MULTI_VECTOR)
        self._check_limits(texts, field)
        if prompt_name is not None:
            self._prompt(prompt_name)  # an unknown name is a 422 before anything is queued
        return await self._run(TokenRequest(texts, task, prompt_name, truncate), field)

    async def late_interaction(self, query: str, documents: list[str], field: str, truncate: bool = True) -> Encoded:
        """MaxSim of ``query`` (encoded as a query) against each of ``documents`` (as documents): [documents]
        scores (``Encoded.scores``), and the token vectors compared as the token count."""
        self.require(MULTI_VECTOR)
        self._check_limits(documents, field)
        self._check_limits([query], "query")
        queried, encoded = await asyncio.gather(
            self._run(TokenRequest([query], QUERY, truncate=truncate), "query"),
            self._run(TokenRequest(documents, DOCUMENT, truncate=truncate), field),
        )
        try:
            scores = await score(self.batcher, queried.rows, encoded.rows)
        except EncodeFailed as exc:
            raise ApiError(500, str(exc), "server_error", "encode_failed") from exc
        return Encoded(scores[0], queried.tokens + encoded.tokens)

    def require(self, kind: str) -> None:
        """Refuse (400) a route for another model type: embeddings from a reranker, dense embeddings from a sparse
        model (or sparse ones from a dense model), reranking with an embedding model."""
        if kind == self.kind:
            return
        served = f"this server serves {self.name!r}, a {self.model_type}"
        if MULTI_VECTOR in (kind, self.kind):
            raise ApiError(400, _multi_vector_refusal(served, kind, self.kind), "invalid_request_error",
                           "wrong_model_type")  # fmt: skip
        if self.kind == RERANKER:
            message = f"{served} (reranker): it answers POST /rerank and POST /v1/rerank, not embedding routes"
        elif kind == RERANKER:
            what = "sparse embedding model" if self.kind == SPARSE else "embedding model"
            message = f"{served} ({what}): it cannot rerank; serve a CrossEncoder (reranker) for /rerank and /v1/rerank"
        elif self.kind == SPARSE:
            message = (f"{served} (sparse embedding model): it answers POST /embed_sparse (and /similarity), not "
                       "the dense embedding routes /embed and /v1/embeddings")  # fmt: skip
        else:
            message = (f"{served} (dense embedding model): POST /embed_sparse needs a SparseEncoder; use POST "
                       "/embed or /v1/embeddings")  # fmt: skip
        raise ApiError(400, message, "invalid_request_error", "wrong_model_type")

    async def _run(self, request: Any, field: str) -> Any:
        """``request`` through the batcher (an ``EncodeRequest`` or ``ScoreRequest``; a ``TokenRequest`` for a
        MultiVectorEncoder), its errors as API errors."""
        try:
            return await self.batcher.encode(request)
        except QueueFull as exc:
            headers = {"Retry-After": str(RETRY_AFTER_S)}
            raise ApiError(503, f"the server is busy: {exc}", "overloaded_error", "queue_full", headers) from exc
        except InputTooLong as exc:
            raise ApiError(413, f"{field}: {exc}", "invalid_request_error", "input_too_long") from exc
        except EncodeFailed as exc:
            raise ApiError(500, str(exc), "server_error", "encode_failed") from exc

    async def _read_inputs(self, items: list[Any], field: str) -> list[Any]:
        """The request's items as texts and decoded PIL images, in order (``serve.images``), within the limits."""
        limits = self.settings
        if len(items) > limits.max_inputs:
            message = f"{field}: {len(items)} inputs; this server takes at most {limits.max_inputs} (--max-inputs)"
            raise ApiError(413, message, "invalid_request_error", "too_many_inputs")
        parsed: list[Any] = []
        for position, item in enumerate(items):
            try:
                parsed.append(images.parse_item(item, position, self.takes_images))
            except images.ImageError as exc:
                raise ApiError(exc.status, f"{field}: {exc}", "invalid_request_error", exc.code) from exc
        refs = [item for item in parsed if isinstance(item, images.ImageRef)]
        self._check_limits([item if isinstance(item, str) else "" for item in parsed], field)
        if not refs:
            return parsed
        if not self.takes_images:
            try:
                stand_ins = [item if isinstance(item, str) else _placeholder() for item in parsed]
            except ImportError:  # no Pillow: the engine's check cannot see an image; say it here
                message = (f"{field}: input at position {refs[0].position} is an image, but this model takes "
                           f"{', '.join(self.model.modalities)} only")  # fmt: skip
                raise ApiError(400, message, "invalid_request_error", "unsupported_modality") from None
            self._check_modalities(stand_ins, field)
        if len(refs) > limits.max_images:
            message = f"{field}: {len(refs)} images; this server takes at most {limits.max_images} (--max-images)"
            raise ApiError(413, message, "invalid_request_error", "too_many_images")
        try:
            for ref in refs:  # refused URLs are answered before anything is fetched
                if encoding.is_url(ref.source):
                    self.url_policy.check(ref.source, ref.position)
            loaded = await self._load_images(parsed)
        except images.ImageError as exc:
            raise ApiError(exc.status, f"{field}: {exc}", "invalid_request_error", exc.code) from exc
        self._check_modalities(loaded, field)
        return loaded

    async def _load_images(self, parsed: list[Any]) -> list[Any]:
        """``parsed`` with each ``ImageRef`` decoded (or fetched) into a PIL image, in parallel on the image threads,
        in order; the ImageError of the first bad image (by position) is raised once all are done."""
        limits, loop = self.settings, asyncio.get_running_loop()
        load = functools.partial(images.load, max_bytes=limits.max_image_bytes, max_pixels=limits.max_image_pixels,
                                 timeout=limits.image_timeout, policy=self.url_policy)  # fmt: skip
        jobs = {
            index: loop.run_in_executor(self.image_pool, load, item)
            for index, item in enumerate(parsed)
            if isinstance(item, images.ImageRef)
        }
        results = await asyncio.gather(*jobs.values(), return_exceptions=True)
        loaded = list(parsed)
        for index, result in zip(jobs, results, strict=True):
            if isinstance(result, BaseException):
                raise result
            loaded[index] = result
        return loaded

    def _check_modalities(self, inputs: list[Any], field: str) -> None:
        """The engine's check (``encoding.check_modalities``): an image for a text-only model is a 400."""
        try:
            encoding.check_modalities(self.model, inputs)
        except ValueError as exc:
            raise ApiError(400, f"{field}: {exc}", "invalid_request_error", "unsupported_modality") from exc

    def _check_limits(self, texts: list[str], field: str) -> None:
        limits = self.settings
        if len(texts) > limits.max_inputs:
            message = f"{field}: {len(texts)} texts; this server takes at most {limits.max_inputs} (--max-inputs)"
            raise ApiError(413, message, "invalid_request_error", "too_many_inputs")
        for position, text in enumerate(texts):
            if len(text) > limits.max_input_chars:
                message = (
                    f"{field}: text {position} has {len(text)} characters; this server takes at most "
                    f"{limits.max_input_chars} (--max-input-chars)"
                )
                raise ApiError(413, message, "invalid_request_error", "input_too_long")

    def _prompt(self, prompt_name: str | None) -> str | None:
        try:
            return encoding.resolve_prompt(self.model, None, prompt_name or self.settings.prompt_name)
        except ValueError as exc:
            raise ApiError(422, f"prompt_name: {exc}", "invalid_request_error", "invalid_value") from exc


def _multi_vector_refusal(served: str, wanted: str, kind: str) -> str:
    """Why a route for ``wanted`` does not fit the served model of ``kind`` when one of them is multi-vector."""
    if kind == MULTI_VECTOR:
        return (f"{served} (multi-vector, late-interaction model): it answers POST /embed_all (token vectors), "
                "/rerank, /v1/rerank and /similarity (MaxSim), not the single-vector embedding routes /embed, "
                "/v1/embeddings and /embed_sparse")  # fmt: skip
    what = {RERANKER: "reranker", SPARSE: "sparse embedding model"}.get(kind, "dense embedding model")
    return f"{served} ({what}): POST /embed_all needs a MultiVectorEncoder (late interaction, one vector per token)"


def create_app(model: BaseModel, settings: ServeSettings, metrics: Metrics | None = None) -> FastAPI:
    """The application for ``model``; its lifespan starts the batcher (and warms the model up) and drains it."""
    metrics = metrics or Metrics()
    limits = BatchLimits(settings.max_batch_tokens, settings.max_batch_size, settings.max_wait_ms, settings.max_queue)
    state = ServeState(model, settings, Batcher(model, limits, metrics), metrics, int(time.time()))
    state.url_policy = images.UrlPolicy.from_settings(settings)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        state.image_pool = ThreadPoolExecutor(images.IMAGE_WORKERS, thread_name_prefix="sbert-image")
        await state.batcher.start()
        try:
            yield
        finally:
            await state.batcher.stop()
            state.image_pool.shutdown(wait=False, cancel_futures=True)
            state.image_pool = None

    app = FastAPI(title="sbert", version=__sbert_version__, lifespan=lifespan, docs_url=None, redoc_url=None)
    app.state.sbert = state
    app.include_router(router)
    app.add_exception_handler(ApiError, _api_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(HTTPException, _http_error)
    app.add_middleware(Guard, state=state)
    return app


# ---------------------------------------------------------------------------------------------------------- routes
router = APIRouter()


def _state(request: Request) -> ServeState:
    return request.app.state.sbert


@router.post("/v1/embeddings")
async def embeddings(body: EmbeddingsRequest, request: Request) -> Response:
    """OpenAI's embeddings: float lists, or base64 of little-endian float32."""
    state = _state(request)
    state.check_model(body.model)
    texts = [body.input] if isinstance(body.input, str) else body.input
    encoded = await state.encode(texts, "input", dimensions=body.dimensions)
    if body.encoding_format == "base64":
        rows: list[Any] = [base64.b64encode(row.astype("<f4").tobytes()).decode("ascii") for row in encoded.embeddings]
    else:
        rows = encoded.embeddings.tolist()
    payload = {
        "object": "list",
        "data": [{"object": "embedding", "index": index, "embedding": row} for index, row in enumerate(rows)],
        "model": state.name,
        "usage": {"prompt_tokens": encoded.tokens, "total_tokens": encoded.tokens},
    }
    return await _json(payload, encoded.embeddings.size)


@router.post("/embed")
async def embed(body: EmbedRequest, request: Request) -> Response:
    """text-embeddings-inference's /embed: a JSON array of embeddings."""
    texts = [body.inputs] if isinstance(body.inputs, str) else body.inputs
    encoded = await _state(request).encode(
        texts, "inputs", body.normalize, body.dimensions, body.prompt_name, body.truncate
    )
    return await _json(encoded.embeddings.tolist(), encoded.embeddings.size)


@router.post("/embed_sparse")
async def embed_sparse(body: EmbedSparseRequest, request: Request) -> Response:
    """text-embeddings-inference's /embed_sparse: for each input, its non-zero dimensions
    ``[{"index", "value"}, ...]``, indices ascending."""
    texts = [body.inputs] if isinstance(body.inputs, str) else body.inputs
    encoded = await _state(request).encode_sparse(texts, "inputs", body.prompt_name, body.truncate)
    rows = encoded.sparse
    assert rows is not None
    payload = [
        [{"index": index, "value": value} for index, value in zip(indices.tolist(), values.tolist(), strict=True)]
        for indices, values in rows
    ]
    return await _json(payload, 2 * rows.nnz)


@router.post("/embed_all")
async def embed_all(body: EmbedAllRequest, request: Request) -> Response:
    """text-embeddings-inference's /embed_all for a MultiVectorEncoder: for each input, its token vectors
    ``[[float, ...] per token]``, encoded as a document (``encode_document``, the default) or as a query
    (``"task": "query"``: ``encode_query``, with the query prompt, length and expansion)."""
    texts = [body.inputs] if isinstance(body.inputs, str) else body.inputs
    encoded = await _state(request).encode_tokens(texts, "inputs", body.task, body.prompt_name, body.truncate)
    return await _json([row.tolist() for row in encoded.rows], encoded.floats)


@router.post("/similarity")
async def similarity(body: SimilarityRequest, request: Request) -> Response:
    """Scores of ``source`` against each target under the model's similarity function, on ``encode()``'s
    embeddings (normalized only when the model normalizes; a sparse model's sparse embeddings)."""
    state = _state(request)
    texts = [body.source, *body.targets]
    if state.kind == MULTI_VECTOR:  # the source as a query, the targets as documents
        encoded = await state.late_interaction(body.source, body.targets, "targets")
        scores = torch.from_numpy(encoded.scores)
    elif state.kind == SPARSE:
        encoded = await state.encode_sparse(texts, "targets", body.prompt_name)
        assert encoded.sparse is not None
        source, targets = encoded.sparse.select(0, 1).to_torch(), encoded.sparse.select(1, len(texts)).to_torch()
        scores = state.model.similarity(source, targets)
        scores = (scores.to_dense() if scores.layout != torch.strided else scores)[0]
    else:
        encoded = await state.encode(texts, "targets", False, prompt_name=body.prompt_name)
        vectors = torch.from_numpy(encoded.embeddings)
        scores = state.model.similarity(vectors[:1], vectors[1:])[0]
    payload = {
        "scores": scores.tolist(),
        "similarity_fn_name": state.model.similarity_fn_name,
        "model": state.name,
        "usage": {"prompt_tokens": encoded.tokens, "total_tokens": encoded.tokens},
    }
    return await _json(payload)


@router.post("/rerank")
async def rerank(body: RerankRequest, request: Request) -> Response:
    """text-embeddings-inference's /rerank: ``[{"index", "score"[, "text"]}]``, best first."""
    scored = await _state(request).rerank(body.query, body.texts, "texts", body.raw_scores, body.truncate)
    ranking = []
    for index in best_first(scored.scores):
        hit: dict[str, Any] = {"index": index, "score": float(scored.scores[index])}
        if body.return_text:
            hit["text"] = body.texts[index]
        ranking.append(hit)
    return await _json(ranking)


@router.post("/v1/rerank")
async def rerank_v1(body: CohereRerankRequest, request: Request) -> Response:
    """Cohere's and Jina's rerank: ``{"results": [{"index", "relevance_score"[, "document"]}], "usage"}``, best first
    (the ``top_n`` best), scores with the model's activation."""
    state = _state(request)
    state.check_model(body.model)
    documents = body.texts()
    scored = await state.rerank(body.query, documents, "documents")
    results = []
    for index in best_first(scored.scores)[: body.top_n]:
        hit: dict[str, Any] = {"index": index, "relevance_score": float(scored.scores[index])}
        if body.return_documents:
            hit["document"] = {"text": documents[index]}
        results.append(hit)
    payload = {"model": state.name, "results": results, "usage": {"total_tokens": scored.tokens}}
    return await _json(payload)


@router.get("/health")
async def health(request: Request) -> Response:
    """200 once the model has answered and while the worker runs; 503 otherwise."""
    if not _state(request).batcher.alive:
        raise ApiError(503, "the model is not ready", "overloaded_error", "not_ready")
    return await _json({"status": "ok"})


@router.get("/v1/models")
async def models(request: Request) -> Response:
    """The one served model, in OpenAI's list shape."""
    state = _state(request)
    model = {
        "id": state.name,
        "object": "model",
        "created": state.created,
        "owned_by": "sbert",
        "model_type": state.model_type,
    }
    return await _json({"object": "list", "data": [model]})


@router.get("/info")
async def info(request: Request) -> Response:
    """The model, its shape and how it runs, and the server's limits."""
    state, settings = _state(request), _state(request).settings
    model = state.model
    limits = ("max_batch_tokens", "max_batch_size", "max_wait_ms", "max_inputs", "max_input_chars", "max_queue",
              "max_images", "max_image_bytes", "max_image_pixels", "image_timeout")  # fmt: skip
    payload = {
        "model": state.name,
        "model_path": settings.model,
        "model_type": state.model_type,
        "dimension": state.dimension,
        "max_seq_length": model.max_seq_length,
        "backend": model.get_backend(),
        "dtype": str(model.dtype).removeprefix("torch.") if model.dtype is not None else None,
        "device": str(model.device),
        "modalities": list(getattr(model, "modalities", None) or ["text"]),
        **_model_info(state),
        "prompt_name": settings.prompt_name,
        "prompts": sorted(model.prompts),
        "limits": {name: getattr(settings, name) for name in limits},
        "image_urls": list(settings.image_url_allow) or settings.image_urls,  # off, any, or the hosts allowed
        "auth": settings.api_key is not None,
        "version": __sbert_version__,
    }
    return await _json(payload)


def _model_info(state: ServeState) -> dict[str, Any]:
    if state.kind == RERANKER:
        return _reranker_info(state.model)
    if state.kind == SPARSE:
        return _sparse_info(state.model)
    if state.kind == MULTI_VECTOR:
        return _multi_vector_info(state.model)
    return _embedding_info(state)


def _multi_vector_info(model: Any) -> dict[str, Any]:
    from sentence_transformers.serve.multi_vector import role_length

    return {
        "similarity_fn_name": model.similarity_fn_name,
        "multi_vector": True,
        "tasks": [QUERY, DOCUMENT],
        "query_length": role_length(model, QUERY),
        "document_length": role_length(model, DOCUMENT),
    }


def _sparse_info(model: Any) -> dict[str, Any]:
    return {"similarity_fn_name": model.similarity_fn_name, "sparse": True, "max_active_dims": model.max_active_dims}


def _embedding_info(state: ServeState) -> dict[str, Any]:
    return {
        "similarity_fn_name": state.model.similarity_fn_name,
        "normalize": state.settings.normalize,
        "model_normalizes": state.model_normalizes,
    }


def _reranker_info(model: Any) -> dict[str, Any]:
    activation = model.activation_fn
    return {"num_labels": model.num_labels, "activation_fn": None if activation is None else fullname(activation)}


@router.get("/metrics")
async def metrics(request: Request) -> Response:
    """Prometheus text format."""
    body, content_type = _state(request).metrics.render()
    return Response(body, media_type=content_type)


def _dumps(payload: Any) -> bytes:
    return json.dumps(payload, separators=(",", ":")).encode()


async def _json(payload: Any, floats: int = 0) -> Response:
    """A JSON response, serialized on a thread when large (a 2048-text float response takes a while)."""
    body = await asyncio.to_thread(_dumps, payload) if floats > LARGE_RESPONSE else _dumps(payload)
    return Response(body, media_type="application/json")


# ---------------------------------------------------------------------------------------------------------- errors
async def _api_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, ApiError)
    return exc.response()


async def _validation_error(request: Request, exc: Exception) -> Response:
    """422 naming each bad field: ``input: must not be an empty list``."""
    assert isinstance(exc, RequestValidationError)
    content_type = request.headers.get("content-type", "application/json").split(";")[0].strip().lower()
    if not content_type.endswith("json"):
        message = f"body: send JSON with 'Content-Type: application/json' (got {content_type!r})"
        return ApiError(422, message, "invalid_request_error", "invalid_value").response()
    problems = []
    for error in exc.errors():
        if error.get("type") == "json_invalid":
            problems.append(f"body: invalid JSON ({error.get('ctx', {}).get('error', 'cannot be parsed')})")
            continue
        location = [str(part) for part in error.get("loc", ()) if part != "body"] or ["body"]
        problems.append(f"{'.'.join(location)}: {error.get('msg', 'invalid')}")
    return ApiError(422, "; ".join(problems), "invalid_request_error", "invalid_value").response()


async def _http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    codes = {404: "not_found", 405: "method_not_allowed"}
    message = f"{request.method} {request.url.path}: {exc.detail}"
    kind = "not_found_error" if exc.status_code == 404 else "invalid_request_error"
    return ApiError(exc.status_code, message, kind, codes.get(exc.status_code, "http_error"), exc.headers).response()


class Guard:
    """The outermost layer: counts and times every request, and refuses a missing or wrong API key (401) and a
    body larger than the limits allow (413) before the body is read."""

    def __init__(self, app: ASGIApp, state: ServeState) -> None:
        self.app, self.state = app, state

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started, status = time.perf_counter(), 500

        async def send_and_note(message: dict[str, Any]) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            refusal = self._refusal(scope)
            target: Callable[[Scope, Receive, Send], Awaitable[None]] = refusal or self.app
            await target(scope, receive, send_and_note)
        finally:
            route = scope["path"] if scope["path"] in ROUTES else "other"
            self.state.metrics.observe_request(route, status, time.perf_counter() - started)

    def _refusal(self, scope: Scope) -> Response | None:
        headers, settings = Headers(scope=scope), self.state.settings
        if settings.api_key is not None and scope["path"] != "/health":
            scheme, _, given = headers.get("authorization", "").partition(" ")
            if scheme.lower() != "bearer" or not hmac.compare_digest(given.strip().encode(), settings.api_key.encode()):
                message = "missing or wrong API key: send 'Authorization: Bearer KEY'"
                headers_out = {"WWW-Authenticate": "Bearer"}
                return ApiError(401, message, "authentication_error", "invalid_api_key", headers_out).response()
        length = headers.get("content-length", "")
        if length.isdigit() and int(length) > settings.max_body_bytes:
            message = f"the request body has {length} bytes; this server reads at most {settings.max_body_bytes}"
            return ApiError(413, message, "invalid_request_error", "body_too_large").response()
        return None


def _placeholder() -> Any:
    """A 1×1 PIL image standing for an image not yet decoded, for the engine's modality check."""
    from PIL import Image

    return Image.new("RGB", (1, 1))
