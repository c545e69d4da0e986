"""LlamaIndex's HuggingFaceEmbedding (llama-index-embeddings-huggingface) on sbert: it builds a SentenceTransformer
with "query"/"text" prompts and encodes with prompt_name and normalize_embeddings."""

from __future__ import annotations

import numpy as np
import pytest

huggingface = pytest.importorskip("llama_index.embeddings.huggingface")


def test_text_embeddings_are_normalized_sbert_encode(model_path, reference, texts):
    embedding = huggingface.HuggingFaceEmbedding(model_name=model_path, device="cpu")
    one = np.array(embedding.get_text_embedding(texts[0]))
    assert one.shape == (384,)
    np.testing.assert_allclose(one, reference(texts[:1], normalize=True)[0], atol=1e-5)
    batch = np.array(embedding.get_text_embedding_batch(texts))
    np.testing.assert_allclose(batch, reference(texts, normalize=True), atol=1e-5)


def test_query_instruction_is_a_prompt(model_path, reference, texts):
    embedding = huggingface.HuggingFaceEmbedding(
        model_name=model_path, device="cpu", query_instruction="query: ", text_instruction="passage: "
    )
    assert embedding._model.prompts["query"] == "query: "
    query = np.array(embedding.get_query_embedding("who plays music?"))
    np.testing.assert_allclose(query, reference(["query: who plays music?"], normalize=True)[0], atol=1e-5)
    text = np.array(embedding.get_text_embedding(texts[1]))
    np.testing.assert_allclose(text, reference(["passage: " + texts[1]], normalize=True)[0], atol=1e-5)


def test_normalize_false(model_path, reference, texts):
    embedding = huggingface.HuggingFaceEmbedding(model_name=model_path, device="cpu", normalize=False)
    got = np.array(embedding.get_text_embedding_batch(texts))
    np.testing.assert_allclose(got, reference(texts), atol=1e-5)
