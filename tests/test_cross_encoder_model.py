"""CrossEncoder: loading every folder form, predict and rank on the shared engine, saving, old argument names."""

from __future__ import annotations

import json
import logging
import math

import numpy as np
import pytest
import torch
from torch import nn
from transformers import AutoModelForSequenceClassification, AutoTokenizer

from sentence_transformers import CrossEncoder, SentenceTransformer
from sentence_transformers.base.model import BaseModel
from sentence_transformers.cross_encoder.modules import LogitScore
from sentence_transformers.util import decorators

PAIRS = [
    ("What is the capital of France?", "Paris is the capital of France."),
    ("A man is playing a guitar.", "The quick brown fox jumps over the lazy dog."),
    ("A cat sleeps", "A cat sleeps on the warm windowsill in the afternoon sun."),
    ("query", "search results ranking retrieval"),
    ("Two women are sitting at a table and talking.", "A man"),
]


@pytest.fixture(scope="module")
def reranker(tiny_bert_dir):
    torch.manual_seed(0)
    return CrossEncoder(str(tiny_bert_dir), num_labels=1, device="cpu")


def hf_logits(model: CrossEncoder, pairs: list[tuple[str, str]]) -> torch.Tensor:
    """The logits of the Hugging Face model inside, one pair at a time (no batching, no sorting)."""
    tokenizer = model.tokenizer
    rows = []
    with torch.no_grad():
        for first, second in pairs:
            inputs = tokenizer(first, second, return_tensors="pt", truncation=True)
            rows.append(model.model(**inputs).logits[0])
    return torch.stack(rows)


def test_a_base_checkpoint_gets_a_new_head_and_the_shared_base(reranker):
    assert isinstance(reranker, BaseModel) and not isinstance(reranker, SentenceTransformer)
    assert reranker.num_labels == 1
    assert type(reranker.model).__name__ == "BertForSequenceClassification"
    assert reranker.config is reranker.model.config
    assert isinstance(reranker.activation_fn, nn.Sigmoid)
    assert reranker.default_activation_function is reranker.activation_fn
    assert "activation_fn" not in dict(reranker.named_children())  # a setting, not a submodule


def test_predict_equals_the_hugging_face_model_pair_by_pair(reranker):
    expected = torch.sigmoid(hf_logits(reranker, PAIRS)[:, 0]).numpy()
    scores = reranker.predict(PAIRS, batch_size=2)
    assert scores.shape == (len(PAIRS),) and scores.dtype == np.float32
    np.testing.assert_allclose(scores, expected, atol=1e-6)
    np.testing.assert_allclose(
        reranker.predict(PAIRS, activation_fn=nn.Identity()), np.log(expected / (1 - expected)), atol=1e-4
    )
    single = reranker.predict(PAIRS[0])
    assert np.ndim(single) == 0 and math.isclose(float(single), float(expected[0]), abs_tol=1e-6)
    tensor = reranker.predict(PAIRS, convert_to_tensor=True)
    assert isinstance(tensor, torch.Tensor) and tensor.shape == (len(PAIRS),)
    as_list = reranker.predict([list(pair) for pair in PAIRS], convert_to_numpy=False)
    assert isinstance(as_list, list) and len(as_list) == len(PAIRS)
    assert reranker.predict([]).shape == (0,)


def test_several_labels_give_a_row_per_pair_and_softmax_on_request(tiny_bert_dir):
    torch.manual_seed(1)
    model = CrossEncoder(str(tiny_bert_dir), num_labels=3, device="cpu")
    assert model.num_labels == 3 and isinstance(model.activation_fn, nn.Identity)
    logits = hf_logits(model, PAIRS)
    np.testing.assert_allclose(model.predict(PAIRS), logits.numpy(), atol=1e-5)
    probabilities = model.predict(PAIRS, apply_softmax=True)
    np.testing.assert_allclose(probabilities, torch.softmax(logits, dim=1).numpy(), atol=1e-5)
    np.testing.assert_allclose(probabilities.sum(axis=1), np.ones(len(PAIRS)), atol=1e-6)
    assert model.predict(PAIRS[0]).shape == (3,)
    with pytest.raises(ValueError, match="only works for models with num_labels=1"):
        model.rank("query", ["a", "b"])


def test_rank_sorts_by_score_with_top_k_and_documents(reranker):
    query, documents = "A cat sleeps", [pair[1] for pair in PAIRS]
    scores = reranker.predict([(query, doc) for doc in documents])
    ranking = reranker.rank(query, documents, return_documents=True)
    assert [item["corpus_id"] for item in ranking] == list(np.argsort(-scores, kind="stable"))
    assert all(math.isclose(item["score"], float(scores[item["corpus_id"]]), abs_tol=1e-6) for item in ranking)
    assert all(item["text"] == documents[item["corpus_id"]] for item in ranking)
    top = reranker.rank(query, documents, top_k=2)
    assert top == [{"corpus_id": item["corpus_id"], "score": item["score"]} for item in ranking[:2]]


def test_rank_takes_many_queries_in_one_call(reranker):
    queries = ["A cat sleeps", "What is the capital of France?"]
    documents = [[PAIRS[0][1], PAIRS[2][1]], [PAIRS[1][1], PAIRS[0][1], PAIRS[3][1]]]
    rankings = reranker.rank(queries, documents, batch_size=2)
    assert rankings == [reranker.rank(query, docs) for query, docs in zip(queries, documents, strict=True)]
    with pytest.raises(ValueError, match="a list of documents per query"):
        reranker.rank(queries, documents[:1])


def test_save_and_load_keep_scores_config_and_activation(reranker, tmp_path):
    reranker.activation_fn = nn.Tanh()
    try:
        reranker.save(str(tmp_path / "ce"))
        expected = reranker.predict(PAIRS)
    finally:
        reranker.activation_fn = nn.Sigmoid()
    modules = json.loads((tmp_path / "ce" / "modules.json").read_text())
    assert [entry["type"] for entry in modules] == ["sentence_transformers.models.Transformer"]
    config = json.loads((tmp_path / "ce" / "config_sentence_transformers.json").read_text())
    assert config["model_type"] == "CrossEncoder"
    assert config["activation_fn"] == "torch.nn.modules.activation.Tanh"
    loaded = CrossEncoder(str(tmp_path / "ce"), device="cpu")
    assert isinstance(loaded.activation_fn, nn.Tanh)
    np.testing.assert_allclose(loaded.predict(PAIRS), expected, atol=1e-6)
    assert "CrossEncoder" in (tmp_path / "ce" / "README.md").read_text()


def test_a_plain_hugging_face_classifier_with_a_5x_activation_loads(tmp_path, tiny_bert_dir):
    """How 4.x/5.x saved CrossEncoders (and most published rerankers) look: no modules.json; the activation is in
    config.json's "sentence_transformers" entry (torch's own classes only, without trust_remote_code)."""
    torch.manual_seed(2)
    hf = AutoModelForSequenceClassification.from_pretrained(str(tiny_bert_dir), num_labels=1)
    hf.config.sentence_transformers = {"activation_fn": "torch.nn.modules.linear.Identity", "version": "5.0.0"}
    hf.save_pretrained(tmp_path / "plain")
    AutoTokenizer.from_pretrained(str(tiny_bert_dir)).save_pretrained(tmp_path / "plain")
    model = CrossEncoder(str(tmp_path / "plain"), device="cpu")
    assert isinstance(model.activation_fn, nn.Identity)
    np.testing.assert_allclose(model.predict(PAIRS), hf_logits(model, PAIRS)[:, 0].numpy(), atol=1e-5)
    hf.config.sentence_transformers = {"activation_fn": "my_package.Activation"}
    hf.save_pretrained(tmp_path / "untrusted")
    AutoTokenizer.from_pretrained(str(tiny_bert_dir)).save_pretrained(tmp_path / "untrusted")
    assert isinstance(CrossEncoder(str(tmp_path / "untrusted"), device="cpu").activation_fn, nn.Sigmoid)


def test_a_sentence_transformer_folder_is_converted_with_a_warning(tiny_model, tmp_path, caplog):
    tiny_model.save(str(tmp_path / "st"))
    with caplog.at_level(logging.WARNING):
        model = CrossEncoder(str(tmp_path / "st"), num_labels=1, device="cpu")
    assert "Converting SentenceTransformer model" in caplog.text and "to CrossEncoder" in caplog.text
    assert len(model) == 1 and model.num_labels == 1


def test_max_length_truncates_pairs(tiny_bert_dir):
    torch.manual_seed(0)
    model = CrossEncoder(str(tiny_bert_dir), num_labels=1, max_length=6, device="cpu")
    assert model.max_length == 6 == model.max_seq_length
    long_pair = ("guitar " * 30, "cat " * 30)
    short = model.tokenizer(*long_pair, truncation=True, max_length=6, return_tensors="pt")
    with torch.no_grad():
        expected = torch.sigmoid(model.model(**short).logits[0, 0]).item()
    assert math.isclose(float(model.predict(long_pair)), expected, abs_tol=1e-6)
    model.max_length = 12
    assert model.max_seq_length == 12


def test_old_argument_names_and_positions_still_work(tiny_bert_dir, caplog):
    decorators._warn_once.cache_clear()
    torch.manual_seed(0)
    with caplog.at_level(logging.WARNING):
        model = CrossEncoder(str(tiny_bert_dir), 1, None, nn.Identity(), "cpu")
        renamed = CrossEncoder(model_name=str(tiny_bert_dir), num_labels=2, automodel_args={}, device="cpu")
    assert "Passing `num_labels` as a positional argument to CrossEncoder is deprecated" in caplog.text
    assert "The CrossEncoder `model_name` argument was renamed" in caplog.text
    assert model.num_labels == 1 and isinstance(model.activation_fn, nn.Identity)
    assert renamed.num_labels == 2
    with caplog.at_level(logging.WARNING):
        old = model.predict(sentences=PAIRS, activation_fct=nn.Sigmoid(), num_workers=4)
    np.testing.assert_allclose(old, model.predict(PAIRS, activation_fn=nn.Sigmoid()), atol=1e-7)
    assert "`num_workers` argument is deprecated" in caplog.text


def test_bad_input_is_named(reranker):
    with pytest.raises(TypeError, match="pairs of two texts"):
        reranker.predict([("only one",)])
    with pytest.raises(ValueError, match="batch_size must be a positive integer"):
        reranker.predict(PAIRS, batch_size=0)
    with pytest.raises(ValueError, match=r"predict\(\) has been called with additional keyword arguments"):
        reranker.predict(PAIRS, colour="red")


def test_prompts_are_prepended_to_the_first_text(tiny_bert_dir):
    torch.manual_seed(0)
    model = CrossEncoder(str(tiny_bert_dir), num_labels=1, prompts={"query": "query: "}, device="cpu")
    prompted = model.predict(PAIRS, prompt_name="query")
    manual = model.predict([("query: " + first, second) for first, second in PAIRS])
    np.testing.assert_allclose(prompted, manual, atol=1e-6)


def test_keep_in_fp32_modules_computes_the_head_in_float32(tiny_bert_dir, tmp_path):
    torch.manual_seed(0)
    model = CrossEncoder(str(tiny_bert_dir), num_labels=1, keep_in_fp32_modules=["0.model.classifier"], device="cpu")
    head = model.get_submodule("0.model.classifier")
    assert type(head).__name__ == "Float32Linear"
    model.half()
    assert head.weight.dtype == torch.float16
    assert head(torch.ones(2, head.in_features, dtype=torch.float16)).dtype == torch.float32
    model.float()
    model.save(str(tmp_path / "fp32"))
    again = CrossEncoder(str(tmp_path / "fp32"), device="cpu")
    assert again.keep_in_fp32_modules == ["0.model.classifier"]
    model.set_keep_in_fp32_modules([])
    assert type(head) is nn.Linear
    with pytest.raises(ValueError, match="supports only plain nn.Linear layers"):
        model.set_keep_in_fp32_modules(["0"])


def test_logit_score_is_the_log_odds_of_the_last_token():
    logits = torch.zeros(2, 3, 5)
    logits[0, -1, 1], logits[0, -1, 2] = 2.0, 0.5
    logits[1, -1, 1], logits[1, -1, 2] = -1.0, 1.0
    scores = LogitScore(true_token_id=1, false_token_id=2)({"causal_logits": logits})["scores"]
    torch.testing.assert_close(scores, torch.tensor([[1.5], [-2.0]]))
    alone = LogitScore(true_token_id=1)({"causal_logits": logits})["scores"]
    torch.testing.assert_close(alone, torch.tensor([[2.0], [-1.0]]))


def test_mine_hard_negatives_rescores_with_a_cross_encoder(tiny_model, reranker):
    pytest.importorskip("datasets")
    from datasets import Dataset

    from sentence_transformers.util import mine_hard_negatives

    anchors = [pair[0] for pair in PAIRS]
    positives = [pair[1] for pair in PAIRS]
    dataset = Dataset.from_dict({"anchor": anchors, "positive": positives})
    mined = mine_hard_negatives(
        dataset,
        tiny_model,
        cross_encoder=reranker,
        absolute_margin=0,
        num_negatives=2,
        output_format="labeled-pair",
        output_scores=True,
        verbose=False,
    )
    rows = mined.to_list()
    negatives = [row for row in rows if row["positive"] != positives[anchors.index(row["anchor"])]]
    assert negatives, "the reranker kept no negative"
    for row in rows:  # the scores are the reranker's
        assert math.isclose(row["score"], float(reranker.predict((row["anchor"], row["positive"]))), abs_tol=1e-5)
    for row in negatives:  # margin 0: no kept negative scores above its anchor's positive
        positive = positives[anchors.index(row["anchor"])]
        assert row["score"] <= float(reranker.predict((row["anchor"], positive))) + 1e-6


def test_a_pool_of_processes_gives_the_same_scores(reranker):
    expected = reranker.predict(PAIRS)
    pool = reranker.start_multi_process_pool(["cpu", "cpu"])
    try:
        pooled = reranker.predict(PAIRS, pool=pool, chunk_size=2)
        ranked = reranker.rank("A cat sleeps", [pair[1] for pair in PAIRS], pool=pool)
    finally:
        reranker.stop_multi_process_pool(pool)
    np.testing.assert_allclose(pooled, expected, atol=1e-6)
    assert ranked == reranker.rank("A cat sleeps", [pair[1] for pair in PAIRS])


def test_edge_inputs_are_handled_or_named(reranker, tiny_bert_dir):
    with pytest.raises(ValueError, match="not one flat list"):
        reranker.rank(["q1", "q2"], ["doc a", "doc b"])  # would otherwise rank single characters
    generated = reranker.predict(pair for pair in PAIRS[:2])
    np.testing.assert_allclose(generated, reranker.predict(PAIRS[:2]), atol=1e-7)
    torch.manual_seed(0)
    three = CrossEncoder(str(tiny_bert_dir), num_labels=3, device="cpu")
    assert three.predict([]).shape == (0, 3)
    with pytest.raises(TypeError, match="at most 4 more positional arguments"):
        CrossEncoder(str(tiny_bert_dir), 1, None, None, "cpu", "/cache")


def test_keep_in_fp32_modules_saved_for_torch_do_not_stop_an_onnx_load(tiny_bert_dir, tmp_path, caplog):
    pytest.importorskip("onnxruntime")
    torch.manual_seed(0)
    model = CrossEncoder(str(tiny_bert_dir), num_labels=1, keep_in_fp32_modules=["0.model.classifier"], device="cpu")
    model.save(str(tmp_path / "ce"))
    with caplog.at_level(logging.WARNING):
        onnx = CrossEncoder(str(tmp_path / "ce"), backend="onnx", device="cpu")
    assert "apply to the torch backend only" in caplog.text
    np.testing.assert_allclose(onnx.predict(PAIRS), model.predict(PAIRS), atol=1e-5)


def build_tiny_causal_lm(folder, with_yes_no: bool = True) -> str:
    """A tiny Llama causal LM with a word-level tokenizer (no chat template), written to ``folder``."""
    from tokenizers import Tokenizer, normalizers, pre_tokenizers
    from tokenizers import models as token_models
    from transformers import LlamaConfig, LlamaForCausalLM, PreTrainedTokenizerFast

    words = "<pad> <unk> <s> </s> the a cat dog sleeps plays guitar man is on street paris capital of france what"
    words = words.split() + (["yes", "no"] if with_yes_no else [])
    tokenizer = Tokenizer(token_models.WordLevel({w: i for i, w in enumerate(words)}, unk_token="<unk>"))
    tokenizer.normalizer = normalizers.Lowercase()
    tokenizer.pre_tokenizer = pre_tokenizers.Whitespace()
    fast = PreTrainedTokenizerFast(
        tokenizer_object=tokenizer, unk_token="<unk>", pad_token="<pad>", bos_token="<s>", eos_token="</s>"
    )
    fast.save_pretrained(folder)
    torch.manual_seed(0)
    config = LlamaConfig(
        vocab_size=len(words),
        hidden_size=32,
        intermediate_size=64,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,
        max_position_embeddings=64,
        pad_token_id=0,
        tie_word_embeddings=False,
    )
    LlamaForCausalLM(config).save_pretrained(folder)
    return str(folder)


CAUSAL_PAIRS = [("the cat", "a cat sleeps"), ("what is the capital of france", "paris"), ("the man", "guitar")]


def test_a_causal_lm_becomes_a_generative_reranker_scored_by_yes_against_no(tmp_path):
    folder = build_tiny_causal_lm(tmp_path / "causal")
    model = CrossEncoder(folder, device="cpu")
    assert model.num_labels == 1 and isinstance(model[1], LogitScore)
    assert model[0].transformer_task == "text-generation" and model.tokenizer.padding_side == "left"
    yes, no = model.tokenizer.convert_tokens_to_ids(["yes", "no"])
    expected = []
    with torch.no_grad():
        for first, second in CAUSAL_PAIRS:  # one pair at a time: no padding at all
            inputs = model.tokenizer(first, second, return_tensors="pt")
            last = model.model(**inputs).logits[0, -1]
            expected.append(torch.sigmoid(last[yes] - last[no]).item())
    np.testing.assert_allclose(model.predict(CAUSAL_PAIRS, batch_size=3), expected, atol=1e-5)
    model.save(str(tmp_path / "saved"))
    again = CrossEncoder(str(tmp_path / "saved"), device="cpu")
    assert again[0].transformer_task == "text-generation"
    np.testing.assert_allclose(again.predict(CAUSAL_PAIRS), expected, atol=1e-5)


def test_a_causal_lm_without_yes_and_no_tokens_is_refused(tmp_path):
    folder = build_tiny_causal_lm(tmp_path / "causal", with_yes_no=False)
    with pytest.raises(ValueError, match="does not have 'yes' and/or 'no' tokens"):
        CrossEncoder(folder, device="cpu")
