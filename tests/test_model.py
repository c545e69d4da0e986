"""SentenceTransformer on a tiny local BERT: construction, encode parameters, errors, save/load, hub glue."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path
from unittest import mock

import numpy as np
import pytest
import torch

import sentence_transformers
from sentence_transformers import SentenceTransformer
from sentence_transformers.models import Dense, Normalize, Pooling, Transformer

TEXTS = ["A man is playing a guitar.", "A cat sleeps.", "What is the capital of France?", "hello"]


def test_package_is_imported_from_this_repository():
    src = Path(__file__).resolve().parents[1] / "src" / "sentence_transformers"
    assert Path(sentence_transformers.__file__).resolve().parent == src


def test_version_is_the_upstream_api_and_sbert_keeps_its_own():
    """Libraries test ``__version__`` to pick code paths (SetFit: >= 2.3.0); sbert's release is the distribution's."""
    from importlib.metadata import version

    from packaging.version import Version

    assert sentence_transformers.__version__ == "6.2.0"
    assert Version(sentence_transformers.__version__) >= Version("2.3.0")
    assert sentence_transformers.__sbert_version__ == version("sbert")
    assert sentence_transformers.__sbert_version__ != sentence_transformers.__version__


def test_plain_hf_folder_is_transformer_plus_mean_pooling(tiny_model):
    assert isinstance(tiny_model[0], Transformer) and isinstance(tiny_model[1], Pooling)
    assert tiny_model[1].get_pooling_mode_str() == "mean"
    assert tiny_model.get_sentence_embedding_dimension() == 32
    assert tiny_model.max_seq_length == 64 == tiny_model.get_max_seq_length()
    assert tiny_model.device.type == "cpu"
    assert tiny_model.similarity_fn_name == "cosine"


def test_encode_shapes_types_and_single_string(tiny_model):
    array = tiny_model.encode(TEXTS)
    assert isinstance(array, np.ndarray) and array.shape == (4, 32) and array.dtype == np.float32
    single = tiny_model.encode(TEXTS[0])
    assert single.shape == (32,)
    np.testing.assert_allclose(single, array[0], atol=1e-6)
    tensor = tiny_model.encode(TEXTS, convert_to_tensor=True)
    assert isinstance(tensor, torch.Tensor) and tensor.shape == (4, 32)
    assert tiny_model.encode(tuple(TEXTS[:2])).shape == (2, 32), "a tuple is a sequence of texts"
    assert tiny_model.encode(np.array(TEXTS)).shape == (4, 32)
    tensors = tiny_model.encode(TEXTS, convert_to_numpy=False)
    assert isinstance(tensors, list) and all(isinstance(t, torch.Tensor) for t in tensors)
    assert not tensor.requires_grad


def test_encode_empty_list(tiny_model):
    assert tiny_model.encode([]).shape == (0, 32)
    assert tiny_model.encode([], convert_to_tensor=True).shape == (0, 32)


def test_encode_order_and_batch_size_invariance(tiny_model):
    texts = [("word " * n).strip() for n in (3, 17, 1, 9, 30, 5, 2)]
    whole = tiny_model.encode(texts, batch_size=32)
    ones = np.stack([tiny_model.encode(text) for text in texts])
    np.testing.assert_allclose(tiny_model.encode(texts, batch_size=2), whole, atol=1e-5)
    np.testing.assert_allclose(ones, whole, atol=1e-5)


def test_encode_equals_manual_mean_pooling(tiny_model):
    features = tiny_model.tokenize(TEXTS[:2])
    with torch.no_grad():
        tokens = tiny_model[0].auto_model(**features).last_hidden_state
    mask = features["attention_mask"].unsqueeze(-1).float()
    expected = (tokens * mask).sum(1) / mask.sum(1)
    np.testing.assert_allclose(tiny_model.encode(TEXTS[:2]), expected.numpy(), atol=1e-5)


def test_normalize_truncate_and_context_manager(tiny_model):
    full = tiny_model.encode(TEXTS)
    normalized = tiny_model.encode(TEXTS, normalize_embeddings=True)
    np.testing.assert_allclose(normalized, full / np.linalg.norm(full, axis=1, keepdims=True), atol=1e-6)
    np.testing.assert_allclose(tiny_model.encode(TEXTS, truncate_dim=8), full[:, :8])
    with tiny_model.truncate_sentence_embeddings(truncate_dim=16):
        assert tiny_model.encode(TEXTS).shape == (4, 16)
        assert tiny_model.get_sentence_embedding_dimension() == 16
    assert tiny_model.get_sentence_embedding_dimension() == 32
    truncated_model = SentenceTransformer(modules=list(tiny_model), truncate_dim=4, device="cpu")
    assert truncated_model.encode(TEXTS).shape == (4, 4)


def test_token_embeddings_and_all_outputs(tiny_model):
    tokens = tiny_model.encode(TEXTS, output_value="token_embeddings")
    lengths = [len(tiny_model.tokenize([text])["input_ids"][0]) for text in TEXTS]
    assert [len(t) for t in tokens] == lengths
    everything = tiny_model.encode(TEXTS, output_value=None)
    assert set(everything[0]) >= {"input_ids", "attention_mask", "token_embeddings", "sentence_embedding"}
    torch.testing.assert_close(everything[2]["sentence_embedding"], tiny_model.encode(TEXTS[2], convert_to_tensor=True))


def test_precision_quantizes_over_the_whole_input(tiny_model):
    floats = tiny_model.encode(TEXTS)
    ubinary = tiny_model.encode(TEXTS, precision="ubinary")
    np.testing.assert_array_equal(ubinary, np.packbits(floats > 0, axis=-1))
    int8 = tiny_model.encode(TEXTS, precision="int8", convert_to_tensor=True)
    assert int8.dtype == torch.int8 and int8.shape == (4, 32)


def test_prompts_by_name_text_and_default(tiny_bert_dir):
    model = SentenceTransformer(
        str(tiny_bert_dir), prompts={"query": "query: ", "document": "document: "}, device="cpu"
    )
    prompted = model.encode(TEXTS, prompt="query: ")
    np.testing.assert_allclose(model.encode(TEXTS, prompt_name="query"), prompted, atol=1e-6)
    np.testing.assert_allclose(model.encode(["query: " + t for t in TEXTS]), prompted, atol=1e-6)
    np.testing.assert_allclose(model.encode_query(TEXTS), prompted, atol=1e-6)
    np.testing.assert_allclose(model.encode_document(TEXTS), model.encode(TEXTS, prompt="document: "), atol=1e-6)
    pattern = r"Prompt name 'pasage' not found in the configured prompts dictionary with keys \['query', 'document'\]"
    with pytest.raises(ValueError, match=pattern):
        model.encode(TEXTS, prompt_name="pasage")
    default = SentenceTransformer(str(tiny_bert_dir), prompts={"query": "query: "}, default_prompt_name="query")
    np.testing.assert_allclose(default.encode(TEXTS), prompted, atol=1e-6)
    with pytest.raises(ValueError, match="Default prompt name 'nope' not found"):
        SentenceTransformer(str(tiny_bert_dir), prompts={"query": "q: "}, default_prompt_name="nope")


def test_pooling_include_prompt_switch(tiny_bert_dir):
    model = SentenceTransformer(str(tiny_bert_dir), device="cpu")
    with_prompt = model.encode(TEXTS, prompt="query: ")
    model.set_pooling_include_prompt(False)
    assert model[1].include_prompt is False
    without = model.encode(TEXTS, prompt="query: ")
    assert not np.allclose(with_prompt, without)
    features = model.tokenize(["query: " + TEXTS[0]])
    prompt_tokens = model.tokenize(["query: "])["input_ids"].shape[1] - 1
    with torch.no_grad():
        tokens = model[0].auto_model(**features).last_hidden_state[0, prompt_tokens:]
    np.testing.assert_allclose(without[0], tokens.mean(0).numpy(), atol=1e-5)


def test_non_string_inputs_name_the_position(tiny_model):
    with pytest.raises(TypeError, match="position 2 is int"):
        tiny_model.encode(["a", "b", 3])
    with pytest.raises(TypeError, match="position 0 is NoneType"):
        tiny_model.encode([None])
    with pytest.raises(ValueError, match="Precision 'int4' is not supported"):
        tiny_model.encode(["a"], precision="int4")
    with pytest.raises(ValueError, match="Unknown output_value"):
        tiny_model.encode(["a"], output_value="cls")
    with pytest.raises(ValueError, match="batch_size"):
        tiny_model.encode(["a"], batch_size=0)


def test_similarity_functions_follow_the_name(tiny_bert_dir):
    a, b = torch.tensor([[1.0, 0.0], [0.0, 2.0]]), torch.tensor([[3.0, 4.0]])
    model = SentenceTransformer(str(tiny_bert_dir), similarity_fn_name="dot", device="cpu")
    torch.testing.assert_close(model.similarity(a, b), torch.tensor([[3.0], [8.0]]))
    model.similarity_fn_name = "euclidean"
    torch.testing.assert_close(model.similarity(a, b), -torch.tensor([[20.0**0.5], [13.0**0.5]]))
    model.similarity_fn_name = "manhattan"
    torch.testing.assert_close(
        model.similarity_pairwise(a, torch.tensor([[1.0, 1.0], [1.0, 1.0]])), torch.tensor([-1.0, -2.0])
    )
    with pytest.raises(ValueError):
        model.similarity_fn_name = "jaccard"


def test_save_load_round_trip_standard_format(tiny_bert_dir, tmp_path):
    transformer = Transformer(str(tiny_bert_dir), max_seq_length=48)
    pooling = Pooling(32, pooling_mode="cls")
    dense = Dense(32, 8, activation_function=torch.nn.GELU())
    model = SentenceTransformer(
        modules=[transformer, pooling, dense, Normalize()],
        prompts={"query": "query: "},
        similarity_fn_name="dot",
        device="cpu",
    )
    target = tmp_path / "saved"
    model.save(str(target), model_name="tiny-test")
    entries = json.loads((target / "modules.json").read_text())
    assert [(e["path"], e["type"]) for e in entries] == [
        ("", "sentence_transformers.models.Transformer"),
        ("1_Pooling", "sentence_transformers.models.Pooling"),
        ("2_Dense", "sentence_transformers.models.Dense"),
        ("3_Normalize", "sentence_transformers.models.Normalize"),
    ]
    config = json.loads((target / "config_sentence_transformers.json").read_text())
    assert config["prompts"] == {"query": "query: "} and config["similarity_fn_name"] == "dot"
    # upstream reads the sentence_transformers version: the upstream format written; sbert's own under its key
    assert config["__version__"]["sentence_transformers"] == "6.2.0"
    assert config["__version__"]["sbert"] == sentence_transformers.__sbert_version__
    assert (target / "model.safetensors").is_file() and (target / "2_Dense" / "model.safetensors").is_file()
    assert "tiny-test" in (target / "README.md").read_text()
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")], "temporary folders left behind"
    loaded = SentenceTransformer(str(target), device="cpu")
    assert loaded.prompts == {"query": "query: "} and loaded.similarity_fn_name == "dot"
    assert loaded.max_seq_length == 48
    np.testing.assert_allclose(loaded.encode(TEXTS), model.encode(TEXTS), atol=1e-6)
    loaded.save_pretrained(str(tmp_path / "again"), safe_serialization=False)
    assert (tmp_path / "again" / "pytorch_model.bin").is_file()
    np.testing.assert_allclose(
        SentenceTransformer(str(tmp_path / "again")).encode(TEXTS), model.encode(TEXTS), atol=1e-6
    )


def test_missing_normalize_folder_loads(tiny_model, tmp_path):
    SentenceTransformer(modules=[*tiny_model, Normalize()], device="cpu").save(str(tmp_path / "m"))
    shutil.rmtree(tmp_path / "m" / "2_Normalize")
    loaded = SentenceTransformer(str(tmp_path / "m"), device="cpu")
    np.testing.assert_allclose(np.linalg.norm(loaded.encode(TEXTS), axis=1), 1.0, rtol=1e-5)


def test_failed_save_leaves_previous_model_intact(tiny_model, tmp_path):
    target = tmp_path / "model"
    tiny_model.save(str(target))
    (target / "eval").mkdir()
    (target / "eval" / "results.csv").write_text("score\n0.5\n")
    before = {p.relative_to(target): p.read_bytes() for p in target.rglob("*") if p.is_file()}
    with mock.patch.object(Pooling, "save", side_effect=RuntimeError("disk full")), pytest.raises(RuntimeError):
        tiny_model.save(str(target))
    after = {p.relative_to(target): p.read_bytes() for p in target.rglob("*") if p.is_file()}
    assert after == before
    assert [p.name for p in tmp_path.iterdir()] == ["model"]
    tiny_model.save(str(target))
    assert (target / "eval" / "results.csv").read_text() == "score\n0.5\n", "unrelated files are kept"


def test_missing_model_error_names_it(tmp_path, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(FileNotFoundError, match="no-such-owner/no-such-model"):
        SentenceTransformer("no-such-owner/no-such-model", cache_folder=str(tmp_path))
    with pytest.raises(FileNotFoundError, match="does not exist"):
        SentenceTransformer(str(tmp_path / "missing" / "folder"))
    (tmp_path / "empty").mkdir()
    with pytest.raises(FileNotFoundError, match="neither modules.json"):
        SentenceTransformer(str(tmp_path / "empty"))


def test_short_names_map_to_sentence_transformers_org(tmp_path, monkeypatch):
    from sentence_transformers.base import hub

    assert hub.hub_repo_id("all-MiniLM-L6-v2") == "sentence-transformers/all-MiniLM-L6-v2"
    assert hub.hub_repo_id("bert-base-uncased") == "bert-base-uncased"
    assert hub.hub_repo_id("BAAI/bge-small-en-v1.5") == "BAAI/bge-small-en-v1.5"
    calls = {}

    def fake_snapshot(repo_id, **kwargs):
        calls.update(kwargs, repo_id=repo_id)
        raise OSError("offline")

    monkeypatch.setenv("SENTENCE_TRANSFORMERS_HOME", str(tmp_path / "st-home"))
    monkeypatch.setattr(hub, "snapshot_download", fake_snapshot)
    with pytest.raises(FileNotFoundError, match=r"'all-MiniLM-L6-v2'.*sentence-transformers/all-MiniLM-L6-v2"):
        SentenceTransformer("all-MiniLM-L6-v2", revision="abc123")
    assert calls["repo_id"] == "sentence-transformers/all-MiniLM-L6-v2"
    assert calls["cache_dir"] == str(tmp_path / "st-home") and calls["revision"] == "abc123"


def test_hub_download_is_used_for_names(tiny_model, tmp_path, monkeypatch):
    from sentence_transformers.base import hub

    tiny_model.save(str(tmp_path / "snapshot"))
    monkeypatch.setattr(hub, "snapshot_download", lambda repo_id, **kwargs: str(tmp_path / "snapshot"))
    loaded = SentenceTransformer("someone/tiny", device="cpu")
    np.testing.assert_allclose(loaded.encode(TEXTS), tiny_model.encode(TEXTS), atol=1e-6)


def test_corrupt_modules_json_names_the_file(tiny_model, tmp_path):
    tiny_model.save(str(tmp_path / "m"))
    (tmp_path / "m" / "modules.json").write_text("[{oops")
    with pytest.raises(ValueError, match=r"Corrupt modules file .*modules.json"):
        SentenceTransformer(str(tmp_path / "m"))
    (tmp_path / "m" / "modules.json").write_text('{"type": 1}')
    with pytest.raises(ValueError, match=r"modules.json"):
        SentenceTransformer(str(tmp_path / "m"))


def test_unknown_standard_type_is_refused(tiny_model, tmp_path):
    tiny_model.save(str(tmp_path / "m"))
    entries = json.loads((tmp_path / "m" / "modules.json").read_text())
    entries[1]["type"] = "sentence_transformers.models.Frobnicator"
    (tmp_path / "m" / "modules.json").write_text(json.dumps(entries))
    with pytest.raises(ValueError, match="Unknown module type 'sentence_transformers.models.Frobnicator'"):
        SentenceTransformer(str(tmp_path / "m"))


def test_reads_every_type_name_form(tiny_model, tmp_path):
    tiny_model.save(str(tmp_path / "m"))
    entries = json.loads((tmp_path / "m" / "modules.json").read_text())
    entries[0]["type"] = "sentence_transformers.base.modules.transformer.Transformer"
    entries[1]["type"] = "sentence_transformers.sentence_transformer.modules.pooling.Pooling"
    (tmp_path / "m" / "modules.json").write_text(json.dumps(entries))
    np.testing.assert_allclose(
        SentenceTransformer(str(tmp_path / "m")).encode(TEXTS), tiny_model.encode(TEXTS), atol=1e-6
    )


CUSTOM_CODE = """
import pathlib
import torch
from sentence_transformers.models import Module

pathlib.Path(__file__).with_name("CODE_RAN").write_text("yes")


class Doubler(Module):
    config_keys = ["factor"]

    def __init__(self, factor: float = 2.0, **kwargs):
        super().__init__()
        self.factor = factor

    def forward(self, features, task=None, **kwargs):
        scale = 10.0 if task == "big" else self.factor
        features["sentence_embedding"] = features["sentence_embedding"] * scale
        return features

    def save(self, output_path, *args, **kwargs):
        self.save_config(output_path)
"""


def _model_with_custom_code(tiny_model, folder: Path) -> Path:
    tiny_model.save(str(folder))
    (folder / "doubler_code.py").write_text(CUSTOM_CODE)
    (folder / "2_Doubler").mkdir()
    (folder / "2_Doubler" / "config.json").write_text(json.dumps({"factor": 3.0}))
    entries = json.loads((folder / "modules.json").read_text())
    entries.append({"idx": 2, "name": "2", "path": "2_Doubler", "type": "doubler_code.Doubler", "kwargs": ["task"]})
    (folder / "modules.json").write_text(json.dumps(entries))
    return folder


def test_code_in_model_folder_needs_trust_remote_code(tiny_model, tmp_path):
    folder = _model_with_custom_code(tiny_model, tmp_path / "custom")
    with pytest.raises(ValueError, match=r"doubler_code.Doubler.*model folder.*trust_remote_code=True"):
        SentenceTransformer(str(folder))
    assert not (folder / "CODE_RAN").exists(), "code from the model folder ran without trust_remote_code"
    model = SentenceTransformer(str(folder), trust_remote_code=True, device="cpu")
    assert (folder / "CODE_RAN").exists()
    base = tiny_model.encode(TEXTS)
    np.testing.assert_allclose(model.encode(TEXTS), 3 * base, atol=1e-5)
    np.testing.assert_allclose(model.encode(TEXTS, task="big"), 10 * base, atol=1e-5)
    model.save(str(tmp_path / "resaved"))
    assert (tmp_path / "resaved" / "doubler_code.py").is_file()
    assert json.loads((tmp_path / "resaved" / "modules.json").read_text())[2]["kwargs"] == ["task"]


def test_push_to_hub_saves_and_uploads(tiny_model, tmp_path):
    uploaded = {}

    class FakeApi:
        def __init__(self, token=None):
            uploaded["token"] = token

        def create_repo(self, repo_id, private=None, exist_ok=False):
            uploaded.update(repo_id=repo_id, private=private, exist_ok=exist_ok)
            return mock.Mock(repo_id=repo_id)

        def file_exists(self, repo_id, filename, revision=None):
            return False

        def upload_folder(self, folder_path, **kwargs):
            uploaded["files"] = sorted(os.listdir(folder_path))
            uploaded.update(kwargs)
            return mock.Mock(commit_url="https://hub/commit/1", pr_url=None)

    with mock.patch("huggingface_hub.HfApi", FakeApi):
        url = tiny_model.push_to_hub("me/tiny", token="t0k", private=True, commit_message="first")
    assert url == "https://hub/commit/1"
    assert uploaded["token"] == "t0k" and uploaded["private"] is True and uploaded["commit_message"] == "first"
    assert {"modules.json", "config_sentence_transformers.json", "model.safetensors", "README.md"} <= set(
        uploaded["files"]
    )


def test_hub_repository_code_needs_trust_and_is_fetched_from_the_repo(tiny_model, tmp_path, monkeypatch):
    import huggingface_hub

    folder = _model_with_custom_code(tiny_model, tmp_path / "m")
    code = folder / "doubler_code.py"
    hub_copy = tmp_path / "hub" / "doubler_code.py"
    hub_copy.parent.mkdir()
    code.rename(hub_copy)
    entries = json.loads((folder / "modules.json").read_text())
    entries[2]["type"] = "someone/shared-modules--doubler_code.Doubler"
    (folder / "modules.json").write_text(json.dumps(entries))
    fetched = []

    def fake_download(repo_id, filename, **kwargs):
        fetched.append((repo_id, filename))
        return str(hub_copy)

    monkeypatch.setattr(huggingface_hub, "hf_hub_download", fake_download)
    with pytest.raises(ValueError, match=r"hub repository 'someone/shared-modules'.*trust_remote_code=True"):
        SentenceTransformer(str(folder))
    assert fetched == [] and not (hub_copy.parent / "CODE_RAN").exists()
    model = SentenceTransformer(str(folder), trust_remote_code=True, device="cpu")
    assert fetched == [("someone/shared-modules", "doubler_code.py")]
    np.testing.assert_allclose(model.encode(TEXTS), 3 * tiny_model.encode(TEXTS), atol=1e-5)


def test_token_and_deprecated_use_auth_token_reach_the_hub(tiny_model, tmp_path, monkeypatch):
    from sentence_transformers.base import hub

    tiny_model.save(str(tmp_path / "snap"))
    seen = []
    monkeypatch.setattr(
        hub, "snapshot_download", lambda repo_id, **kw: seen.append(kw["token"]) or str(tmp_path / "snap")
    )
    SentenceTransformer("me/private", token="tok-1", device="cpu")
    with pytest.warns(FutureWarning, match="use_auth_token"):
        SentenceTransformer("me/private", use_auth_token="tok-2", device="cpu")
    assert seen == ["tok-1", "tok-2"]
    with pytest.warns(FutureWarning), pytest.raises(ValueError, match="Both `token` and `use_auth_token`"):
        SentenceTransformer("me/private", token="tok-1", use_auth_token="tok-2", device="cpu")
    assert seen == ["tok-1", "tok-2"]  # refused before reaching the hub


def test_construction_errors_as_upstream(tmp_path):
    with pytest.raises(ValueError, match="empty modules list"):
        SentenceTransformer(modules=[])
    with pytest.raises(ValueError, match="empty modules list"):
        SentenceTransformer(modules=iter([]))
    weights = tmp_path / "model.safetensors"
    weights.write_bytes(b"not a folder")
    for error in (ValueError, NotADirectoryError):
        with pytest.raises(error, match="is a file, not a folder"):
            SentenceTransformer(str(weights))


def test_tokenizer_processor_and_model_kwargs_reach_the_loaders(tiny_bert_dir):
    model = SentenceTransformer(
        str(tiny_bert_dir),
        processor_kwargs={"model_max_length": 10},
        model_kwargs={"attn_implementation": "eager"},
        config_kwargs={"hidden_dropout_prob": 0.25},
        device="cpu",
    )
    assert model.max_seq_length == 10 and model.tokenizer.model_max_length == 10
    assert model[0].auto_model.config.hidden_dropout_prob == 0.25
    assert model[0].auto_model.config._attn_implementation == "eager"
    model.max_seq_length = 6
    assert model.tokenize(["one two three four five six seven"])["input_ids"].shape == (1, 6)
    with pytest.raises(ValueError, match="max_seq_length"):
        model.max_seq_length = 0


def test_base_model_is_recorded_for_hub_models_and_shown_in_the_card(tiny_model, tmp_path, monkeypatch):
    from types import SimpleNamespace

    import huggingface_hub

    from sentence_transformers.base import hub

    tiny_model.save(str(tmp_path / "snap"))
    monkeypatch.setattr(hub, "snapshot_download", lambda repo_id, **kw: str(tmp_path / "snap"))
    asked = []

    def model_info(model_id, revision=None):
        asked.append((model_id, revision))
        return SimpleNamespace(id=model_id, sha="abc123")

    monkeypatch.setattr(huggingface_hub, "model_info", model_info)
    model = SentenceTransformer("all-MiniLM-L6-v2", device="cpu")
    assert asked == [("sentence-transformers/all-MiniLM-L6-v2", None)]
    assert model.model_card_data.base_model == "sentence-transformers/all-MiniLM-L6-v2"
    assert model.model_card_data.base_model_revision == "abc123"
    model.model_card_data.model_name = None
    model._model_card_text = None  # write a new card rather than keep the loaded one
    model.save(str(tmp_path / "finetuned"))
    card = (tmp_path / "finetuned" / "README.md").read_text()
    assert "base_model: sentence-transformers/all-MiniLM-L6-v2" in card
    assert "finetuned from [sentence-transformers/all-MiniLM-L6-v2]" in card and "revision abc123" in card
    SentenceTransformer("other/model", device="cpu", local_files_only=True)
    SentenceTransformer(str(tmp_path / "snap"), device="cpu")
    assert len(asked) == 1  # neither a local folder nor local_files_only asks the hub

    def offline(model_id, revision=None):
        raise OSError("no network")

    monkeypatch.setattr(huggingface_hub, "model_info", offline)
    assert SentenceTransformer("owner/model", device="cpu").model_card_data.base_model is None
