"""CrossEncoder folders on disk: what sbert writes (upstream's layout), round trips, and the folders other releases
and tools write — a plain Hugging Face classifier, the 4.x / 5.x config.json-only layouts, upstream 6.x's own save.

Expected scores are computed here with transformers alone (tokenize the pairs, run the classifier, apply the
activation by hand); scripts/upstream_compat_cross_encoder.py checks the same folders against upstream itself.
"""

from __future__ import annotations

import json
import logging
import shutil

import numpy as np
import pytest
import torch
from transformers import AutoModelForSequenceClassification, AutoTokenizer

from sentence_transformers.cross_encoder import CrossEncoder

PAIRS = [
    ["A cat.", "A cat sleeps on the warm windowsill in the afternoon sun."],
    ["What is the capital of France?", "Paris is the capital of France."],
    ["The quick brown fox jumps over the lazy dog.", "Two women are sitting at a table and talking."],
    ["dog", ""],
]
QUERY = "A cat."
DOCUMENTS = [b for _, b in PAIRS]


@pytest.fixture()
def plain_dir(tiny_bert_dir, tmp_path):
    """A plain Hugging Face sequence-classification folder (seeded head, scaled so that pairs' logits differ)."""
    torch.manual_seed(0)
    model = AutoModelForSequenceClassification.from_pretrained(tiny_bert_dir, num_labels=1)
    with torch.no_grad():
        model.classifier.weight.mul_(200.0)
    model.save_pretrained(tmp_path / "plain")
    AutoTokenizer.from_pretrained(tiny_bert_dir).save_pretrained(tmp_path / "plain")
    return tmp_path / "plain"


def transformers_logits(folder, pairs=PAIRS) -> np.ndarray:
    """The classifier's logits for the pairs, with transformers only: [pairs, num_labels]."""
    tokenizer = AutoTokenizer.from_pretrained(folder)
    model = AutoModelForSequenceClassification.from_pretrained(folder).eval()
    features = tokenizer(
        [a for a, _ in pairs], [b for _, b in pairs], padding=True, truncation=True, return_tensors="pt"
    )
    with torch.no_grad():
        return model(**features).logits.numpy()


def sigmoid(x: np.ndarray) -> np.ndarray:
    return 1 / (1 + np.exp(-x))


def edit_config(folder, **entries) -> None:
    path = folder / "config.json"
    path.write_text(json.dumps({**json.loads(path.read_text()), **entries}, indent=2))


def read_json(path):
    return json.loads(path.read_text())


# --- folders other tools write -------------------------------------------------------------------------------------


def test_plain_hugging_face_classifier_scores_sigmoid_of_its_logits(plain_dir):
    logits = transformers_logits(plain_dir)[:, 0]
    assert np.ptp(logits) > 1e-2
    model = CrossEncoder(str(plain_dir), device="cpu")
    assert model.num_labels == 1 and isinstance(model.activation_fn, torch.nn.Sigmoid)
    np.testing.assert_allclose(model.predict(PAIRS), sigmoid(logits), atol=1e-6)
    expected = sigmoid(transformers_logits(plain_dir, [[QUERY, document] for document in DOCUMENTS])[:, 0])
    ranking = model.rank(QUERY, DOCUMENTS)
    assert [item["corpus_id"] for item in ranking] == np.argsort(-expected).tolist()
    np.testing.assert_allclose([item["score"] for item in ranking], np.sort(expected)[::-1], atol=1e-6)


@pytest.mark.parametrize(
    "entries",
    [
        {"sentence_transformers": {"activation_fn": "torch.nn.modules.linear.Identity", "version": "5.1.0"}},
        {"sbert_ce_default_activation_function": "torch.nn.modules.linear.Identity"},
    ],
    ids=["5.x", "4.x"],
)
def test_older_cross_encoder_folders_keep_their_activation(plain_dir, entries):
    # 4.x and 5.x saved a CrossEncoder as a Hugging Face folder whose config.json names the activation.
    edit_config(plain_dir, **entries)
    model = CrossEncoder(str(plain_dir), device="cpu")
    assert isinstance(model.activation_fn, torch.nn.Identity)
    np.testing.assert_allclose(model.predict(PAIRS), transformers_logits(plain_dir)[:, 0], atol=1e-6)


def test_an_untrusted_saved_activation_falls_back_to_the_default(plain_dir, caplog):
    edit_config(plain_dir, sentence_transformers={"activation_fn": "my_package.MyActivation", "version": "5.1.0"})
    with caplog.at_level(logging.WARNING):
        model = CrossEncoder(str(plain_dir), device="cpu")
    assert "Activation function path 'my_package.MyActivation' is not trusted" in caplog.text
    assert isinstance(model.activation_fn, torch.nn.Sigmoid)


def test_upstream_6_layout_loads(plain_dir):
    # What upstream 6.2 writes for CrossEncoder(...).save(): the new module type name, the task and the output
    # names in sentence_bert_config.json, the activation in config_sentence_transformers.json.
    (plain_dir / "modules.json").write_text(
        json.dumps(
            [{"idx": 0, "name": "0", "path": "", "type": "sentence_transformers.base.modules.transformer.Transformer"}]
        )
    )
    (plain_dir / "sentence_bert_config.json").write_text(
        json.dumps(
            {
                "transformer_task": "sequence-classification",
                "modality_config": {"text": {"method": "forward", "method_output_name": "logits"}},
                "module_output_name": "scores",
            }
        )
    )
    (plain_dir / "config_sentence_transformers.json").write_text(
        json.dumps(
            {
                "__version__": {"sentence_transformers": "6.2.0"},
                "activation_fn": "torch.nn.modules.linear.Identity",
                "default_prompt_name": None,
                "model_type": "CrossEncoder",
                "prompts": {},
            }
        )
    )
    model = CrossEncoder(str(plain_dir), device="cpu")
    assert isinstance(model.activation_fn, torch.nn.Identity)
    np.testing.assert_allclose(model.predict(PAIRS), transformers_logits(plain_dir)[:, 0], atol=1e-6)


# --- what sbert writes ---------------------------------------------------------------------------------------------


def test_saved_folder_has_upstreams_layout(plain_dir, tmp_path):
    CrossEncoder(str(plain_dir), device="cpu", max_length=48).save(str(tmp_path / "saved"))
    saved = tmp_path / "saved"
    modules = read_json(saved / "modules.json")
    assert [(m["idx"], m["name"], m["path"]) for m in modules] == [(0, "0", "")]
    assert modules[0]["type"] in (
        "sentence_transformers.models.Transformer",
        "sentence_transformers.base.modules.transformer.Transformer",
    )
    settings = read_json(saved / "config_sentence_transformers.json")
    assert settings["model_type"] == "CrossEncoder"
    assert settings["activation_fn"] == "torch.nn.modules.activation.Sigmoid"
    transformer = read_json(saved / "sentence_bert_config.json")
    assert transformer["transformer_task"] == "sequence-classification" and transformer["max_seq_length"] == 48
    config = read_json(saved / "config.json")
    assert config["architectures"] == ["BertForSequenceClassification"] and len(config["id2label"]) == 1
    # the Hugging Face files alone still make the same classifier (what 4.x/5.x and transformers read)
    np.testing.assert_allclose(transformers_logits(saved), transformers_logits(plain_dir), atol=1e-6)


@pytest.mark.parametrize(
    ("num_labels", "activation_fn"), [(1, None), (1, torch.nn.Identity()), (3, None), (3, torch.nn.Tanh())]
)
def test_save_and_load_round_trip(tiny_bert_dir, tmp_path, num_labels, activation_fn):
    torch.manual_seed(0)
    model = CrossEncoder(
        str(tiny_bert_dir), num_labels=num_labels, activation_fn=activation_fn, max_length=16, device="cpu"
    )
    model.save(str(tmp_path / "saved"))
    loaded = CrossEncoder(str(tmp_path / "saved"), device="cpu")
    assert type(loaded.activation_fn) is type(model.activation_fn)
    assert (loaded.num_labels, loaded.max_length) == (num_labels, 16)
    np.testing.assert_array_equal(loaded.predict(PAIRS), model.predict(PAIRS))
    if num_labels == 1:
        assert loaded.rank(QUERY, DOCUMENTS) == model.rank(QUERY, DOCUMENTS)


def test_a_copied_folder_loads_the_same_as_the_original(plain_dir, tmp_path):
    # Nothing in a saved folder depends on where it was written.
    CrossEncoder(str(plain_dir), device="cpu").save(str(tmp_path / "saved"))
    moved = shutil.copytree(tmp_path / "saved", tmp_path / "elsewhere" / "model")
    np.testing.assert_array_equal(
        CrossEncoder(str(moved), device="cpu").predict(PAIRS),
        CrossEncoder(str(tmp_path / "saved"), device="cpu").predict(PAIRS),
    )
