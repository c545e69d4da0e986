"""LangChain's HuggingFaceEmbeddings (langchain-huggingface) on sbert: it forwards to SentenceTransformer.encode."""

from __future__ import annotations

import numpy as np
import pytest

langchain_huggingface = pytest.importorskip("langchain_huggingface")


def test_embed_documents_and_query_are_sbert_encode(model_path, reference, texts):
    embeddings = langchain_huggingface.HuggingFaceEmbeddings(model_name=model_path, model_kwargs={"device": "cpu"})
    documents = np.array(embeddings.embed_documents(texts))
    assert documents.shape == (3, 384)
    np.testing.assert_allclose(documents, reference(texts), atol=1e-5)
    query = np.array(embeddings.embed_query(texts[0]))
    np.testing.assert_allclose(query, reference(texts[:1])[0], atol=1e-5)


def test_encode_kwargs_reach_encode(model_path, reference, texts):
    embeddings = langchain_huggingface.HuggingFaceEmbeddings(
        model_name=model_path,
        model_kwargs={"device": "cpu"},
        encode_kwargs={"normalize_embeddings": True},
        query_encode_kwargs={"normalize_embeddings": True, "prompt": "query: "},
    )
    documents = np.array(embeddings.embed_documents(texts))
    np.testing.assert_allclose(np.linalg.norm(documents, axis=1), 1.0, atol=1e-5)
    np.testing.assert_allclose(documents, reference(texts, normalize=True), atol=1e-5)
    query = np.array(embeddings.embed_query("guitar music"))
    np.testing.assert_allclose(query, reference(["query: guitar music"], normalize=True)[0], atol=1e-5)
    # the nearest document to a guitar query is the guitar sentence
    assert int(np.argmax(documents @ query)) == 0


def test_newlines_are_replaced_before_encoding(model_path, reference):
    embeddings = langchain_huggingface.HuggingFaceEmbeddings(model_name=model_path, model_kwargs={"device": "cpu"})
    got = np.array(embeddings.embed_documents(["A man is playing\na guitar."]))
    np.testing.assert_allclose(got, reference(["A man is playing a guitar."]), atol=1e-5)


def test_multi_process_pool(model_path, reference, texts):
    # multi_process=True goes through start_multi_process_pool, encode_multi_process and stop_multi_process_pool
    embeddings = langchain_huggingface.HuggingFaceEmbeddings(
        model_name=model_path, model_kwargs={"device": "cpu"}, multi_process=True
    )
    documents = np.array(embeddings.embed_documents(texts))
    np.testing.assert_allclose(documents, reference(texts), atol=1e-5)
