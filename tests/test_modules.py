"""Transformer, Pooling, Dense, Normalize and the Module base: forward checked by hand, save/load round trips."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from torch import nn

from sentence_transformers import SentenceTransformer
from sentence_transformers.models import Dense, Module, Normalize, Pooling, Transformer

TOKENS = torch.tensor(
    [
        [[1.0, 2.0], [3.0, -4.0], [5.0, 6.0], [9.0, 9.0]],
        [[-1.0, 0.0], [2.0, 2.0], [7.0, 7.0], [8.0, 8.0]],
    ]
)
MASK = torch.tensor([[1, 1, 1, 0], [1, 1, 0, 0]])


def pool(**kwargs) -> torch.Tensor:
    features = {"token_embeddings": TOKENS.clone(), "attention_mask": MASK.clone()}
    return Pooling(2, **kwargs)(features)["sentence_embedding"]


def test_pooling_modes_by_hand():
    torch.testing.assert_close(pool(pooling_mode="cls"), torch.tensor([[1.0, 2.0], [-1.0, 0.0]]))
    torch.testing.assert_close(pool(pooling_mode="max"), torch.tensor([[5.0, 6.0], [2.0, 2.0]]))
    torch.testing.assert_close(pool(pooling_mode="mean"), torch.tensor([[3.0, 4.0 / 3], [0.5, 1.0]]))
    torch.testing.assert_close(
        pool(pooling_mode="mean_sqrt_len_tokens"),
        torch.tensor([[9.0 / 3**0.5, 4.0 / 3**0.5], [1.0 / 2**0.5, 2.0 / 2**0.5]]),
    )
    # weights 1, 2, 3 by position over the unmasked tokens
    torch.testing.assert_close(
        pool(pooling_mode="weightedmean"),
        torch.tensor([[(1 + 6 + 15) / 6, (2 - 8 + 18) / 6], [(-1 + 4) / 3, (0 + 4) / 3]]),
    )
    torch.testing.assert_close(pool(pooling_mode="lasttoken"), torch.tensor([[5.0, 6.0], [2.0, 2.0]]))


def test_pooling_lasttoken_left_padding():
    features = {"token_embeddings": TOKENS.clone(), "attention_mask": torch.tensor([[0, 1, 1, 1], [0, 0, 1, 1]])}
    result = Pooling(2, pooling_mode="lasttoken")(features)["sentence_embedding"]
    torch.testing.assert_close(result, torch.tensor([[9.0, 9.0], [8.0, 8.0]]))


def test_pooling_several_modes_concatenate_in_the_given_order():
    both = pool(pooling_mode=("mean", "cls"))  # concatenated in the order given, as upstream 6.x
    torch.testing.assert_close(both, torch.cat([pool(pooling_mode="mean"), pool(pooling_mode="cls")], dim=1))
    legacy = Pooling(2, pooling_mode_cls_token=True, pooling_mode_mean_tokens=True)
    assert legacy.get_pooling_mode_str() == "cls+mean"
    assert legacy.get_sentence_embedding_dimension() == 4


def test_pooling_mode_order_survives_save_and_load(tmp_path):
    ordered = Pooling(2, pooling_mode=["mean", "max"], include_prompt=False)
    ordered.save(str(tmp_path / "ordered"))
    config = json.loads((tmp_path / "ordered" / "config.json").read_text())
    assert config == {"embedding_dimension": 2, "pooling_mode": ["mean", "max"], "include_prompt": False}
    loaded = Pooling.load(str(tmp_path / "ordered"))
    assert loaded.pooling_mode == ("mean", "max") and not loaded.include_prompt
    features = {"token_embeddings": TOKENS.clone(), "attention_mask": MASK.clone()}
    want = torch.cat([pool(pooling_mode="mean"), pool(pooling_mode="max")], dim=1)
    torch.testing.assert_close(loaded(features)["sentence_embedding"], want)
    # the fixed order cls, max, mean … keeps the 2.x boolean keys that every release reads
    Pooling(2, pooling_mode=["max", "mean"]).save(str(tmp_path / "fixed"))
    config = json.loads((tmp_path / "fixed" / "config.json").read_text())
    assert config["pooling_mode_max_tokens"] and config["pooling_mode_mean_tokens"] and "pooling_mode" not in config


def test_pooling_loads_upstream_6_config(tmp_path):
    (tmp_path / "config.json").write_text(
        json.dumps({"embedding_dimension": 2, "pooling_mode": ["lasttoken", "cls"], "include_prompt": True})
    )
    loaded = Pooling.load(str(tmp_path))
    features = {"token_embeddings": TOKENS.clone(), "attention_mask": MASK.clone()}
    want = torch.cat([pool(pooling_mode="lasttoken"), pool(pooling_mode="cls")], dim=1)
    torch.testing.assert_close(loaded(features)["sentence_embedding"], want)


def test_pooling_legacy_and_new_constructor_forms():
    legacy = Pooling(word_embedding_dimension=8, pooling_mode_max_tokens=True, pooling_mode_mean_tokens=False)
    newer = Pooling(embedding_dimension=8, pooling_mode="max")
    assert legacy.get_config_dict() == newer.get_config_dict()
    assert newer.pooling_mode == "max" and newer.embedding_dimension == 8


def test_pooling_include_prompt_excludes_prompt_tokens():
    features = {"token_embeddings": TOKENS.clone(), "attention_mask": MASK.clone(), "prompt_length": 1}
    result = Pooling(2, include_prompt=False)(features)["sentence_embedding"]
    torch.testing.assert_close(result, torch.tensor([[4.0, 1.0], [2.0, 2.0]]))


def test_pooling_rejects_bad_arguments():
    with pytest.raises(ValueError, match="Invalid pooling mode: 'median'"):
        Pooling(4, pooling_mode="median")
    with pytest.raises(ValueError, match="at least one mode"):
        Pooling(4, pooling_mode=[])
    with pytest.raises(ValueError, match="positive embedding dimension"):
        Pooling(None)


def test_pooling_reads_upstream_newer_config(tmp_path):
    (tmp_path / "config.json").write_text(
        json.dumps({"embedding_dimension": 384, "pooling_mode": ["cls", "max"], "include_prompt": False})
    )
    loaded = Pooling.load(str(tmp_path))
    assert loaded.get_pooling_mode_str() == "cls+max" and loaded.include_prompt is False
    assert loaded.get_sentence_embedding_dimension() == 768


def test_dense_forward_by_hand_and_round_trip(tmp_path):
    weight = torch.tensor([[1.0, 0.0], [1.0, 1.0], [0.0, -2.0]])
    dense = Dense(2, 3, activation_function=nn.ReLU(), init_weight=weight, init_bias=torch.tensor([0.0, 1.0, 0.5]))
    out = dense({"sentence_embedding": torch.tensor([[1.0, 2.0]])})["sentence_embedding"]
    torch.testing.assert_close(out, torch.tensor([[1.0, 4.0, 0.0]]))
    dense.save(str(tmp_path))
    config = json.loads((tmp_path / "config.json").read_text())
    assert config == {
        "in_features": 2,
        "out_features": 3,
        "bias": True,
        "activation_function": "torch.nn.modules.activation.ReLU",
    }
    assert (tmp_path / "model.safetensors").is_file()
    loaded = Dense.load(str(tmp_path))
    torch.testing.assert_close(loaded.linear.weight, weight)
    assert isinstance(loaded.activation_function, nn.ReLU)


def test_dense_residual_by_hand_and_round_trip(tmp_path):
    weight = torch.tensor([[1.0, 0.0], [1.0, 1.0]])
    same = Dense(2, 2, bias=False, activation_function=nn.ReLU(), init_weight=weight, use_residual=True)
    x = torch.tensor([[1.0, -2.0]])
    # relu([1, -1]) + x
    torch.testing.assert_close(same({"sentence_embedding": x})["sentence_embedding"], torch.tensor([[2.0, -2.0]]))
    wider = Dense(2, 3, activation_function=nn.Identity(), use_residual=True)
    with torch.no_grad():
        wider.residual.weight.copy_(torch.tensor([[1.0, 0.0], [0.0, 1.0], [1.0, 1.0]]))
    want = wider.linear(x) + torch.tensor([[1.0, -2.0, -1.0]])
    torch.testing.assert_close(wider({"sentence_embedding": x})["sentence_embedding"], want)
    wider.save(str(tmp_path))
    assert json.loads((tmp_path / "config.json").read_text())["use_residual"] is True
    loaded = Dense.load(str(tmp_path))
    torch.testing.assert_close(loaded.residual.weight, wider.residual.weight)
    torch.testing.assert_close(loaded({"sentence_embedding": x})["sentence_embedding"], want)


def test_unknown_config_keys_are_named_and_ignored(tmp_path, caplog):
    Dense(2, 2).save(str(tmp_path / "dense"))
    config = json.loads((tmp_path / "dense" / "config.json").read_text())
    (tmp_path / "dense" / "config.json").write_text(json.dumps({**config, "from_the_future": 1}))

    class Scale(Module):  # a constructor without **kwargs: an unknown key would fail it, so it is dropped
        config_keys = ["factor"]

        def __init__(self, factor: float) -> None:
            super().__init__()
            self.factor = factor

        def forward(self, features, **kwargs):
            return features

        def save(self, output_path, *args, **kwargs):
            self.save_config(output_path)

    (tmp_path / "scale").mkdir()
    (tmp_path / "scale" / "config.json").write_text(json.dumps({"factor": 3.0, "from_the_future": 2}))
    with caplog.at_level("WARNING"):
        dense = Dense.load(str(tmp_path / "dense"))
        scale = Scale.load(str(tmp_path / "scale"))
    assert "Dense config has unknown key(s) from_the_future" in caplog.text
    assert "Scale config has unknown key(s) from_the_future" in caplog.text
    assert not dense.use_residual and scale.factor == 3.0


def test_dense_loads_legacy_pickle_weights(tmp_path):
    dense = Dense(2, 2)
    dense.save(str(tmp_path), safe_serialization=False)
    assert (tmp_path / "pytorch_model.bin").is_file() and not (tmp_path / "model.safetensors").exists()
    torch.testing.assert_close(Dense.load(str(tmp_path)).linear.weight, dense.linear.weight)


def test_dense_refuses_foreign_activation_without_trust(tmp_path):
    Dense(2, 2).save(str(tmp_path))
    config = json.loads((tmp_path / "config.json").read_text())
    config["activation_function"] = "os.system"
    (tmp_path / "config.json").write_text(json.dumps(config))
    with pytest.raises(ValueError, match="trust_remote_code"):
        Dense.load(str(tmp_path))


def test_normalize():
    out = Normalize()({"sentence_embedding": torch.tensor([[3.0, 4.0], [0.0, 2.0]])})["sentence_embedding"]
    torch.testing.assert_close(out, torch.tensor([[0.6, 0.8], [0.0, 1.0]]))


def test_transformer_parameters_and_round_trip(tiny_bert_dir, tmp_path):
    transformer = Transformer(
        str(tiny_bert_dir), max_seq_length=16, model_args={"attn_implementation": "eager"}, do_lower_case=True
    )
    assert transformer.get_word_embedding_dimension() == 32
    assert transformer.auto_model.config._attn_implementation == "eager"
    features = transformer.tokenize(["HELLO world " * 20, "short"])
    assert features["input_ids"].shape == (2, 16)
    transformer.save(str(tmp_path))
    assert json.loads((tmp_path / "sentence_bert_config.json").read_text()) == {
        "max_seq_length": 16,
        "do_lower_case": True,
    }
    loaded = Transformer.load(str(tmp_path))
    assert loaded.max_seq_length == 16 and loaded.do_lower_case
    with torch.no_grad():
        a = transformer(transformer.tokenize(["a test"]))["token_embeddings"]
        b = loaded(loaded.tokenize(["a test"]))["token_embeddings"]
    torch.testing.assert_close(a, b)


def test_transformer_newer_kwarg_names(tiny_bert_dir):
    transformer = Transformer(
        str(tiny_bert_dir),
        model_kwargs={"attn_implementation": "eager"},
        tokenizer_kwargs={"model_max_length": 12},
        config_kwargs={"hidden_dropout_prob": 0.3},
    )
    assert transformer.auto_model.config.hidden_dropout_prob == 0.3
    assert transformer.tokenizer.model_max_length == 12
    assert transformer.max_seq_length == 12


def test_transformer_tokenizes_pairs(tiny_bert_dir):
    transformer = Transformer(str(tiny_bert_dir))
    features = transformer.tokenize([("a cat", "the dog"), ("query", "a man plays")])
    assert features["token_type_ids"][0].tolist().count(1) >= 2


def test_transformer_reads_legacy_config_names(tiny_bert_dir, tmp_path):
    Transformer(str(tiny_bert_dir), max_seq_length=20).save(str(tmp_path))
    (tmp_path / "sentence_bert_config.json").rename(tmp_path / "sentence_roberta_config.json")
    assert Transformer.load(str(tmp_path)).max_seq_length == 20


class DecayMeanPooling(Module):
    """The custom module of the seeds' 'Creating Custom Models' page, verbatim in behaviour."""

    config_keys: list[str] = ["dimension", "decay"]

    def __init__(self, dimension: int, decay: float = 0.95, **kwargs) -> None:
        super(DecayMeanPooling, self).__init__()  # noqa: UP008 - written as the docs write it
        self.dimension = dimension
        self.decay = decay

    def forward(self, features: dict[str, torch.Tensor], **kwargs) -> dict[str, torch.Tensor]:
        token_embeddings = features["token_embeddings"]
        attention_mask = features["attention_mask"].unsqueeze(-1)
        token_embeddings = token_embeddings * attention_mask
        sentence_embeddings = token_embeddings.sum(1) / attention_mask.sum(1)
        importance_per_dim = self.decay ** torch.arange(sentence_embeddings.size(1), device=sentence_embeddings.device)
        features["sentence_embedding"] = sentence_embeddings * importance_per_dim
        return features

    def get_sentence_embedding_dimension(self) -> int:
        return self.dimension

    def save(self, output_path, *args, safe_serialization=True, **kwargs) -> None:
        self.save_config(output_path)


def test_custom_module_example_runs_saves_and_loads(tiny_bert_dir, tmp_path):
    transformer = Transformer(str(tiny_bert_dir), max_seq_length=32)
    decay = DecayMeanPooling(transformer.get_word_embedding_dimension(), decay=0.99)
    model = SentenceTransformer(modules=[transformer, decay, Normalize()], device="cpu")
    texts = ["Hello, World!", "The quick brown fox jumps over the lazy dog.", "This is a test sentence."]
    embeddings = model.encode(texts)
    assert embeddings.shape == (3, 32)
    np.testing.assert_allclose(np.linalg.norm(embeddings, axis=1), 1.0, rtol=1e-5)
    model.save(str(tmp_path / "decay"))
    entries = json.loads((tmp_path / "decay" / "modules.json").read_text())
    assert entries[1] == {"idx": 1, "name": "1", "path": "1_DecayMeanPooling", "type": f"{__name__}.DecayMeanPooling"}
    assert json.loads((tmp_path / "decay" / "1_DecayMeanPooling" / "config.json").read_text()) == {
        "dimension": 32,
        "decay": 0.99,
    }
    reloaded = SentenceTransformer(str(tmp_path / "decay"), device="cpu")
    assert isinstance(reloaded[1], DecayMeanPooling) and reloaded[1].decay == 0.99
    np.testing.assert_allclose(reloaded.encode(texts), embeddings, atol=1e-6)


def test_transformer_token_lengths_match_tokenize(tiny_bert_dir):
    transformer = Transformer(str(tiny_bert_dir), max_seq_length=8, do_lower_case=True)
    texts = ["  A CAT  ", "the quick brown fox jumps over the lazy dog", "", "hello world"]
    mask = transformer.tokenize(texts)["attention_mask"]
    assert transformer.token_lengths(texts) == mask.sum(dim=1).tolist()
    pairs = [("a cat", "the dog sleeps"), ("x", "y")]
    assert transformer.token_lengths(pairs) == transformer.tokenize(pairs)["attention_mask"].sum(dim=1).tolist()


def test_tokenizer_max_length_follows_max_seq_length(tiny_bert_dir, tmp_path):
    transformer = Transformer(str(tiny_bert_dir), max_seq_length=9)
    long_text = " ".join(["guitar"] * 40)
    assert transformer.tokenizer.model_max_length == 9
    assert len(transformer.tokenizer(long_text, truncation=True)["input_ids"]) == 9
    transformer.max_seq_length = 7
    assert len(transformer.tokenizer(long_text, truncation=True)["input_ids"]) == 7
    transformer.save(str(tmp_path))
    saved = json.loads((tmp_path / "tokenizer_config.json").read_text())
    assert saved["model_max_length"] == 7
    assert json.loads((tmp_path / "sentence_bert_config.json").read_text())["max_seq_length"] == 7
    assert Transformer.load(str(tmp_path)).tokenizer.model_max_length == 7
