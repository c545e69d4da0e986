"""ColBERT query expansion in the Transformer: queries padded with [MASK] tokens that take part in scoring."""

from __future__ import annotations

import json

import pytest
import torch

from sentence_transformers import SentenceTransformer
from sentence_transformers.base.modules.query_expansion import normalize
from sentence_transformers.base.modules.transformer import QueryExpansionConfig, Transformer

TEXTS = ["the fox", "the quick brown fox jumps over the lazy dog again and again"]


@pytest.fixture(scope="module")
def module(tiny_bert_dir) -> Transformer:
    return Transformer(str(tiny_bert_dir))


def test_config_is_checked_and_filled():
    assert normalize({"strategy": "fixed", "length": 32}) == {
        "strategy": "fixed",
        "attend": False,
        "token": None,
        "length": 32,
    }
    assert normalize(None) is None
    for bad, message in [
        ({"strategy": "all", "length": 4}, "strategy"),
        ({"strategy": "fixed"}, "length"),
        ({"strategy": "fixed", "length": 0}, "length"),
        ({"strategy": "fixed", "length": True}, "length"),
        ({"strategy": "min", "length": 4, "attend": "yes"}, "attend"),
        ({"strategy": "min", "length": 4, "size": 3}, "unknown keys"),
    ]:
        with pytest.raises(ValueError, match=message):
            normalize(bad)
    with pytest.raises(TypeError, match="dict or None"):
        normalize(["fixed"])
    assert set(QueryExpansionConfig.__annotations__) == {"strategy", "attend", "token", "length"}


def test_fixed_pads_every_query_to_the_length_with_mask_tokens(module):
    module.query_expansion = {"strategy": "fixed", "length": 8}
    try:
        plain = module.tokenize(TEXTS[:1])
        features = module.tokenize(TEXTS, task="query")
    finally:
        module.query_expansion = None
    ids, mask, positions = features["input_ids"], features["attention_mask"], features["query_expansion_positions"]
    assert ids.shape == mask.shape == positions.shape == (2, 8)
    real = int(plain["attention_mask"].sum())  # the short query's own tokens, [CLS] and [SEP] included
    assert ids[0, :real].tolist() == plain["input_ids"][0].tolist()
    mask_id = module.tokenizer.mask_token_id
    assert ids[0, real:].tolist() == [mask_id] * (8 - real)
    assert positions[0].tolist() == [False] * real + [True] * (8 - real)
    assert mask[0].tolist() == [1] * real + [0] * (8 - real)  # attend=False: the encoder skips them
    assert not positions[1].any() and mask[1].all()  # the long query fills the width: truncated, nothing added


def test_min_keeps_long_queries_and_attend_opens_the_mask(module):
    module.query_expansion = {"strategy": "min", "length": 6, "attend": True}
    try:
        features = module.tokenize(TEXTS, task="query")
        documents = module.tokenize(TEXTS, task="document")
    finally:
        module.query_expansion = None
    long_length = len(module.tokenize(TEXTS[1:])["input_ids"][0])
    assert features["input_ids"].shape[1] == long_length > 6  # not truncated to the floor
    positions = features["query_expansion_positions"]
    short = int(module.tokenize(TEXTS[:1])["attention_mask"].sum())
    assert positions[0].tolist() == [False] * short + [True] * (6 - short) + [False] * (long_length - 6)
    assert features["attention_mask"][0, :6].all()  # attend=True
    assert not features["attention_mask"][0, 6:].any()  # real padding beyond the floor stays out
    assert "query_expansion_positions" not in documents


def test_saved_and_loaded_and_checked_against_query_length(tiny_bert_dir, tmp_path):
    module = Transformer(str(tiny_bert_dir), query_expansion={"strategy": "fixed", "length": 10, "token": "[PAD]"})
    assert module.forward_kwargs == {"task"}
    module.save(str(tmp_path))
    saved = json.loads((tmp_path / "sentence_bert_config.json").read_text())
    assert saved["query_expansion"] == {"strategy": "fixed", "attend": False, "token": "[PAD]", "length": 10}
    loaded = Transformer.load(str(tmp_path))
    assert loaded.query_expansion == saved["query_expansion"]
    ids = loaded.tokenize(["the fox"], task="query")["input_ids"][0]
    assert ids[-1].item() == loaded.tokenizer.pad_token_id and ids.shape == (10,)
    with pytest.raises(ValueError, match="query_length=4 is smaller"):
        Transformer(str(tiny_bert_dir), query_length=4, query_expansion={"strategy": "fixed", "length": 10})
    with pytest.raises(ValueError, match="not in this tokenizer's vocabulary"):
        Transformer(str(tiny_bert_dir), query_expansion={"strategy": "fixed", "length": 10, "token": "[NOPE]"})
    plain = Transformer(str(tiny_bert_dir))
    assert plain.forward_kwargs == set() and "query_expansion" not in plain.get_config_dict()


def test_encode_query_expands_and_plain_encode_does_not(tiny_bert_dir):
    module = Transformer(str(tiny_bert_dir), query_expansion={"strategy": "fixed", "length": 12, "attend": True})
    model = SentenceTransformer(modules=[module], device="cpu")
    queries = model.encode_query(TEXTS[:1], output_value="token_embeddings")
    plain = model.encode(TEXTS[:1], output_value="token_embeddings")
    assert queries[0].shape[0] == 12  # attended expansion positions come back as token embeddings
    assert plain[0].shape[0] == int(module.tokenize(TEXTS[:1])["attention_mask"].sum())
    direct = module(module.tokenize(TEXTS[:1], task="query"))["token_embeddings"][0]
    torch.testing.assert_close(queries[0], direct, atol=1e-6, rtol=0)


def test_prompt_length_is_the_prompt_without_expansion_padding(tiny_bert_dir):
    module = Transformer(str(tiny_bert_dir), query_expansion={"strategy": "fixed", "length": 16})
    features = module.preprocess(["the fox"], prompt="the ", task="query")
    assert features["prompt_length"] == 2  # [CLS] and "the"; the closing [SEP] left out
    assert features["input_ids"].shape == (1, 16)
