"""``sbert serve`` with images: a tiny offline CLIP in-process (Starlette's TestClient runs the app's lifespan, so the
batcher is the real one), data-URI and object-form images on /v1/embeddings and /embed, mixed with texts, the image
limits, and a text-only model's 400; image URLs from a local http.server thread on 127.0.0.1 (the URL policy,
redirects, parallel fetching). No other network: the other URLs are an unreachable loopback port or refused before
any fetch."""

from __future__ import annotations

import base64
import contextlib
import http.server
import io
import threading
import urllib.parse
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("PIL")
pytest.importorskip("httpx")
pytest.importorskip("fastapi")
pytest.importorskip("prometheus_client")

from fastapi.testclient import TestClient  # noqa: E402
from PIL import Image  # noqa: E402

from sentence_transformers import SentenceTransformer  # noqa: E402
from sentence_transformers.cli import build_parser  # noqa: E402
from sentence_transformers.serve.app import create_app  # noqa: E402
from sentence_transformers.serve.images import UrlPolicy  # noqa: E402
from sentence_transformers.serve.settings import ServeSettings  # noqa: E402
from test_clip_model import build_tiny_clip  # noqa: E402

TEXTS = ["a photo of a cat", "a red square", "the dog is on the table"]
MAX_IMAGE_BYTES = 4096


def pictures() -> list[Image.Image]:
    noise = np.random.RandomState(0).randint(0, 255, (21, 17, 3)).astype(np.uint8)
    return [
        Image.new("RGB", (40, 50), (200, 30, 60)),
        Image.fromarray(noise),
        Image.new("RGB", (32, 32), (10, 220, 40)),
    ]


def data_uri(image: Image.Image, kind: str = "PNG") -> str:
    buffer = io.BytesIO()
    image.save(buffer, format=kind)
    return f"data:image/{kind.lower()};base64," + base64.b64encode(buffer.getvalue()).decode("ascii")


def assert_error(response, status: int, code: str, fragment: str) -> dict:
    assert response.status_code == status, response.text
    error = response.json()["error"]
    assert set(error) == {"message", "type", "code"}
    assert error["code"] == code, error
    assert fragment in error["message"], error
    return error


@pytest.fixture(scope="module")
def clip(tmp_path_factory: pytest.TempPathFactory) -> SentenceTransformer:
    from sentence_transformers.sentence_transformer.modules import CLIPModel

    folder = build_tiny_clip(tmp_path_factory.mktemp("serve_clip"))
    return SentenceTransformer(modules=[CLIPModel(str(folder))], device="cpu")


@pytest.fixture(scope="module")
def app(clip: SentenceTransformer):
    settings = ServeSettings(
        model="clip", served_model_name="clip", device="cpu", max_inputs=6, max_images=3,
        max_image_bytes=MAX_IMAGE_BYTES, max_image_pixels=60 * 60, image_timeout=2.0, max_batch_size=4,
    )  # fmt: skip
    with TestClient(create_app(clip, settings)) as client:
        yield client


@pytest.fixture(scope="module")
def text_app(tiny_bert_dir: Path):
    model = SentenceTransformer(str(tiny_bert_dir), device="cpu")
    with TestClient(create_app(model, ServeSettings(model="tiny", device="cpu"))) as client:
        yield client


def embeddings(app: TestClient, items, **extra) -> tuple[np.ndarray, dict]:
    response = app.post("/v1/embeddings", json={"input": items, **extra})
    assert response.status_code == 200, response.text
    body = response.json()
    assert [row["index"] for row in body["data"]] == list(range(len(body["data"])))
    return np.array([row["embedding"] for row in body["data"]]), body


def test_data_uri_images_equal_encode(app, clip):
    images = pictures()
    got, body = embeddings(app, [data_uri(image) for image in images])
    expected = clip.encode(images, normalize_embeddings=True)
    np.testing.assert_allclose(got, expected, atol=1e-6)
    assert body["usage"] == {"prompt_tokens": 0, "total_tokens": 0}  # an image counts 0 tokens


def test_single_data_uri_and_base64_format(app, clip):
    image = pictures()[0]
    response = app.post("/v1/embeddings", json={"input": data_uri(image), "encoding_format": "base64"})
    assert response.status_code == 200, response.text
    row = np.frombuffer(base64.b64decode(response.json()["data"][0]["embedding"]), dtype="<f4")
    np.testing.assert_allclose(row, clip.encode([image], normalize_embeddings=True)[0], atol=1e-6)


def test_mixed_texts_and_images_keep_their_order(app, clip):
    images = pictures()
    items = [TEXTS[0], data_uri(images[0]), TEXTS[1], data_uri(images[1]), data_uri(images[2]), TEXTS[2]]
    got, body = embeddings(app, items)
    inputs = [TEXTS[0], images[0], TEXTS[1], images[1], images[2], TEXTS[2]]
    np.testing.assert_allclose(got, clip.encode(inputs, normalize_embeddings=True), atol=1e-6)
    text_only, text_body = embeddings(app, TEXTS)
    np.testing.assert_allclose(got[[0, 2, 5]], text_only, atol=1e-6)
    assert body["usage"]["prompt_tokens"] == text_body["usage"]["prompt_tokens"] > 0  # the texts' tokens only


def test_object_forms(app, clip):
    images = pictures()
    items = [
        {"type": "image_url", "image_url": {"url": data_uri(images[0])}},
        {"type": "text", "text": TEXTS[0]},
        {"image": data_uri(images[1], "JPEG")},
        {"text": TEXTS[1]},
        {"type": "image_url", "image_url": data_uri(images[2])},
    ]
    got, _ = embeddings(app, items)
    jpeg = Image.open(io.BytesIO(base64.b64decode(data_uri(images[1], "JPEG").split(",", 1)[1]))).convert("RGB")
    inputs = [images[0], TEXTS[0], jpeg, TEXTS[1], images[2]]
    np.testing.assert_allclose(got, clip.encode(inputs, normalize_embeddings=True), atol=1e-6)


def test_embed_route_takes_images(app, clip):
    images = pictures()
    body = {"inputs": [data_uri(images[0]), {"type": "image_url", "image_url": {"url": data_uri(images[1])}}, "a cat"],
            "normalize": False}  # fmt: skip
    response = app.post("/embed", json=body)
    assert response.status_code == 200, response.text
    expected = clip.encode([images[0], images[1], "a cat"])
    np.testing.assert_allclose(np.array(response.json()), expected, atol=1e-6)


def test_concurrent_image_and_text_requests_share_the_batcher(app, clip):
    import concurrent.futures

    images = pictures()
    requests = [[data_uri(images[i % 3]), TEXTS[i % 3]] for i in range(6)]
    with concurrent.futures.ThreadPoolExecutor(6) as pool:
        answers = list(pool.map(lambda items: embeddings(app, items)[0], requests))
    for i, got in enumerate(answers):
        expected = clip.encode([images[i % 3], TEXTS[i % 3]], normalize_embeddings=True)
        np.testing.assert_allclose(got, expected, atol=1e-6)


def test_info_lists_the_image_limits(app):
    info = app.get("/info").json()
    assert info["limits"]["max_images"] == 3 and info["limits"]["max_image_bytes"] == MAX_IMAGE_BYTES
    assert info["modalities"] == ["text", "image"]


def large_png() -> str:
    noise = np.random.RandomState(1).randint(0, 255, (50, 50, 3)).astype(np.uint8)  # incompressible: > 4 KB
    return data_uri(Image.fromarray(noise))


@pytest.mark.parametrize(
    "items, status, code, fragment",
    [
        ([data_uri(Image.new("RGB", (8, 8)))] * 4, 413, "too_many_images", "--max-images"),
        (["a"] * 7, 413, "too_many_inputs", "--max-inputs"),
        ([large_png()], 413, "image_too_large", "--max-image-bytes"),
        ([data_uri(Image.new("RGB", (61, 60)))], 413, "image_too_large", "--max-image-pixels"),
        (["data:image/png;base64,not base64!"], 422, "invalid_image", "base64"),
        (["data:image/png;base64," + base64.b64encode(b"not an image").decode()], 422, "invalid_image", "readable"),
        ([{"type": "image_url", "image_url": {"url": "file:///etc/passwd"}}], 422, "invalid_value", "http(s) URL"),
        ([{"type": "audio", "audio": "x"}], 422, "invalid_value", "item 0"),
        (["/tmp/cat.png"], 422, "invalid_value", "local image path"),
        (["http://127.0.0.1:9/x.png"], 422, "image_fetch_failed", "could not fetch"),
        ([{"image": "http://127.0.0.1:9/picture"}], 422, "image_fetch_failed", "127.0.0.1:9"),
    ],
)
def test_image_errors(app, items, status, code, fragment):
    assert_error(app.post("/v1/embeddings", json={"input": items}), status, code, fragment)


def test_token_ids_are_still_refused(app):
    response = app.post("/v1/embeddings", json={"input": [[1, 2, 3]]})
    assert response.status_code == 422 and "token ids" in response.text


def test_errors_do_not_disturb_the_server(app, clip):
    assert app.post("/v1/embeddings", json={"input": [large_png()]}).status_code == 413
    got, _ = embeddings(app, [data_uri(pictures()[0])])
    np.testing.assert_allclose(got, clip.encode(pictures()[:1], normalize_embeddings=True), atol=1e-6)


def test_text_only_model_answers_400(text_app):
    image = data_uri(Image.new("RGB", (8, 8), (1, 2, 3)))
    for route, body in [
        ("/v1/embeddings", {"input": ["a text", image]}),
        ("/v1/embeddings", {"input": [{"type": "image_url", "image_url": {"url": image}}]}),
        ("/v1/embeddings", {"input": [{"type": "image_url", "image_url": {"url": "http://127.0.0.1:9/x.png"}}]}),
        ("/embed", {"inputs": [{"image": image}]}),
    ]:
        error = assert_error(text_app.post(route, json=body), 400, "unsupported_modality", "image input")
        assert "model.modalities" in error["message"]
    # for a text model, a string URL is a text; text objects are texts
    response = text_app.post("/v1/embeddings", json={"input": ["http://127.0.0.1:9/x.png", {"text": "a text"}]})
    assert response.status_code == 200, response.text


# ------------------------------------------------------------------------------------------------ image URLs
class ImageHost:
    """A local http.server thread on 127.0.0.1: ``/img/N.png`` serves picture N; ``/together/N.png`` too, once three
    such requests are in flight at the same time (else 500); ``/redirect?to=URL`` answers 302 to URL. ``paths`` lists
    the requests it got."""

    def __init__(self) -> None:
        self.pngs = [png_bytes(image) for image in pictures()]
        self.paths: list[str] = []
        self.together = threading.Barrier(3, timeout=10)
        host = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 - http.server's name
                host.paths.append(self.path)
                url = urllib.parse.urlsplit(self.path)
                if url.path == "/redirect":
                    self.send_response(302)
                    self.send_header("Location", urllib.parse.parse_qs(url.query)["to"][0])
                    self.end_headers()
                    return
                kind, _, name = url.path.strip("/").partition("/")
                if kind == "together":
                    try:
                        host.together.wait()
                    except threading.BrokenBarrierError:
                        self.send_error(500, "the images were not fetched in parallel")
                        return
                body = host.pngs[int(name.removesuffix(".png"))]
                self.send_response(200)
                self.send_header("Content-Type", "image/png")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args) -> None:
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def image(self, index: int, kind: str = "img") -> str:
        return f"{self.url}/{kind}/{index}.png"


def png_bytes(image: Image.Image) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()


@pytest.fixture(scope="module")
def image_host() -> Iterator[ImageHost]:
    host = ImageHost()
    host.thread.start()
    yield host
    host.server.shutdown()
    host.server.server_close()


@contextlib.contextmanager
def serving(clip: SentenceTransformer, **overrides) -> Iterator[TestClient]:
    settings = ServeSettings(model="clip", device="cpu", max_image_pixels=60 * 60, image_timeout=20.0, **overrides)
    with TestClient(create_app(clip, settings)) as client:
        yield client


def test_url_images_are_fetched_in_parallel_and_keep_their_order(clip, image_host):
    # each /together/ image is served only once all three requests are in flight: one at a time would fail
    items = [image_host.image(2, "together"), "a cat", {"image": image_host.image(0, "together")},
             {"type": "image_url", "image_url": {"url": image_host.image(1, "together")}}]  # fmt: skip
    with serving(clip) as client:
        got, _ = embeddings(client, items)
    images = pictures()
    expected = clip.encode([images[2], "a cat", images[0], images[1]], normalize_embeddings=True)
    np.testing.assert_allclose(got, expected, atol=1e-6)


def test_the_first_bad_image_by_position_is_answered(clip, image_host):
    items = [image_host.image(0), "data:image/png;base64,bad!", "http://127.0.0.1:9/x.png"]
    with serving(clip) as client:
        assert_error(client.post("/v1/embeddings", json={"input": items}), 422, "invalid_image", "item 1")


def test_image_urls_off_refuses_urls_before_fetching_and_takes_data_uris(clip, image_host):
    before = len(image_host.paths)
    with serving(clip, image_urls="off") as client:
        url_object = {"type": "image_url", "image_url": {"url": image_host.image(2)}}
        for item in [image_host.image(0), {"image": image_host.image(1)}, url_object]:
            body = {"input": ["a cat", item]}
            error = assert_error(client.post("/v1/embeddings", json=body), 403, "image_url_not_allowed", "item 1")
            assert "--image-urls off" in error["message"] and "data:image" in error["message"]
        assert_error(client.post("/embed", json={"inputs": [image_host.image(0)]}), 403, "image_url_not_allowed",
                     "--image-urls off")  # fmt: skip
        got, _ = embeddings(client, [data_uri(pictures()[0])])
        assert client.get("/info").json()["image_urls"] == "off"
    assert len(image_host.paths) == before  # nothing was fetched
    np.testing.assert_allclose(got, clip.encode(pictures()[:1], normalize_embeddings=True), atol=1e-6)


def test_allow_list_fetches_listed_hosts_only(clip, image_host):
    with serving(clip, image_url_allow=("127.0.0.1",)) as client:
        got, _ = embeddings(client, [image_host.image(1), data_uri(pictures()[0])])
        assert client.get("/info").json()["image_urls"] == ["127.0.0.1"]
    np.testing.assert_allclose(got, clip.encode(pictures()[1::-1], normalize_embeddings=True), atol=1e-6)
    before = len(image_host.paths)
    with serving(clip, image_url_allow=("*.example.com", "example.org")) as client:
        response = client.post("/v1/embeddings", json={"input": [data_uri(pictures()[0]), image_host.image(0)]})
        error = assert_error(response, 403, "image_url_not_allowed", "--image-url-allow")
        assert "'127.0.0.1'" in error["message"] and "*.example.com, example.org" in error["message"]
        got, _ = embeddings(client, [data_uri(pictures()[2])])  # data URIs always go
    assert len(image_host.paths) == before


def test_redirects_are_checked_against_the_allow_list(clip, image_host):
    port = image_host.server.server_address[1]
    elsewhere = f"http://localhost:{port}/img/0.png"  # the same server under a name not on the list
    redirect = f"{image_host.url}/redirect?to={urllib.parse.quote(elsewhere)}&x=.png"
    with serving(clip, image_url_allow=("127.0.0.1",)) as client:
        error = assert_error(client.post("/v1/embeddings", json={"input": [{"image": redirect}]}), 403,
                             "image_url_not_allowed", "'localhost'")  # fmt: skip
        assert "--image-url-allow" in error["message"]
    assert not any(path.startswith("/img/0.png") for path in image_host.paths[-1:])
    with serving(clip) as client:  # any host: the redirect is followed
        got, _ = embeddings(client, [{"image": redirect}])
    np.testing.assert_allclose(got, clip.encode(pictures()[:1], normalize_embeddings=True), atol=1e-6)


@pytest.mark.parametrize(
    "hosts, url, allowed",
    [
        ((), "http://anything.test/x.png", True),
        (("example.com",), "https://EXAMPLE.com./x.png", True),
        (("example.com",), "http://example.com:8080/x.png", True),
        (("example.com",), "http://a.example.com/x.png", False),
        (("example.com",), "http://example.com.evil.test/x.png", False),
        (("example.com",), "http://example.com@evil.test/x.png", False),
        (("*.example.com",), "http://cdn.a.example.com/x.png", True),
        (("*.example.com",), "http://example.com/x.png", False),
        (("*.example.com",), "http://badexample.com/x.png", False),
        (("[::1]",), "http://[::1]:8000/x.png", True),
        (("10.0.0.5", "*.Example.COM"), "http://img.example.com/x.png", True),
    ],
)
def test_url_policy_hosts(hosts, url, allowed):
    assert UrlPolicy(True, hosts).allows(url) is allowed
    assert UrlPolicy(False, ()).allows(url) is False


def serve_args(*argv: str):
    return build_parser().parse_args(["serve", "-m", "m", *argv])


def test_image_url_settings_from_flags_and_environment():
    settings = ServeSettings.from_args(serve_args("--image-url-allow", "A.com", "--image-url-allow", "*.b.org."), {})
    assert (settings.image_urls, settings.image_url_allow) == ("any", ("a.com", "*.b.org"))
    settings = ServeSettings.from_args(serve_args(), {"SBERT_IMAGE_URL_ALLOW": "a.com, *.b.org  c.net"})
    assert settings.image_url_allow == ("a.com", "*.b.org", "c.net")
    settings = ServeSettings.from_args(serve_args("--image-urls", "off"), {"SBERT_IMAGE_URLS": "any"})
    assert (settings.image_urls, settings.image_url_allow) == ("off", ())
    assert ServeSettings.from_args(serve_args(), {}).image_urls == "any"  # the default fetches any URL
    with pytest.raises(SystemExit):
        serve_args("--image-urls", "some")


@pytest.mark.parametrize(
    "argv, environ, message",
    [
        ((), {"SBERT_IMAGE_URLS": "maybe"}, "--image-urls must be one of any, off"),
        (("--image-url-allow", "http://a.com/"), {}, "--image-url-allow takes a host"),
        (("--image-url-allow", "a.com:8080"), {}, "without scheme, port or path"),
        (("--image-url-allow", "localhost:8080"), {}, "without scheme, port or path"),
        (("--image-url-allow", "a.*.com"), {}, "--image-url-allow"),
        (("--image-url-allow", "*."), {}, "--image-url-allow"),
        (("--image-urls", "off", "--image-url-allow", "a.com"), {}, "--image-urls is off"),
    ],
)
def test_bad_image_url_settings_name_the_flag(argv, environ, message):
    with pytest.raises(ValueError, match=message):
        ServeSettings.from_args(serve_args(*argv), environ)
