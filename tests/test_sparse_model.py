"""SparseEncoder: loading (SPLADE, inference-free Router, CSR), encoding, its helpers, saving and its modules,
checked against vectors computed by hand from the Hugging Face model."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import pytest
import torch
from transformers import AutoModelForMaskedLM, AutoTokenizer

from sentence_transformers import SentenceTransformer, SparseEncoder
from sentence_transformers.base.modules import Transformer
from sentence_transformers.sentence_transformer.modules import Pooling
from sentence_transformers.sparse_encoder.modules import (
    MLMTransformer,
    Router,
    SparseAutoEncoder,
    SparseStaticEmbedding,
    SpladePooling,
)

TEXTS = [
    "The quick brown fox jumps over the lazy dog.",
    "A man is playing a guitar on the street.",
    "cat",
    "What is the capital of France? Paris is the capital of France.",
]


@pytest.fixture(scope="module")
def splade(tiny_mlm_dir: Path) -> SparseEncoder:
    return SparseEncoder(str(tiny_mlm_dir), device="cpu")


def hand_splade(folder: Path, texts: list[str], strategy: str = "max", double_log: bool = False) -> torch.Tensor:
    """SPLADE by hand: the HF masked-LM logits, log(1 + relu) (twice for log1p_relu), pooled over real tokens."""
    tokenizer = AutoTokenizer.from_pretrained(folder)
    model = AutoModelForMaskedLM.from_pretrained(folder).eval()
    rows = []
    for text in texts:
        batch = tokenizer([text], return_tensors="pt", truncation=True)
        with torch.no_grad():
            logits = model(**batch).logits[0]
        values = torch.log1p(torch.relu(logits))
        if double_log:
            values = torch.log1p(values)
        rows.append(values.max(dim=0).values if strategy == "max" else values.sum(dim=0))
    return torch.stack(rows)


def test_a_masked_lm_folder_becomes_splade_and_matches_the_hand_computation(splade, tiny_mlm_dir):
    assert isinstance(splade[0], Transformer) and splade[0].transformer_task == "fill-mask"
    assert isinstance(splade[1], SpladePooling) and splade[1].pooling_strategy == "max"
    embeddings = splade.encode(TEXTS)
    assert embeddings.is_sparse and embeddings.shape == (len(TEXTS), splade.tokenizer.vocab_size)
    expected = hand_splade(tiny_mlm_dir, TEXTS)
    assert torch.allclose(embeddings.to_dense(), expected, atol=1e-5)
    assert splade.get_embedding_dimension() == splade.tokenizer.vocab_size
    assert splade.similarity_fn_name == "dot"


def test_the_fused_inference_path_equals_the_module_by_module_forward(splade):
    assert splade._fused_splade_parts() is not None
    features = splade.tokenize(TEXTS)
    with torch.no_grad():
        unfused = splade(features)["sentence_embedding"]
    fused = splade.encode(TEXTS, convert_to_sparse_tensor=False)
    assert torch.allclose(fused, unfused, atol=1e-6)
    assert "token_embeddings" in splade(splade.tokenize(TEXTS[:1]))  # a direct call keeps upstream's features


@pytest.mark.parametrize(("strategy", "activation"), [("sum", "relu"), ("max", "log1p_relu"), ("sum", "log1p_relu")])
def test_pooling_strategies_and_activations(tiny_mlm_dir, strategy, activation):
    model = SparseEncoder(
        modules=[
            Transformer(str(tiny_mlm_dir), transformer_task="fill-mask"),
            SpladePooling(pooling_strategy=strategy, activation_function=activation),
        ],
        device="cpu",
    )
    expected = hand_splade(tiny_mlm_dir, TEXTS, strategy, double_log=activation == "log1p_relu")
    assert torch.allclose(model.encode(TEXTS, convert_to_sparse_tensor=False), expected, atol=1e-4)
    features = model.tokenize(TEXTS)
    with torch.no_grad():
        assert torch.allclose(model(features)["sentence_embedding"], expected, atol=1e-4)


def test_chunk_size_bounds_memory_without_changing_vectors(tiny_mlm_dir, splade):
    model = SparseEncoder(str(tiny_mlm_dir), device="cpu")
    model.splade_pooling_chunk_size = 3
    assert model.splade_pooling_chunk_size == 3 and model[1].chunk_size == 3
    reference = splade.encode(TEXTS).to_dense()
    assert torch.allclose(model.encode(TEXTS).to_dense(), reference, atol=1e-6)
    with torch.no_grad():
        assert torch.allclose(model(model.tokenize(TEXTS))["sentence_embedding"], reference, atol=1e-6)


def test_output_containers(splade):
    dense = splade.encode(TEXTS, convert_to_sparse_tensor=False)
    assert not dense.is_sparse and dense.shape[0] == len(TEXTS)
    rows = splade.encode(TEXTS, convert_to_tensor=False)
    assert isinstance(rows, list) and len(rows) == len(TEXTS)
    assert all(row.is_sparse and row.shape == (dense.shape[1],) for row in rows)
    assert torch.allclose(torch.stack([row.to_dense() for row in rows]), dense)
    single = splade.encode(TEXTS[1])
    assert single.shape == (dense.shape[1],) and torch.allclose(single.to_dense(), dense[1])
    empty = splade.encode([])
    assert empty.is_sparse and empty.numel() == 0
    assert splade.encode(TEXTS, save_to_cpu=True).device.type == "cpu"
    # order is the caller's even though the engine sorts by length
    assert torch.allclose(splade.encode(TEXTS[::-1]).to_dense(), dense.flip(0), atol=1e-6)


def test_max_active_dims_keeps_the_largest_values(splade, tiny_mlm_dir):
    dense = splade.encode(TEXTS, convert_to_sparse_tensor=False)
    limited = splade.encode(TEXTS, max_active_dims=5).to_dense()
    for row, full in zip(limited, dense, strict=True):
        assert (row != 0).sum() == 5
        top = torch.topk(full, 5)
        assert torch.equal(row[top.indices], top.values)
    model = SparseEncoder(str(tiny_mlm_dir), device="cpu", max_active_dims=3)
    assert ((model.encode(TEXTS).to_dense() != 0).sum(dim=1) == 3).all()
    for bad in (0, -2, 1.5, True):
        with pytest.raises(ValueError, match="max_active_dims"):
            splade.encode(TEXTS, max_active_dims=bad)
    with pytest.raises(ValueError, match="max_active_dims"):
        SparseEncoder(str(tiny_mlm_dir), device="cpu", max_active_dims=0)


def test_prompts_and_roles(tiny_mlm_dir):
    model = SparseEncoder(str(tiny_mlm_dir), device="cpu", prompts={"query": "query: ", "document": "passage: "})
    plain = SparseEncoder(str(tiny_mlm_dir), device="cpu")
    query = model.encode_query(TEXTS[:2]).to_dense()
    assert torch.allclose(query, plain.encode(["query: " + t for t in TEXTS[:2]]).to_dense(), atol=1e-6)
    document = model.encode_document(TEXTS[:2]).to_dense()
    assert torch.allclose(document, plain.encode(["passage: " + t for t in TEXTS[:2]]).to_dense(), atol=1e-6)
    with pytest.raises(ValueError, match="nope"):
        model.encode(TEXTS, prompt_name="nope")
    with pytest.raises(ValueError, match="unused_option"):
        model.encode(TEXTS, unused_option=1)


@pytest.fixture(scope="module")
def inference_free(tiny_mlm_dir: Path) -> SparseEncoder:
    document = Transformer(str(tiny_mlm_dir), transformer_task="fill-mask")
    weight = torch.linspace(0.5, 2.0, document.tokenizer.vocab_size)
    query = SparseStaticEmbedding(tokenizer=document.tokenizer, weight=weight, frozen=True)
    router = Router.for_query_document(query_modules=[query], document_modules=[document, SpladePooling("max")])
    return SparseEncoder(modules=[router], device="cpu")


def test_inference_free_router_queries_are_static_weights_and_documents_splade(inference_free, tiny_mlm_dir):
    tokenizer = AutoTokenizer.from_pretrained(tiny_mlm_dir)
    query = inference_free.encode_query(["the fox and the dog"]).to_dense()[0]
    ids = set(tokenizer("the fox and the dog", add_special_tokens=False)["input_ids"])
    weight = torch.linspace(0.5, 2.0, tokenizer.vocab_size)
    expected = torch.zeros(tokenizer.vocab_size)
    expected[list(ids)] = weight[list(ids)]
    assert torch.allclose(query, expected)
    documents = inference_free.encode_document(TEXTS).to_dense()
    assert torch.allclose(documents, hand_splade(tiny_mlm_dir, TEXTS), atol=1e-5)


def test_inference_free_router_saves_and_loads(inference_free, tmp_path):
    inference_free.save(str(tmp_path / "router"))
    loaded = SparseEncoder(str(tmp_path / "router"), device="cpu")
    for method in ("encode_query", "encode_document"):
        before = getattr(inference_free, method)(TEXTS).to_dense()
        assert torch.allclose(getattr(loaded, method)(TEXTS).to_dense(), before, atol=1e-6)
    assert isinstance(loaded[0], Router)


def test_sparse_static_embedding_from_json_and_errors(tiny_mlm_dir, tmp_path):
    tokenizer = AutoTokenizer.from_pretrained(tiny_mlm_dir)
    (tmp_path / "idf.json").write_text(json.dumps({"fox": 2.5, "dog": 1.25}))
    module = SparseStaticEmbedding.from_json(str(tmp_path / "idf.json"), tokenizer=tokenizer, frozen=True)
    assert not module.weight.requires_grad and module.get_embedding_dimension() == len(tokenizer.get_vocab())
    features = module.preprocess(["the fox", "a dog and a fox"])
    output = module(features)["sentence_embedding"]
    fox, dog = tokenizer.convert_tokens_to_ids(["fox", "dog"])
    assert output[0, fox] == 2.5 and output[0].count_nonzero() == 1
    assert output[1, dog] == 1.25 and output[1, fox] == 2.5 and output[1].count_nonzero() == 2
    (tmp_path / "bad.json").write_text("{not json")
    with pytest.raises(ValueError, match="Corrupt IDF"):
        SparseStaticEmbedding.from_json(str(tmp_path / "bad.json"), tokenizer=tokenizer)
    with pytest.raises(ValueError, match="shape"):
        SparseStaticEmbedding(tokenizer, weight=torch.ones(2, 2))


def test_sparse_auto_encoder_by_hand_and_in_training():
    torch.manual_seed(0)
    module = SparseAutoEncoder(input_dim=6, hidden_dim=12, k=3, k_aux=4)
    with torch.no_grad():
        module.pre_bias.copy_(torch.randn(6))
        module.latent_bias.copy_(torch.randn(12))
    x = torch.randn(5, 6)
    pre = (x - module.pre_bias) @ module.encoder.weight.T + module.latent_bias
    expected = torch.zeros_like(pre)
    top = pre.topk(3, dim=1)
    expected.scatter_(1, top.indices, top.values)
    expected = expected.relu()
    with torch.no_grad():
        code = module({"sentence_embedding": x.clone()})["sentence_embedding"]
    assert torch.allclose(code, expected, atol=1e-6)
    with torch.no_grad():
        assert (
            (module({"sentence_embedding": x.clone()}, max_active_dims=2)["sentence_embedding"] != 0).sum(1).le(2).all()
        )
    module.train()
    features = module({"sentence_embedding": x.clone()})
    assert torch.allclose(features["sentence_embedding"], expected, atol=1e-6)
    assert torch.allclose(
        features["decoded_embedding_k"], expected @ module.encoder.weight + module.pre_bias, atol=1e-5
    )
    for key in ("sentence_embedding_backbone", "sentence_embedding_encoded_4k", "decoded_embedding_aux"):
        assert features[key] is not None
    # the k and the 4k codes each count a step; a latent that fired (> 1e-5) in the last one restarts at 1
    fired_in_4k = (pre > 1e-5).any(dim=0)  # 4k = 12 = hidden_dim: every latent is in the 4k code
    assert torch.equal(module.stats_last_nonzero, torch.where(fired_in_4k, 1, 2))
    with pytest.raises(ValueError, match="hidden_dim"):
        SparseAutoEncoder(input_dim=4, hidden_dim=0)


def test_sparse_auto_encoder_loads_upstreams_tied_weight_file(tmp_path):
    torch.manual_seed(1)
    module = SparseAutoEncoder(input_dim=4, hidden_dim=8, k=2, k_aux=2)
    module.save(str(tmp_path))
    from safetensors.torch import load_file

    stored = load_file(str(tmp_path / "model.safetensors"))
    assert "decoder.linear.weight" in stored and "encoder.weight" not in stored  # upstream's layout
    loaded = SparseAutoEncoder.load(str(tmp_path))
    assert torch.equal(loaded.encoder.weight, module.encoder.weight)
    assert loaded.decoder.linear is loaded.encoder  # still tied


def test_a_plain_encoder_becomes_csr_and_a_sentence_transformer_gets_an_autoencoder(tiny_bert_dir, tmp_path, caplog):
    csr = SparseEncoder(str(tiny_bert_dir), device="cpu")
    assert [type(m).__name__ for m in csr] == ["Transformer", "Pooling", "SparseAutoEncoder"]
    assert (csr[2].hidden_dim, csr[2].k, csr[2].k_aux) == (128, 256, 512)  # upstream's defaults, whatever the size
    assert (csr.encode(TEXTS[:2]).to_dense() != 0).sum(dim=1).le(128).all()
    SentenceTransformer(str(tiny_bert_dir), device="cpu").save(str(tmp_path / "st"))
    with caplog.at_level(logging.WARNING):
        converted = SparseEncoder(str(tmp_path / "st"), device="cpu")
    assert "Converting SentenceTransformer model" in caplog.text
    autoencoder = converted[-1]
    assert isinstance(autoencoder, SparseAutoEncoder)
    assert (autoencoder.input_dim, autoencoder.hidden_dim, autoencoder.k, autoencoder.k_aux) == (32, 128, 8, 16)
    assert converted.max_active_dims == 8
    embeddings = converted.encode(TEXTS).to_dense()
    assert ((embeddings != 0).sum(dim=1) <= 8).all() and embeddings.shape == (len(TEXTS), 128)


def test_save_and_load_keep_vectors_and_settings(splade, tmp_path):
    splade.similarity_fn_name = "cosine"
    splade.max_active_dims = 7
    try:
        splade.save(str(tmp_path / "model"))
        loaded = SparseEncoder(str(tmp_path / "model"), device="cpu")
    finally:
        splade.similarity_fn_name = "dot"
        splade.max_active_dims = None
    config = json.loads((tmp_path / "model" / "config_sentence_transformers.json").read_text())
    assert config["model_type"] == "SparseEncoder" and config["max_active_dims"] == 7
    assert config["similarity_fn_name"] == "cosine"
    entries = json.loads((tmp_path / "model" / "modules.json").read_text())
    assert entries[1]["type"] == "sentence_transformers.sparse_encoder.modules.splade_pooling.SpladePooling"
    assert loaded.similarity_fn_name == "cosine" and loaded.max_active_dims == 7
    assert torch.allclose(loaded.encode(TEXTS).to_dense(), splade.encode(TEXTS, max_active_dims=7).to_dense())


def test_a_5x_mlm_transformer_folder_loads(tiny_mlm_dir, tmp_path, caplog):
    with caplog.at_level(logging.WARNING):
        legacy = MLMTransformer(str(tiny_mlm_dir))
    assert "deprecated" in caplog.text and legacy.transformer_task == "fill-mask"
    model = SparseEncoder(modules=[legacy, SpladePooling("max")], device="cpu")
    model.save(str(tmp_path / "legacy"))
    modules = json.loads((tmp_path / "legacy" / "modules.json").read_text())
    modules[0]["type"] = "sentence_transformers.sparse_encoder.models.MLMTransformer"  # the 5.x name
    (tmp_path / "legacy" / "modules.json").write_text(json.dumps(modules))
    caplog.clear()
    with caplog.at_level(logging.WARNING):
        loaded = SparseEncoder(str(tmp_path / "legacy"), device="cpu")
    assert "deprecated" not in caplog.text and isinstance(loaded[0], MLMTransformer)
    assert torch.allclose(loaded.encode(TEXTS).to_dense(), hand_splade(tiny_mlm_dir, TEXTS), atol=1e-5)


def test_decode_intersection_and_sparsity_by_hand(splade):
    embeddings = splade.encode(TEXTS[:2], max_active_dims=6)
    dense = embeddings.to_dense()
    decoded = splade.decode(embeddings[0], top_k=3)
    order = torch.argsort(dense[0], descending=True)[:3]
    assert decoded == list(
        zip(splade.tokenizer.convert_ids_to_tokens(order.tolist()), dense[0][order].tolist(), strict=True)
    )
    assert [len(row) for row in splade.decode(embeddings)] == [6, 6]
    with pytest.raises(ValueError, match="top_k"):
        splade.decode(embeddings, top_k=0)
    with pytest.raises(TypeError):
        splade.decode([1.0, 2.0])
    shared = splade.intersection(embeddings[0], embeddings[1]).to_dense()
    product = dense[0] * dense[1]
    assert torch.allclose(shared, torch.where(product > 0, product, 0))
    assert splade.intersection(embeddings[0], embeddings).shape == (2, dense.shape[1])
    with pytest.raises(ValueError, match="1D"):
        splade.intersection(embeddings, embeddings)
    stats = splade.sparsity(embeddings)
    assert stats == {"active_dims": 6.0, "sparsity_ratio": 1 - 6 / dense.shape[1]}
    assert splade.sparsity(dense[0])["active_dims"] == 6.0
    with pytest.raises(TypeError):
        splade.sparsity([1, 2])


def test_similarity_functions(splade):
    embeddings = splade.encode(TEXTS)
    dense = embeddings.to_dense()
    assert torch.allclose(splade.similarity(embeddings, embeddings), dense @ dense.T, atol=1e-4)
    assert torch.allclose(splade.similarity_pairwise(dense, dense), (dense * dense).sum(1), atol=1e-4)
    splade.similarity_fn_name = "cosine"
    try:
        normalized = torch.nn.functional.normalize(dense, dim=1)
        assert torch.allclose(splade.similarity(embeddings, embeddings), normalized @ normalized.T, atol=1e-5)
    finally:
        splade.similarity_fn_name = "dot"
    with pytest.raises(ValueError, match="MultiVectorEncoder"):
        splade.similarity_fn_name = "maxsim"


def test_settings_and_deprecated_names(splade, tiny_mlm_dir):
    model = SparseEncoder(str(tiny_mlm_dir), device="cpu")
    assert model.get_embedding_dimension() == model.tokenizer.vocab_size  # known before any forward pass
    model.max_seq_length = 8
    assert model.max_seq_length == 8 and model[0].max_seq_length == 8
    long_text = " ".join(["fox"] * 50)
    assert torch.allclose(model.encode(long_text).to_dense(), model.encode(" ".join(["fox"] * 6)).to_dense())
    with pytest.warns(FutureWarning):
        assert model.get_sentence_embedding_dimension() == model.get_embedding_dimension()
    assert type(splade.transformers_model).__name__ == "BertForMaskedLM"
    with pytest.raises(ValueError, match="batch_size"):
        splade.encode(TEXTS, batch_size=0)


def test_a_pool_of_processes_gives_the_same_vectors(splade):
    pool = splade.start_multi_process_pool(["cpu", "cpu"])
    try:
        pooled = splade.encode(TEXTS * 3, pool=pool, chunk_size=2)
    finally:
        splade.stop_multi_process_pool(pool)
    assert torch.allclose(pooled.to_dense(), splade.encode(TEXTS * 3).to_dense(), atol=1e-6)


def test_csr_model_from_modules_and_pooling_prompt(tiny_bert_dir):
    transformer = Transformer(str(tiny_bert_dir))
    model = SparseEncoder(
        modules=[transformer, Pooling(32, pooling_mode="mean"), SparseAutoEncoder(32, 64, k=4, k_aux=8)],
        device="cpu",
    )
    assert model.max_active_dims == 4
    model.set_pooling_include_prompt(False)
    assert model[1].include_prompt is False
    assert model.splade_pooling_chunk_size is None


def test_a_roberta_masked_lm_runs_fused_with_the_same_vectors(tiny_mlm_dir, tmp_path):
    from transformers import RobertaConfig, RobertaForMaskedLM

    tokenizer = AutoTokenizer.from_pretrained(tiny_mlm_dir)
    config = RobertaConfig(
        vocab_size=len(tokenizer),
        hidden_size=32,
        num_hidden_layers=2,
        num_attention_heads=2,
        intermediate_size=64,
        pad_token_id=tokenizer.pad_token_id,
        max_position_embeddings=130,
    )
    torch.manual_seed(3)
    RobertaForMaskedLM(config).save_pretrained(tmp_path)
    tokenizer.save_pretrained(tmp_path)
    model = SparseEncoder(str(tmp_path), device="cpu")
    assert model._fused_splade_parts() is not None
    with torch.no_grad():
        unfused = model(model.tokenize(TEXTS))["sentence_embedding"]
    assert torch.allclose(model.encode(TEXTS, convert_to_sparse_tensor=False), unfused, atol=1e-5)


def test_chunks_split_long_inputs_and_keep_token_order():
    from sentence_transformers.sparse_encoder.modules.splade_pooling import _chunks

    chunks = _chunks([3, 5, 0, 2], step=4)
    assert chunks == [
        (0, 4, [(0, 0, 3), (1, 3, 4)]),
        (4, 8, [(1, 4, 8)]),
        (8, 10, [(3, 8, 10)]),
    ]
    assert _chunks([], step=4) == []


def test_an_empty_query_prompt_keeps_the_default_prompt_out(tiny_mlm_dir):
    prompts = {"query": "", "document": "", "classify": "topic: "}
    model = SparseEncoder(str(tiny_mlm_dir), device="cpu", prompts=prompts, default_prompt_name="classify")
    plain = model.encode(TEXTS[:2], prompt="").to_dense()
    assert torch.allclose(model.encode_query(TEXTS[:2]).to_dense(), plain)
    assert torch.allclose(model.encode_document(TEXTS[:2]).to_dense(), plain)
    assert not torch.allclose(model.encode(TEXTS[:2]).to_dense(), plain)  # encode itself uses the default prompt


def test_replacing_the_masked_lm_is_seen_by_the_fused_path(tiny_mlm_dir, tmp_path):
    from transformers import BertForMaskedLM

    model = SparseEncoder(str(tiny_mlm_dir), device="cpu")
    before = model.encode(TEXTS).to_dense()
    torch.manual_seed(5)
    other = BertForMaskedLM(model[0].auto_model.config).eval()
    model[0].auto_model = other
    with torch.no_grad():
        unfused = model(model.tokenize(TEXTS))["sentence_embedding"]
    after = model.encode(TEXTS, convert_to_sparse_tensor=False)
    assert torch.allclose(after, unfused, atol=1e-5) and not torch.allclose(after, before)
