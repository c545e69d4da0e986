"""Generative (causal-LM) rerankers whose tokenizer has a chat template: pairs rendered as chat messages.

A (query, document) pair becomes a "query" and a "document" message, the prompt a "system" message, and the chat
template's text is tokenized; truncation keeps the template's suffix (the assistant header), so that the last
position, which LogitScore scores, is the template's. Expectations are built by hand with the tokenizer's own
``apply_chat_template`` and the Hugging Face model, one input at a time.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path

import numpy as np
import pytest
import torch

from sentence_transformers import CrossEncoder
from sentence_transformers.base.modules.transformer import Transformer
from sentence_transformers.cross_encoder.modules import LogitScore

SYSTEM = (
    "Judge whether the Document meets the requirements based on the Query and the Instruct provided. Note that the "
    'answer can only be "yes" or "no".'
)
INSTRUCTION = "Given a web search query, retrieve relevant passages that answer the query"
# After the last content: what truncation must keep (Qwen3-Reranker's assistant header with an empty thinking block).
SUFFIX = "<|im_end|>\n<|im_start|>assistant\n<think>\n\n</think>\n\n"
_HEADER = "<|im_start|>system\\n" + SYSTEM.replace('"', '\\"') + "<|im_end|>\\n<|im_start|>user\\n<Instruct>: "
_SUFFIX_LITERAL = SUFFIX.replace("\n", "\\n")
# Qwen3-Reranker-like, contents as plain strings ("flat"): the system message is the instruction, the assistant
# header is always written.
FLAT_TEMPLATE = (
    '{%- set ns = namespace(instruction="' + INSTRUCTION + '") -%}'
    '{%- for message in messages if message.role == "system" -%}{%- set ns.instruction = message.content -%}'
    "{%- endfor -%}"
    '{{- "' + _HEADER + '" + ns.instruction -}}'
    "{%- for message in messages -%}"
    '{%- if message.role == "query" -%}{{- "\\n<Query>: " + message.content -}}'
    '{%- elif message.role == "document" -%}{{- "\\n<Document>: " + message.content -}}{%- endif -%}'
    "{%- endfor -%}"
    '{{- "' + _SUFFIX_LITERAL + '" -}}'
)
# Contents as typed items ("structured"); the assistant header only with add_generation_prompt, the empty thinking
# block only with enable_thinking=False, and a line for the task when one is given.
STRUCTURED_TEMPLATE = (
    '{%- set ns = namespace(instruction="' + INSTRUCTION + '") -%}'
    '{%- for message in messages if message.role == "system" -%}{%- set ns.instruction = message.content[0].text -%}'
    "{%- endfor -%}"
    '{{- "' + _HEADER + '" + ns.instruction -}}'
    '{%- if task is defined and task -%}{{- "\\n<Task>: " + task -}}{%- endif -%}'
    "{%- for message in messages -%}"
    '{%- if message.role == "query" -%}{{- "\\n<Query>: " + message.content[0].text -}}'
    '{%- elif message.role == "document" -%}{{- "\\n<Document>: " + message.content[0].text -}}{%- endif -%}'
    "{%- endfor -%}"
    '{{- "<|im_end|>\\n" -}}'
    '{%- if add_generation_prompt -%}{{- "<|im_start|>assistant\\n" -}}'
    "{%- if enable_thinking is defined and enable_thinking is false -%}"
    '{{- "<think>\\n\\n</think>\\n\\n" -}}{%- endif -%}'
    "{%- endif -%}"
)
# A chat template that knows only the usual roles: a pair's query and document never reach its text.
USER_ONLY_TEMPLATE = (
    "{%- for message in messages if message.role in ['system', 'user', 'assistant'] -%}"
    "{{- '<|im_start|>' + message.role + '\\n' + message.content + '<|im_end|>\\n' -}}{%- endfor -%}"
    "{{- '<|im_start|>assistant\\n' -}}"
)
TEMPLATES = {"flat": FLAT_TEMPLATE, "structured": STRUCTURED_TEMPLATE, "user_only": USER_ONLY_TEMPLATE}
CORPUS = (
    f"{SYSTEM} {INSTRUCTION} the cat sleeps on a warm windowsill what is capital of France Paris dog plays guitar "
    "man street Find animal"
)

MAX_LENGTH = 160
PAIRS = [  # rendered in 134, 190, 189 and 124 tokens (an empty pair in 123)
    ("the cat", "a cat sleeps on the warm windowsill"),
    ("what is the capital of France", "Paris " * 60),  # truncated at MAX_LENGTH
    ("dog", "the dog plays guitar on the street " * 6),  # truncated too
    ("a man", ""),
]


def build_chat_reranker(folder: Path | str, template: str = "flat") -> str:
    """A tiny Qwen3 causal LM whose byte-level BPE tokenizer (the byte alphabet plus one merge chain per word of
    CORPUS, "yes" and "no"; built, not trained, so the same on every run) has the chat template ``template``
    (a key of TEMPLATES)."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers
    from transformers import PreTrainedTokenizerFast, Qwen3Config, Qwen3ForCausalLM

    byte_level = pre_tokenizers.ByteLevel(add_prefix_space=False)
    vocab = {char: index for index, char in enumerate(sorted(pre_tokenizers.ByteLevel.alphabet()))}
    merges = []
    words = ["yes", "no", "Query", "Document", "Instruct", "think"]
    words += [word for word, _ in byte_level.pre_tokenize_str(CORPUS)]
    for word in dict.fromkeys(words):
        for end in range(2, len(word) + 1):
            if word[:end] not in vocab:
                merges.append((word[: end - 1], word[end - 1]))
                vocab[word[:end]] = len(vocab)
    tokenizer = Tokenizer(models.BPE(vocab, merges))
    tokenizer.pre_tokenizer = byte_level
    tokenizer.decoder = decoders.ByteLevel()
    fast = PreTrainedTokenizerFast(
        tokenizer_object=tokenizer,
        pad_token="<|endoftext|>",
        eos_token="<|im_end|>",
        additional_special_tokens=["<|im_start|>"],
        model_max_length=512,
    )
    fast.chat_template = TEMPLATES[template]
    fast.save_pretrained(folder)
    config = Qwen3Config(
        vocab_size=len(fast),
        hidden_size=32,
        intermediate_size=64,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,
        head_dim=8,
        max_position_embeddings=512,
        tie_word_embeddings=False,
        pad_token_id=fast.pad_token_id,
        eos_token_id=fast.eos_token_id,
    )
    torch.manual_seed(0)
    Qwen3ForCausalLM(config).eval().save_pretrained(folder)
    return str(folder)


@pytest.fixture(scope="module")
def flat_folder(tmp_path_factory: pytest.TempPathFactory) -> str:
    return build_chat_reranker(tmp_path_factory.mktemp("flat_reranker"), "flat")


@pytest.fixture(scope="module")
def structured_folder(tmp_path_factory: pytest.TempPathFactory) -> str:
    return build_chat_reranker(tmp_path_factory.mktemp("structured_reranker"), "structured")


@pytest.fixture(scope="module")
def reranker(flat_folder: str) -> CrossEncoder:
    return CrossEncoder(flat_folder, max_length=MAX_LENGTH, device="cpu")


def pair_messages(query: str, document: str, prompt: str | None = None) -> list[dict[str, str]]:
    system = [{"role": "system", "content": prompt}] if prompt else []
    return [*system, {"role": "query", "content": query}, {"role": "document", "content": document}]


def template_ids(tokenizer, messages: list[dict], **template_kwargs) -> list[int]:
    """The tokenizer's own rendering of ``messages``, tokenized whole (no special tokens added, no truncation)."""
    text = tokenizer.apply_chat_template(messages, tokenize=False, **template_kwargs)
    return tokenizer(text, add_special_tokens=False)["input_ids"]


def rows(features: dict) -> list[list[int]]:
    """The real (unpadded) token ids of each row."""
    pairs = zip(features["input_ids"], features["attention_mask"], strict=True)
    return [ids[mask.bool()].tolist() for ids, mask in pairs]


def expected_ids(tokenizer, messages: list[dict], max_length: int, **template_kwargs) -> list[int]:
    """By hand: the whole rendering when it fits; else its head, cut so that the template's suffix still fits."""
    full = template_ids(tokenizer, messages, **template_kwargs)
    if len(full) <= max_length:
        return full
    suffix = tokenizer(SUFFIX, add_special_tokens=False)["input_ids"]
    return full[: max_length - len(suffix)] + suffix


def last_token_scores(model: CrossEncoder, id_rows: list[list[int]]) -> np.ndarray:
    """sigmoid(logit("yes") - logit("no")) at the last token, the model run on each row alone (no padding)."""
    yes, no = model.tokenizer.convert_tokens_to_ids(["yes", "no"])
    scores = []
    with torch.no_grad():
        for ids in id_rows:
            last = model.model(input_ids=torch.tensor([ids])).logits[0, -1]
            scores.append(torch.sigmoid(last[yes] - last[no]).item())
    return np.array(scores)


def test_a_chat_template_reranker_reads_pairs_as_query_and_document_messages(reranker):
    transformer = reranker[0]
    assert isinstance(reranker[1], LogitScore) and transformer.transformer_task == "text-generation"
    assert transformer.renders_messages and transformer.modality_config["message"]["format"] == "flat"
    tokenizer = reranker.tokenizer
    features = reranker.preprocess(PAIRS)
    assert features["modality"] == "message"
    for ids, (query, document) in zip(rows(features), PAIRS, strict=True):
        assert ids == expected_ids(tokenizer, pair_messages(query, document), MAX_LENGTH)
    assert transformer.to_messages([("q", "d")]) == [pair_messages("q", "d")]
    text = tokenizer.decode(rows(features)[0])
    assert "<Query>: the cat\n<Document>: a cat sleeps" in text and text.endswith(SUFFIX)


def test_the_prompt_is_a_system_message(reranker):
    prompt = "Find the animal"
    features = reranker.preprocess(PAIRS, prompt=prompt)
    for ids, (query, document) in zip(rows(features), PAIRS, strict=True):
        assert ids == expected_ids(reranker.tokenizer, pair_messages(query, document, prompt), MAX_LENGTH)
    assert "<Instruct>: Find the animal\n<Query>" in reranker.tokenizer.decode(rows(features)[0])
    scores = reranker.predict(PAIRS, prompt=prompt, batch_size=4)
    np.testing.assert_allclose(scores, last_token_scores(reranker, rows(features)), atol=1e-5)


def test_truncation_keeps_the_template_suffix_and_the_last_position_is_scored(reranker):
    tokenizer = reranker.tokenizer
    features = reranker.preprocess(PAIRS)
    suffix = tokenizer(SUFFIX, add_special_tokens=False)["input_ids"]
    lengths = features["attention_mask"].sum(dim=1).tolist()
    assert (
        lengths[1] == lengths[2] == MAX_LENGTH and lengths[0] < MAX_LENGTH
    )  # two rows truncated, one padded (on the left)
    assert features["attention_mask"][0, 0] == 0 and bool(features["attention_mask"][:, -1].all())
    for ids in rows(features):
        assert ids[-len(suffix) :] == suffix
    truncated = rows(features)[1]
    whole = template_ids(tokenizer, pair_messages(*PAIRS[1]))
    assert truncated[: MAX_LENGTH - len(suffix)] == whole[: MAX_LENGTH - len(suffix)]
    # The score is the last real position's: every row alone, unpadded; batched with left padding alike.
    expected = last_token_scores(reranker, rows(features))
    np.testing.assert_allclose(reranker.predict(PAIRS, batch_size=4), expected, atol=1e-5)
    np.testing.assert_allclose(reranker.predict(PAIRS, batch_size=1), expected, atol=1e-5)
    documents = [document for _, document in PAIRS]
    ranking = reranker.rank("the cat", documents)
    scores = reranker.predict([("the cat", document) for document in documents])
    assert [item["corpus_id"] for item in ranking] == np.argsort(-scores, kind="stable").tolist()
    np.testing.assert_allclose([item["score"] for item in ranking], np.sort(scores)[::-1], atol=1e-6)


def test_restore_suffix_false_leaves_the_plain_truncation(flat_folder):
    transformer = Transformer(
        flat_folder,
        transformer_task="text-generation",
        max_seq_length=MAX_LENGTH,
        processing_kwargs={"chat_template": {"restore_suffix": False}},
    )
    features = transformer.preprocess([PAIRS[1]])
    whole = template_ids(transformer.tokenizer, pair_messages(*PAIRS[1]))
    assert features["input_ids"][0].tolist() == whole[:MAX_LENGTH]


def test_template_kwargs_task_and_structured_contents(structured_folder):
    template_kwargs = {"add_generation_prompt": True, "enable_thinking": False}
    transformer = Transformer(
        structured_folder,
        transformer_task="text-generation",
        max_seq_length=MAX_LENGTH,
        processing_kwargs={"chat_template": template_kwargs},
    )
    assert transformer.modality_config["message"]["format"] == "structured"
    assert "task" in transformer.forward_kwargs  # the template reads it: encode and predict pass it on
    tokenizer = transformer.tokenizer

    def structured(messages: list[dict]) -> list[dict]:
        return [{**message, "content": [{"type": "text", "text": message["content"]}]} for message in messages]

    features = transformer.preprocess(PAIRS, prompt="Find the animal")
    for ids, (query, document) in zip(rows(features), PAIRS, strict=True):
        messages = structured(pair_messages(query, document, "Find the animal"))
        assert ids == expected_ids(tokenizer, messages, MAX_LENGTH, **template_kwargs)
    with_task = transformer.preprocess(PAIRS[:1], task="query")
    messages = structured(pair_messages(*PAIRS[0]))
    assert rows(with_task)[0] == template_ids(tokenizer, messages, task="query", **template_kwargs)
    assert "<Task>: query" in tokenizer.decode(rows(with_task)[0])
    # predict: the engine tokenizes ahead with the template arguments, and passes the task on to the template.
    yes, no = tokenizer.convert_tokens_to_ids(["yes", "no"])
    model = CrossEncoder(modules=[transformer, LogitScore(true_token_id=yes, false_token_id=no)], device="cpu")
    for task in (None, "query"):
        expected = last_token_scores(model, rows(transformer.preprocess(PAIRS, task=task)))
        np.testing.assert_allclose(model.predict(PAIRS, task=task), expected, atol=1e-5)


def test_right_padding_is_refused(flat_folder):
    transformer = Transformer(flat_folder, transformer_task="text-generation", max_seq_length=MAX_LENGTH)
    transformer.tokenizer.padding_side = "right"
    with pytest.raises(ValueError, match="needs left padding"):
        transformer.preprocess(PAIRS)


def test_saved_and_reloaded_keeps_rendering_messages(reranker, tmp_path, caplog):
    reranker.save(str(tmp_path / "saved"))
    config = json.loads((tmp_path / "saved" / "sentence_bert_config.json").read_text())
    assert config["modality_config"]["message"] == {
        "method": "forward",
        "method_output_name": "logits",
        "format": "flat",
    }
    with caplog.at_level(logging.WARNING):
        again = CrossEncoder(str(tmp_path / "saved"), device="cpu")
    assert "chat template" not in caplog.text
    assert again[0].renders_messages
    np.testing.assert_allclose(again.predict(PAIRS), reranker.predict(PAIRS), atol=1e-6)
    # Saved without modality_config (before chat rendering, as upstream reads such folders): plain text.
    del config["modality_config"], config["module_output_name"]
    (tmp_path / "saved" / "sentence_bert_config.json").write_text(json.dumps(config))
    plain = CrossEncoder(str(tmp_path / "saved"), device="cpu")
    assert not plain[0].renders_messages
    first, second = PAIRS[0]
    expected = plain.tokenizer(first.strip(), second.strip(), return_tensors="pt")["input_ids"]
    assert plain.preprocess([PAIRS[0]])["input_ids"].tolist() == expected.tolist()


def test_a_template_that_drops_the_pair_is_refused(tmp_path):
    model = CrossEncoder(build_chat_reranker(tmp_path / "user_only", "user_only"), device="cpu")
    with pytest.raises(ValueError, match="cannot carry a \\(query, document\\) pair: its query and document"):
        model.predict(PAIRS)


def test_the_onnx_backend_still_refuses_text_generation(flat_folder):
    with pytest.raises(NotImplementedError, match="torch backend only"):
        Transformer(flat_folder, transformer_task="text-generation", backend="onnx")
