"""SetFit on sbert: a few-shot SetFitModel from the local all-MiniLM-L6-v2, its body fine-tuned contrastively with
sbert's SentenceTransformerTrainer, a logistic-regression head, predictions, and a save/load round trip.
(scripts/compare_setfit.py compares the same kind of run with upstream sentence-transformers.)"""

from __future__ import annotations

import numpy as np
import pytest

setfit = pytest.importorskip("setfit")
datasets = pytest.importorskip("datasets")

TRAIN = [
    ("I loved this film, the acting was wonderful.", 1),
    ("What a delightful and heartwarming story.", 1),
    ("The food was delicious and the staff were friendly.", 1),
    ("Absolutely fantastic, I would recommend it to anyone.", 1),
    ("I hated this film, the acting was dreadful.", 0),
    ("What a boring and depressing story.", 0),
    ("The food was cold and the staff were rude.", 0),
    ("Absolutely terrible, I would not recommend it to anyone.", 0),
]
TEST = [
    ("An excellent movie with a moving ending.", 1),
    ("The hotel room was dirty and noisy.", 0),
    ("The waiter was kind and the dessert was superb.", 1),
    ("This was a complete waste of money.", 0),
]


def accuracy(predictions, references) -> dict[str, float]:
    return {"accuracy": float(np.mean(np.asarray(predictions) == np.asarray(references)))}


@pytest.fixture(scope="module")
def trained(minilm_path, tmp_path_factory):
    from sentence_transformers import SentenceTransformer

    model = setfit.SetFitModel.from_pretrained(str(minilm_path), device="cpu")
    assert isinstance(model.model_body, SentenceTransformer)
    before = model.model_body.encode([t for t, _ in TEST])
    train = datasets.Dataset.from_dict({"text": [t for t, _ in TRAIN], "label": [label for _, label in TRAIN]})
    args = setfit.TrainingArguments(
        output_dir=str(tmp_path_factory.mktemp("checkpoints")),
        batch_size=8,
        num_epochs=1,
        num_iterations=5,
        seed=42,
        report_to="none",
    )
    # a callable metric: the default, evaluate.load("accuracy"), fetches its script from the hub
    trainer = setfit.Trainer(model=model, args=args, train_dataset=train, metric=accuracy)
    trainer.train()
    return model, trainer, before


def test_few_shot_predictions(trained):
    model, _, _ = trained
    predictions = model.predict([t for t, _ in TEST])
    assert [int(p) for p in predictions] == [label for _, label in TEST]
    probabilities = np.asarray(model.predict_proba([t for t, _ in TEST]))
    assert probabilities.shape == (4, 2)
    np.testing.assert_allclose(probabilities.sum(axis=1), 1.0, atol=1e-6)
    assert (probabilities.argmax(axis=1) == np.asarray(predictions)).all()


def test_body_was_fine_tuned(trained):
    model, _, before = trained
    after = model.model_body.encode([t for t, _ in TEST])
    assert after.shape == before.shape == (4, 384)
    assert np.abs(after - before).max() > 1e-3


def test_evaluate(trained):
    _, trainer, _ = trained
    test = datasets.Dataset.from_dict({"text": [t for t, _ in TEST], "label": [label for _, label in TEST]})
    assert trainer.evaluate(test) == {"accuracy": 1.0}


def test_save_and_load(trained, tmp_path):
    model, _, _ = trained
    model.save_pretrained(str(tmp_path / "setfit"))
    assert (tmp_path / "setfit" / "model_head.pkl").is_file()
    assert (tmp_path / "setfit" / "modules.json").is_file()
    assert "setfit" in (tmp_path / "setfit" / "README.md").read_text(encoding="utf-8").lower()
    loaded = setfit.SetFitModel.from_pretrained(str(tmp_path / "setfit"), device="cpu")
    texts = [t for t, _ in TEST]
    np.testing.assert_allclose(loaded.predict_proba(texts), model.predict_proba(texts), atol=1e-6)
