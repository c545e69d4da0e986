"""Upstream 6.x members of the modules: renamed config keys and keywords, init_defaults, on_model_ready, Normalize's
feature names, Pooling's defaults, Router.load(module_classes) and the Transformer's 6.x parameters."""

from __future__ import annotations

import json
import logging

import pytest
import torch
from transformers import AutoModel

from sentence_transformers import SentenceTransformer
from sentence_transformers.base.modules import Dense, InputModule, Module, Normalize, Router, Transformer
from sentence_transformers.sentence_transformer.modules import CNN, LSTM, BoW, Pooling, WeightedLayerPooling
from sentence_transformers.sentence_transformer.modules.tokenizer.word import TransformersTokenizerWrapper


def test_old_config_keys_load_silently_and_old_keywords_warn(tmp_path, caplog):
    (tmp_path / "config.json").write_text(json.dumps({"word_embedding_dimension": 6, "pooling_mode": "max"}))
    with caplog.at_level(logging.WARNING):
        pooling = Pooling.load(str(tmp_path))
    assert pooling.embedding_dimension == 6 and pooling.pooling_mode == "max"
    assert "deprecated" not in caplog.text
    with caplog.at_level(logging.WARNING):
        lstm = LSTM(word_embedding_dimension=5, hidden_dim=2)
    assert lstm.embedding_dimension == 5 and lstm.get_embedding_dimension() == 4
    assert "`word_embedding_dimension` argument was renamed" in caplog.text
    cnn = CNN(in_word_embedding_dimension=3, out_channels=2)
    assert cnn.in_embedding_dimension == 3 and cnn.kernel_sizes == [1, 3, 5] and cnn.get_embedding_dimension() == 6
    assert WeightedLayerPooling(word_embedding_dimension=7, num_hidden_layers=2, layer_start=1).embedding_dimension == 7


def test_saved_keys_stay_readable_by_every_release(tmp_path):
    # the 2.x key names, which upstream 6.x renames on load and older releases require
    LSTM(5, 2).save(str(tmp_path / "lstm"))
    assert "word_embedding_dimension" in json.loads((tmp_path / "lstm" / "lstm_config.json").read_text())
    Pooling(4).save(str(tmp_path / "pool"))
    saved = json.loads((tmp_path / "pool" / "config.json").read_text())
    assert saved["word_embedding_dimension"] == 4 and saved["pooling_mode_mean_tokens"] is True
    assert Pooling.load(str(tmp_path / "pool")).pooling_mode == "mean"


def test_pooling_defaults_and_legacy_flags():
    assert Pooling.POOLING_MODES == ("cls", "max", "mean", "mean_sqrt_len_tokens", "weightedmean", "lasttoken")
    assert Pooling(3).pooling_mode == "mean" and Pooling(3).get_embedding_dimension() == 3
    with pytest.warns(FutureWarning, match="`pooling_mode_cls_token`"):
        legacy = Pooling(3, pooling_mode_cls_token=True)
    assert legacy.pooling_mode == "cls"  # only the flags passed count, as upstream 6.x
    with pytest.warns(FutureWarning):
        assert Pooling(3, pooling_mode_mean_tokens=False).pooling_mode == "mean"  # none True: mean
    with pytest.warns(FutureWarning):
        assert Pooling(3, pooling_mode="max", pooling_mode_cls_token=True).pooling_mode == "max"
    with pytest.raises(ValueError, match="Invalid pooling mode: 'median'. Valid pooling modes are"):
        Pooling(3, pooling_mode="median")


def test_old_dimension_method_names_warn():
    dense = Dense(4, 2)
    assert dense.get_embedding_dimension() == 2
    with pytest.warns(FutureWarning, match="`get_sentence_embedding_dimension` method has been renamed"):
        assert dense.get_sentence_embedding_dimension() == 2
    assert not hasattr(Normalize(), "get_sentence_embedding_dimension")  # no get_embedding_dimension to map to


def test_init_defaults_fill_only_missing_keys(tmp_path):
    (tmp_path / "config.json").write_text(json.dumps({"embedding_dimension": 4}))
    pooling = Pooling.load(str(tmp_path), init_defaults={"pooling_mode": "cls", "embedding_dimension": 99})
    assert pooling.pooling_mode == "cls" and pooling.embedding_dimension == 4
    dense = Dense(3, 2, activation_function=None)
    dense.save(str(tmp_path / "dense"))
    loaded = Dense.load(str(tmp_path / "dense"), init_defaults={"module_output_name": "projected", "in_features": 9})
    assert loaded.module_output_name == "projected" and loaded.in_features == 3
    features = loaded({"sentence_embedding": torch.ones(1, 3)})
    torch.testing.assert_close(
        features["projected"], dense({"sentence_embedding": torch.ones(1, 3)})["sentence_embedding"]
    )


def test_module_class_members():
    assert Module.config_key_renames == {} and Module.forward_kwargs == set()
    assert Pooling.config_key_renames == {"word_embedding_dimension": "embedding_dimension"}
    assert Router.forward_kwargs == {"task", "modality"}
    assert BoW.modalities == ["text"]
    assert Normalize().on_model_ready(None) is None


def test_router_forwards_on_model_ready_and_loads_with_module_classes(tmp_path):
    class Seen(Normalize):
        def on_model_ready(self, model):
            self.model_seen = model

    seen = Seen()
    router = Router({"query": [Dense(2, 2)], "document": [seen]})
    router.on_model_ready("the model")
    assert seen.model_seen == "the model"
    router.save(str(tmp_path))
    types = json.loads((tmp_path / "router_config.json").read_text())["types"]
    seen_type = next(name for name in types.values() if name.endswith("Seen"))
    with pytest.raises(ValueError):  # a class local to this test cannot be imported by name
        Router.load(str(tmp_path))
    loaded = Router.load(str(tmp_path), module_classes={seen_type: Seen})
    assert isinstance(loaded.sub_modules["document"][0], Seen)


def test_normalize_feature_names_and_load(tmp_path):
    tokens = torch.tensor([[[3.0, 4.0], [0.0, 2.0]]])
    features = Normalize("token_embeddings", "normed")({"token_embeddings": tokens})
    torch.testing.assert_close(features["normed"], torch.tensor([[[0.6, 0.8], [0.0, 1.0]]]))
    torch.testing.assert_close(features["token_embeddings"], tokens)  # the input is left as it was
    assert Normalize()({"other": 1}) == {"other": 1}
    Normalize("token_embeddings").save(str(tmp_path))
    saved = json.loads((tmp_path / "config.json").read_text())
    assert saved == {"module_input_name": "token_embeddings", "module_output_name": "token_embeddings"}
    assert Normalize.load(str(tmp_path)).module_input_name == "token_embeddings"
    assert Normalize.load().module_input_name == "sentence_embedding"  # the 2.x call without a path
    assert Normalize.load(str(tmp_path), subfolder="2_Normalize").module_output_name == "sentence_embedding"


def test_tokenizer_wrapper_parameter_names(tiny_bert_dir):
    from transformers import AutoTokenizer

    wrapper = TransformersTokenizerWrapper(AutoTokenizer.from_pretrained(str(tiny_bert_dir)))
    assert wrapper.tokenize(sentence="the fox") == wrapper.tokenize("the fox")
    assert wrapper.get_vocab(["ignored"]) == wrapper.get_vocab()


def test_transformer_properties_and_dimension(tiny_bert_dir):
    module = Transformer(str(tiny_bert_dir))
    assert module.auto_model is module.model and module.config is module.model.config
    assert module.modalities == ["text"] and InputModule.modalities.fget(module) == ["text"]
    assert module.get_embedding_dimension() == module.config.hidden_size == 32
    assert module.module_output_name == "token_embeddings" and module.transformer_task == "feature-extraction"
    assert module.modality_config == {"text": {"method": "forward", "method_output_name": "last_hidden_state"}}
    replacement = AutoModel.from_pretrained(str(tiny_bert_dir))
    module.auto_model = replacement  # the older name still replaces the model
    assert module.model is replacement
    assert module.infer_modalities_from_processor(module.tokenizer) == ["text"]
    assert module.infer_modalities_edge_cases(module.model, module.tokenizer) is None


def test_transformer_output_name_and_fill_mask(tiny_bert_dir):
    custom = Transformer(
        str(tiny_bert_dir),
        modality_config={"text": {"method": "forward", "method_output_name": "last_hidden_state"}},
        module_output_name="hidden",
    )
    features = custom(custom.tokenize(["the fox"]))
    assert features["hidden"].shape[-1] == 32 and "token_embeddings" not in features
    masked = Transformer(str(tiny_bert_dir), transformer_task="fill-mask")
    logits = masked(masked.tokenize(["the fox"]))["token_embeddings"]
    assert logits.shape[-1] == masked.config.vocab_size
    scorer = Transformer(str(tiny_bert_dir), transformer_task="sequence-classification")
    assert scorer(scorer.tokenize([("a", "b")]))["scores"].shape == (1, 1)


def test_transformer_rejects_what_sbert_does_not_do(tiny_bert_dir):
    with pytest.raises(NotImplementedError, match="transformer_task='any-to-any'"):
        Transformer(str(tiny_bert_dir), transformer_task="any-to-any")
    with pytest.raises(ValueError, match="Unsupported transformer_task 'speech'"):
        Transformer(str(tiny_bert_dir), transformer_task="speech")
    with pytest.raises(ValueError, match="requires also providing module_output_name"):
        Transformer(str(tiny_bert_dir), modality_config={"text": {"method": "forward", "method_output_name": None}})
    image = {"image": {"method": "get_image_features", "method_output_name": None}}
    with pytest.raises(ValueError, match=r"modality_config names \['image'\], but the processor"):
        Transformer(str(tiny_bert_dir), modality_config=image, module_output_name="sentence_embedding")


def test_transformer_unpad_inputs_falls_back_with_a_warning(tiny_bert_dir, caplog):
    with caplog.at_level(logging.WARNING):
        module = Transformer(str(tiny_bert_dir), unpad_inputs=True)
    assert module.unpad_inputs is True and module.can_flatten_inputs is False
    assert "Falling back to padded inputs" in caplog.text


def test_transformer_processing_kwargs_and_task_lengths(tiny_bert_dir, tmp_path):
    text = "the quick brown fox jumps over the lazy dog"
    module = Transformer(str(tiny_bert_dir), processing_kwargs={"text": {"max_length": 4}})
    assert module.tokenize([text])["input_ids"].shape == (1, 4)
    assert module.token_lengths([text]) == [4]
    assert module.pretokenize([text]) is None  # the per-batch path applies processing_kwargs
    per_call = module.preprocess([text], processing_kwargs={"text": {"max_length": 6}})
    assert per_call["input_ids"].shape == (1, 6)
    full = Transformer(str(tiny_bert_dir)).tokenize([text])["input_ids"].shape[1]
    lengths = Transformer(str(tiny_bert_dir), query_length=3, document_length=5)
    assert lengths.forward_kwargs == {"task"}
    assert lengths.tokenize([text], task="query")["input_ids"].shape == (1, 3)
    assert lengths.tokenize([text], task="document")["input_ids"].shape == (1, 5)
    assert lengths.tokenize([text])["input_ids"].shape == (1, full)
    model = SentenceTransformer(modules=[lengths, Pooling(32)])
    query = model.encode_query(text, convert_to_tensor=True)
    by_hand = model[1](lengths(lengths.tokenize([text], task="query")))["sentence_embedding"][0]
    torch.testing.assert_close(query, by_hand)


def test_transformer_saves_new_keys_only_when_set(tiny_bert_dir, tmp_path):
    plain = Transformer(str(tiny_bert_dir))
    assert set(plain.get_config_dict()) == {"max_seq_length", "do_lower_case"}
    module = Transformer(str(tiny_bert_dir), processing_kwargs={"text": {"max_length": 4}}, query_length=3)
    module.save(str(tmp_path))
    saved = json.loads((tmp_path / "sentence_bert_config.json").read_text())
    assert saved["processing_kwargs"] == {"text": {"max_length": 4}} and saved["query_length"] == 3
    assert "modality_config" not in saved and "transformer_task" not in saved
    loaded = Transformer.load(str(tmp_path), init_defaults={"document_length": 5, "query_length": 9})
    assert loaded.processing_kwargs == {"text": {"max_length": 4}}
    assert loaded.query_length == 3 and loaded.document_length == 5
