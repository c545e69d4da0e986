"""Image inputs of the embedding routes (``/v1/embeddings``, ``/embed``), for a model that takes images (CLIP).

An input item is one of (the shapes OpenAI-compatible multimodal servers such as vLLM, Jina and infinity take):

- a string: a ``data:image/...;base64,...`` URI is an image (for any model: a text-only model answers 400); for a
  model that takes images an http(s) URL whose path ends in an image extension (.png, .jpg, …) is an image too;
  any other string is a text. A string the engine would read as a local image file (a path ending in .png, …) is
  refused (422): the server never reads its own files;
- ``{"type": "image_url", "image_url": {"url": URL}}`` (OpenAI's content part; ``"image_url": URL`` also goes) or
  ``{"image": URL}``: an image, URL a data URI or any http(s) URL;
- ``{"type": "text", "text": TEXT}`` or ``{"text": TEXT}``: a text.

Which image URLs the server fetches is its ``UrlPolicy``: any http(s) URL (``--image-urls any``, the default), only
those whose host is on ``--image-url-allow`` (exact hosts, or ``*.example.com`` for its subdomains; redirects are
checked too), or none (``--image-urls off``). Data URIs are always taken. A refused URL is a 403
``image_url_not_allowed`` naming the flag, answered before anything is fetched.

The images of a request are decoded (and URLs fetched, with ``--image-timeout``) in parallel on a small thread pool
(``IMAGE_WORKERS``), before the batcher, into RGB PIL images as ``encode()``'s image loading gives them, in the
request's order; each may have at most ``--max-image-bytes`` encoded bytes and ``--max-image-pixels`` pixels, a
request at most ``--max-images`` images (413 ``image_too_large`` / ``too_many_images``). They then share the
batcher's forward passes with the texts. An image counts 0 tokens in ``usage``.
"""

from __future__ import annotations

import base64
import binascii
import io
import os
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass
from typing import Any

from sentence_transformers.base import encoding
from sentence_transformers.serve.settings import ServeSettings, host_pattern

DATA_IMAGE = "data:image/"
#: Threads that decode (and fetch) the images of requests, shared by all requests.
IMAGE_WORKERS = min(8, (os.cpu_count() or 1) + 4)


@dataclass(frozen=True)
class ImageRef:
    """An image input of a request: a data URI or an http(s) URL, at ``position`` in the request."""

    source: str
    position: int


class ImageError(ValueError):
    """An image input the server refuses: ``status`` (413 or 422) and ``code`` for the answer."""

    def __init__(self, status: int, message: str, code: str) -> None:
        super().__init__(message)
        self.status, self.code = status, code


@dataclass(frozen=True)
class UrlPolicy:
    """Which image URLs the server fetches: none (``enabled`` False), any http(s) URL (no ``hosts``), or those whose
    host is one of ``hosts``: an exact host name or IP address, or ``*.example.com`` for any subdomain of
    example.com (not example.com itself). Host names compare without case and without a trailing dot."""

    enabled: bool = True
    hosts: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        object.__setattr__(self, "hosts", tuple(host_pattern(host) for host in self.hosts))

    @classmethod
    def from_settings(cls, settings: ServeSettings) -> UrlPolicy:
        """The policy of ``--image-urls`` and ``--image-url-allow``."""
        return cls(settings.image_urls != "off", settings.image_url_allow)

    def allows(self, url: str) -> bool:
        """Whether ``url``'s host may be fetched (the scheme is checked elsewhere)."""
        if not self.enabled:
            return False
        if not self.hosts:
            return True
        host = url_host(url)
        return bool(host) and any(host_matches(host, pattern) for pattern in self.hosts)

    def check(self, url: str, position: int) -> None:
        """Raise ImageError (403 ``image_url_not_allowed``, naming the flag) unless ``url`` may be fetched."""
        if self.allows(url):
            return
        if not self.enabled:
            message = (f"item {position}: this server does not fetch image URLs (--image-urls off); send the image "
                       "as a data:image/...;base64 URI")  # fmt: skip
        else:
            message = (f"item {position}: the host {url_host(url)!r} of {_shown(url)} is not on this server's "
                       f"allow-list (--image-url-allow: {', '.join(self.hosts)}); send the image as a "
                       "data:image/...;base64 URI")  # fmt: skip
        raise ImageError(403, message, "image_url_not_allowed")


def url_host(url: str) -> str:
    """The host of ``url``, lower case, without port, brackets or a trailing dot ("" when it has none)."""
    try:
        host = urllib.parse.urlsplit(url).hostname or ""
    except ValueError:
        return ""
    return host.rstrip(".")


def host_matches(host: str, pattern: str) -> bool:
    """Whether ``host`` is ``pattern`` (as ``settings.host_pattern`` writes it) or, for ``*.suffix``, a subdomain."""
    if pattern.startswith("*."):
        return host.endswith(pattern[1:])
    return host == pattern


def parse_item(item: Any, position: int, takes_images: bool) -> str | ImageRef:
    """One request item as a text or an ``ImageRef`` (see the module's docstring); ImageError (422) otherwise."""
    if isinstance(item, str):
        if item.startswith(DATA_IMAGE):
            return ImageRef(item, position)
        if takes_images and encoding.is_image_reference(item):
            if encoding.is_url(item):
                return ImageRef(item, position)
            raise ImageError(
                422,
                f"item {position} looks like a local image path ({_shown(item)}); this server does not read its own "
                "files: send the image as a data:image/...;base64 URI or an http(s) URL",
                "invalid_value",
            )
        return item
    if isinstance(item, dict):
        kind = item.get("type")
        if kind == "text" or (kind is None and "text" in item):
            if isinstance(item.get("text"), str):
                return item["text"]
        elif kind == "image_url" or (kind is None and "image" in item) or kind == "image":
            url = item.get("image_url") if kind == "image_url" else item.get("image", item.get("image_url"))
            if isinstance(url, dict):
                url = url.get("url")
            if isinstance(url, str) and (url.startswith("data:") or encoding.is_url(url)):
                return ImageRef(url, position)
            raise ImageError(422, f"item {position}: an image must be a data:image/...;base64 URI or an http(s) URL, "
                             f"got {_shown(url)}", "invalid_value")  # fmt: skip
    raise ImageError(
        422,
        f"item {position} must be a string, {{'type': 'text', 'text': ...}}, {{'type': 'image_url', 'image_url': "
        f"{{'url': ...}}}} or {{'image': ...}}, got {_shown(item)}",
        "invalid_value",
    )


def load(ref: ImageRef, max_bytes: int, max_pixels: int, timeout: float, policy: UrlPolicy | None = None) -> Any:
    """The RGB PIL image of ``ref`` (EXIF orientation applied, as ``encode()`` loads images), within the limits; a URL
    (and each redirect) must pass ``policy`` (default: any URL)."""
    from PIL import Image, ImageOps

    if encoding.is_url(ref.source):
        policy = policy or UrlPolicy()
        policy.check(ref.source, ref.position)
        data = _fetch(ref, max_bytes, timeout, policy)
    else:
        data = _decode(ref, max_bytes)
    if len(data) > max_bytes:
        raise _too_large(ref, f"{len(data)} bytes", max_bytes)
    try:
        with Image.open(io.BytesIO(data)) as image:
            width, height = image.size
            if width * height > max_pixels:
                raise ImageError(413, f"item {ref.position}: the image has {width}×{height} = {width * height} "
                                 f"pixels; this server takes at most {max_pixels} (--max-image-pixels)",
                                 "image_too_large")  # fmt: skip
            image.load()
            return ImageOps.exif_transpose(image).convert("RGB")
    except ImageError:
        raise
    except Exception as exc:  # noqa: BLE001 - any decoding error is the client's
        raise ImageError(422, f"item {ref.position}: not a readable image: {type(exc).__name__}: {exc}",
                         "invalid_image") from exc  # fmt: skip


def _decode(ref: ImageRef, max_bytes: int) -> bytes:
    header, comma, payload = ref.source.partition(",")
    if not comma or not header.startswith(DATA_IMAGE) or not header.endswith(";base64"):
        raise ImageError(422, f"item {ref.position}: a data URI must look like data:image/png;base64,..., got "
                         f"{_shown(ref.source)}", "invalid_image")  # fmt: skip
    if len(payload) * 3 // 4 > max_bytes + 3:  # refuse before decoding
        raise _too_large(ref, f"about {len(payload) * 3 // 4} bytes", max_bytes)
    try:
        return base64.b64decode(payload, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise ImageError(422, f"item {ref.position}: invalid base64 in the data URI: {exc}", "invalid_image") from exc


class _CheckedRedirects(urllib.request.HTTPRedirectHandler):
    """Follows a redirect only to an http(s) URL that ``policy`` allows."""

    def __init__(self, policy: UrlPolicy, position: int) -> None:
        self.policy, self.position = policy, position

    def redirect_request(self, req, fp, code, msg, headers, newurl):  # noqa: ANN001, ANN202 - urllib's signature
        if not encoding.is_url(newurl):
            raise ImageError(422, f"item {self.position}: the image URL redirects to {_shown(newurl)}, not an "
                             "http(s) URL", "image_fetch_failed")  # fmt: skip
        self.policy.check(newurl, self.position)
        return super().redirect_request(req, fp, code, msg, headers, newurl)


def _fetch(ref: ImageRef, max_bytes: int, timeout: float, policy: UrlPolicy) -> bytes:
    request = urllib.request.Request(ref.source, headers={"User-Agent": "sbert-serve"})
    opener = urllib.request.build_opener(_CheckedRedirects(policy, ref.position))
    try:
        with opener.open(request, timeout=timeout) as response:  # http(s) only (is_url), hosts checked (policy)
            length = response.headers.get("Content-Length", "")
            if length.isdigit() and int(length) > max_bytes:
                raise _too_large(ref, f"{length} bytes", max_bytes)
            return response.read(max_bytes + 1)
    except ImageError:
        raise
    except (urllib.error.URLError, OSError, ValueError) as exc:
        raise ImageError(422, f"item {ref.position}: could not fetch the image at {_shown(ref.source)}: {exc}",
                         "image_fetch_failed") from exc  # fmt: skip


def _too_large(ref: ImageRef, size: str, max_bytes: int) -> ImageError:
    return ImageError(413, f"item {ref.position}: the image has {size}; this server takes at most {max_bytes} bytes "
                      "per image (--max-image-bytes)", "image_too_large")  # fmt: skip


def _shown(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 80 else text[:80] + "…"
