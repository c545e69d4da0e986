"""The legacy CLIPModel module: texts and images in one space, mixed batches, persistence, modality errors.

A tiny CLIP (seeded CLIPConfig, 32×32 images in 8×8 patches, a BPE tokenizer over a few words) is built offline;
images are generated (PIL.Image.new, numpy)."""

from __future__ import annotations

import json
import os
import sys
import threading
from pathlib import Path

import numpy as np
import pytest
import torch

PIL = pytest.importorskip("PIL")
from PIL import Image  # noqa: E402
from transformers import CLIPImageProcessor, CLIPProcessor  # noqa: E402
from transformers import CLIPModel as HFCLIPModel  # noqa: E402

from sentence_transformers import SentenceTransformer  # noqa: E402
from sentence_transformers.base import images as images_module  # noqa: E402
from sentence_transformers.base import persistence  # noqa: E402
from sentence_transformers.sentence_transformer.modules import CLIPModel  # noqa: E402

sys.path.insert(0, str(Path(__file__).parent))
from media_models import build_tiny_clip  # noqa: E402

TEXTS = ["a photo of a cat", "a red square", "the dog is on the table", "blue", "a picture of a green dog on a table"]


def images() -> list[Image.Image]:
    """Generated images of different sizes and colours (one with noise, one greyscale)."""
    noise = np.random.RandomState(0).randint(0, 255, (45, 37, 3)).astype(np.uint8)
    return [
        Image.new("RGB", (40, 50), (200, 30, 60)),
        Image.fromarray(noise),
        Image.new("L", (64, 32), 128),
        Image.new("RGB", (32, 32), (10, 220, 40)),
    ]


@pytest.fixture(scope="module")
def clip_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_tiny_clip(tmp_path_factory.mktemp("tiny_clip"))


@pytest.fixture(scope="module")
def clip(clip_dir: Path) -> SentenceTransformer:
    return SentenceTransformer(modules=[CLIPModel(str(clip_dir))], device="cpu")


def hf_embeddings(folder: Path, texts: list[str], pictures: list[Image.Image]) -> tuple[torch.Tensor, torch.Tensor]:
    """Text and image features straight from the Hugging Face model and processor."""
    model = HFCLIPModel.from_pretrained(folder).eval()
    processor = CLIPProcessor.from_pretrained(folder)

    def pooled(output):
        return output if isinstance(output, torch.Tensor) else output.pooler_output

    with torch.no_grad():
        tokens = processor.tokenizer(texts, padding=True, truncation=True, return_tensors="pt")
        text = pooled(model.get_text_features(input_ids=tokens["input_ids"], attention_mask=tokens["attention_mask"]))
        pixels = processor.image_processor([p.convert("RGB") for p in pictures], return_tensors="pt")["pixel_values"]
        image = pooled(model.get_image_features(pixel_values=pixels))
    return text, image


def test_embeddings_equal_hugging_face_features(clip, clip_dir):
    text_expected, image_expected = hf_embeddings(clip_dir, TEXTS, images())
    text = clip.encode(TEXTS, convert_to_tensor=True)
    image = clip.encode(images(), convert_to_tensor=True)
    assert text.shape == (len(TEXTS), 16) and image.shape == (4, 16)
    torch.testing.assert_close(text, text_expected, atol=1e-5, rtol=0)
    torch.testing.assert_close(image, image_expected, atol=1e-5, rtol=0)
    assert clip.get_embedding_dimension() == 16
    single = clip.encode(images()[0])
    assert single.shape == (16,)
    np.testing.assert_allclose(single, image_expected[0].numpy(), atol=1e-5)


def test_arrays_tensors_and_files_equal_pil_images(clip, tmp_path):
    pictures = [image.convert("RGB") for image in images()]
    expected = clip.encode(pictures)
    arrays = [np.asarray(picture) for picture in pictures]
    np.testing.assert_allclose(clip.encode(arrays), expected, atol=1e-5)
    tensors = [torch.from_numpy(array.copy()).permute(2, 0, 1) for array in arrays]  # [C, H, W]
    np.testing.assert_allclose(clip.encode(tensors), expected, atol=1e-5)
    paths = []
    for index, picture in enumerate(pictures):
        paths.append(str(tmp_path / f"image_{index}.png"))
        picture.save(paths[-1])
    np.testing.assert_allclose(clip.encode(paths), expected, atol=1e-5)
    np.testing.assert_allclose(clip.encode(Path(paths[0]).as_posix()), expected[0], atol=1e-5)


def test_mixed_lists_keep_their_order(clip):
    pictures = images()
    mixed = [TEXTS[0], pictures[0], TEXTS[1], pictures[1], pictures[2], TEXTS[2], TEXTS[3], pictures[3]]
    texts = clip.encode([item for item in mixed if isinstance(item, str)])
    imgs = clip.encode([item for item in mixed if not isinstance(item, str)])
    expected = np.empty((len(mixed), 16), dtype=np.float32)
    expected[[isinstance(item, str) for item in mixed]] = texts
    expected[[not isinstance(item, str) for item in mixed]] = imgs
    for batch_size in (1, 3, 5, 32):  # 3 and 5 give a batch holding texts and images
        np.testing.assert_allclose(clip.encode(mixed, batch_size=batch_size), expected, atol=1e-5)
    rows = clip.encode(mixed, batch_size=3, output_value=None)
    assert [row["sentence_embedding"].shape for row in rows] == [(16,)] * len(mixed)


def test_preprocessing_runs_on_the_background_thread_and_images_sort_after_texts(clip, monkeypatch):
    calls = []
    original = CLIPModel.preprocess

    def spy(self, inputs, *args, **kwargs):
        calls.append((threading.current_thread().name, ["image" if not isinstance(i, str) else i for i in inputs]))
        return original(self, inputs, *args, **kwargs)

    monkeypatch.setattr(CLIPModel, "preprocess", spy)
    pictures = images()
    clip.encode([pictures[0], "blue", pictures[1], "a photo of a cat", pictures[2]], batch_size=2)
    assert {name for name, _ in calls} == {"sbert-encode-prefetch"}
    # texts first (longest first), then the images in input order
    assert [batch for _, batch in calls] == [["a photo of a cat", "blue"], ["image", "image"], ["image"]]


def test_prompt_goes_to_the_texts_only(clip):
    picture = images()[0]
    prompted = clip.encode([picture, "cat"], prompt="a photo of ")
    np.testing.assert_allclose(prompted, clip.encode([picture, "a photo of cat"]), atol=1e-5)


def test_long_texts_are_truncated_to_the_text_tower(clip):
    assert clip.max_seq_length == 16
    long_text = " ".join(["a photo of a cat"] * 20)
    assert clip.encode(long_text).shape == (16,)


def test_modalities(clip, tiny_model):
    assert clip.modalities == ["text", "image"]
    assert clip.supports("image") and clip.supports("text") and not clip.supports("audio")
    assert tiny_model.modalities == ["text"] and not tiny_model.supports("image")


def test_save_load_round_trip(clip, tmp_path):
    pictures = images()
    inputs = [*TEXTS, *pictures]
    expected = clip.encode(inputs)
    clip.save(str(tmp_path / "saved"))
    entries = json.loads((tmp_path / "saved" / "modules.json").read_text())
    assert entries == [{"idx": 0, "name": "0", "path": "", "type": "sentence_transformers.models.CLIPModel"}]
    config = json.loads((tmp_path / "saved" / "sentence_bert_config.json").read_text())
    assert config == {
        "transformer_task": "feature-extraction",
        "modality_config": {
            "text": {"method": "get_text_features", "method_output_name": "pooler_output"},
            "image": {"method": "get_image_features", "method_output_name": "pooler_output"},
        },
        "module_output_name": "sentence_embedding",
    }
    loaded = SentenceTransformer(str(tmp_path / "saved"), device="cpu")
    assert isinstance(loaded[0], CLIPModel)
    np.testing.assert_allclose(loaded.encode(inputs), expected, atol=1e-6)
    loaded.max_seq_length = 8  # a changed length is saved, and read back
    loaded.save(str(tmp_path / "short"))
    assert SentenceTransformer(str(tmp_path / "short"), device="cpu").max_seq_length == 8


def test_loads_a_2x_folder_without_module_config(clip, clip_dir, tmp_path):
    """2.x–5.x wrote the Hugging Face files and modules.json only (the processor's older preprocessor_config.json)."""
    folder = tmp_path / "legacy"
    folder.mkdir()
    for name in os.listdir(clip_dir):
        (folder / name).write_bytes((clip_dir / name).read_bytes())
    CLIPImageProcessor.from_pretrained(clip_dir).save_pretrained(folder)  # preprocessor_config.json
    (folder / "processor_config.json").unlink()
    entry = {"idx": 0, "name": "0", "path": "", "type": "sentence_transformers.models.CLIPModel"}
    (folder / "modules.json").write_text(json.dumps([entry]))
    loaded = SentenceTransformer(str(folder), device="cpu")
    inputs = [*TEXTS, *images()]
    np.testing.assert_allclose(loaded.encode(inputs), clip.encode(inputs), atol=1e-6)


def test_old_and_full_type_names_resolve_to_clip_model():
    from sentence_transformers.models import CLIPModel as old_path

    assert old_path is CLIPModel
    for name in (
        "sentence_transformers.models.CLIPModel",
        "sentence_transformers.sentence_transformer.modules.clip_model.CLIPModel",
    ):
        assert persistence.resolve_type(name, ".") is CLIPModel


def test_an_image_for_a_text_model_names_the_modality(tiny_model):
    with pytest.raises(ValueError, match=r"position 1 is an image input .*takes text only"):
        tiny_model.encode(["a text", images()[0]])
    with pytest.raises(ValueError, match="image input"):
        tiny_model.encode(np.zeros((8, 8, 3), dtype=np.uint8))
    # a string that looks like an image path is a text for a text model, as upstream
    assert tiny_model.encode("photo.jpg").shape == (tiny_model.get_embedding_dimension(),)


def test_unsupported_modality_for_clip_is_named(clip):
    with pytest.raises(ValueError, match="audio input"):
        clip.encode([{"array": np.zeros(16000), "sampling_rate": 16000}])


def test_missing_image_path_is_named(clip, tmp_path):
    missing = str(tmp_path / "nowhere" / "cat.png")
    with pytest.raises(FileNotFoundError, match="nowhere/cat.png"):
        clip.encode(["a photo of a cat", missing])
    # a text with spaces that ends like a file name stays a text
    assert clip.encode("my holiday photo.jpg").shape == (16,)


def test_unreachable_image_url_is_named(clip, monkeypatch):
    monkeypatch.setattr(images_module, "IMAGE_TIMEOUT", 2.0)
    url = "http://127.0.0.1:9/picture.png"
    with pytest.raises(ValueError, match=r"Could not fetch the image at 'http://127\.0\.0\.1:9/picture\.png'"):
        clip.encode([url])


def test_missing_pillow_names_the_extra(monkeypatch):
    monkeypatch.setitem(__import__("sys").modules, "PIL", None)
    with pytest.raises(ImportError, match=r"sbert\[image\]"):
        images_module.require_pillow()


def test_upstream_members(clip):
    module = clip[0]
    assert module.infer_modalities_from_processor(module.processor) == ["text", "image"]
    assert module.infer_modalities(module.model, module.processor) == (module.modality_config, "sentence_embedding")
    assert module.unpad_inputs is None and module.query_expansion is None
    assert clip.tokenizer is module.processor.tokenizer and clip.transformers_model is module.model


def fast_path_images() -> list[Image.Image]:
    """Noisy images of several sizes and modes: RGB, RGBA (composited onto white), L, P with transparency, tall and
    wide non-square ones, and one smaller than the crop (upscaled)."""
    rng = np.random.RandomState(1)

    def noise(height: int, width: int, channels: int) -> np.ndarray:
        return rng.randint(0, 256, (height, width, channels)).astype(np.uint8)

    palette = Image.fromarray(noise(30, 41, 3)).convert("P")
    palette.info["transparency"] = 3
    return [
        Image.fromarray(noise(300, 217, 3)),
        Image.fromarray(noise(97, 251, 3)),
        Image.fromarray(noise(64, 64, 4), "RGBA"),
        Image.fromarray(noise(123, 80, 1)[:, :, 0], "L"),
        Image.fromarray(noise(17, 25, 3)),
        palette,
    ]


@pytest.mark.parametrize(
    "settings",
    [
        {},
        {"size": {"shortest_edge": 224}, "crop_size": {"height": 224, "width": 224}},
        {"size": {"shortest_edge": 40}, "crop_size": {"height": 30, "width": 36}, "resample": 2},
        {"image_mean": [0.5, 0.25, 0.75], "image_std": [0.2, 0.3, 0.4], "rescale_factor": 1 / 127.5},
    ],
)
def test_fast_pixel_values_equal_the_image_processor(settings):
    processor = CLIPImageProcessor(**settings)
    pictures = fast_path_images()
    fast = images_module.fast_clip_pixels(processor, pictures)
    assert fast is not None and fast.dtype == torch.float32
    expected = processor(pictures, return_tensors="pt")["pixel_values"]
    assert fast.shape == expected.shape
    assert (fast - expected).abs().max().item() <= 1e-6


@pytest.mark.parametrize(
    "settings",
    [
        {"do_center_crop": False},
        {"do_normalize": False},
        {"do_rescale": False},
        {"do_resize": False},
        {"do_convert_rgb": False},
        {"size": {"height": 32, "width": 32}},
        {"size": {"shortest_edge": 20}, "crop_size": {"height": 32, "width": 32}},  # the crop pads
    ],
)
def test_non_standard_processor_settings_fall_back(settings, clip_dir, monkeypatch):
    processor = CLIPImageProcessor(**settings)
    assert images_module.fast_clip_pixels(processor, fast_path_images()) is None
    module = CLIPModel(str(clip_dir))
    module.processor.image_processor = processor
    called = []
    original = type(processor).__call__
    monkeypatch.setattr(type(processor), "__call__", lambda self, *a, **k: called.append(1) or original(self, *a, **k))
    module.preprocess([fast_path_images()[0]] * 2)  # one size: without a crop, sizes must agree
    assert called


def test_arrays_and_call_arguments_use_the_image_processor(clip, monkeypatch):
    module = clip[0]
    processor = module.image_processor
    assert images_module.fast_clip_pixels(processor, [np.zeros((8, 8, 3), dtype=np.uint8)]) is None
    calls = []
    original = type(processor).__call__
    monkeypatch.setattr(type(processor), "__call__", lambda self, *a, **k: calls.append(k) or original(self, *a, **k))
    pictures = images()
    fast = module.preprocess(pictures)["pixel_values"]
    assert not calls
    via_kwargs = module.preprocess(pictures, processing_kwargs={"image": {"do_normalize": True}})["pixel_values"]
    assert calls and (fast - via_kwargs).abs().max().item() <= 1e-6
