"""Models by name, offline, through the real Hugging Face cache: add_to_hub_cache and loading from it."""

from __future__ import annotations

import hashlib

import numpy as np
import pytest
from huggingface_hub import constants, scan_cache_dir
from huggingface_hub.utils.sha import git_hash

from sentence_transformers import SentenceTransformer
from sentence_transformers.base import hub


@pytest.fixture
def offline(monkeypatch):
    """No network: what huggingface_hub does when the hub cannot be reached, without waiting on DNS."""
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", True)


@pytest.fixture
def cached(tiny_model, tmp_path):
    folder = tmp_path / "saved"
    tiny_model.save(str(folder))
    cache = tmp_path / "cache"
    snapshot = hub.add_to_hub_cache(folder, "sentence-transformers/tiny-cached", cache_dir=str(cache))
    return folder, cache, snapshot


def test_the_cache_layout_is_huggingface_hubs_own(cached):
    folder, cache, snapshot = cached
    info = scan_cache_dir(cache)
    (repo,) = info.repos
    assert repo.repo_id == "sentence-transformers/tiny-cached" and repo.repo_type == "model"
    (revision,) = repo.revisions
    assert revision.refs == frozenset({"main"}) and str(revision.snapshot_path) == snapshot
    saved = sorted(p.relative_to(folder).as_posix() for p in folder.rglob("*") if p.is_file())
    assert sorted(f.file_path.relative_to(revision.snapshot_path).as_posix() for f in revision.files) == saved
    config = next(f for f in revision.files if f.file_name == "modules.json")
    assert config.blob_path.name == git_hash((folder / "modules.json").read_bytes())  # a git blob id, as the Hub's


def test_large_files_are_lfs_blobs_named_by_sha256(tmp_path):
    folder = tmp_path / "m"
    folder.mkdir()
    (folder / "small.json").write_text("{}")
    (folder / "weights.bin").write_bytes(b"x" * (hub.LFS_THRESHOLD + 1))
    snapshot = hub.add_to_hub_cache(folder, "me/model", cache_dir=str(tmp_path / "c"))
    blobs = {p.name for p in (tmp_path / "c" / "models--me--model" / "blobs").iterdir()}
    assert blobs == {git_hash(b"{}"), hashlib.sha256(b"x" * (hub.LFS_THRESHOLD + 1)).hexdigest()}
    assert (tmp_path / "c" / "models--me--model" / "snapshots").joinpath(snapshot).is_dir()


def test_placing_twice_changes_nothing(cached):
    folder, cache, snapshot = cached
    before = sorted(p.as_posix() for p in cache.rglob("*"))
    assert hub.add_to_hub_cache(folder, "sentence-transformers/tiny-cached", cache_dir=str(cache)) == snapshot
    assert sorted(p.as_posix() for p in cache.rglob("*")) == before


@pytest.mark.parametrize("name", ["tiny-cached", "sentence-transformers/tiny-cached"])
def test_a_cached_model_loads_by_name_offline(cached, offline, tiny_model, name):
    _, cache, _ = cached
    model = SentenceTransformer(name, cache_folder=str(cache), device="cpu")
    texts = ["a cat sleeps", "the sun"]
    np.testing.assert_allclose(model.encode(texts), tiny_model.encode(texts), atol=1e-6)


def test_a_name_neither_cached_nor_reachable_is_one_clear_line(tmp_path, offline):
    with pytest.raises(FileNotFoundError) as caught:
        SentenceTransformer("not-cached-anywhere", cache_folder=str(tmp_path))
    message = str(caught.value)
    assert "not-cached-anywhere" in message and "sentence-transformers/not-cached-anywhere" in message
    assert "\n" not in message


def test_a_missing_folder_is_named(tmp_path):
    with pytest.raises(FileNotFoundError, match="nowhere"):
        hub.add_to_hub_cache(tmp_path / "nowhere", "me/x", cache_dir=str(tmp_path))
