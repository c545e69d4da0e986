"""Every class and parameter the seeds document resolves at the seeds' import paths."""

from __future__ import annotations

import importlib
import inspect

import pytest

SEED_000 = "sentence_transformers.models"
SEED_001 = "sentence_transformers.sentence_transformer.modules"
PARAMETERS = {
    (SEED_000, "Transformer"): [
        "model_name_or_path",
        "max_seq_length",
        "model_args",
        "cache_dir",
        "tokenizer_args",
        "do_lower_case",
        "model_kwargs",
        "tokenizer_kwargs",
        "config_kwargs",
    ],
    (SEED_000, "Pooling"): [
        "word_embedding_dimension",
        "pooling_mode_cls_token",
        "pooling_mode_max_tokens",
        "pooling_mode_mean_tokens",
        "pooling_mode_mean_sqrt_len_tokens",
    ],
    (SEED_000, "Dense"): ["in_features", "out_features", "bias", "activation_function", "init_weight", "init_bias"],
    (SEED_000, "Asym"): ["sub_modules", "allow_empty_key"],
    (SEED_000, "BoW"): ["vocab", "word_weights", "unknown_word_weight", "cumulative_term_frequency"],
    (SEED_000, "CNN"): ["in_word_embedding_dimension", "out_channels", "kernel_sizes"],
    (SEED_000, "LSTM"): ["word_embedding_dimension", "hidden_dim", "num_layers", "dropout", "bidirectional"],
    (SEED_000, "Normalize"): [],
    (SEED_000, "WeightedLayerPooling"): [
        "word_embedding_dimension",
        "num_hidden_layers",
        "layer_start",
        "layer_weights",
    ],
    (SEED_000, "WKPooling"): ["word_embedding_dimension", "layer_start", "context_window_size"],
    (SEED_000, "WordEmbeddings"): ["tokenizer", "embedding_weights", "update_embeddings", "max_seq_length"],
    (SEED_000, "WordWeights"): ["vocab", "word_weights", "unknown_word_weight"],
    (SEED_000, "Module"): [],
    (SEED_001, "Pooling"): ["embedding_dimension", "pooling_mode", "include_prompt"],
    (SEED_001, "Normalize"): [],
    (SEED_001, "StaticEmbedding"): ["tokenizer", "embedding_weights", "embedding_dim"],
    (SEED_001, "BoW"): ["vocab", "word_weights", "unknown_word_weight", "cumulative_term_frequency"],
    (SEED_001, "CNN"): ["in_embedding_dimension", "out_channels", "kernel_sizes", "stride_sizes"],
    (SEED_001, "LSTM"): ["embedding_dimension", "hidden_dim", "num_layers", "dropout", "bidirectional"],
    (SEED_001, "WeightedLayerPooling"): ["embedding_dimension", "num_hidden_layers", "layer_start", "layer_weights"],
    (SEED_001, "WordEmbeddings"): ["tokenizer", "embedding_weights", "update_embeddings", "max_seq_length"],
    (SEED_001, "WordWeights"): ["vocab", "word_weights", "unknown_word_weight"],
    (SEED_001, "Dropout"): [],
    (SEED_001, "LayerNorm"): [],
    ("sentence_transformers.base.modules", "Module"): [],
    ("sentence_transformers.base.modules", "InputModule"): [],
    ("sentence_transformers.base.modules", "Router"): ["sub_modules", "default_route", "allow_empty_key"],
    ("sentence_transformers", "SentenceTransformerModelCardData"): [
        "language",
        "license",
        "model_name",
        "model_id",
        "train_datasets",
        "eval_datasets",
        "task_name",
        "tags",
        "local_files_only",
        "generate_widget_examples",
    ],
    ("sentence_transformers.readers", "STSDataReader"): ["dataset_folder", "s1_col_idx", "s2_col_idx", "score_col_idx"],
    ("sentence_transformers.readers", "STSBenchmarkDataReader"): ["dataset_folder", "normalize_scores", "max_score"],
    ("sentence_transformers.readers", "TripletReader"): ["dataset_folder", "s3_col_idx", "has_header"],
    ("sentence_transformers.readers", "LabelSentenceReader"): ["folder", "label_col_idx", "sentence_col_idx"],
    ("sentence_transformers.readers", "PairedFilesReader"): ["filepaths"],
    ("sentence_transformers.datasets", "NoDuplicatesDataLoader"): ["train_examples", "batch_size"],
    ("sentence_transformers.datasets", "SentenceLabelDataset"): ["examples", "samples_per_label", "with_replacement"],
    ("sentence_transformers.datasets", "ParallelSentencesDataset"): [
        "student_model",
        "teacher_model",
        "batch_size",
        "use_embedding_cache",
    ],
    ("sentence_transformers", "SentenceTransformer"): [
        "model_name_or_path",
        "modules",
        "device",
        "prompts",
        "default_prompt_name",
        "cache_folder",
        "trust_remote_code",
        "revision",
        "token",
        "use_auth_token",
        "truncate_dim",
        "similarity_fn_name",
        "model_kwargs",
        "tokenizer_kwargs",
        "processor_kwargs",
        "config_kwargs",
        "local_files_only",
    ],
}
METHODS = {
    "encode": [
        "sentences",
        "prompt_name",
        "prompt",
        "batch_size",
        "show_progress_bar",
        "output_value",
        "precision",
        "convert_to_numpy",
        "convert_to_tensor",
        "device",
        "normalize_embeddings",
        "truncate_dim",
        "pool",
        "chunk_size",
    ],
    "encode_multi_process": [
        "sentences",
        "pool",
        "prompt_name",
        "prompt",
        "batch_size",
        "chunk_size",
        "normalize_embeddings",
    ],
    "evaluate": ["evaluator", "output_path"],
    "push_to_hub": [
        "repo_id",
        "token",
        "private",
        "safe_serialization",
        "commit_message",
        "local_model_path",
        "exist_ok",
        "replace_model_card",
        "train_datasets",
    ],
    "save": ["path", "model_name", "create_model_card", "train_datasets", "safe_serialization"],
    "save_pretrained": ["path", "model_name", "create_model_card", "train_datasets", "safe_serialization"],
    "start_multi_process_pool": ["target_devices"],
    "stop_multi_process_pool": ["pool"],
    "tokenize": ["texts"],
    "truncate_sentence_embeddings": ["truncate_dim"],
    "set_pooling_include_prompt": ["include_prompt"],
    "similarity": [],
    "similarity_pairwise": [],
    "get_sentence_embedding_dimension": [],
    "get_max_seq_length": [],
    "encode_query": [],
    "encode_document": [],
}


# Parameters the 2.x seed documents that upstream 6.x renamed: no longer in the signature, still accepted (with
# upstream's deprecation warning) — each is exercised with a value below.
RENAMED = {
    "Pooling": {
        "word_embedding_dimension": 8,
        "pooling_mode_cls_token": False,
        "pooling_mode_max_tokens": True,
        "pooling_mode_mean_tokens": False,
        "pooling_mode_mean_sqrt_len_tokens": False,
    },
    "CNN": {"in_word_embedding_dimension": 8},
    "LSTM": {"word_embedding_dimension": 8, "hidden_dim": 4},
    "WeightedLayerPooling": {"word_embedding_dimension": 8, "num_hidden_layers": 6},
}
METHOD_RENAMED = {"encode": {"sentences"}}


@pytest.mark.parametrize(("module", "name"), list(PARAMETERS), ids=[f"{m}.{n}" for m, n in PARAMETERS])
def test_class_resolves_with_documented_parameters(module, name):
    cls = getattr(importlib.import_module(module), name)
    parameters = inspect.signature(cls.__init__).parameters
    renamed = RENAMED.get(name, {}) if module == SEED_000 else {}
    missing = [p for p in PARAMETERS[(module, name)] if p not in parameters and p not in renamed]
    assert not missing, f"{module}.{name} lacks parameters {missing}"


@pytest.mark.parametrize("name", list(RENAMED))
def test_renamed_2x_parameters_still_work(name):
    cls = getattr(importlib.import_module(SEED_000), name)
    module = cls(**RENAMED[name])
    assert module.get_embedding_dimension() > 0
    if name == "Pooling":
        assert module.get_pooling_mode_str() == "max"


@pytest.mark.parametrize("method", list(METHODS))
def test_sentence_transformer_methods(method):
    from sentence_transformers import SentenceTransformer

    parameters = inspect.signature(getattr(SentenceTransformer, method)).parameters
    missing = [p for p in METHODS[method] if p not in parameters and p not in METHOD_RENAMED.get(method, ())]
    assert not missing, f"SentenceTransformer.{method} lacks parameters {missing}"


def test_static_embedding_class_methods():
    from sentence_transformers.sentence_transformer.modules import StaticEmbedding

    distill = inspect.signature(StaticEmbedding.from_distillation).parameters
    expected = ["model_name", "vocabulary", "device", "pca_dims", "apply_zipf", "sif_coefficient"]
    expected += ["token_remove_pattern", "quantize_to", "use_subword"]
    assert [p for p in expected if p not in distill] == []
    assert "model_id_or_path" in inspect.signature(StaticEmbedding.from_model2vec).parameters


def test_aliases_are_the_same_objects():
    from sentence_transformers import models, util
    from sentence_transformers.base import modules as base
    from sentence_transformers.models import tokenizer
    from sentence_transformers.sentence_transformer import modules as newer

    assert models.Pooling is newer.Pooling and models.Transformer is base.Transformer
    assert models.Router is base.Router and issubclass(models.Asym, base.Router)
    for name in ("WordTokenizer", "WhitespaceTokenizer", "PhraseTokenizer", "ENGLISH_STOP_WORDS"):
        assert getattr(tokenizer, name) is getattr(newer, name)
    assert callable(util.cos_sim) and callable(util.semantic_search)
