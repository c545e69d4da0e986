"""ChromaDB's SentenceTransformerEmbeddingFunction on sbert, alone and as a collection's embedding function."""

from __future__ import annotations

import numpy as np
import pytest

chromadb = pytest.importorskip("chromadb")
embedding_functions = pytest.importorskip("chromadb.utils.embedding_functions")


def test_embedding_function_is_sbert_encode(model_path, reference, texts):
    function = embedding_functions.SentenceTransformerEmbeddingFunction(model_name=model_path, device="cpu")
    got = function(texts)
    assert len(got) == 3 and all(e.dtype == np.float32 and e.shape == (384,) for e in got)
    np.testing.assert_allclose(np.stack(got), reference(texts), atol=1e-5)


def test_normalize_embeddings(model_path, reference, texts):
    function = embedding_functions.SentenceTransformerEmbeddingFunction(
        model_name=model_path, device="cpu", normalize_embeddings=True
    )
    np.testing.assert_allclose(np.stack(function(texts)), reference(texts, normalize=True), atol=1e-5)


def test_collection_query_finds_the_nearest_document(model_path, texts):
    from chromadb.config import Settings

    function = embedding_functions.SentenceTransformerEmbeddingFunction(model_name=model_path, device="cpu")
    client = chromadb.EphemeralClient(settings=Settings(anonymized_telemetry=False))
    collection = client.create_collection("sbert_consumers", embedding_function=function)
    collection.add(ids=["guitar", "cat", "stocks"], documents=texts)
    result = collection.query(query_texts=["shares dropped on Wall Street", "a kitten naps"], n_results=1)
    assert result["ids"] == [["stocks"], ["cat"]]
