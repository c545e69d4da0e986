"""txtai's Embeddings on sbert: a sentence-transformers folder is encoded with SentenceTransformer (vectors are
normalized by txtai), indexed and searched."""

from __future__ import annotations

import numpy as np
import pytest

txtai = pytest.importorskip("txtai")


def test_index_and_search(model_path, texts):
    embeddings = txtai.Embeddings(path=model_path, method="sentence-transformers", content=True)
    embeddings.index(texts)
    assert embeddings.count() == 3
    assert embeddings.search("shares dropped on Wall Street", 1)[0]["text"] == texts[2]
    assert embeddings.search("a kitten naps", 1)[0]["text"] == texts[1]


def test_vectors_are_normalized_sbert_encode(model_path, reference, texts):
    embeddings = txtai.Embeddings(path=model_path, method="sentence-transformers")
    got = np.asarray(embeddings.batchtransform(texts))
    assert got.shape == (3, 384)
    np.testing.assert_allclose(got, reference(texts, normalize=True), atol=1e-5)
    # txtai's similarity is the dot product of those vectors
    scores = embeddings.similarity("guitar music", texts)
    assert scores[0][0] == 0
