"""BERTopic on sbert: the SentenceTransformer embeds the corpus, which is then reduced, clustered and described
with c-TF-IDF words. PCA and KMeans (BERTopic's documented sub-model swap) keep the small run deterministic."""

from __future__ import annotations

import numpy as np
import pytest

bertopic = pytest.importorskip("bertopic")

THEMES = {
    "sport": [
        "The striker scored a late goal to win the football match.",
        "The team won the championship after a tense final.",
        "Fans cheered as the goalkeeper saved the penalty.",
        "The coach praised the players after the match.",
        "The basketball team won the game in overtime.",
        "The tennis player won the match in straight sets.",
        "The football club signed a new striker.",
        "The referee showed a red card in the second half of the match.",
    ],
    "cooking": [
        "Stir the sauce and add garlic, onions and tomatoes.",
        "Bake the bread in a hot oven for forty minutes.",
        "This recipe needs flour, butter, sugar and eggs.",
        "Chop the onions and fry them in olive oil.",
        "Season the soup with salt, pepper and fresh herbs.",
        "The cake recipe calls for chocolate and butter.",
        "Simmer the tomato sauce with garlic for an hour.",
        "Knead the dough and let the bread rise.",
    ],
    "space": [
        "The rocket launched the satellite into orbit.",
        "Astronauts aboard the space station studied the planet.",
        "The telescope observed a distant galaxy and its stars.",
        "A probe landed on Mars to study the planet's surface.",
        "The moon orbits the planet every twenty-seven days.",
        "Scientists discovered a new planet orbiting a distant star.",
        "The astronaut walked in space outside the station.",
        "The rocket engine failed shortly after the launch into orbit.",
    ],
}
DOCS = [doc for docs in THEMES.values() for doc in docs]


def fit(embedding_model):
    from sklearn.cluster import KMeans
    from sklearn.decomposition import PCA

    model = bertopic.BERTopic(
        embedding_model=embedding_model,
        umap_model=PCA(n_components=5, random_state=0),
        hdbscan_model=KMeans(n_clusters=3, random_state=0, n_init=10),
    )
    topics, _ = model.fit_transform(DOCS)
    return model, topics


@pytest.mark.parametrize("as_model", [False, True], ids=["path", "model"])
def test_topics_follow_the_themes(model_path, minilm, as_model):
    model, topics = fit(minilm if as_model else model_path)
    by_theme = [set(topics[i * 8 : (i + 1) * 8]) for i in range(3)]
    assert all(len(found) == 1 for found in by_theme), topics  # each theme is one topic
    assert len(set().union(*by_theme)) == 3  # and the three topics differ
    words = {
        theme: {w for w, _ in model.get_topic(next(iter(found)))} for theme, found in zip(THEMES, by_theme, strict=True)
    }
    assert {"match", "won"} & words["sport"]
    assert {"sauce", "bread", "butter", "garlic"} & words["cooking"]
    assert {"planet", "rocket", "orbit"} & words["space"]


def test_embeddings_are_sbert_encode(model_path, reference):
    model, _ = fit(model_path)
    embeddings = model._extract_embeddings(DOCS[:4], method="document")
    np.testing.assert_allclose(embeddings, reference(DOCS[:4]), atol=1e-5)
    # a new document lands in its theme's topic
    topics, _ = model.transform(["The goalkeeper dived and saved the shot in the final match."])
    assert topics[0] == model.topics_[0]
