"""Request bodies: OpenAI's embeddings request, text-embeddings-inference's /embed, and /similarity."""

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


class _Body(BaseModel):
    model_config = ConfigDict(extra="ignore")  # e.g. OpenAI's "user"


class EmbeddingsRequest(_Body):
    """``POST /v1/embeddings`` (OpenAI)."""

    input: Texts
    model: str | None = None
    encoding_format: Literal["float", "base64"] = "float"
    dimensions: Annotated[int | None, Field(ge=1)] = None


class EmbedRequest(_Body):
    """``POST /embed`` (text-embeddings-inference)."""

    inputs: Texts
    normalize: bool | None = None  # None: the server's --normalize
    truncate: bool = True
    prompt_name: str | None = None
    dimensions: Annotated[int | None, Field(ge=1)] = None


class SimilarityRequest(_Body):
    """``POST /similarity``: one source text scored against target texts."""

    source: str
    targets: Annotated[list[str], Field(min_length=1)]
    prompt_name: str | None = None
