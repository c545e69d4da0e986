"""``sbert serve`` with images: a tiny offline CLIP in-process (Starlette's TestClient runs the app's lifespan, so the
batcher is the real one), data-URI and object-form images on /v1/embeddings and /embed, mixed with texts, the image
limits, and a text-only model's 400. No network: the only URL is an unreachable loopback port."""

from __future__ import annotations

import base64
import io
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
from sentence_transformers.serve.app import create_app  # noqa: E402
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
