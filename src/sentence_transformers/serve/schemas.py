"""Request bodies: OpenAI's embeddings request, text-embeddings-inference's /embed, /embed_sparse, /embed_all and
/rerank, /similarity, and Cohere's (and Jina's) /v1/rerank."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field
from pydantic_core import PydanticCustomError


def _texts(value: Any) -> Any:
    """A string or a non-empty list of strings, with one clear message otherwise (not one per union branch)."""
    if isinstance(value, str):
        return value
    if not isinstance(value, list):
        raise PydanticCustomError("texts", "must be a string or a list of strings, got {kind}", _kind(value))
    if not value:
        raise PydanticCustomError("texts", "must not be an empty list")
    for position, item in enumerate(value):
        if not isinstance(item, str):
            message = "item {position} must be a string, got {kind} (token ids are not accepted)"
            raise PydanticCustomError("texts", message, {"position": position, **_kind(item)})
    return value


def _kind(value: Any) -> dict[str, str]:
    return {"kind": "null" if value is None else type(value).__name__}


Texts = Annotated[str | list[str], BeforeValidator(_texts)]


def _inputs(value: Any) -> Any:
    """Like ``_texts``, and objects too: a text or image item (``serve.images.parse_item`` reads them), alone or in
    the list."""
    if isinstance(value, dict):
        return [value]
    if isinstance(value, list):
        if not value:
            raise PydanticCustomError("texts", "must not be an empty list")
        for position, item in enumerate(value):
            if not isinstance(item, (str, dict)):
                message = ("item {position} must be a string or an object ({{'type': 'text', 'text': ...}}, "
                           "{{'type': 'image_url', 'image_url': {{'url': ...}}}}), got {kind} (token ids are not "
                           "accepted)")  # fmt: skip
                raise PydanticCustomError("texts", message, {"position": position, **_kind(item)})
        return value
    return _texts(value)


#: Texts and images: a string, or a list of strings and objects (see ``serve.images``).
Inputs = Annotated[str | list[str | dict[str, Any]], BeforeValidator(_inputs)]


class _Body(BaseModel):
    model_config = ConfigDict(extra="ignore")  # e.g. OpenAI's "user"


class EmbeddingsRequest(_Body):
    """``POST /v1/embeddings`` (OpenAI)."""

    input: Inputs
    model: str | None = None
    encoding_format: Literal["float", "base64"] = "float"
    dimensions: Annotated[int | None, Field(ge=1)] = None


class EmbedRequest(_Body):
    """``POST /embed`` (text-embeddings-inference)."""

    inputs: Inputs
    normalize: bool | None = None  # None: the server's --normalize
    truncate: bool = True
    prompt_name: str | None = None
    dimensions: Annotated[int | None, Field(ge=1)] = None


def _right(value: Any) -> Any:
    """``Right`` (either case): the only truncation direction served (a text keeps its first tokens)."""
    if isinstance(value, str) and value.lower() == "right":
        return "Right"
    raise PydanticCustomError("truncation_direction", "only 'Right' is supported (a text keeps its first tokens), "
                              "got {value!r}", {"value": value})  # fmt: skip


class EmbedSparseRequest(_Body):
    """``POST /embed_sparse`` (text-embeddings-inference): each text's non-zero dimensions."""

    inputs: Texts
    truncate: bool = True
    truncation_direction: Annotated[str, BeforeValidator(_right)] = "Right"
    prompt_name: str | None = None


class EmbedAllRequest(_Body):
    """``POST /embed_all`` (text-embeddings-inference) for a MultiVectorEncoder: each text's token vectors.

    TEI has no roles; ``task`` takes upstream's name (``encode(..., task=...)``): ``"document"`` (default, as
    ``encode_document``) or ``"query"`` (as ``encode_query``: the query prompt, length and expansion)."""

    inputs: Texts
    task: Literal["query", "document"] = "document"
    truncate: bool = True
    truncation_direction: Annotated[str, BeforeValidator(_right)] = "Right"
    prompt_name: str | None = None  # None: the role's prompt


class SimilarityRequest(_Body):
    """``POST /similarity``: one source text scored against target texts."""

    source: str
    targets: Annotated[list[str], Field(min_length=1)]
    prompt_name: str | None = None


class RerankRequest(_Body):
    """``POST /rerank`` (text-embeddings-inference): one query scored against each text."""

    query: str
    texts: Annotated[list[str], Field(min_length=1)]
    raw_scores: bool = False  # True: the logits, without the model's activation
    return_text: bool = False
    truncate: bool = True


def _documents(value: Any) -> Any:
    """A non-empty list of strings or ``{"text": ...}`` objects (Cohere's and Jina's two forms)."""
    if not isinstance(value, list):
        raise PydanticCustomError("documents", "must be a list of strings or {{'text': ...}} objects, got {kind}",
                                  _kind(value))  # fmt: skip
    if not value:
        raise PydanticCustomError("documents", "must not be an empty list")
    for position, item in enumerate(value):
        if isinstance(item, dict) and isinstance(item.get("text"), str):
            continue
        if not isinstance(item, str):
            message = "item {position} must be a string or an object with a string 'text', got {kind}"
            raise PydanticCustomError("documents", message, {"position": position, **_kind(item)})
    return value


class CohereRerankRequest(_Body):
    """``POST /v1/rerank`` (Cohere, Jina): one query scored against each document; the ``top_n`` best returned."""

    query: str
    documents: Annotated[list[str | dict[str, Any]], BeforeValidator(_documents)]
    model: str | None = None
    top_n: Annotated[int | None, Field(ge=1)] = None
    return_documents: bool = False

    def texts(self) -> list[str]:
        """The documents' texts."""
        return [item if isinstance(item, str) else item["text"] for item in self.documents]
