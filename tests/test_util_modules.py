"""Tests for the util submodules: dataset, decorators, distributed, environment, file_io, logging, misc, and the
multi-vector / angle similarities and tensor helpers. Expected values are worked out by hand in the comments."""

from __future__ import annotations

import csv
import functools
import http.server
import logging
import pickle
import platform
import socket
import threading
from collections import OrderedDict
from pathlib import Path

import numpy as np
import pytest
import torch

from sentence_transformers import util
from sentence_transformers.util import dataset as dataset_module
from sentence_transformers.util import distributed, environment, file_io, misc, similarity, tensor
from sentence_transformers.util.decorators import (
    deprecated_kwargs,
    save_to_hub_args_decorator,
    transformer_kwargs_decorator,
)


# ------------------------------------------------------------------------------------------------------- __init__
def test_util_reexports_share_one_home():
    assert util.normalize_embeddings is similarity.normalize_embeddings is tensor.normalize_embeddings
    assert util.disable_logging is misc.disable_logging is distributed.disable_logging
    assert util.is_dist_initialized is environment.is_dist_initialized is distributed.is_dist_initialized
    assert util.resolve_ids is dataset_module.resolve_ids
    assert "bert-base-uncased" in util.ORIGINAL_TRANSFORMER_MODELS
    assert all("/" not in name for name in util.ORIGINAL_TRANSFORMER_MODELS)


def test_mine_hard_negatives_is_imported_lazily(monkeypatch):
    import importlib
    import types

    fake = types.ModuleType("sentence_transformers.util.hard_negatives")
    fake.mine_hard_negatives = lambda *args, **kwargs: "mined"
    real_import = importlib.import_module
    monkeypatch.setattr(importlib, "import_module", lambda name: fake if name == fake.__name__ else real_import(name))
    # setitem first, so that the undo also removes the fake cached by __getattr__ when the name was not yet loaded
    monkeypatch.setitem(util.__dict__, "mine_hard_negatives", None)
    monkeypatch.delitem(util.__dict__, "mine_hard_negatives")
    assert util.mine_hard_negatives() == "mined"
    with pytest.raises(AttributeError, match="no attribute 'nope'"):
        util.nope  # noqa: B018


# ----------------------------------------------------------------------------------------------------- similarity
QUERY = torch.tensor([[1.0, 0.0], [0.0, 1.0]])
DOC0 = torch.tensor([[1.0, 0.0], [0.5, 0.5]])
DOC1 = torch.tensor([[0.0, 2.0]])


def test_maxsim_sums_best_document_token_per_query_token():
    # doc0: (1,0)->max(1, .5)=1, (0,1)->max(0, .5)=.5 => 1.5;  doc1: (1,0)->0, (0,1)->2 => 2
    scores = util.maxsim([QUERY], [DOC0, DOC1])
    assert scores.dtype == torch.float32
    torch.testing.assert_close(scores, torch.tensor([[1.5, 2.0]]))
    # a single 2-D query is a batch of one; mean_maxsim divides by the 2 query tokens
    torch.testing.assert_close(util.mean_maxsim(QUERY, [DOC0, DOC1]), torch.tensor([[0.75, 1.0]]))
    torch.testing.assert_close(util.mean_maxsim(QUERY, [DOC0, DOC1], length_normalize=False), scores)


def test_maxsim_masks():
    # masking doc0's (.5,.5) token: (1,0)->1, (0,1)->0 => 1; masking the query's 2nd token: doc0 -> 1, doc1 -> 0
    torch.testing.assert_close(util.maxsim([QUERY], [DOC0], b_mask=torch.tensor([[1, 0]])), torch.tensor([[1.0]]))
    torch.testing.assert_close(
        util.maxsim([QUERY], [DOC0, DOC1], a_mask=[torch.tensor([1, 0])]), torch.tensor([[1.0, 0.0]])
    )
    # a masked token is left out of the max (not multiplied by 0): the only real similarity, -1, wins
    negative = torch.tensor([[[-1.0, 0.0], [9.0, 9.0]]])
    assert util.maxsim(torch.tensor([[[1.0, 0.0]]]), negative, b_mask=torch.tensor([[True, False]])).item() == -1.0
    # a document without any unmasked token ranks below everything
    assert util.maxsim([QUERY], [DOC0], b_mask=torch.tensor([[0, 0]])).item() == -1e9
    with pytest.raises(ValueError, match="covers 3 tokens"):
        util.maxsim([QUERY], [DOC0], b_mask=torch.ones(1, 3))


def test_maxsim_padded_tensors_treat_zero_rows_as_padding():
    padded = torch.tensor([[[1.0, 0.0], [0.0, 1.0], [0.0, 0.0]]])  # QUERY plus one padding row
    torch.testing.assert_close(util.mean_maxsim(padded, [DOC0, DOC1]), torch.tensor([[0.75, 1.0]]))
    # int8 (quantized) inputs: (1,2).(1,0)=1 vs (1,2).(0,-1)=-2 -> 1; (3,4): 3 vs -4 -> 3; total 4
    int8 = util.maxsim(np.array([[[1, 2], [3, 4]]], dtype=np.int8), np.array([[[1, 0], [0, -1]]], dtype=np.int8))
    torch.testing.assert_close(int8, torch.tensor([[4.0]]))


def test_maxsim_pairwise_is_the_diagonal_and_chunking_changes_nothing():
    gen = torch.Generator().manual_seed(0)
    queries = [torch.randn(n, 4, generator=gen) for n in (3, 5, 2)]
    docs = [torch.randn(n, 4, generator=gen) for n in (2, 6, 4)]
    full = util.maxsim(queries, docs)
    # brute force: sum over query tokens of the max over document tokens
    expected = torch.tensor([[(q @ d.T).max(dim=1).values.sum().item() for d in docs] for q in queries])
    torch.testing.assert_close(full, expected)
    torch.testing.assert_close(util.maxsim(queries, docs, chunk_elements=1), full)
    torch.testing.assert_close(util.maxsim_pairwise(queries, docs), full.diagonal())
    torch.testing.assert_close(util.maxsim_pairwise(queries, docs, chunk_elements=1), full.diagonal())
    torch.testing.assert_close(util.mean_maxsim_pairwise(queries, docs), full.diagonal() / torch.tensor([3, 5, 2.0]))
    assert util.maxsim([], docs).shape == (0, 3)
    assert util.maxsim_pairwise([], []).shape == (0,)
    with pytest.raises(ValueError, match="as many items"):
        util.maxsim_pairwise(queries, docs[:2])


def test_pairwise_angle_sim_by_hand():
    # |cos + sin| with halves as real/imaginary parts: sin = x_im*y_re - x_re*y_im
    x = torch.tensor([[1.0, 0.0], [1.0, 0.0], [1.0, 1.0], [1.0, 0.0]])
    y = torch.tensor([[0.0, 1.0], [1.0, 0.0], [1.0, 0.0], [-1.0, 0.0]])
    # (0 + -1), (1 + 0), (.7071 + .7071), (-1 + 0)
    expected = torch.tensor([1.0, 1.0, 2**0.5, 1.0])
    torch.testing.assert_close(util.pairwise_angle_sim(x, y), expected)
    # an odd size is padded with a zero: [1,0,0] vs [0,1,0] -> re (1,0)/(0,1), im 0 -> cos 0, sin 0
    assert util.pairwise_angle_sim([[1.0, 0.0, 0.0]], [[0.0, 1.0, 0.0]]).item() == 0.0


# --------------------------------------------------------------------------------------------------------- tensor
def test_select_max_active_dims_keeps_largest_magnitudes():
    embeddings = torch.tensor([[1.0, -3.0, 2.0, 0.5], [0.1, 0.2, -0.3, 0.0]])
    kept = util.select_max_active_dims(embeddings, 2)
    torch.testing.assert_close(kept, torch.tensor([[0.0, -3.0, 2.0, 0.0], [0.0, 0.2, -0.3, 0.0]]))
    assert embeddings[0, 0] == 1.0  # input untouched
    assert util.select_max_active_dims(embeddings, None) is embeddings
    torch.testing.assert_close(util.select_max_active_dims(embeddings.numpy(), 10), embeddings)
    with pytest.raises(ValueError, match="positive"):
        util.select_max_active_dims(embeddings, 0)


def test_compute_count_vector_counts_nonzero_dims():
    dense = torch.tensor([[1.0, 0.0, 2.0], [0.0, 0.0, 3.0]])
    assert util.compute_count_vector(dense).tolist() == [1, 0, 2]
    assert util.compute_count_vector(dense.to_sparse()).tolist() == [1, 0, 2]
    assert util.compute_count_vector(torch.tensor([0.0, 5.0, 0.0])).tolist() == [0, 1, 0]
    assert util.compute_count_vector(torch.zeros(2, 3)).tolist() == [0, 0, 0]
    with pytest.raises(ValueError, match="3D"):
        util.compute_count_vector(torch.zeros(1, 1, 1))


def test_to_scipy_coo_round_trip():
    x = torch.sparse_coo_tensor([[0, 1], [1, 0]], [1.0, 2.0], (3, 3), check_invariants=True)
    matrix = util.to_scipy_coo(x)
    assert matrix.shape == (3, 3)
    np.testing.assert_array_equal(matrix.toarray(), [[0, 1, 0], [2, 0, 0], [0, 0, 0]])


def test_stack_and_cat_padded_token_embeddings():
    short, long = torch.ones(2, 1, 3), torch.full((2, 3, 3), 2.0)
    short_mask, long_mask = torch.ones(2, 1, dtype=torch.bool), torch.ones(2, 3, dtype=torch.bool)
    stacked, mask = util.stack_padded_token_embeddings([short, long], [short_mask, long_mask])
    assert stacked.shape == (2, 2, 3, 3) and mask.shape == (2, 2, 3)
    assert mask[0, 0].tolist() == [True, False, False] and mask[0, 1].tolist() == [True, True, True]
    assert stacked[0, 0, 1:].abs().sum() == 0 and stacked[0, 1].eq(2).all()
    joined, joined_mask = util.cat_padded_token_embeddings([short[:1], long], [short_mask[:1], long_mask])
    assert joined.shape == (3, 3, 3)
    assert joined_mask.sum(dim=1).tolist() == [1, 3, 3]
    # equal widths: a plain stack
    same, _ = util.stack_padded_token_embeddings([long, long], [long_mask, long_mask])
    torch.testing.assert_close(same, torch.stack([long, long], dim=1))


def test_repad_flattened_features():
    flat = torch.arange(10, dtype=torch.float32).view(1, 5, 2)  # two sequences: 2 and 3 tokens
    features = {
        "token_embeddings": flat,
        "input_ids": torch.tensor([[11, 12, 21, 22, 23]]),
        "cu_seq_lens_q": torch.tensor([0, 2, 5]),
        "cu_seq_lens_k": torch.tensor([0, 2, 5]),
        "max_length_q": 3,
        "position_ids": torch.tensor([[0, 1, 0, 1, 2]]),
    }
    out = util.repad_flattened_features(features)
    assert out is features
    assert out["input_ids"].tolist() == [[11, 12, 0], [21, 22, 23]]
    assert out["attention_mask"].tolist() == [[True, True, False], [True, True, True]]
    torch.testing.assert_close(out["token_embeddings"][0, 2], torch.zeros(2))
    torch.testing.assert_close(out["token_embeddings"][1, 0], torch.tensor([4.0, 5.0]))
    assert set(out) == {"token_embeddings", "input_ids", "attention_mask"}


def test_private_conversion_helpers():
    assert util._convert_to_batch(torch.ones(3)).shape == (1, 3)
    assert util._convert_to_batch_tensor(np.ones(3, dtype=np.float16)).dtype == torch.float32
    assert util._convert_to_tensor([np.ones(2), np.zeros(2)]).shape == (2, 2)
    moved = util._move_tensors_to_cpu({"a": [torch.ones(1)], "b": (torch.zeros(1), "text")})
    assert moved["b"][1] == "text" and moved["a"][0].device.type == "cpu"


# ---------------------------------------------------------------------------------------------------- distributed
def test_distributed_helpers_without_process_group():
    assert not util.is_dist_initialized()
    assert util.get_rank() == 0 and util.get_world_size() == 1
    x = torch.ones(2, 3, requires_grad=True)
    assert util.all_gather(x) is x
    assert util.all_gather_with_grad(x) is x
    mask = torch.ones(2, 1)
    gathered, gathered_mask = util.all_gather_padded(x.view(2, 1, 3), mask)
    assert gathered.shape == (2, 1, 3) and gathered_mask is mask

    class Model:
        def encode(self, texts):
            return [len(t) for t in texts]

    model = Model()
    with distributed.distributed_evaluation(model) as run_here:
        assert run_here is True
        assert "encode" not in vars(model)  # nothing is shared in a single process


class _ToyModel(torch.nn.Module):
    """Encodes a text as [len(text), rank]: the rank shows which process did the work."""

    device = torch.device("cpu")

    def encode(self, texts, convert_to_tensor=False, show_progress_bar=True):
        rows = [[float(len(text)), float(torch.distributed.get_rank())] for text in texts]
        return torch.tensor(rows) if convert_to_tensor else np.array(rows)


def _distributed_worker(rank: int, world_size: int, port: int, results: dict) -> None:
    torch.distributed.init_process_group(
        "gloo", init_method=f"tcp://127.0.0.1:{port}", rank=rank, world_size=world_size
    )
    try:
        local = torch.full((1, rank + 1, 2), float(rank + 1))  # rank 0: 1 token, rank 1: 2 tokens
        gathered, mask = util.all_gather_padded(local, torch.ones(1, rank + 1, dtype=torch.bool))
        plain = util.all_gather(torch.tensor([rank]))
        model = _ToyModel()
        with distributed.distributed_evaluation(model) as run_here:
            encoded = model.encode(["a", "bb", "ccc"], convert_to_tensor=True) if run_here else None
        results[rank] = {
            "gathered": gathered.tolist(),
            "mask": mask.tolist(),
            "plain": plain.tolist(),
            "run_here": run_here,
            "encoded": None if encoded is None else encoded.tolist(),
            "restored": "encode" not in vars(model),
        }
    finally:
        torch.distributed.destroy_process_group()


def test_distributed_helpers_with_two_gloo_processes():
    import torch.multiprocessing as mp

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    with mp.Manager() as manager:
        results = manager.dict()
        mp.spawn(_distributed_worker, args=(2, port, results), nprocs=2, join=True)
        results = dict(results)
    for rank in (0, 1):
        # rank 0's single token is padded to 2, with mask False
        assert results[rank]["gathered"] == [[[1.0, 1.0], [0.0, 0.0]], [[2.0, 2.0], [2.0, 2.0]]]
        assert results[rank]["mask"] == [[True, False], [True, True]]
        assert results[rank]["plain"] == [0, 1]
        assert results[rank]["restored"]
    assert results[0]["run_here"] is True and results[1]["run_here"] is False
    # 3 texts over 2 ranks: "a", "bb" on rank 0 and "ccc" on rank 1, joined in input order
    assert results[0]["encoded"] == [[1.0, 0.0], [2.0, 0.0], [3.0, 1.0]]


# ---------------------------------------------------------------------------------------------------- environment
def test_package_availability():
    assert environment.check_package_availability("datasets", "huggingface")
    assert not environment.check_package_availability("datasets", "someone-else")
    assert not environment.check_package_availability("no-such-package-xyz", "huggingface")
    assert util.is_datasets_available() and util.is_accelerate_available() and util.is_training_available()


def test_is_training_available_needs_both(monkeypatch):
    monkeypatch.setattr(environment, "check_package_availability", lambda name, owner: name != "accelerate")
    assert environment.is_datasets_available()
    assert not environment.is_accelerate_available()
    assert not environment.is_training_available()


def test_get_installed_version():
    assert environment.get_installed_version("python") == platform.python_version()
    assert environment.get_installed_version("torch") == torch.__version__
    assert environment.get_installed_version("no-such-package-xyz") is None


def test_check_version_requirements(caplog):
    util.check_version_requirements(None)
    util.check_version_requirements({"torch": ">=1.0", "pytorch": ">=1.0", "python": ">=3.0"}, source="m")
    with pytest.raises(ImportError) as info:
        util.check_version_requirements(
            {"torch": ">=999", "python": ">=99", "no-such-package-xyz": {"specifier": ">=1", "reason": "Needed."}},
            source="org/model",
        )
    message = str(info.value)
    assert message.startswith("The model 'org/model' requires:")
    assert f"- torch>=999, but torch=={torch.__version__} is installed." in message
    assert f"python=={platform.python_version()} is installed" in message
    assert "- no-such-package-xyz>=1, but it is not installed. Needed." in message
    assert 'pip install -U "torch>=999" "no-such-package-xyz>=1"' in message  # python is not pip-installable
    with caplog.at_level(logging.WARNING):
        util.check_version_requirements({"torch": "=>not a specifier"}, source="m")
    assert "Could not verify" in caplog.text


def test_suggest_extra_on_exception():
    with pytest.raises(ImportError, match=r'pip install -U "sbert\[onnx\]"'):
        with environment.suggest_extra_on_exception():
            raise ImportError("No module named 'onnxruntime'")
    with pytest.raises(ImportError, match=r'"sbert\[train\]"'):
        with environment.suggest_extra_on_exception():
            raise ImportError("No module named 'datasets'")
    original = ImportError("No module named 'something_else'")
    with pytest.raises(ImportError) as info:
        with environment.suggest_extra_on_exception():
            raise original
    assert info.value is original


# ----------------------------------------------------------------------------------------------------- decorators
def test_deprecated_kwargs(caplog):
    @deprecated_kwargs(sentence_embedding_dimension="embedding_dimension")
    def build(embedding_dimension: int = 0) -> int:
        return embedding_dimension

    with caplog.at_level(logging.WARNING):
        assert build(sentence_embedding_dimension=3) == 3
    assert "`sentence_embedding_dimension` argument was renamed" in caplog.text
    assert build(sentence_embedding_dimension=3, embedding_dimension=5) == 5  # the new name wins
    assert build.__name__ == "build"


def test_transformer_kwargs_decorator():
    @transformer_kwargs_decorator
    def init(name: str, model_kwargs=None, processor_kwargs=None, config_kwargs=None) -> tuple:
        return name, model_kwargs, processor_kwargs, config_kwargs

    assert init("m", model_args={"a": 1}, tokenizer_args={"b": 2}, config_args={"c": 3}) == (
        "m",
        {"a": 1},
        {"b": 2},
        {"c": 3},
    )
    _, model_kwargs, processor_kwargs, config_kwargs = init("m", cache_dir="/c", model_kwargs={"cache_dir": "/own"})
    assert model_kwargs == {"cache_dir": "/own"}
    assert processor_kwargs == config_kwargs == {"cache_dir": "/c"}


def test_save_to_hub_args_decorator():
    class Model:
        @save_to_hub_args_decorator
        def save_to_hub(self, repo_id, organization=None, token=None, private=None):
            return repo_id, organization, token, private

    # old positional order had no token: (repo, organization, private) -> token slot gets None
    assert Model().save_to_hub("repo", "org", True) == ("repo", "org", None, True)
    assert Model().save_to_hub(repo_name="old") == ("old", None, None, None)
    assert Model().save_to_hub("repo", token="t") == ("repo", None, "t", None)


# -------------------------------------------------------------------------------------------------------- file_io
class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args) -> None:
        pass


@pytest.fixture
def http_folder(tmp_path):
    served = tmp_path / "served"
    served.mkdir()
    (served / "data.bin").write_bytes(b"x" * 200_000)
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(_QuietHandler, directory=served))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def test_http_get_downloads_atomically(http_folder, tmp_path):
    target = tmp_path / "out" / "nested" / "data.bin"
    util.http_get(f"{http_folder}/data.bin", str(target))
    assert target.read_bytes() == b"x" * 200_000
    assert not Path(f"{target}_part").exists()


def test_http_get_404_leaves_no_file(http_folder, tmp_path):
    target = tmp_path / "missing.bin"
    with pytest.raises(Exception, match="404") as info:
        util.http_get(f"{http_folder}/missing.bin", str(target))
    assert type(info.value).__name__ == "HTTPStatusError"
    assert not target.exists() and not Path(f"{target}_part").exists()


def test_disabled_tqdm_is_always_disabled():
    bar = util.disabled_tqdm(range(3), disable=False)
    assert bar.disable
    assert list(bar) == [0, 1, 2]


def test_load_file_path_local(tmp_path):
    (tmp_path / "modules.json").write_text("[]")
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "config.json").write_text("{}")
    assert util.load_file_path(str(tmp_path), "modules.json") == str(tmp_path / "modules.json")
    assert util.load_file_path(str(tmp_path), "config.json", subfolder="sub") == str(tmp_path / "sub" / "config.json")
    assert util.load_file_path(str(tmp_path), "absent.json") is None
    for bad in ("../secret", "/etc/passwd", "C:\\x"):
        with pytest.raises(ValueError, match="relative path"):
            util.load_file_path(str(tmp_path), bad)
    assert util.is_sentence_transformer_model(str(tmp_path))
    assert not util.is_sentence_transformer_model(str(tmp_path / "sub"))


def test_load_file_path_hub_not_found_cases(tmp_path):
    # an invalid repository id, and a repository absent from an empty cache with local_files_only: None, no network
    assert util.load_file_path("/no/such/folder/anywhere", "modules.json") is None
    cache = str(tmp_path / "cache")
    assert util.load_file_path("org/model", "modules.json", cache_folder=cache, local_files_only=True) is None
    assert not util.is_sentence_transformer_model("org/model", cache_folder=cache, local_files_only=True)
    assert util.load_dir_path("org/model", "1_Pooling", cache_folder=cache, local_files_only=True) is None


def test_load_dir_path_local(tmp_path):
    (tmp_path / "1_Pooling").mkdir()
    assert util.load_dir_path(str(tmp_path), "1_Pooling") == str(tmp_path / "1_Pooling")
    assert util.load_dir_path(str(tmp_path), "2_Dense") is None
    with pytest.raises(ValueError):
        util.load_dir_path(str(tmp_path), "../up")


def test_load_dir_path_hub_downloads_only_the_subfolder(tmp_path, monkeypatch):
    snapshot = tmp_path / "snapshot"
    (snapshot / "1_Pooling").mkdir(parents=True)
    calls = []

    def fake_snapshot_download(**kwargs):
        calls.append(kwargs)
        return str(snapshot)

    monkeypatch.setattr(file_io, "snapshot_download", fake_snapshot_download)
    assert util.load_dir_path("org/model", "1_Pooling") == str(snapshot / "1_Pooling")
    assert calls[0]["repo_id"] == "org/model" and calls[0]["allow_patterns"] == "1_Pooling/**"
    with pytest.raises(OSError, match="2_Dense"):
        util.load_dir_path("org/model", "2_Dense")


def test_load_dir_path_falls_back_to_cache_on_hub_errors(tmp_path, monkeypatch):
    snapshot = tmp_path / "snapshot"
    (snapshot / "1_Pooling").mkdir(parents=True)

    def flaky(**kwargs):
        if not kwargs["local_files_only"]:
            raise ConnectionError("rate limited")
        return str(snapshot)

    monkeypatch.setattr(file_io, "snapshot_download", flaky)
    assert util.load_dir_path("org/model", "1_Pooling") == str(snapshot / "1_Pooling")
    with pytest.raises(ConnectionError, match="rate limited"):  # the cache lacks it: the real cause is raised
        util.load_dir_path("org/model", "2_Dense")


# -------------------------------------------------------------------------------------------------------- logging
def test_install_logger_adds_notice_level(capsys):
    logger = logging.getLogger("sbert-test-install-logger")
    logger.propagate = False
    util.install_logger(logger, level=logging.INFO, fmt="%(levelname)s|%(message)s")
    util.install_logger(logger, level=logging.INFO, fmt="%(levelname)s|%(message)s")  # no duplicate handler
    logger.notice("hello")
    logger.debug("hidden")
    err = capsys.readouterr().err
    assert "NOTICE|hello" in err and err.count("hello") == 1
    assert "hidden" not in err
    assert logging.getLevelName(25) == "NOTICE"


# ----------------------------------------------------------------------------------------------------------- misc
def test_fullname():
    assert util.fullname(torch.nn.MSELoss()) == "torch.nn.modules.loss.MSELoss"
    assert util.fullname(torch.nn.MSELoss) == "torch.nn.modules.loss.MSELoss"
    assert util.fullname(3) == "int"


def test_similarity_fct_name():
    assert util.similarity_fct_name(util.cos_sim) == "cos_sim"
    assert util.similarity_fct_name(functools.partial(util.maxsim, chunk_elements=5)) == "maxsim(chunk_elements=5)"

    class Model:
        similarity_fn_name = "dot"

        def similarity(self, a, b):
            return a

        def similarity_pairwise(self, a, b):
            return a

    assert util.similarity_fct_name(Model().similarity) == "dot_score"
    assert util.similarity_fct_name(Model().similarity_pairwise) == "pairwise_dot_score"

    class Metric:
        def __call__(self, a, b):
            return a

        def get_config_dict(self):
            return {"p": 3}

    assert util.similarity_fct_name(Metric()) == "Metric(p=3)"


def test_check_teacher_targets(caplog):
    logits = torch.tensor([[0.0, 1.0]])
    util.check_teacher_targets(torch.softmax(logits, dim=-1), logits, 1.0, "Loss")  # fine: no warning
    assert caplog.text == ""
    with pytest.raises(ValueError, match="Loss: the teacher scores contain NaN"):
        util.check_teacher_targets(logits, torch.tensor([[float("nan"), 1.0]]), 1.0, "Loss")
    # spread 200 at temperature 1: exp(-200) underflows float32 to exactly 0
    wide = torch.tensor([[0.0, 200.0]])
    with caplog.at_level(logging.WARNING):
        util.check_teacher_targets(torch.softmax(wide, dim=-1), wide, 1.0, "Loss")
    assert "underflows 1 of 2" in caplog.text and "above 2" in caplog.text
    caplog.clear()
    excluded = torch.tensor([[float("-inf"), 1.0]])  # a deliberately excluded candidate
    util.check_teacher_targets(torch.softmax(excluded, dim=-1), excluded, 1.0, "Loss")
    assert caplog.text == ""


def test_import_from_string(tmp_path, monkeypatch):
    assert util.import_from_string("collections.OrderedDict") is OrderedDict
    # a path that is a module itself gives that module's attribute of the same name (old per-class module paths)
    (tmp_path / "sbert_test_pkg").mkdir()
    (tmp_path / "sbert_test_pkg" / "__init__.py").write_text("")
    (tmp_path / "sbert_test_pkg" / "Pooling.py").write_text("class Pooling:\n    pass\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    assert util.import_from_string("sbert_test_pkg.Pooling").__module__ == "sbert_test_pkg.Pooling"
    with pytest.raises(ImportError, match='does not define a "Nope"'):
        util.import_from_string("collections.Nope")
    with pytest.raises(ImportError, match="no module 'no_such_module_xyz'"):
        util.import_from_string("no_such_module_xyz.Thing")
    with pytest.raises(ImportError, match="doesn't look like a module path"):
        util.import_from_string("nodots")


def test_import_module_class(tmp_path):
    assert util.import_module_class("sentence_transformers.util.misc.fullname") is misc.fullname
    assert util.import_module_class("collections.OrderedDict") is OrderedDict
    with pytest.raises(ValueError, match="trust_remote_code=True"):
        util.import_module_class("modeling_custom.Custom", str(tmp_path))
    (tmp_path / "modeling_custom.py").write_text("class Custom:\n    answer = 42\n")
    loaded = util.import_module_class("modeling_custom.Custom", str(tmp_path), trust_remote_code=True)
    assert loaded.answer == 42


def test_disable_datasets_caching():
    import datasets

    assert datasets.is_caching_enabled()
    with util.disable_datasets_caching():
        assert not datasets.is_caching_enabled()
    assert datasets.is_caching_enabled()


def test_disable_logging(caplog):
    logger = logging.getLogger("sbert-test-disable-logging")
    with caplog.at_level(logging.INFO, logger=logger.name):
        with util.disable_logging(logging.INFO):
            logger.info("dropped")
            logger.warning("kept")
        logger.info("after")
    assert "dropped" not in caplog.text and "kept" in caplog.text and "after" in caplog.text
    assert logging.root.manager.disable == logging.NOTSET


def test_append_to_last_row(tmp_path):
    path = tmp_path / "results.csv"
    path.write_text("a,b\n1,2\n3,4\n", encoding="utf-8")
    assert util.append_to_last_row(path, [5, "x"])
    with open(path, newline="", encoding="utf-8") as handle:
        assert list(csv.reader(handle)) == [["a", "b"], ["1", "2"], ["3", "4", "5", "x"]]
    header_only = tmp_path / "empty.csv"
    header_only.write_text("a,b\n", encoding="utf-8")
    assert not util.append_to_last_row(header_only, [1])
    assert header_only.read_text(encoding="utf-8") == "a,b\n"


# -------------------------------------------------------------------------------------------------------- dataset
@pytest.fixture
def ir_data():
    datasets = pytest.importorskip("datasets")
    queries = datasets.Dataset.from_dict({"query_id": ["q1", "q2"], "text": ["what", "who"]})
    documents = datasets.Dataset.from_dict({"doc_id": ["d1", "d2", "d3"], "text": ["one", "two", "three"]})
    train = datasets.Dataset.from_dict(
        {
            "query_id": ["q1", "q2"],
            "document_ids": [["d1", "d2"], ["d3", "d1"]],
            "scores": [[1.0, 0.5], [0.2, 0.1]],
            "dropped": [0, 1],
        }
    )
    return datasets, queries, documents, train


def test_resolve_ids_expands_lists_into_columns(ir_data):
    _, queries, documents, train = ir_data
    transform = util.resolve_ids({"query_id": queries, "document_ids": documents})
    out = transform(train[:])
    assert list(out) == ["query", "document_1", "document_2", "scores"]
    assert out["query"] == ["what", "who"]
    assert out["document_1"] == ["one", "three"] and out["document_2"] == ["two", "one"]
    truncated = util.resolve_ids({"query_id": queries, "document_ids": documents}, max_list_length=1)(train[:])
    assert list(truncated) == ["query", "document_1", "scores"] and truncated["scores"] == [[1.0], [0.2]]


def test_resolve_ids_lists_format_and_set_transform(ir_data):
    _, queries, documents, train = ir_data
    transform = util.resolve_ids({"query_id": queries, "document_ids": documents}, output_format="lists")
    transform = pickle.loads(pickle.dumps(transform))  # DataLoader workers pickle it
    train.set_transform(transform)
    assert train[1] == {"query": "who", "documents": ["three", "one"], "scores": [0.2, 0.1]}


def test_resolve_ids_single_ids_explicit_columns_and_encoded_lists(ir_data):
    datasets, queries, documents, _ = ir_data
    pairs = datasets.Dataset.from_dict({"anchor_id": ["q2"], "positive_id": ["d3"], "label": [1.0]})
    out = util.resolve_ids({"anchor_id": (queries, "query_id", "text"), "positive_id": (documents, "doc_id")})(pairs[:])
    assert out == {"anchor": ["who"], "positive": ["three"], "label": [1.0]}
    encoded = {"query_id": ["q1"], "document_ids": ["['d2', 'd3']"]}
    out = util.resolve_ids({"query_id": queries, "document_ids": documents})(encoded)
    assert out == {"query": ["what"], "document_1": ["two"], "document_2": ["three"]}


def test_resolve_ids_errors(ir_data, caplog):
    datasets, queries, documents, _ = ir_data
    transform = util.resolve_ids({"query_id": queries})
    with pytest.raises(KeyError, match="ID 'q9' from input column 'query_id' was not found"):
        transform({"query_id": ["q9"]})
    with pytest.raises(ValueError, match="differing lengths"):
        util.resolve_ids({"document_ids": documents})({"document_ids": [["d1"], ["d1", "d2"]]})
    two_ids = datasets.Dataset.from_dict({"a_id": [1], "b_id": [2], "text": ["x"]})
    with pytest.raises(ValueError, match="Cannot infer the ID column"):
        util.resolve_ids({"x_id": two_ids})
    with pytest.raises(TypeError, match="DatasetDict"):
        util.resolve_ids({"query_id": datasets.DatasetDict({"train": queries})})
    with pytest.raises(TypeError, match="keep_columns"):
        util.resolve_ids({"query_id": queries}, keep_columns="label")
    with pytest.raises(ValueError, match="max_list_length"):
        util.resolve_ids({"query_id": queries}, max_list_length=0)
    duplicated = datasets.Dataset.from_dict({"id": ["a", "a"], "text": ["first", "last"]})
    with caplog.at_level(logging.WARNING):
        resolved = util.resolve_ids({"doc_id": duplicated})({"doc_id": ["a"]})
    assert resolved == {"doc": ["last"]} and "duplicate" in caplog.text
