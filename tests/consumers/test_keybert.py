"""KeyBERT on sbert: candidate keywords ranked by the cosine similarity of their embedding with the document's."""

from __future__ import annotations

import numpy as np
import pytest

keybert = pytest.importorskip("keybert")

DOC = (
    "Supervised learning is the machine learning task of learning a function that maps an input to an output "
    "based on example input-output pairs. It infers a function from labeled training data consisting of a set of "
    "training examples."
)


def cosine(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return (a / np.linalg.norm(a, axis=-1, keepdims=True)) @ (b / np.linalg.norm(b))


@pytest.mark.parametrize("as_model", [False, True], ids=["path", "model"])
def test_extract_keywords(model_path, minilm, reference, as_model):
    model = keybert.KeyBERT(model=minilm if as_model else model_path)
    keywords = model.extract_keywords(DOC, top_n=5)
    assert len(keywords) == 5
    words = [word for word, _ in keywords]
    assert words[0] == "supervised"
    assert "learning" in words
    # the scores are the cosine similarities of sbert's embeddings, rounded to 4 places, best first
    scores = cosine(reference(words), reference([DOC])[0])
    np.testing.assert_allclose([score for _, score in keywords], scores, atol=1e-4)
    assert scores.tolist() == sorted(scores.tolist(), reverse=True)


def test_keyphrases_with_mmr(model_path):
    model = keybert.KeyBERT(model=model_path)
    keywords = model.extract_keywords(DOC, keyphrase_ngram_range=(1, 2), stop_words="english", use_mmr=True, top_n=4)
    assert len(keywords) == 4
    assert any("supervised" in phrase for phrase, _ in keywords)
    assert all(0 < score <= 1 for _, score in keywords)
