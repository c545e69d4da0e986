"""``preprocess``, upstream 6.x's name for ``tokenize``: on the model, on input modules, and in the encode engine."""

from __future__ import annotations

import inspect
import json
from typing import Any

import numpy as np
import pytest
import torch
from torch import nn

from sentence_transformers import SentenceTransformer
from sentence_transformers.base import encoding
from sentence_transformers.base.modules import InputModule, Router, Transformer
from sentence_transformers.sentence_transformer.data_collator import SentenceTransformerDataCollator
from sentence_transformers.sentence_transformer.modules import Pooling

TEXTS = ["ab", "a", "", "hello there", "cab"]


def char_table(vocab: int = 128) -> torch.Tensor:
    """Row ``i`` is ``[i, i / 2, 1]``: the mean over a text's characters is easy to compute by hand."""
    ids = torch.arange(vocab, dtype=torch.float32)
    return torch.stack([ids, ids / 2, torch.ones(vocab)], dim=1)


def char_features(texts: list[str], vocab: int) -> dict[str, torch.Tensor]:
    """Code points, right-padded with 0, and the attention mask."""
    width = max(1, *(len(text) for text in texts))
    ids = torch.zeros((len(texts), width), dtype=torch.long)
    mask = torch.zeros((len(texts), width), dtype=torch.long)
    for row, text in enumerate(texts):
        ids[row, : len(text)] = torch.tensor([ord(char) % vocab for char in text], dtype=torch.long)
        mask[row, : len(text)] = 1
    return {"input_ids": ids, "attention_mask": mask}


class CharEmbedding(InputModule):
    """Embeds each character (its code point) and mean-pools them; implements ``preprocess`` only."""

    config_keys = ["vocab_size"]
    config_file_name = "char_config.json"
    saved_weights = "required"
    calls: list[tuple[list[Any], str | None]] = []

    def __init__(self, vocab_size: int = 128) -> None:
        super().__init__()
        self.vocab_size = vocab_size
        self.embedding = nn.Embedding(vocab_size, 3)
        with torch.no_grad():
            self.embedding.weight.copy_(char_table(vocab_size))

    def preprocess(self, inputs: list[Any], prompt: str | None = None, **kwargs) -> dict[str, Any]:
        type(self).calls.append((list(inputs), prompt))
        return char_features([(prompt or "") + text for text in inputs], self.vocab_size)

    def forward(self, features: dict[str, Any], **kwargs) -> dict[str, Any]:
        mask = features["attention_mask"].unsqueeze(-1).float()
        tokens = self.embedding(features["input_ids"])
        features["token_embeddings"] = tokens
        features["sentence_embedding"] = (tokens * mask).sum(1) / mask.sum(1).clamp(min=1)
        return features

    def get_sentence_embedding_dimension(self) -> int:
        return 3

    def save(self, output_path: str, *args, safe_serialization: bool = True, **kwargs) -> None:
        self.save_config(output_path)
        self.save_torch_weights(output_path, safe_serialization=safe_serialization)


class CharTokenizeOnly(CharEmbedding):
    """The same embedding through the pre-6.x interface: ``tokenize`` only (no prompt argument)."""

    preprocess = InputModule.preprocess

    def tokenize(self, texts: list[Any], **kwargs) -> dict[str, Any]:
        type(self).calls.append((list(texts), None))
        return char_features([text if isinstance(text, str) else text[0] for text in texts], self.vocab_size)


def by_hand(text: str) -> list[float]:
    """The mean of ``[i, i / 2, 1]`` over the code points ``i`` of ``text`` (zeros for an empty text)."""
    if not text:
        return [0.0, 0.0, 0.0]
    mean = sum(ord(char) for char in text) / len(text)
    return [mean, mean / 2, 1.0]


@pytest.fixture(autouse=True)
def _clear_calls():
    CharEmbedding.calls = []
    CharTokenizeOnly.calls = []


def test_preprocess_only_module_encodes(tmp_path):
    model = SentenceTransformer(modules=[CharEmbedding()], device="cpu")
    got = model.encode(TEXTS, batch_size=2)
    np.testing.assert_allclose(got, [by_hand(text) for text in TEXTS], rtol=1e-6)
    assert sorted(text for batch, _ in CharEmbedding.calls for text in batch) == sorted(TEXTS)
    np.testing.assert_allclose(model.encode("cab"), by_hand("cab"), rtol=1e-6)


def test_preprocess_only_module_gets_the_prompt_itself():
    model = SentenceTransformer(modules=[CharEmbedding()], device="cpu", prompts={"query": "q:"})
    got = model.encode_query(["ab", "c"])
    np.testing.assert_allclose(got, [by_hand("q:ab"), by_hand("q:c")], rtol=1e-6)
    assert CharEmbedding.calls == [(["ab", "c"], "q:")]


def test_tokenize_and_preprocess_reach_a_preprocess_only_module():
    model = SentenceTransformer(modules=[CharEmbedding()], device="cpu")
    tokenized = model.tokenize(["ab", "c"])
    assert tokenized["input_ids"].tolist() == [[97, 98], [99, 0]]
    preprocessed = model.preprocess(["ab", "c"], prompt="x")
    assert preprocessed["input_ids"].tolist() == [[120, 97, 98], [120, 99, 0]]
    assert CharEmbedding.calls[-1] == (["ab", "c"], "x")
    batch = SentenceTransformerDataCollator(tokenize_fn=model.tokenize)([{"anchor": "ab"}, {"anchor": "c"}])
    assert batch["anchor_attention_mask"].tolist() == [[1, 1], [1, 0]]


def test_preprocess_only_module_save_and_load(tmp_path):
    model = SentenceTransformer(modules=[CharEmbedding()], device="cpu")
    with torch.no_grad():
        model[0].embedding.weight.mul_(2)
    model.save(str(tmp_path / "m"))
    loaded = SentenceTransformer(str(tmp_path / "m"), device="cpu")
    assert type(loaded[0]) is CharEmbedding
    np.testing.assert_allclose(loaded.encode(TEXTS), 2 * np.array([by_hand(text) for text in TEXTS]), rtol=1e-6)


def test_preprocess_only_module_from_model_folder_code_needs_trust(tmp_path):
    folder = tmp_path / "m"
    SentenceTransformer(modules=[CharEmbedding()], device="cpu").save(str(folder))
    header = "from typing import Any\n\nimport torch\nfrom torch import nn\n\n"
    header += "from sentence_transformers.base.modules import InputModule\n\n\n"
    source = "\n\n".join(inspect.getsource(code) for code in (char_table, char_features, CharEmbedding))
    (folder / "char_code.py").write_text(header + source)
    entries = json.loads((folder / "modules.json").read_text())
    entries[0]["type"] = "char_code.CharEmbedding"
    (folder / "modules.json").write_text(json.dumps(entries))
    with pytest.raises(ValueError, match="trust_remote_code"):
        SentenceTransformer(str(folder), device="cpu")
    loaded = SentenceTransformer(str(folder), trust_remote_code=True, device="cpu")
    assert type(loaded[0]).__module__ == "char_code"
    np.testing.assert_allclose(loaded.encode(TEXTS, prompt="p"), [by_hand("p" + text) for text in TEXTS], rtol=1e-6)


def test_tokenize_only_module_keeps_working():
    model = SentenceTransformer(modules=[CharTokenizeOnly()], device="cpu")
    assert not encoding.uses_preprocess(model)
    got = model.encode(TEXTS, prompt="p", batch_size=2)
    np.testing.assert_allclose(got, [by_hand("p" + text) for text in TEXTS], rtol=1e-6)
    batches = [batch for batch, _ in CharTokenizeOnly.calls]
    assert batches[0] == ["p"]  # the prompt's length is measured through tokenize, as before preprocess existed
    assert sorted(text for batch in batches[1:] for text in batch) == sorted("p" + t for t in TEXTS)
    features = model.preprocess([("ab", "cd")], prompt="x")  # prompts go in front of the first text of a pair
    assert CharTokenizeOnly.calls[-1] == ([("xab", "cd")], None)
    assert features["input_ids"].tolist() == [[120, 97, 98]]


def test_an_input_module_without_either_method_says_what_is_missing():
    class Empty(CharEmbedding):
        preprocess = InputModule.preprocess

    with pytest.raises(NotImplementedError, match="Empty must implement `preprocess`"):
        Empty().preprocess(["a"])
    with pytest.raises(NotImplementedError, match="Empty must implement `preprocess`"):
        Empty().tokenize(["a"])


def test_model_preprocess_matches_tokenize_for_bert(tiny_model):
    texts = ["A cat sleeps on the warm windowsill.", "Paris"]
    tokenized = tiny_model.tokenize(texts)
    preprocessed = tiny_model.preprocess(texts)
    assert set(preprocessed) == set(tokenized) | {"modality"} and preprocessed["modality"] == "text"
    for key, value in tokenized.items():
        assert torch.equal(preprocessed[key], value), key
    assert tiny_model.preprocess([]) == {}


def test_model_preprocess_prompt_for_bert(tiny_model):
    texts = ["a cat sleeps", "hello"]
    prompted = tiny_model.preprocess(texts, prompt="query: ")
    want = tiny_model.tokenize(["query: " + text for text in texts])
    assert prompted["input_ids"].tolist() == want["input_ids"].tolist()
    assert prompted["attention_mask"].tolist() == want["attention_mask"].tolist()
    assert prompted["prompt_length"] == 3  # [CLS] query : — without the closing [SEP], as upstream counts it
    assert torch.equal(tiny_model.tokenize(texts, prompt="query: ")["input_ids"], want["input_ids"])
    pair = tiny_model.preprocess([("a cat sleeps", "hello")], prompt="query: ")
    assert torch.equal(pair["input_ids"], tiny_model.tokenize([("query: a cat sleeps", "hello")])["input_ids"])
    with torch.no_grad():
        from_features = tiny_model(tiny_model.preprocess(texts))["sentence_embedding"]
    np.testing.assert_allclose(from_features.numpy(), tiny_model.encode(texts), atol=1e-6)


def test_transformer_subclass_with_own_preprocess_sees_every_batch(tiny_bert_dir, tiny_model):
    seen: list[tuple[list[str], str | None]] = []

    class Logged(Transformer):
        def preprocess(self, inputs, prompt=None, **kwargs):
            seen.append((list(inputs), prompt))
            return super().preprocess(inputs, prompt=prompt, **kwargs)

    model = SentenceTransformer(modules=[Logged(str(tiny_bert_dir)), Pooling(32, include_prompt=False)], device="cpu")
    tiny_model[1].include_prompt = False
    texts = ["The quick brown fox.", "A cat.", "Paris is the capital of France."]
    assert model[0].pretokenize(texts) is None
    got = model.encode(texts, prompt="query: ", batch_size=2)
    np.testing.assert_allclose(got, tiny_model.encode(texts, prompt="query: ", batch_size=2), atol=1e-5)
    assert sorted(text for batch, _ in seen for text in batch) == sorted(texts)
    assert {prompt for _, prompt in seen} == {"query: "}


def test_router_route_with_a_preprocess_only_module():
    doubled = CharEmbedding()
    with torch.no_grad():
        doubled.embedding.weight.mul_(2)
    router = Router.for_query_document([doubled], [CharEmbedding()])
    model = SentenceTransformer(modules=[router], device="cpu")
    np.testing.assert_allclose(model.encode_query(["ab"]), [[2 * v for v in by_hand("ab")]], rtol=1e-6)
    np.testing.assert_allclose(model.encode_document(["ab"]), [by_hand("ab")], rtol=1e-6)
    assert model.preprocess(["ab"], task="query")["input_ids"].tolist() == [[97, 98]]


def test_replaced_model_preprocess_sees_every_batch_with_the_prompt(tiny_bert_dir, tiny_model):
    model = SentenceTransformer(str(tiny_bert_dir), device="cpu")
    seen: list[tuple[list[str], str | None]] = []
    original = model.preprocess
    model.preprocess = lambda batch, prompt=None, **kwargs: (
        seen.append((batch, prompt)) or original(batch, prompt=prompt, **kwargs)
    )
    texts = ["A cat.", "Paris", "The quick brown fox jumps over the lazy dog."]
    got = model.encode(texts, prompt="query: ", batch_size=2)
    np.testing.assert_allclose(got, tiny_model.encode(texts, prompt="query: ", batch_size=2), atol=1e-5)
    assert sorted(text for batch, _ in seen for text in batch) == sorted(texts)
    assert {prompt for _, prompt in seen} == {"query: "}
