"""``sbert encode --images`` and ``sbert index build --images`` + ``sbert search``: image files embedded by a tiny CLIP
model (built offline as tests/test_clip_model.py builds it), outputs equal to ``model.encode(paths)``, text queries
ranked against images, and the one-line errors."""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pytest

PIL = pytest.importorskip("PIL")
from PIL import Image  # noqa: E402

from sentence_transformers import SentenceTransformer  # noqa: E402
from sentence_transformers.cli import main  # noqa: E402
from sentence_transformers.sentence_transformer.modules import CLIPModel  # noqa: E402
from test_clip_model import build_tiny_clip  # noqa: E402

QUERIES = ["a photo of a cat", "a red square", "the dog is on the table"]


@pytest.fixture(scope="module")
def work(tmp_path_factory: pytest.TempPathFactory, tiny_bert_dir: Path) -> Path:
    """The saved tiny CLIP model (``clip``), a text-only model (``text-model``), and a folder of generated images
    (``photos``: PNGs of several sizes, a JPEG and a GIF in a subfolder, plus files that are not images)."""
    folder = tmp_path_factory.mktemp("cli_images")
    clip_dir = build_tiny_clip(folder / "hf-clip")
    SentenceTransformer(modules=[CLIPModel(str(clip_dir))], device="cpu").save(str(folder / "clip"))
    SentenceTransformer(str(tiny_bert_dir), device="cpu").save(str(folder / "text-model"))
    photos = folder / "photos"
    (photos / "sub").mkdir(parents=True)
    (photos / ".hidden").mkdir()
    rng = np.random.RandomState(0)
    for index, (width, height) in enumerate([(40, 50), (32, 32), (64, 32), (45, 37)]):
        noise = rng.randint(0, 255, (height, width, 3)).astype(np.uint8)
        Image.fromarray(noise).save(photos / f"img{index}.png")
    Image.new("RGB", (36, 36), (200, 30, 60)).save(photos / "sub" / "red.JPG", format="JPEG")
    Image.new("L", (33, 40), 90).save(photos / "sub" / "grey.gif")
    Image.new("RGB", (32, 32), (0, 0, 255)).save(photos / ".hidden" / "skipped.png")
    Image.new("RGB", (32, 32), (0, 255, 0)).save(photos / ".skipped.png")
    (photos / "notes.txt").write_text("not an image\n")
    return folder


@pytest.fixture(scope="module")
def clip(work: Path) -> SentenceTransformer:
    return SentenceTransformer(str(work / "clip"), device="cpu")


def folder_paths(work: Path) -> list[str]:
    """The images ``--images work/photos`` finds: recursive, hidden names skipped, sorted."""
    photos = str(work / "photos")
    names = ["img0.png", "img1.png", "img2.png", "img3.png", "sub/grey.gif", "sub/red.JPG"]
    return sorted(os.path.join(photos, *name.split("/")) for name in names)


def encode(work: Path, *options: str) -> int:
    return main(["encode", "-m", str(work / "clip"), "--device", "cpu", "--quiet", *options])


def test_folder_to_npy_equals_model_encode(work, clip, tmp_path):
    out = tmp_path / "photos.npy"
    assert encode(work, "--images", str(work / "photos"), "-o", str(out)) == 0
    expected = clip.encode(folder_paths(work))
    got = np.load(out)
    assert got.shape == (6, 16)
    np.testing.assert_allclose(got, expected, atol=1e-5)


def test_folder_to_jsonl_and_parquet_name_the_paths(work, clip, tmp_path, capsys):
    paths = folder_paths(work)
    expected = clip.encode(paths, normalize_embeddings=True)
    assert encode(work, "--images", str(work / "photos"), "--normalize") == 0
    rows = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [row["image"] for row in rows] == paths and all("text" not in row for row in rows)
    np.testing.assert_allclose(np.array([row["embedding"] for row in rows]), expected, atol=1e-5)

    pq = pytest.importorskip("pyarrow.parquet")
    out = tmp_path / "photos.parquet"
    assert encode(work, "--images", str(work / "photos"), "--normalize", "-o", str(out)) == 0
    table = pq.read_table(out)
    assert table.column_names == ["image", "embedding"]
    assert table.column("image").to_pylist() == paths
    np.testing.assert_allclose(np.array(table.column("embedding").to_pylist()), expected, atol=1e-5)


def test_list_file_keeps_its_order(work, clip, tmp_path, capsys):
    paths = list(reversed(folder_paths(work)))[:3]
    listing = tmp_path / "images.txt"
    listing.write_text("\n".join(paths) + "\n\n")
    assert encode(work, "--images", str(listing)) == 0
    rows = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [row["image"] for row in rows] == paths
    np.testing.assert_allclose(np.array([row["embedding"] for row in rows]), clip.encode(paths), atol=1e-5)

    jsonl = tmp_path / "images.jsonl"
    jsonl.write_text("".join(json.dumps({"path": path}) + "\n" for path in paths))
    out = tmp_path / "listed.npy"
    assert encode(work, "--images", str(jsonl), "--column", "path", "-o", str(out)) == 0
    np.testing.assert_allclose(np.load(out), clip.encode(paths), atol=1e-5)


def error_line(capsys) -> str:
    """The one error line on stderr (index build, which has no --quiet, may log model loading before it)."""
    err = capsys.readouterr().err.strip()
    errors = [line for line in err.splitlines() if line.startswith("sbert")]
    assert len(errors) == 1 and errors[0] == err.splitlines()[-1] and "Traceback" not in err
    return errors[0]


def test_text_only_model_names_the_modality(work, tmp_path, capsys):
    out = tmp_path / "x.npy"
    args = ["encode", "--images", str(work / "photos"), "-m", str(work / "text-model"), "-o", str(out), "--quiet"]
    assert main(args) == 1
    err = error_line(capsys)
    assert err.startswith("sbert: error: --images:") and "embeds text only, not image inputs" in err
    assert not out.exists() and not list(tmp_path.iterdir())  # no staged file left behind


def test_missing_and_empty_sources_are_one_line_errors(work, tmp_path, capsys):
    assert encode(work, "--images", str(tmp_path / "nowhere")) == 1
    assert "no such folder or list file" in error_line(capsys)
    empty = tmp_path / "empty"
    (empty / "sub").mkdir(parents=True)
    (empty / "readme.txt").write_text("no images here\n")
    assert encode(work, "--images", str(empty)) == 1
    assert "no image files" in error_line(capsys)
    listing = tmp_path / "list.txt"
    listing.write_text(f"{work / 'photos' / 'img0.png'}\n{tmp_path / 'gone.png'}\n")
    assert encode(work, "--images", str(listing)) == 1
    err = error_line(capsys)
    assert "gone.png" in err and "not found" in err
    listing.write_text(f"{work / 'photos' / 'notes.txt'}\n")
    assert encode(work, "--images", str(listing)) == 1
    assert "is not an image file" in error_line(capsys)
    listing.write_text("\n\n")
    assert encode(work, "--images", str(listing)) == 1
    assert "holds no image paths" in error_line(capsys)


def test_usage_errors(work, tmp_path, capsys):
    texts = tmp_path / "texts.txt"
    texts.write_text("a\n")
    assert encode(work, str(texts), "--images", str(work / "photos")) == 2
    assert "not both" in error_line(capsys)
    assert encode(work, "--images", str(work / "photos"), "--prompt", "a photo of ") == 2
    assert "apply to texts" in error_line(capsys)
    assert encode(work, "--images", str(work / "photos"), "--column", "path") == 1
    assert "--column applies to a list file" in error_line(capsys)


# ------------------------------------------------------------------------------------------------ index + search
def build(work: Path, output: Path, *options: str) -> int:
    return main(["index", "build", "-o", str(output), "-m", str(work / "clip"), "--device", "cpu", "--no-progress",
                 *options])  # fmt: skip


def test_index_of_images_and_text_search(work, clip, tmp_path, capsys):
    index = tmp_path / "photo-index"
    assert build(work, index, "--images", str(work / "photos"), "--engine", "exact") == 0
    capsys.readouterr()
    manifest = json.loads((index / "manifest.json").read_text())
    assert manifest["modality"] == "image" and manifest["count"] == 6 and manifest["similarity"] == "cosine"
    paths = [os.path.abspath(path) for path in folder_paths(work)]
    stored = [json.loads(line)["text"] for line in (index / "texts.jsonl").read_text().splitlines()]
    assert stored == paths

    image_embeddings = clip.encode(paths, normalize_embeddings=True)
    np.testing.assert_allclose(np.load(index / "embeddings.npy"), image_embeddings, atol=1e-5)
    for query in QUERIES:
        assert main(["search", str(index), query, "-k", "6", "--jsonl", "--device", "cpu"]) == 0
        hits = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
        query_embedding = clip.encode(query, normalize_embeddings=True)
        scores = image_embeddings @ query_embedding
        order = np.argsort(-scores, kind="stable")
        assert [hit["image"] for hit in hits] == [paths[i] for i in order]
        assert [hit["id"] for hit in hits] == order.tolist()
        np.testing.assert_allclose([hit["score"] for hit in hits], scores[order], atol=1e-5)

    assert main(["search", str(index), QUERIES[0], "-k", "2", "--device", "cpu"]) == 0
    table = capsys.readouterr().out.splitlines()
    assert table[1].split()[-1] == "image" and table[2].endswith(paths[int(order_of(clip, paths, QUERIES[0])[0])])


def order_of(clip: SentenceTransformer, paths: list[str], query: str) -> np.ndarray:
    scores = clip.encode(paths, normalize_embeddings=True) @ clip.encode(query, normalize_embeddings=True)
    return np.argsort(-scores, kind="stable")


def test_index_build_errors(work, tmp_path, capsys):
    args = ["index", "build", "-o", str(tmp_path / "idx"), "--no-progress"]
    assert main([*args, "-m", str(work / "text-model"), "--images", str(work / "photos")]) == 1
    assert "embeds text only, not image inputs" in error_line(capsys)
    assert not (tmp_path / "idx").exists()
    assert main([*args, "-m", str(work / "clip"), "--images", str(tmp_path / "nowhere")]) == 1
    assert "no such folder or list file" in error_line(capsys)
    assert main([*args, "-m", str(work / "clip")]) == 2
    assert "CORPUS file of texts or --images" in error_line(capsys)
