"""Damaged model folders: each load fails with an error that names the file or folder at fault and what is wrong.

Every case damages a copy (of the tiny test model, or of the real all-MiniLM-L6-v2); the originals are never touched.
"""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
import torch
from safetensors.torch import load_file, save_file

from sentence_transformers import SentenceTransformer
from sentence_transformers.base.modules.transformer import Transformer, check_vocabulary
from sentence_transformers.base.weights_io import DamagedModelError, MissingModelFileError, load_state_dict
from sentence_transformers.sentence_transformer.modules.pooling import Pooling

BAD_JSON = '{"a": 1,'


@pytest.fixture(scope="module")
def saved_tiny(tiny_bert_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The tiny model saved as a Sentence Transformers folder (modules.json, 1_Pooling/, …)."""
    folder = tmp_path_factory.mktemp("saved-tiny") / "model"
    SentenceTransformer(str(tiny_bert_dir), device="cpu").save(str(folder))
    return folder


def damaged_copy(source: Path, target: Path, damage: Callable[[Path], None]) -> Path:
    """Copy ``source`` to ``target`` and damage the copy."""
    shutil.copytree(source, target)
    damage(target)
    return target


def remove(*names: str) -> Callable[[Path], None]:
    return lambda folder: [(folder / name).unlink() for name in names if (folder / name).exists()]


def truncate(name: str, keep: int | None = None) -> Callable[[Path], None]:
    """Cut the file to ``keep`` bytes, by default to all but its last 100 (the header then overruns the data)."""

    def damage(folder: Path) -> None:
        path = folder / name
        with open(path, "r+b") as f:
            f.truncate(path.stat().st_size - 100 if keep is None else keep)

    return damage


def write(name: str, text: str) -> Callable[[Path], None]:
    return lambda folder: (folder / name).write_text(text, encoding="utf-8")


def remove_folder(name: str) -> Callable[[Path], None]:
    return lambda folder: shutil.rmtree(folder / name)


def empty_folder(name: str) -> Callable[[Path], None]:
    def damage(folder: Path) -> None:
        shutil.rmtree(folder / name)
        (folder / name).mkdir()

    return damage


def load_error(folder: Path) -> pytest.ExceptionInfo:
    with pytest.raises((ValueError, OSError)) as info:
        SentenceTransformer(str(folder), device="cpu")
    return info


def assert_names(info: pytest.ExceptionInfo, *parts: str) -> None:
    message = str(info.value)
    for part in parts:
        assert part in message, f"{part!r} not in {message!r}"


# --- the tiny model ---------------------------------------------------------------------------------------------


def test_tokenizer_files_removed_from_plain_folder(tiny_bert_dir: Path, tmp_path: Path) -> None:
    folder = damaged_copy(tiny_bert_dir, tmp_path / "m", remove("tokenizer.json", "vocab.txt"))
    info = load_error(folder)
    assert isinstance(info.value, MissingModelFileError) and isinstance(info.value, ValueError)
    assert_names(info, str(folder), "tokenizer.json")


def test_tokenizer_files_removed_from_saved_folder(saved_tiny: Path, tmp_path: Path) -> None:
    folder = damaged_copy(saved_tiny, tmp_path / "m", remove("tokenizer.json", "vocab.txt"))
    assert_names(load_error(folder), str(folder), "tokenizer.json")


@pytest.mark.parametrize("keep", [None, 1000, 4])
def test_truncated_safetensors(saved_tiny: Path, tmp_path: Path, keep: int | None) -> None:
    folder = damaged_copy(saved_tiny, tmp_path / "m", truncate("model.safetensors", keep))
    info = load_error(folder)
    assert isinstance(info.value, DamagedModelError) and isinstance(info.value, ValueError)
    assert_names(info, str(folder / "model.safetensors"), "truncated or corrupt")


@pytest.mark.parametrize("content", ["truncated", "garbage"])
def test_corrupt_pytorch_model_bin(tiny_bert_dir: Path, tmp_path: Path, content: str) -> None:
    def damage(folder: Path) -> None:
        state_dict = load_file(folder / "model.safetensors")
        (folder / "model.safetensors").unlink()
        torch.save(state_dict, folder / "pytorch_model.bin")
        if content == "truncated":
            truncate("pytorch_model.bin", 500)(folder)
        else:
            (folder / "pytorch_model.bin").write_bytes(b"not a checkpoint" * 20)

    folder = damaged_copy(tiny_bert_dir, tmp_path / "m", damage)
    assert_names(load_error(folder), str(folder / "pytorch_model.bin"), "truncated or corrupt")


def test_module_folder_missing(saved_tiny: Path, tmp_path: Path) -> None:
    folder = damaged_copy(saved_tiny, tmp_path / "m", remove_folder("1_Pooling"))
    info = load_error(folder)
    assert isinstance(info.value, FileNotFoundError) and isinstance(info.value, ValueError)
    assert_names(info, str(folder / "1_Pooling"), "does not exist", "Pooling", "modules.json")


def test_module_folder_empty(saved_tiny: Path, tmp_path: Path) -> None:
    folder = damaged_copy(saved_tiny, tmp_path / "m", empty_folder("1_Pooling"))
    info = load_error(folder)
    assert isinstance(info.value, FileNotFoundError)
    assert_names(info, str(folder / "1_Pooling"), "config.json", "Pooling")


def test_pooling_load_from_missing_folder(tmp_path: Path) -> None:
    with pytest.raises(MissingModelFileError, match="Pooling") as info:
        Pooling.load(str(tmp_path), subfolder="1_Pooling")
    assert_names(info, str(tmp_path / "1_Pooling"), "does not exist")


@pytest.mark.parametrize(
    "name",
    ["modules.json", "config.json", "1_Pooling/config.json", "sentence_bert_config.json"]
    + ["tokenizer.json", "tokenizer_config.json"],
)
def test_malformed_json(saved_tiny: Path, tmp_path: Path, name: str) -> None:
    folder = damaged_copy(saved_tiny, tmp_path / "m", write(name, BAD_JSON))
    assert_names(load_error(folder), str(folder / name))


def test_damaged_module_weights_name_the_file(tmp_path: Path) -> None:
    folder = tmp_path / "dense"
    folder.mkdir()
    save_file({"weight": torch.zeros(2, 2)}, str(folder / "model.safetensors"))
    truncate("model.safetensors", (folder / "model.safetensors").stat().st_size - 8)(folder)
    with pytest.raises(DamagedModelError, match="truncated or corrupt") as info:
        load_state_dict(str(folder))
    assert_names(info, str(folder / "model.safetensors"))


def test_intact_folders_still_load(tiny_bert_dir: Path, saved_tiny: Path) -> None:
    for folder in (tiny_bert_dir, saved_tiny):
        model = SentenceTransformer(str(folder), device="cpu")
        assert model.encode(["a cat sleeps"]).shape == (1, 32)


# --- the vocabulary rule ----------------------------------------------------------------------------------------


class _Config:
    def __init__(self, vocab_size: int) -> None:
        self.vocab_size = vocab_size


def test_vocabulary_padded_or_with_added_tokens_is_fine(tiny_bert_dir: Path) -> None:
    tokenizer = Transformer(str(tiny_bert_dir)).tokenizer
    size = len(tokenizer)
    for vocab_size in (size, size + 3, (size + 63) // 64 * 64, size - 2, 2 * size):
        check_vocabulary(tokenizer, _Config(vocab_size), str(tiny_bert_dir), {})


def test_vocabulary_far_smaller_than_the_model_is_refused(tiny_bert_dir: Path) -> None:
    tokenizer = Transformer(str(tiny_bert_dir)).tokenizer
    with pytest.raises(DamagedModelError, match="vocab_size is 1000") as info:
        check_vocabulary(tokenizer, _Config(1000), str(tiny_bert_dir), {})
    assert_names(info, str(tiny_bert_dir), "tokenizer.json")


# --- the real all-MiniLM-L6-v2 (copied; the installed folder is never modified) -----------------------------------


@pytest.fixture(scope="module")
def minilm_copy(minilm_path: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One copy of all-MiniLM-L6-v2 that the tests below copy again (hard links keep it cheap) and damage."""
    folder = tmp_path_factory.mktemp("minilm") / "model"
    shutil.copytree(minilm_path, folder)
    return folder


def minilm_damaged(source: Path, target: Path, damage: Callable[[Path], None], rewritten: str | None = None) -> Path:
    """A copy of ``source``; files are hard-linked except ``rewritten``, which ``damage`` changes in place."""

    def link(src: str, dst: str) -> None:
        if rewritten is not None and Path(src) == source / rewritten:
            shutil.copy2(src, dst)
        else:
            os.link(src, dst)

    shutil.copytree(source, target, copy_function=link)
    damage(target)
    return target


def test_minilm_tokenizer_files_removed(minilm_copy: Path, tmp_path: Path) -> None:
    folder = minilm_damaged(minilm_copy, tmp_path / "m", remove("tokenizer.json", "vocab.txt"))
    info = load_error(folder)
    assert isinstance(info.value, MissingModelFileError)
    assert_names(info, str(folder), "tokenizer.json", "vocab.txt", "5 tokens", "30522")


def test_minilm_truncated_safetensors(minilm_copy: Path, tmp_path: Path) -> None:
    folder = minilm_damaged(minilm_copy, tmp_path / "m", truncate("model.safetensors"), "model.safetensors")
    assert_names(load_error(folder), str(folder / "model.safetensors"), "truncated or corrupt")


def test_minilm_pooling_folder_missing(minilm_copy: Path, tmp_path: Path) -> None:
    folder = minilm_damaged(minilm_copy, tmp_path / "m", remove_folder("1_Pooling"))
    assert_names(load_error(folder), str(folder / "1_Pooling"), "Pooling", "does not exist")


@pytest.mark.parametrize("name", ["modules.json", "config.json", "1_Pooling/config.json"])
def test_minilm_malformed_json(minilm_copy: Path, tmp_path: Path, name: str) -> None:
    def damage(folder: Path) -> None:
        (folder / name).unlink()  # a hard link: replace it rather than write through to the shared copy
        write(name, BAD_JSON)(folder)

    folder = minilm_damaged(minilm_copy, tmp_path / "m", damage)
    assert_names(load_error(folder), str(folder / name))


def test_minilm_intact_copy_loads_and_matches(minilm_copy: Path, minilm) -> None:
    copy = SentenceTransformer(str(minilm_copy), device="cpu")
    sentences = ["A man is playing a guitar.", "Paris is the capital of France."]
    np.testing.assert_allclose(copy.encode(sentences), minilm.encode(sentences), atol=1e-6)
    assert len(copy[0].tokenizer) == 30522


def test_modules_json_is_valid_after_tests(minilm_path: Path) -> None:
    """The installed model folder was not touched."""
    assert json.loads((minilm_path / "modules.json").read_text())[1]["path"] == "1_Pooling"
    assert (minilm_path / "tokenizer.json").is_file() and (minilm_path / "vocab.txt").is_file()
