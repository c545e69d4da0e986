"""SentenceTransformer's members as upstream 6.2 has them: ``inputs`` (``sentences`` deprecated), the explicit
parameters of encode_query/encode_document, is_singular_input, get_model_kwargs, the deprecated _target_device,
get_sentence_features and load, _create_model_card, fit(resume_from_checkpoint), and upstream's error texts."""

from __future__ import annotations

import logging
import os
import re

import numpy as np
import pytest
import torch

from sentence_transformers import SentenceTransformer
from sentence_transformers.base import encoding
from sentence_transformers.sentence_transformer.fit_mixin import _latest_checkpoint
from sentence_transformers.sentence_transformer.modules import BoW, Pooling
from sentence_transformers.util import decorators

TEXTS = ["A man is playing a guitar.", "The cat sits outside."]


def test_encode_takes_inputs_and_the_old_sentences_name_with_a_warning(tiny_model, caplog):
    decorators._warn_once.cache_clear()
    expected = tiny_model.encode(TEXTS)
    with caplog.at_level(logging.WARNING):
        old = tiny_model.encode(sentences=TEXTS)
    np.testing.assert_array_equal(tiny_model.encode(inputs=TEXTS), expected)
    np.testing.assert_array_equal(old, expected)
    assert "The `sentences` argument was renamed and is now deprecated. Please use `inputs` instead." in caplog.text


def test_encode_query_and_document_take_encodes_parameters_by_name(tiny_model):
    tiny_model.prompts = {"query": "query: ", "document": "passage: "}
    try:
        query = tiny_model.encode_query(inputs=TEXTS, batch_size=1, normalize_embeddings=True, convert_to_tensor=True)
        document = tiny_model.encode_document(TEXTS, precision="int8", truncate_dim=8)
        assert isinstance(query, torch.Tensor)
        torch.testing.assert_close(query.norm(dim=1), torch.ones(2))
        torch.testing.assert_close(
            query, torch.from_numpy(tiny_model.encode(TEXTS, prompt="query: ", normalize_embeddings=True))
        )
        assert document.dtype == np.int8 and document.shape == (2, 8)
        # An explicit prompt wins over the role's prompt.
        np.testing.assert_array_equal(tiny_model.encode_query(TEXTS, prompt=""), tiny_model.encode(TEXTS, prompt=""))
    finally:
        tiny_model.prompts = {}


@pytest.mark.parametrize(
    ("value", "single"),
    [
        ("a text", True),
        ({"query": "a text"}, True),
        (["a", "b"], False),
        (("a", "b"), False),
        (np.array(["a", "b"]), False),
        ([], False),
    ],
)
def test_is_singular_input_follows_upstreams_rule(tiny_model, value, single):
    assert tiny_model.is_singular_input(value) is single
    assert encoding.is_single_input(value) is single


def test_a_datasets_column_is_a_batch(tiny_model):
    datasets = pytest.importorskip("datasets")
    column = datasets.Dataset.from_dict({"text": TEXTS})["text"]
    assert type(column).__name__ == "Column"
    assert tiny_model.is_singular_input(column) is False
    assert tiny_model.encode(column).shape == (2, tiny_model.get_sentence_embedding_dimension())


def test_get_model_kwargs_lists_what_modules_take(tiny_model):
    from sentence_transformers.base.modules import Router
    from sentence_transformers.models import Dense

    assert tiny_model.get_model_kwargs() == []
    transformer, pooling = tiny_model[0], tiny_model[1]
    dim = pooling.get_embedding_dimension()
    routed = SentenceTransformer(
        modules=[
            transformer,
            pooling,
            Router({"query": [Dense(dim, 4)], "document": [Dense(dim, 4)]}, default_route="document"),
        ],
        device="cpu",
    )
    assert routed.get_model_kwargs() == ["modality", "task"]  # a Router takes both, as upstream's
    routed.module_kwargs = {"0": ["task_type"]}
    assert routed.get_model_kwargs() == ["modality", "task", "task_type"]


def test_encode_rejects_keyword_arguments_no_module_takes(tiny_model):
    message = (
        "SentenceTransformer.encode() has been called with additional keyword arguments that this model does not "
        "use: ['colour']. As per SentenceTransformer.get_model_kwargs(), this model does not accept any additional "
        "keyword arguments."
    )
    with pytest.raises(ValueError, match=re.escape(message)):
        tiny_model.encode(TEXTS, colour="red")
    # task is always accepted (a model without routes ignores it), as upstream.
    np.testing.assert_array_equal(tiny_model.encode(TEXTS, task="query"), tiny_model.encode(TEXTS))


def test_target_device_is_deprecated_and_works(tiny_model, caplog):
    with caplog.at_level(logging.WARNING):
        assert tiny_model._target_device == torch.device("cpu")
        tiny_model._target_device = "cpu"
    assert "`SentenceTransformer._target_device` has been deprecated. Please use `SentenceTransformer.device`" in (
        caplog.text
    )
    assert "Please use `to(device)` instead." in caplog.text
    assert tiny_model.device == torch.device("cpu")


def test_get_sentence_features_is_the_first_modules_and_deprecated():
    bow = BoW(vocab=["cat", "dog", "sits"], word_weights={"cat": 2.0}, unknown_word_weight=0.5)
    model = SentenceTransformer(modules=[bow], device="cpu")
    with pytest.warns(DeprecationWarning, match="get_sentence_features"):
        features = model.get_sentence_features([[0, 2]], 0)
    torch.testing.assert_close(features["sentence_embedding"], torch.tensor([[2.0, 0.0, 0.5]]))
    plain = SentenceTransformer(modules=[Pooling(4)], device="cpu")
    with pytest.warns(DeprecationWarning), pytest.raises(AttributeError, match="Pooling has no get_sentence_features"):
        plain.get_sentence_features([1])


def test_load_is_deprecated_and_loads(tiny_model, tmp_path):
    tiny_model.save(str(tmp_path / "m"))
    with pytest.warns(DeprecationWarning, match=r"SentenceTransformer\.load\(\.\.\.\) is deprecated"):
        loaded = SentenceTransformer.load(str(tmp_path / "m"))
    np.testing.assert_allclose(loaded.encode(TEXTS), tiny_model.encode(TEXTS), atol=1e-6)


def test_create_model_card_writes_the_readme_and_takes_a_hub_name_as_model_id(tiny_model, tmp_path):
    previous = tiny_model.model_card_data.model_id
    try:
        tiny_model.model_card_data.model_id = None
        tiny_model._create_model_card(str(tmp_path), model_name="someone/tiny-model")
        card = (tmp_path / "README.md").read_text()
        assert tiny_model.model_card_data.model_id == "someone/tiny-model"
        assert 'SentenceTransformer("someone/tiny-model")' in card
        # A local path is no model id.
        tiny_model.model_card_data.model_id = None
        tiny_model._create_model_card(str(tmp_path), model_name=str(tmp_path))
        assert tiny_model.model_card_data.model_id is None
    finally:
        tiny_model.model_card_data.model_id = previous


def test_latest_checkpoint_is_the_highest_step(tmp_path, caplog):
    for name in ("checkpoint-5", "checkpoint-40", "checkpoint-7", "checkpoint-x", "other-99"):
        (tmp_path / name).mkdir()
    assert _latest_checkpoint(str(tmp_path)) == os.path.join(str(tmp_path), "checkpoint-40")
    empty = tmp_path / "empty"
    empty.mkdir()
    with caplog.at_level(logging.WARNING):
        assert _latest_checkpoint(str(empty)) is None
        assert _latest_checkpoint(str(tmp_path / "missing")) is None
    assert "No checkpoints found in checkpoint directory" in caplog.text
    assert "Checkpoint directory does not exist or is not a directory" in caplog.text


def test_fit_resumes_from_the_latest_checkpoint(tiny_bert_dir, tmp_path, monkeypatch):
    pytest.importorskip("datasets")
    from torch.utils.data import DataLoader

    from sentence_transformers import InputExample, losses
    from sentence_transformers.sentence_transformer.trainer import SentenceTransformerTrainer

    model = SentenceTransformer(str(tiny_bert_dir), device="cpu")
    examples = [InputExample(texts=[f"text {i}", f"other {i}"], label=0.5) for i in range(8)]
    loader = DataLoader(examples, batch_size=4, shuffle=False)
    checkpoints = tmp_path / "ckpt"
    (checkpoints / "checkpoint-3").mkdir(parents=True)
    seen = []
    monkeypatch.setattr(
        SentenceTransformerTrainer,
        "train",
        lambda self, resume_from_checkpoint=None: seen.append(resume_from_checkpoint),
    )
    loss = losses.CosineSimilarityLoss(model)
    model.fit([(loader, loss)], epochs=1, checkpoint_path=str(checkpoints), show_progress_bar=False)
    model.fit(
        [(loader, loss)],
        epochs=1,
        checkpoint_path=str(checkpoints),
        resume_from_checkpoint=True,
        show_progress_bar=False,
    )
    assert seen == [None, str(checkpoints / "checkpoint-3")]


class TestUpstreamMessages:
    def test_unknown_prompt_name(self, tiny_model):
        tiny_model.prompts = {"query": "query: "}
        try:
            with pytest.raises(
                ValueError,
                match=re.escape(
                    "Prompt name 'nope' not found in the configured prompts dictionary with keys ['query']."
                ),
            ):
                tiny_model.encode(TEXTS, prompt_name="nope")
        finally:
            tiny_model.prompts = {}

    def test_prompt_and_prompt_name_warn_and_the_prompt_wins(self, tiny_model, caplog):
        tiny_model.prompts = {"query": "query: "}
        try:
            with caplog.at_level(logging.WARNING):
                both = tiny_model.encode(TEXTS, prompt="passage: ", prompt_name="query")
            assert "Ignoring the `prompt_name` in favor of `prompt`." in caplog.text
            np.testing.assert_array_equal(both, tiny_model.encode(TEXTS, prompt="passage: "))
        finally:
            tiny_model.prompts = {}

    def test_default_prompt_name_not_in_prompts(self, tiny_model):
        with pytest.raises(ValueError, match=re.escape("Default prompt name 'query' not found in the configured")):
            SentenceTransformer(modules=list(tiny_model), prompts={"doc": "d: "}, default_prompt_name="query")

    def test_token_and_use_auth_token(self, tiny_bert_dir):
        with (
            pytest.warns(FutureWarning, match="The `use_auth_token` argument is deprecated"),
            pytest.raises(ValueError, match=re.escape("Both `token` and `use_auth_token` are specified.")),
        ):
            SentenceTransformer(str(tiny_bert_dir), token="a", use_auth_token="b")

    def test_empty_modules(self):
        with pytest.raises(
            ValueError, match=re.escape("Please provide at least one module, e.g. a Transformer module.")
        ):
            SentenceTransformer(modules=[])

    def test_similarity_fn_name(self, tiny_model):
        with pytest.raises(
            ValueError,
            match=re.escape(
                "SentenceTransformer only supports similarity_fn_name in ('cosine', 'dot', 'euclidean', 'manhattan'), "
                "got 'maxsim'."
            ),
        ):
            tiny_model.similarity_fn_name = "maxsim"

    def test_batch_size_and_precision(self, tiny_model):
        with pytest.raises(ValueError, match=re.escape("batch_size must be a positive integer, got 0.")):
            tiny_model.encode(TEXTS, batch_size=0)
        with pytest.raises(ValueError, match=re.escape("Precision 'int4' is not supported, must be one of")):
            tiny_model.encode(TEXTS, precision="int4")


def test_every_module_hears_on_model_ready_once_the_model_is_built(tiny_model, tmp_path):
    from sentence_transformers.base.modules import Module

    class Recorder(Module):
        config_keys: list[str] = []

        def __init__(self) -> None:
            super().__init__()
            self.ready_with = []

        def forward(self, features: dict, **kwargs) -> dict:
            return features

        def save(self, output_path: str, *args, **kwargs) -> None:
            self.save_config(output_path)

        def on_model_ready(self, model) -> None:
            self.ready_with.append((model, len(model)))

    recorder = Recorder()
    model = SentenceTransformer(modules=[tiny_model[0], tiny_model[1], recorder], device="cpu")
    assert recorder.ready_with == [(model, 3)]


def test_encode_hands_processing_kwargs_to_the_tokenizer(tiny_model):
    """As upstream: ``processing_kwargs={"text": {...}}`` reaches the tokenizer call (here: a shorter truncation)."""
    long_text = " ".join(["guitar"] * 40)
    cut = tiny_model.encode([long_text], processing_kwargs={"text": {"max_length": 5}})
    tiny_model.max_seq_length, previous = 5, tiny_model.max_seq_length
    try:
        expected = tiny_model.encode([long_text])
    finally:
        tiny_model.max_seq_length = previous
    np.testing.assert_allclose(cut, expected, atol=1e-6)
    assert not np.allclose(cut, tiny_model.encode([long_text]), atol=1e-4)
