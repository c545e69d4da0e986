"""Settings of ``sbert serve``: command-line flags, each with an ``SBERT_*`` environment-variable fallback.

A flag given on the command line wins, then the environment variable, then the default. This module imports no
server library, so that ``sbert --help`` and ``sbert encode`` work without the ``serve`` extra.
"""

from __future__ import annotations

import argparse
import ipaddress
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, fields
from typing import Any

from sentence_transformers.cli.models import model_type_name

BACKENDS = ("torch", "onnx")
IMAGE_URLS = ("any", "off")
DTYPES = ("float32", "float16", "bfloat16")
_TRUE, _FALSE = ("1", "true", "yes", "on"), ("0", "false", "no", "off")


@dataclass(frozen=True)
class ServeSettings:
    """Everything the server needs to know, validated."""

    model: str
    model_type: str | None = None  # None: detected from the folder (cli.models)
    host: str = "127.0.0.1"
    port: int = 8000
    served_model_name: str | None = None
    backend: str = "torch"
    dtype: str | None = None  # None: as the model loads
    device: str | None = None
    max_batch_tokens: int = 16_384  # padded tokens per forward pass
    max_batch_size: int = 32  # texts per forward pass, as encode()'s batch_size
    max_wait_ms: float = 5.0  # how long the first request of a batch waits for company
    max_inputs: int = 2048  # texts per request
    max_input_chars: int = 32_768  # characters per text
    max_queue: int = 1024  # requests admitted and not yet answered
    max_images: int = 32  # images per request (a model that takes images)
    max_image_bytes: int = 10 * 1024 * 1024  # encoded bytes per image (decoded from base64, or fetched)
    max_image_pixels: int = 25_000_000  # width × height per image
    image_timeout: float = 10.0  # seconds to fetch an image URL
    image_urls: str = "any"  # fetch http(s) image URLs ("any": on, restricted by image_url_allow) or not ("off")
    image_url_allow: tuple[str, ...] = ()  # hosts image URLs may name (exact, or *.example.com); empty: any host
    api_key: str | None = None
    prompt_name: str | None = None
    normalize: bool = True

    def __post_init__(self) -> None:
        if not self.model:
            raise ValueError("sbert serve needs a model: pass --model PATH_OR_NAME or set SBERT_MODEL")
        if self.model_type is not None:
            object.__setattr__(self, "model_type", model_type_name(self.model_type))
        if self.backend not in BACKENDS:
            raise ValueError(f"--backend must be one of {', '.join(BACKENDS)}, got {self.backend!r}")
        if self.dtype is not None and self.dtype not in DTYPES:
            raise ValueError(f"--dtype must be one of {', '.join(DTYPES)}, got {self.dtype!r}")
        if not 0 <= self.port <= 65535:
            raise ValueError(f"--port must be between 0 and 65535, got {self.port}")
        for name in ("max_batch_tokens", "max_batch_size", "max_inputs", "max_input_chars", "max_queue", "max_images",
                     "max_image_bytes", "max_image_pixels"):  # fmt: skip
            if getattr(self, name) < 1:
                raise ValueError(f"--{name.replace('_', '-')} must be at least 1, got {getattr(self, name)}")
        if self.max_wait_ms < 0:
            raise ValueError(f"--max-wait-ms must not be negative, got {self.max_wait_ms}")
        if not self.image_timeout > 0:
            raise ValueError(f"--image-timeout must be positive, got {self.image_timeout}")
        self._check_image_urls()

    def _check_image_urls(self) -> None:
        """``image_urls`` one of IMAGE_URLS; the allow-list's hosts normalized (``host_pattern``), and only with
        image URLs on."""
        if self.image_urls not in IMAGE_URLS:
            raise ValueError(f"--image-urls must be one of {', '.join(IMAGE_URLS)}, got {self.image_urls!r}")
        hosts = (self.image_url_allow,) if isinstance(self.image_url_allow, str) else self.image_url_allow
        object.__setattr__(self, "image_url_allow", tuple(dict.fromkeys(host_pattern(host) for host in hosts)))
        if self.image_url_allow and self.image_urls == "off":
            raise ValueError("--image-url-allow lists hosts to fetch images from, but --image-urls is off; drop one")

    @property
    def model_name(self) -> str:
        """The name clients see: ``--served-model-name``, else the model's folder name or hub name."""
        if self.served_model_name:
            return self.served_model_name
        if os.path.isdir(self.model):
            return os.path.basename(os.path.normpath(self.model))
        return self.model

    @property
    def max_body_bytes(self) -> int:
        """Largest request body worth reading: every allowed text at its longest, JSON-escaped, or every allowed
        image at its largest as a base64 data URI, plus slack."""
        texts = self.max_inputs * (6 * self.max_input_chars + 8)
        images = self.max_images * (4 * (self.max_image_bytes // 3 + 1) + 256)
        return max(texts, images) + (1 << 16)

    @classmethod
    def from_args(cls, args: argparse.Namespace, environ: Mapping[str, str] | None = None) -> ServeSettings:
        """Settings from parsed flags, falling back to ``SBERT_<FLAG>`` environment variables, then defaults."""
        environ = os.environ if environ is None else environ
        values: dict[str, Any] = {}
        for field in fields(cls):
            given = getattr(args, field.name, None)
            if given is not None:
                values[field.name] = given
                continue
            variable = env_name(field.name)
            if environ.get(variable, "") != "":
                values[field.name] = _parse_env(variable, environ[variable], _PARSERS.get(field.name, str))
        values.setdefault("model", "")
        return cls(**values)


def env_name(field: str) -> str:
    """The environment variable of a setting: ``max_wait_ms`` → ``SBERT_MAX_WAIT_MS``."""
    return f"SBERT_{field.upper()}"


def host_pattern(value: str) -> str:
    """``value`` as an allow-list entry (lower case, no trailing dot, no brackets around an IPv6 address); a
    ValueError names what is accepted."""
    pattern = value.strip().lower().rstrip(".")
    if pattern.startswith("[") and pattern.endswith("]"):
        pattern = pattern[1:-1]
    name = pattern.removeprefix("*.")
    if not name or "*" in name or any(char in name for char in "/@?#, \t") or (":" in name and not _ipv6(name)):
        raise ValueError(
            f"--image-url-allow takes a host name or IP address (example.com, 10.0.0.5) or *.example.com for its "
            f"subdomains, without scheme, port or path; got {value!r}"
        )
    return pattern


def _ipv6(text: str) -> bool:
    try:
        ipaddress.IPv6Address(text)
    except ValueError:
        return False
    return True


def parse_hosts(value: str) -> tuple[str, ...]:
    """A comma- or space-separated list of hosts (``SBERT_IMAGE_URL_ALLOW``)."""
    return tuple(host for host in value.replace(",", " ").split() if host)


def parse_bool(value: str) -> bool:
    """true/false, yes/no, on/off or 1/0."""
    lowered = value.strip().lower()
    if lowered in _TRUE or lowered in _FALSE:
        return lowered in _TRUE
    raise ValueError(f"expected one of {', '.join(_TRUE + _FALSE)}, got {value!r}")


_PARSERS: dict[str, Callable[[str], Any]] = {
    "port": int,
    "max_batch_tokens": int,
    "max_batch_size": int,
    "max_wait_ms": float,
    "max_inputs": int,
    "max_input_chars": int,
    "max_queue": int,
    "max_images": int,
    "max_image_bytes": int,
    "max_image_pixels": int,
    "image_timeout": float,
    "image_url_allow": parse_hosts,
    "normalize": parse_bool,
}


def _parse_env(variable: str, value: str, parse: Callable[[str], Any]) -> Any:
    try:
        return parse(value)
    except ValueError as exc:
        raise ValueError(f"environment variable {variable}={value!r} is not valid: {exc}") from exc


_HELP = {
    "model": "model folder or hub name",
    "model_type": "SentenceTransformer (embeddings), SparseEncoder (sparse embeddings: /embed_sparse; also: sparse, "
    "splade), CrossEncoder (reranker; also: reranker, cross-encoder) or MultiVectorEncoder (ColBERT-style token "
    "vectors: /embed_all, MaxSim /rerank; also: multi-vector, late-interaction); default: detected from the folder",
    "host": "address to listen on; keep the loopback default unless a proxy or an --api-key guards the port",
    "port": "port to listen on",
    "served_model_name": "model name in requests and responses (default: the model's folder or hub name)",
    "backend": "torch, or onnx (ONNX Runtime)",
    "dtype": "float32, float16 or bfloat16 (torch backend; default: as the model loads)",
    "device": "cpu, cuda, cuda:1, mps, … (default: the best available)",
    "max_batch_tokens": "padded tokens per forward pass",
    "max_batch_size": "texts per forward pass (as encode()'s batch_size); raise it on a GPU",
    "max_wait_ms": "how long the first request of a batch may wait for others to join it",
    "max_inputs": "texts per request",
    "max_input_chars": "characters per text",
    "max_queue": "requests admitted and not yet answered; more are refused with 503",
    "max_images": "images per request (a model that takes images, e.g. CLIP); more are refused with 413",
    "max_image_bytes": "encoded bytes per image (base64-decoded data URI, or fetched URL); larger ones are refused "
    "with 413",
    "max_image_pixels": "pixels (width × height) per image; larger ones are refused with 413",
    "image_timeout": "seconds to fetch an image URL",
    "image_urls": "fetch http(s) image URLs (any) or refuse them with 403 (off); data:image URIs are always taken",
    "image_url_allow": "fetch image URLs from this host only: a host name or IP address, or *.example.com for its "
    "subdomains; repeat the flag for more hosts (env: separated by commas); others are refused with 403",
    "api_key": "require 'Authorization: Bearer KEY' on every route but /health",
    "prompt_name": "name of one of the model's prompts, prepended to every text",
    "normalize": "scale embeddings to unit length",
}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The ``serve`` flags; each defaults to None so that ``from_args`` can tell 'not given' from a value."""
    defaults = {field.name: field.default for field in fields(ServeSettings)}
    for name, help_text in _HELP.items():
        flag = f"--{name.replace('_', '-')}"
        default = defaults[name]
        suffix = f"env {env_name(name)}" + ("" if default is None or name == "model" else f", default {default}")
        kwargs: dict[str, Any] = {"default": None, "help": f"{help_text} ({suffix})"}
        if name == "normalize":
            kwargs["action"] = argparse.BooleanOptionalAction
        elif name == "image_url_allow":
            kwargs.update(action="append", metavar="HOST", help=f"{help_text} (env {env_name(name)})")
        elif name in ("backend", "dtype", "image_urls"):
            kwargs["choices"] = {"backend": BACKENDS, "dtype": DTYPES, "image_urls": IMAGE_URLS}[name]
        elif name in _PARSERS:
            kwargs["type"] = _PARSERS[name]
        parser.add_argument(*(["-m", flag] if name == "model" else [flag]), **kwargs)
