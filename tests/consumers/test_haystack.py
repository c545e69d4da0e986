"""Haystack's SentenceTransformersTextEmbedder / SentenceTransformersDocumentEmbedder on sbert. In haystack-ai 2.x
they are in haystack.components.embedders; from 3.0 in the sentence-transformers-haystack integration package."""

from __future__ import annotations

import importlib.util

import numpy as np
import pytest

haystack = pytest.importorskip("haystack")
IMPORT_ERROR: ImportError | None = None
if importlib.util.find_spec("haystack_integrations.components.embedders.sentence_transformers") is not None:
    # haystack-ai 3: the integration package. An sbert gap it hits fails every test here (not a skip).
    try:
        from haystack_integrations.components.embedders.sentence_transformers import (
            SentenceTransformersDocumentEmbedder,
            SentenceTransformersTextEmbedder,
        )
    except ImportError as error:
        IMPORT_ERROR = error
else:
    embedders = pytest.importorskip("haystack.components.embedders")
    if not hasattr(embedders, "SentenceTransformersTextEmbedder"):
        pytest.skip("haystack-ai 3 without sentence-transformers-haystack", allow_module_level=True)
    SentenceTransformersTextEmbedder = embedders.SentenceTransformersTextEmbedder
    SentenceTransformersDocumentEmbedder = embedders.SentenceTransformersDocumentEmbedder


@pytest.fixture(autouse=True)
def _importable() -> None:
    if IMPORT_ERROR is not None:
        pytest.fail(f"sentence-transformers-haystack cannot be imported on sbert: {IMPORT_ERROR}")


def device():
    from haystack.utils import ComponentDevice

    return ComponentDevice.from_str("cpu")


def test_text_embedder_is_sbert_encode(model_path, reference, texts):
    embedder = SentenceTransformersTextEmbedder(model=model_path, device=device(), progress_bar=False)
    embedder.warm_up()
    got = np.array(embedder.run(text=texts[0])["embedding"])
    assert got.shape == (384,)
    np.testing.assert_allclose(got, reference(texts[:1])[0], atol=1e-5)


def test_text_embedder_prefix_and_normalize(model_path, reference):
    embedder = SentenceTransformersTextEmbedder(
        model=model_path, device=device(), prefix="query: ", normalize_embeddings=True, progress_bar=False
    )
    embedder.warm_up()
    got = np.array(embedder.run(text="a kitten naps")["embedding"])
    np.testing.assert_allclose(got, reference(["query: a kitten naps"], normalize=True)[0], atol=1e-5)


def test_text_embedder_binary_precision(model_path, reference):
    embedder = SentenceTransformersTextEmbedder(
        model=model_path, device=device(), precision="ubinary", progress_bar=False
    )
    embedder.warm_up()
    got = np.array(embedder.run(text="a kitten naps")["embedding"])
    # ubinary packs the sign bits of the 384 dimensions into 48 bytes, the first dimension the highest bit
    expected = np.packbits(reference(["a kitten naps"])[0] > 0)
    np.testing.assert_array_equal(got, expected)


def test_document_embedder_embeds_content_and_meta(model_path, reference, texts):
    from haystack import Document

    embedder = SentenceTransformersDocumentEmbedder(
        model=model_path, device=device(), meta_fields_to_embed=["topic"], progress_bar=False
    )
    embedder.warm_up()
    documents = [Document(content=text, meta={"topic": topic}) for text, topic in zip(texts, "abc", strict=True)]
    result = embedder.run(documents=documents)["documents"]
    got = np.array([document.embedding for document in result])
    assert got.shape == (3, 384)
    # the meta fields are joined before the content with a newline (embedding_separator's default)
    expected = reference([f"{topic}\n{text}" for text, topic in zip(texts, "abc", strict=True)])
    np.testing.assert_allclose(got, expected, atol=1e-5)
