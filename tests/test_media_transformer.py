"""The Transformer with a Hugging Face processor: images and audio through upstream 6.x's modality_config."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

pytest.importorskip("PIL")

sys.path.insert(0, str(Path(__file__).parent))
from media_models import build_tiny_ast, build_tiny_llava, build_tiny_vit  # noqa: E402
from sentence_transformers import SentenceTransformer  # noqa: E402
from sentence_transformers.base.modules import media  # noqa: E402
from sentence_transformers.base.modules.transformer import Transformer  # noqa: E402
from sentence_transformers.sentence_transformer.modules import CLIPModel, Pooling  # noqa: E402
from test_clip_model import TEXTS, build_tiny_clip, hf_embeddings, images  # noqa: E402

CLIP_CONFIG = {
    "text": {"method": "get_text_features", "method_output_name": "pooler_output"},
    "image": {"method": "get_image_features", "method_output_name": "pooler_output"},
}


@pytest.fixture(scope="module")
def clip_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_tiny_clip(tmp_path_factory.mktemp("media_clip"))


@pytest.fixture(scope="module")
def clip(clip_dir: Path) -> SentenceTransformer:
    return SentenceTransformer(str(clip_dir), device="cpu")


@pytest.fixture(scope="module")
def vit_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_tiny_vit(tmp_path_factory.mktemp("tiny_vit"))


@pytest.fixture(scope="module")
def ast_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_tiny_ast(tmp_path_factory.mktemp("tiny_ast"))


@pytest.fixture(scope="module")
def llava_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_tiny_llava(tmp_path_factory.mktemp("tiny_llava"))


def test_a_clip_folder_loads_as_one_transformer_with_both_towers(clip):
    assert len(clip) == 1 and isinstance(clip[0], Transformer)
    assert clip[0].modality_config == CLIP_CONFIG and clip[0].module_output_name == "sentence_embedding"
    assert clip.modalities == ["text", "image"] and clip[0].takes_media
    assert clip.get_sentence_embedding_dimension() == 16  # the projection, not a tower's width
    texts, pixels = hf_embeddings(Path(clip[0].auto_model.name_or_path), TEXTS, images())
    torch.testing.assert_close(clip.encode(TEXTS, convert_to_tensor=True), texts, atol=1e-5, rtol=0)
    torch.testing.assert_close(clip.encode(images(), convert_to_tensor=True), pixels, atol=1e-5, rtol=0)


def test_equals_the_clip_model_module_for_every_input_kind(clip, clip_dir, tmp_path):
    legacy = SentenceTransformer(modules=[CLIPModel(str(clip_dir))], device="cpu")
    pictures = [image.convert("RGB") for image in images()]
    for index, picture in enumerate(pictures):
        picture.save(tmp_path / f"{index}.png")
    files = [str(tmp_path / f"{index}.png") for index in range(len(pictures))]
    arrays = [np.asarray(picture) for picture in pictures]
    mixed = [TEXTS[0], pictures[0], files[1], TEXTS[1], arrays[2]]
    for batch in (TEXTS, pictures, files, arrays, mixed):
        ours = clip.encode(batch, convert_to_tensor=True)
        torch.testing.assert_close(ours, legacy.encode(batch, convert_to_tensor=True), atol=1e-5, rtol=0)
    one_by_one = torch.stack([clip.encode([item], convert_to_tensor=True)[0] for item in mixed])
    torch.testing.assert_close(clip.encode(mixed, convert_to_tensor=True), one_by_one, atol=1e-5, rtol=0)


def test_a_mixed_batch_keeps_each_modality_apart(clip):
    features = clip[0].preprocess(["a cat", images()[0], "blue"])
    assert features["modality"] == "mixed" and features["modality_rows"] == ["text", "image", "text"]
    assert features["text.input_ids"].shape[0] == 2 and features["image.pixel_values"].shape[0] == 1
    single = clip[0].preprocess(["a cat", "blue"])
    assert single["modality"] == "text" and "pixel_values" not in single


def test_saves_what_upstream_writes_and_loads_it_back(clip, tmp_path):
    clip.save(str(tmp_path / "saved"))
    config = json.loads((tmp_path / "saved" / "sentence_bert_config.json").read_text())
    assert config["modality_config"] == CLIP_CONFIG and config["module_output_name"] == "sentence_embedding"
    modules = json.loads((tmp_path / "saved" / "modules.json").read_text())
    assert [entry["type"] for entry in modules] == ["sentence_transformers.models.Transformer"]
    assert (tmp_path / "saved" / "processor_config.json").is_file()
    reloaded = SentenceTransformer(str(tmp_path / "saved"), device="cpu")
    batch = [TEXTS[0], images()[1]]
    torch.testing.assert_close(
        reloaded.encode(batch, convert_to_tensor=True), clip.encode(batch, convert_to_tensor=True), atol=0, rtol=0
    )


def test_loads_upstream_6x_layout(clip_dir, tmp_path):
    """The files upstream 6.2 writes for this pipeline: its own module path and no max_seq_length."""
    folder = tmp_path / "upstream"
    folder.mkdir()
    for item in clip_dir.iterdir():
        (folder / item.name).write_bytes(item.read_bytes())
    entry = {"idx": 0, "name": "0", "path": "", "type": "sentence_transformers.base.modules.transformer.Transformer"}
    (folder / "modules.json").write_text(json.dumps([entry]))
    config = {"transformer_task": "feature-extraction", "modality_config": CLIP_CONFIG}
    (folder / "sentence_bert_config.json").write_text(
        json.dumps({**config, "module_output_name": "sentence_embedding"})
    )
    model = SentenceTransformer(str(folder), device="cpu")
    assert model.modalities == ["text", "image"]
    texts, pixels = hf_embeddings(clip_dir, TEXTS[:2], images()[:2])
    torch.testing.assert_close(model.encode(TEXTS[:2], convert_to_tensor=True), texts, atol=1e-5, rtol=0)
    torch.testing.assert_close(model.encode(images()[:2], convert_to_tensor=True), pixels, atol=1e-5, rtol=0)


def test_prompts_go_to_texts_and_not_to_image_paths(clip, tmp_path):
    image = images()[0].convert("RGB")
    image.save(tmp_path / "cat.png")
    prompted = clip.encode(["a cat", str(tmp_path / "cat.png")], prompt="a photo of ", convert_to_tensor=True)
    torch.testing.assert_close(
        prompted[0], clip.encode(["a photo of a cat"], convert_to_tensor=True)[0], atol=1e-5, rtol=0
    )
    torch.testing.assert_close(prompted[1], clip.encode([image], convert_to_tensor=True)[0], atol=1e-5, rtol=0)


def test_an_image_only_model_reads_forward_and_pools(vit_dir):
    from transformers import ViTImageProcessor, ViTModel

    model = SentenceTransformer(str(vit_dir), device="cpu")
    assert isinstance(model[0], Transformer) and isinstance(model[1], Pooling)
    assert model[0].modality_config == {"image": {"method": "forward", "method_output_name": "last_hidden_state"}}
    assert model.modalities == ["image"]
    pictures = [image.convert("RGB") for image in images()[:2]]
    pixels = ViTImageProcessor.from_pretrained(vit_dir)(pictures, return_tensors="pt")["pixel_values"]
    with torch.no_grad():
        expected = ViTModel.from_pretrained(vit_dir).eval()(pixel_values=pixels).last_hidden_state.mean(dim=1)
    torch.testing.assert_close(model.encode(pictures, convert_to_tensor=True), expected, atol=1e-5, rtol=0)
    with pytest.raises(ValueError, match="text"):
        model.encode(["a sentence"])


def test_an_audio_model_takes_arrays_and_audio_dicts(ast_dir):
    from transformers import ASTFeatureExtractor, ASTModel

    model = SentenceTransformer(str(ast_dir), device="cpu")
    assert model.modalities == ["audio"]
    waves = [np.random.RandomState(seed).randn(length).astype(np.float32) for seed, length in ((0, 4000), (1, 2500))]
    extractor = ASTFeatureExtractor.from_pretrained(ast_dir)
    with torch.no_grad():
        hf = ASTModel.from_pretrained(ast_dir).eval()
        expected = [
            hf(**extractor(wave, sampling_rate=16000, return_tensors="pt")).last_hidden_state.mean(dim=1)[0]
            for wave in waves
        ]
    dicts = [{"array": wave, "sampling_rate": 16000} for wave in waves]
    for batch in (dicts, waves):
        torch.testing.assert_close(
            model.encode(batch, convert_to_tensor=True), torch.stack(expected), atol=1e-5, rtol=0
        )
    with pytest.raises(ValueError, match="image"):
        model.encode([images()[0]])


def test_inference_rules_and_bad_backends(clip_dir, vit_dir):
    from transformers import AutoProcessor, ViTModel
    from transformers import CLIPModel as HFCLIPModel

    processor = AutoProcessor.from_pretrained(clip_dir)
    assert media.processor_modalities(processor) == ["text", "image"]
    assert media.processor_modalities(processor.image_processor) == ["image"]
    assert media.processor_modalities(processor.tokenizer) == ["text"]
    hf_clip = HFCLIPModel.from_pretrained(clip_dir)
    default = ("last_hidden_state", "token_embeddings")
    assert media.infer_modality_config(hf_clip, processor, "feature-extraction", default) == (
        CLIP_CONFIG,
        "sentence_embedding",
    )
    vit = ViTModel.from_pretrained(vit_dir)
    vit_processor = AutoProcessor.from_pretrained(vit_dir)
    assert media.infer_modality_config(vit, vit_processor, "feature-extraction", default) == (
        {"image": {"method": "forward", "method_output_name": "last_hidden_state"}},
        "token_embeddings",
    )
    assert media.modality_key("image+text") == ("image", "text") and media.modality_key("text") == "text"
    with pytest.raises(NotImplementedError, match="backend='torch'"):
        Transformer(str(clip_dir), backend="onnx")


def test_missing_extras_are_named():
    assert "sbert[image]" in media.extra_hint("CLIPImageProcessor requires the PIL library")
    assert "sbert[audio]" in media.extra_hint("requires librosa")
    assert "sbert[video]" in media.extra_hint("requires torchvision")


def llava_reference(folder: Path, conversations: list) -> torch.Tensor:
    """Mean-pooled token states of conversations rendered by the processor's chat template, one at a time."""
    from transformers import AutoModel, AutoProcessor

    processor, model = AutoProcessor.from_pretrained(folder), AutoModel.from_pretrained(folder).eval()
    rows = []
    with torch.no_grad():
        for conversation in conversations:
            inputs = processor.apply_chat_template([conversation], tokenize=True, return_dict=True, return_tensors="pt")
            rows.append(model(**inputs).last_hidden_state[0].mean(dim=0))
    return torch.stack(rows)


def test_a_vision_language_model_renders_every_input_as_chat_messages(llava_dir):
    model = SentenceTransformer(str(llava_dir), device="cpu")
    config = model[0].modality_config
    assert list(config) == ["text", "image", "message"] and config["message"]["format"] == "structured"
    picture = images()[0].convert("RGB")

    def user(*content):
        return [{"role": "user", "content": list(content)}]

    text, image = {"type": "text", "text": "a photo of a cat"}, {"type": "image", "image": picture}
    question = {"type": "text", "text": "what is this"}
    cases = {
        "text": (["a photo of a cat"], [user(text)]),
        "image": ([picture], [user(image)]),
        "dict": ([{"text": "a photo of a cat", "image": picture}], [user(text, image)]),
        "message": ([user(image, question)], [user(image, question)]),
        "pair": ([("what is this", picture)], None),
    }
    for name, (inputs, conversations) in cases.items():
        ours = model.encode(inputs, convert_to_tensor=True)
        if conversations is None:  # a (text, image) pair: a query message and a document message
            conversations = [[{"role": "query", "content": [question]},
                              {"role": "document", "content": [image]}]]  # fmt: skip
        torch.testing.assert_close(ours, llava_reference(llava_dir, conversations), atol=1e-5, rtol=0, msg=name)
    system = [{"role": "system", "content": [{"type": "text", "text": "query"}]}, *user(text)]
    prompted = model.encode(["a photo of a cat"], prompt="query", convert_to_tensor=True)
    torch.testing.assert_close(prompted, llava_reference(llava_dir, [system]), atol=1e-5, rtol=0)
    mixed = ["a photo of a cat", picture, ("what is this", picture)]
    one_by_one = torch.cat([model.encode([item], convert_to_tensor=True) for item in mixed])
    torch.testing.assert_close(model.encode(mixed, convert_to_tensor=True), one_by_one, atol=1e-5, rtol=0)


def test_a_multimodal_dict_needs_a_model_that_combines_modalities(clip):
    with pytest.raises(ValueError, match="image"):
        clip.encode([{"text": "a cat", "image": images()[0]}])
