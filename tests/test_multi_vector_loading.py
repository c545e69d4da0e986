"""MultiVectorEncoder loading: plain Hugging Face folders, SentenceTransformer folders, PyLate (older and 3.x) and
Stanford-NLP ColBERT checkpoints, and upstream's own layout.

The PyLate and Stanford folders are written by scripts/upstream_compat_multi_vector.py's helpers (by hand, without
PyLate) from all-MiniLM-L6-v2 and a seeded projection; the expected scores are those upstream 6.2.0 computes on the
same folders."""

from __future__ import annotations

import importlib.util
import json
import os
import string
from pathlib import Path

import numpy as np
import pytest
import torch

from sentence_transformers import SentenceTransformer
from sentence_transformers.base.modules import Dense, Normalize, Transformer
from sentence_transformers.multi_vector_encoder import MultiVectorEncoder
from sentence_transformers.multi_vector_encoder.modules import MultiVectorMask
from sentence_transformers.sentence_transformer.modules import Pooling

SCRIPT = Path(__file__).resolve().parents[1] / "scripts" / "upstream_compat_multi_vector.py"
QUERIES = ["what is the capital of france?", "who plays guitar on the street?"]
DOCUMENTS = ["Paris is the capital of France.", "A man is playing a guitar, on the street!", "The cat sleeps."]
# Upstream 6.2.0 on the PyLate, PyLate 3 and Stanford folders (the same numbers: the folders hold the same weights,
# and the added "[Q] "/"[D] " rows are copies of [unused0]/[unused1]).
UPSTREAM_COLBERT = [[16.836042, 10.007701, 6.588546], [8.758269, 14.576753, 8.015813]]
UPSTREAM_COLBERT_FIRST_VECTOR = [0.042047385, -0.118190541, -0.007810386, 0.178701252]
EXPANSION = {"strategy": "fixed", "attend": False, "token": None, "length": 32}


def compat_script():
    spec = importlib.util.spec_from_file_location("upstream_compat_multi_vector", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def weight() -> np.ndarray:
    torch.manual_seed(0)
    return (torch.randn(128, 384) / 384**0.5).numpy()


@pytest.fixture(scope="module")
def folders(minilm_path, weight, tmp_path_factory) -> dict[str, Path]:
    script = compat_script()
    root = tmp_path_factory.mktemp("colbert-checkpoints")
    script.write_pylate(str(minilm_path), weight, root / "pylate", None)
    script.write_pylate(str(minilm_path), weight, root / "pylate_v3", "ColBERT")
    script.write_stanford(str(minilm_path), weight, root / "stanford")
    return {name: root / name for name in ("pylate", "pylate_v3", "stanford")}


def scores(model: MultiVectorEncoder) -> torch.Tensor:
    return model.similarity(model.encode_query(QUERIES), model.encode_document(DOCUMENTS))


def check_colbert(model: MultiVectorEncoder, weight: np.ndarray) -> None:
    assert [type(module) for module in model] == [Transformer, Dense, MultiVectorMask, Normalize]
    transformer, dense, mask, normalize = list(model)
    assert transformer.query_expansion == EXPANSION and transformer.document_length == 180
    assert dense.module_input_name == "token_embeddings" and torch.equal(dense.linear.weight, torch.from_numpy(weight))
    assert mask.skiplist_words == list(string.punctuation)
    assert normalize.module_input_name == "token_embeddings"
    assert model.similarity_fn_name == "maxsim"
    queries = model.encode_query(QUERIES)
    assert [row.shape[0] for row in queries] == [32, 32]
    assert torch.allclose(queries[0][0, :4], torch.tensor(UPSTREAM_COLBERT_FIRST_VECTOR), atol=1e-5)
    assert torch.allclose(scores(model), torch.tensor(UPSTREAM_COLBERT), atol=1e-4)


@pytest.mark.parametrize("name", ["pylate", "pylate_v3"])
def test_pylate_checkpoints(folders, weight, name) -> None:
    model = MultiVectorEncoder(str(folders[name]), device="cpu")
    check_colbert(model, weight)
    assert model.prompts == {"query": "[Q] ", "document": "[D] "}
    assert model.tokenizer.tokenize("[Q] what") == ["[Q] ", "what"]  # the marker is one special token again
    assert model.tokenizer.tokenize("[D] paris") == ["[D] ", "paris"]


def test_stanford_checkpoint(folders, weight) -> None:
    model = MultiVectorEncoder(str(folders["stanford"]), device="cpu")
    check_colbert(model, weight)
    assert model.prompts == {"query": "[unused0] ", "document": "[unused1] "}
    assert model.tokenizer.tokenize("[unused0] what") == ["[unused0]", "what"]


def test_caller_prompts_win_over_checkpoint_markers(folders) -> None:
    model = MultiVectorEncoder(str(folders["stanford"]), prompts={"query": "query: "}, device="cpu")
    assert model.prompts["query"] == "query: " and model.prompts["document"] == "[unused1] "


def linked_copy(source: Path, target: Path) -> Path:
    """``source`` with every file linked, to change one file without copying the weights."""
    for path in source.rglob("*"):
        if path.is_file():
            (target / path.relative_to(source)).parent.mkdir(parents=True, exist_ok=True)
            os.symlink(path, target / path.relative_to(source))
    return target


def test_pylate_without_query_expansion(folders, tmp_path) -> None:
    folder = linked_copy(folders["pylate"], tmp_path / "no-expansion")
    config_path = folder / "config_sentence_transformers.json"
    config = json.loads(config_path.read_text())
    config.update(do_query_expansion=False, skiplist_words=["."], query_length=8)
    config_path.unlink()
    config_path.write_text(json.dumps(config))
    model = MultiVectorEncoder(str(folder), device="cpu")
    assert model[0].query_expansion is None and model[0].query_length == 8
    assert model[2].skiplist_words == ["."]
    # [CLS] [Q] a cat [SEP] unpadded; the long query cut to query_length
    assert [row.shape[0] for row in model.encode_query(["a cat", "what is the capital of france?"])] == [5, 8]


def test_upstream_layout_loads(minilm_path, tmp_path) -> None:
    modules = [
        Transformer(str(minilm_path), query_expansion={"strategy": "min", "length": 12}),
        Dense(384, 32, bias=False, activation_function=torch.nn.Identity(), module_input_name="token_embeddings"),
        MultiVectorMask(),
        Normalize(module_input_name="token_embeddings"),
    ]
    model = MultiVectorEncoder(modules=modules, device="cpu")
    model.save(str(tmp_path / "model"))
    # Upstream 6.2 writes full type paths and a null similarity until it is first used.
    entries = json.loads((tmp_path / "model" / "modules.json").read_text())
    full = {
        "Transformer": "sentence_transformers.base.modules.transformer.Transformer",
        "Dense": "sentence_transformers.base.modules.dense.Dense",
        "Normalize": "sentence_transformers.base.modules.normalize.Normalize",
    }
    for entry in entries:
        entry["type"] = full.get(entry["type"].rsplit(".", 1)[-1], entry["type"])
    (tmp_path / "model" / "modules.json").write_text(json.dumps(entries))
    loaded = MultiVectorEncoder(str(tmp_path / "model"), device="cpu")
    assert loaded[0].query_expansion == {"strategy": "min", "attend": False, "token": None, "length": 12}
    texts = ["a cat", "a very long query about the capital city of france and its many museums"]
    expected, got = model.encode_query(texts), loaded.encode_query(texts)
    assert [row.shape[0] for row in got] == [12, 16]  # "min": padded up to 12, longer ones kept whole
    assert all(torch.allclose(a, b, atol=1e-6) for a, b in zip(expected, got, strict=True))


def test_plain_hugging_face_folder(tiny_bert_dir) -> None:
    model = MultiVectorEncoder(str(tiny_bert_dir), device="cpu")
    assert [type(module) for module in model] == [Transformer, Dense, MultiVectorMask, Normalize]
    assert (model[1].in_features, model[1].out_features, model[1].linear.bias) == (32, 128, None)
    assert model[2].skiplist_words == [] and model.prompts == {"query": "", "document": ""}
    vectors = model.encode_document("the quick brown fox")
    assert vectors.shape == (6, 128) and torch.allclose(vectors.norm(dim=-1), torch.ones(6), atol=1e-5)


def test_sentence_transformer_folders_become_token_level(minilm_path, tiny_bert_dir, tmp_path) -> None:
    model = MultiVectorEncoder(str(minilm_path), device="cpu")  # Transformer + Pooling + Normalize
    assert [type(module) for module in model] == [Transformer, Dense, MultiVectorMask, Normalize]
    assert model[1].out_features == 128 and model.similarity_fn_name == "maxsim"  # "cosine" is not carried over
    # A sentence-level Dense is kept, moved to the token embeddings.
    transformer = Transformer(str(tiny_bert_dir))
    dense = Dense(32, 8, activation_function=torch.nn.Tanh())
    dense_source = SentenceTransformer(
        modules=[transformer, Pooling(32), dense, Normalize()], prompts={"query": "q: "}, device="cpu"
    )
    dense_source.save(str(tmp_path / "st"))
    converted = MultiVectorEncoder(str(tmp_path / "st"), device="cpu")
    assert [type(module) for module in converted] == [Transformer, Dense, MultiVectorMask, Normalize]
    assert converted[1].module_input_name == "token_embeddings"
    assert torch.equal(converted[1].linear.weight, dense.linear.weight)
    assert converted.prompts == {"query": "q: ", "document": ""}
    features = converted.preprocess(["the lazy dog"])
    tokens = transformer(dict(features))["token_embeddings"][0]
    expected = torch.nn.functional.normalize(torch.tanh(dense.linear(tokens)), dim=-1)
    assert torch.allclose(converted.encode("the lazy dog"), expected, atol=1e-5)


def test_native_retrievers_are_refused(tiny_bert_dir, tmp_path) -> None:
    folder = linked_copy(tiny_bert_dir, tmp_path / "colpali")
    config = json.loads((folder / "config.json").read_text())
    (folder / "config.json").unlink()
    (folder / "config.json").write_text(json.dumps({**config, "architectures": ["ColPaliForRetrieval"]}))
    with pytest.raises(NotImplementedError, match="retrieval"):
        MultiVectorEncoder(str(folder), device="cpu")


def test_missing_folder() -> None:
    with pytest.raises(FileNotFoundError):
        MultiVectorEncoder("/no/such/colbert", device="cpu")
