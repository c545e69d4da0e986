"""Training a CLIP model on (image, caption) pairs: MNRL and CachedMNRL on image columns, PIL and path columns,
the modality error of a text-only model, and evaluators with image anchors and corpus.

Expected values are computed by hand from ``model.encode``; scripts/compare_clip_training.py checks the same training
against upstream (step losses, eval losses, evaluator metrics and embeddings equal within 1e-5)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

pytest.importorskip("PIL")
datasets = pytest.importorskip("datasets")
from PIL import Image  # noqa: E402

from conftest import training_args  # noqa: E402
from sentence_transformers import SentenceTransformer, SentenceTransformerTrainer, losses  # noqa: E402
from sentence_transformers.sentence_transformer.data_collator import (  # noqa: E402
    SentenceTransformerDataCollator,
    split_features,
)
from sentence_transformers.sentence_transformer.evaluation import (  # noqa: E402
    InformationRetrievalEvaluator,
    TripletEvaluator,
)
from sentence_transformers.sentence_transformer.modules import CLIPModel  # noqa: E402
from test_clip_model import build_tiny_clip  # noqa: E402

COLORS = {"red": (220, 30, 30), "green": (30, 200, 40), "blue": (30, 40, 220)}
SHAPES = ["square", "cat", "dog", "table"]


def pairs(count: int) -> list[tuple[Image.Image, str]]:
    """Generated images (a coloured field with a noise block, heights 32–36) and captions like "a red square"."""
    found = []
    for index in range(count):
        color = list(COLORS)[index % 3]
        pixels = np.full((32 + index % 5, 32, 3), COLORS[color], dtype=np.uint8)
        pixels[4:20, 4:20] = np.random.RandomState(index).randint(0, 255, (16, 16, 3))
        found.append((Image.fromarray(pixels), f"a {color} {SHAPES[index % 4]}"))
    return found


def columns(count: int) -> tuple[list[Image.Image], list[str]]:
    """The images and the captions of ``pairs(count)``, as two lists."""
    found = pairs(count)
    return [image for image, _ in found], [caption for _, caption in found]


@pytest.fixture(scope="module")
def clip_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_tiny_clip(tmp_path_factory.mktemp("tiny_clip_train"))


@pytest.fixture(scope="module")
def image_paths(tmp_path_factory: pytest.TempPathFactory) -> list[str]:
    """The images of ``pairs(16)`` as PNG files."""
    folder = tmp_path_factory.mktemp("caption_images")
    paths = []
    for index, (image, _) in enumerate(pairs(16)):
        image.save(folder / f"image_{index}.png")
        paths.append(str(folder / f"image_{index}.png"))
    return paths


def clip(clip_dir: Path) -> SentenceTransformer:
    return SentenceTransformer(modules=[CLIPModel(str(clip_dir))], device="cpu")


def batch_loss(model: SentenceTransformer, loss: torch.nn.Module, images: list, captions: list[str]) -> torch.Tensor:
    """The loss of one (image, caption) batch collated as the trainer collates it."""
    collator = SentenceTransformerDataCollator(preprocess_fn=model.preprocess)
    batch = collator([{"image": image, "caption": caption} for image, caption in zip(images, captions, strict=True)])
    features, labels = split_features(batch)
    return loss(features, labels)


def test_mnrl_on_images_is_cross_entropy_over_scaled_cosines(clip_dir: Path) -> None:
    model = clip(clip_dir).eval()
    images, captions = columns(8)
    loss = losses.MultipleNegativesRankingLoss(model)
    with torch.no_grad():
        value = batch_loss(model, loss, images, captions)
    image_emb = model.encode(images, convert_to_tensor=True)
    caption_emb = model.encode(captions, convert_to_tensor=True)
    scores = torch.nn.functional.normalize(image_emb, dim=1) @ torch.nn.functional.normalize(caption_emb, dim=1).T
    expected = torch.nn.functional.cross_entropy(scores * 20.0, torch.arange(8))
    assert loss.scale == 20.0
    assert value.item() == pytest.approx(expected.item(), abs=1e-5)
    assert value.item() != pytest.approx(np.log(8), abs=1e-3)  # not a degenerate (all-equal) similarity matrix


def test_cached_mnrl_matches_mnrl_on_images(clip_dir: Path) -> None:
    """Same loss and gradients, with the images and captions embedded in mini-batches of 3."""
    images, captions = columns(8)
    grads = []
    values = []
    for make in (
        lambda m: losses.MultipleNegativesRankingLoss(m),
        lambda m: losses.CachedMultipleNegativesRankingLoss(m, mini_batch_size=3),
    ):
        model = clip(clip_dir)
        value = batch_loss(model, make(model), images, captions)
        value.backward()
        values.append(value.item())
        grads.append(torch.cat([p.grad.flatten() for p in model.parameters() if p.grad is not None]))
    assert values[1] == pytest.approx(values[0], abs=1e-5)
    assert grads[0].abs().sum() > 0 and grads[0].shape == grads[1].shape
    assert torch.allclose(grads[0], grads[1], atol=1e-5)


def test_one_training_step_reduces_the_loss(clip_dir: Path, tmp_path: Path) -> None:
    model = clip(clip_dir)
    images, captions = columns(8)
    loss = losses.MultipleNegativesRankingLoss(model)
    with torch.no_grad():
        before = batch_loss(model, loss, images, captions).item()
    dataset = datasets.Dataset.from_dict({"image": images, "caption": captions})
    args = training_args(tmp_path, max_steps=1, per_device_train_batch_size=8)
    SentenceTransformerTrainer(model=model, args=args, train_dataset=dataset, loss=loss).train()
    with torch.no_grad():
        after = batch_loss(model, loss, images, captions).item()
    assert after < before - 0.1


def test_pil_and_path_columns_train_alike(clip_dir: Path, image_paths: list[str], tmp_path: Path) -> None:
    """An image column of PIL images and one of PNG paths give the same step losses and the same trained model."""
    images, captions = columns(16)
    results = []
    for column in (images, image_paths):
        model = clip(clip_dir)
        dataset = datasets.Dataset.from_dict({"image": column, "caption": captions})
        args = training_args(tmp_path, num_train_epochs=1, per_device_train_batch_size=8, seed=12)
        trainer = SentenceTransformerTrainer(
            model=model, args=args, train_dataset=dataset, loss=losses.MultipleNegativesRankingLoss(model)
        )
        trainer.train()
        step_losses = [entry["loss"] for entry in trainer.state.log_history if "loss" in entry]
        results.append((step_losses, model.encode(images[:4]), model.encode(captions[:4])))
    (pil_losses, pil_images, pil_texts), (path_losses, path_images, path_texts) = results
    assert len(pil_losses) == 2
    assert path_losses == pytest.approx(pil_losses, abs=1e-6)
    np.testing.assert_allclose(path_images, pil_images, atol=1e-6)
    np.testing.assert_allclose(path_texts, pil_texts, atol=1e-6)


def test_text_only_model_rejects_an_image_column(tiny_model: SentenceTransformer, tmp_path: Path) -> None:
    images, captions = columns(4)
    dataset = datasets.Dataset.from_dict({"image": images, "caption": captions})
    args = training_args(tmp_path, max_steps=1)
    trainer = SentenceTransformerTrainer(
        model=tiny_model, args=args, train_dataset=dataset, loss=losses.MultipleNegativesRankingLoss(tiny_model)
    )
    with pytest.raises(ValueError, match=r"Modality 'image' is not supported.*\['text'\].*column 'image'"):
        trainer.train()


def test_text_only_collator_takes_text_columns(tiny_model: SentenceTransformer) -> None:
    """The modality check leaves text columns (and image-like file names, which are texts to a text model) alone."""
    collator = SentenceTransformerDataCollator(preprocess_fn=tiny_model.preprocess)
    batch = collator([{"anchor": "a cat sleeps", "positive": "photo.png"}, {"anchor": "b", "positive": "c"}])
    assert batch["anchor_input_ids"].shape[0] == 2 and batch["positive_input_ids"].shape[0] == 2


def test_evaluators_with_image_anchors_and_corpus(clip_dir: Path, image_paths: list[str]) -> None:
    """InformationRetrievalEvaluator (caption queries, image-file corpus) and TripletEvaluator (PIL anchors)
    against metrics computed by hand from ``model.encode``."""
    model = clip(clip_dir)
    images, captions = columns(16)
    relevant = {f"q{i}": {f"d{j}" for j in range(16) if captions[j] == captions[i]} for i in range(6)}
    ir = InformationRetrievalEvaluator(
        queries={f"q{i}": captions[i] for i in range(6)},
        corpus={f"d{i}": image_paths[i] for i in range(16)},
        relevant_docs=relevant,
        name="ir",
        show_progress_bar=False,
    )
    scores = ir(model)
    query_emb = model.encode(captions[:6], normalize_embeddings=True)
    doc_emb = model.encode(images, normalize_embeddings=True)
    ranks = np.argsort(-(query_emb @ doc_emb.T), axis=1, kind="stable")
    hits = [[f"d{j}" in relevant[f"q{i}"] for j in ranks[i]] for i in range(6)]
    accuracy_at_1 = np.mean([row[0] for row in hits])
    mrr_at_10 = np.mean([next((1 / (k + 1) for k, hit in enumerate(row[:10]) if hit), 0.0) for row in hits])
    assert scores["ir_cosine_accuracy@1"] == pytest.approx(accuracy_at_1, abs=1e-6)
    assert scores["ir_cosine_mrr@10"] == pytest.approx(mrr_at_10, abs=1e-6)

    triplet = TripletEvaluator(anchors=images[:8], positives=captions[:8], negatives=captions[1:9], name="tr")
    anchor = model.encode(images[:8], normalize_embeddings=True)
    positive = model.encode(captions[:8], normalize_embeddings=True)
    negative = model.encode(captions[1:9], normalize_embeddings=True)
    expected = np.mean((anchor * positive).sum(1) > (anchor * negative).sum(1))
    assert triplet(model)["tr_cosine_accuracy"] == pytest.approx(expected, abs=1e-6)


def test_model_card_describes_image_columns_as_upstream(clip_dir: Path, image_paths: list[str]) -> None:
    """PIL columns get their sizes (width x height), path columns the image modality without reading the files."""
    from datasets import Dataset

    model = clip(clip_dir)
    images, captions = columns(5)  # heights 32..36, width 32
    dataset = Dataset.from_dict({"image": images, "path": image_paths[:5], "caption": captions})
    stats = model.model_card_data._column_stats
    assert stats(dataset, "image", None) == {
        "dtype": "image",
        "modality": "image",
        "data": {"min": "32x32 px", "mean": "32x34 px", "max": "32x36 px"},
    }
    assert stats(dataset, "path", None) == {"dtype": "string", "modality": "image", "data": {}}
    assert stats(dataset, "caption", None)["modality"] == "text"
    waves = [{"array": np.zeros(length, dtype=np.float32), "sampling_rate": 16000} for length in (8000, 16000)]
    audio = model.model_card_data._column_stats(Dataset.from_dict({"audio": waves}), "audio", None)
    assert audio == {
        "dtype": "audio",
        "modality": "audio",
        "data": {"min": "0.50s", "mean": "0.75s", "max": "1.00s", "sampling_rate": "16000 Hz"},
    }
