"""Reliability of the atomic save: saves killed at random moments, leftovers of killed saves, the swap's gap."""

from __future__ import annotations

import copy
import fcntl
import os
import random
import signal
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
import torch
import transformers

from sentence_transformers import SentenceTransformer
from sentence_transformers.base import persistence

pytestmark = pytest.mark.skipif(not hasattr(os, "fork"), reason="kills forked saving processes")

TEXTS = ["a cat sleeps on the windowsill", "paris is the capital of france"]
EXTRA = Path("eval") / "results.csv"  # an entry the save does not write: it must be kept


def tree(folder: Path) -> dict[str, bytes]:
    """Every file under ``folder``, by relative path."""
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def leftovers(target: Path) -> list[str]:
    return sorted(p.name for p in target.parent.iterdir() if p.name.startswith(f".{target.name}."))


def dead_pid() -> int:
    """The pid of a process that has ended (and been reaped)."""
    pid = os.fork()
    if pid == 0:
        os._exit(0)
    os.waitpid(pid, 0)
    return pid


def run_child(work: Callable[[], None]) -> int:
    """Run ``work`` in a forked child; its pid. The child never returns into pytest."""
    pid = os.fork()
    if pid == 0:
        try:
            # A progress bar takes a lock shared with the parent across fork: killed while holding it, the child
            # would leave the parent's next progress bar waiting for ever.
            transformers.utils.logging.disable_progress_bar()
            work()
        finally:
            os._exit(0)
    return pid


@pytest.fixture()
def two_versions(tiny_model, tmp_path):
    """Models A and B (other weights), the files a clean save of each writes, and their embeddings."""
    model_b = copy.deepcopy(tiny_model)
    with torch.no_grad():
        model_b[0].auto_model.embeddings.word_embeddings.weight.add_(0.5)
    versions = []
    for name, model in (("a", tiny_model), ("b", model_b)):
        embeddings = model.encode(TEXTS)  # first: encoding sets the tokenizer's truncation, which tokenizer.json holds
        model.save(str(tmp_path / f"reference-{name}"))
        versions.append((model, tree(tmp_path / f"reference-{name}"), embeddings))
    assert versions[0][1]["model.safetensors"] != versions[1][1]["model.safetensors"]
    return versions


def assert_one_of(target: Path, versions: list, with_extra: bool) -> int:
    """Check that ``target`` holds exactly version A or B (weights, files and embeddings); which one."""
    files = tree(target)
    extra = files.pop(str(EXTRA), None)
    if with_extra:
        assert extra == b"score\n0.5\n"
    files.pop(persistence._CARRIED, None)  # the carried-entries list, only between the swap and its removal
    matches = [index for index, (_, reference, _) in enumerate(versions) if files == reference]
    assert matches, f"{target} holds neither version: {sorted(files)}"
    loaded = SentenceTransformer(str(target), device="cpu").encode(TEXTS)
    np.testing.assert_allclose(loaded, versions[matches[0]][2], atol=1e-6)
    return matches[0]


@pytest.mark.parametrize("swap", ["exchange", "two-renames"])
def test_saves_killed_at_random_moments_leave_old_or_new_and_no_leftovers(two_versions, tmp_path, monkeypatch, swap):
    if swap == "exchange" and persistence._renameat2() is None:
        pytest.skip("no renameat2 here")
    if swap == "two-renames":
        monkeypatch.setattr(persistence, "_exchange", lambda first, second: False)
    (model_a, _, _), (model_b, _, _) = two_versions
    target = tmp_path / "model"
    model_a.save(str(target))
    (target / EXTRA).parent.mkdir()
    (target / EXTRA).write_bytes(b"score\n0.5\n")
    seed = int.from_bytes(os.urandom(4), "little")
    rng = random.Random(seed)

    def save_forever() -> None:
        for index in range(10**6):
            (model_b if index % 2 == 0 else model_a).save(str(target))

    seen, left, gaps = set(), 0, 0
    for _ in range(20):
        pid = run_child(save_forever)
        time.sleep(rng.uniform(0.0, 0.08))
        os.kill(pid, signal.SIGKILL)
        os.waitpid(pid, 0)
        left += len(leftovers(target))
        if swap == "exchange":  # no gap: the folder is there and whole before any clean-up
            seen.add(assert_one_of(target, two_versions, with_extra=False))
        elif not target.exists():
            gaps += 1  # killed between the two renames: the next save moves the old folder back
        persistence.clean_leftovers(str(target))
        assert leftovers(target) == [], f"seed {seed}"
        seen.add(assert_one_of(target, two_versions, with_extra=True))
    print(f"{swap}: 20 kills (seed {seed}), {left} leftovers cleaned, versions seen {sorted(seen)}, gaps {gaps}")
    assert left > 0, "no kill left anything behind: the test did not exercise the clean-up"
    model_b.save(str(target))
    assert leftovers(target) == []
    assert assert_one_of(target, two_versions, with_extra=True) == 1


def test_the_next_save_removes_the_leftovers(two_versions, tmp_path):
    (model_a, _, _), (model_b, _, _) = two_versions
    target = tmp_path / "model"
    model_a.save(str(target))

    def killed_while_writing() -> None:
        with persistence.atomic_folder(str(target)) as folder:
            Path(folder, "model.safetensors").write_bytes(b"partial")
            os.kill(os.getpid(), signal.SIGKILL)

    previous: list[str] = []
    for _ in range(3):  # each killed save removes the one before it and leaves its own
        os.waitpid(run_child(killed_while_writing), 0)
        left = leftovers(target)
        assert len(left) == 1 and ".saving-" in left[0] and left != previous
        previous = left
    model_b.save(str(target))
    assert leftovers(target) == []
    assert assert_one_of(target, two_versions, with_extra=False) == 1


def test_folders_of_live_saves_are_kept(tmp_path):
    target = tmp_path / "model"
    target.mkdir()
    me, start, gone = os.getpid(), persistence._start_time(os.getpid()) or 0, dead_pid()
    names = {
        "mine": f".model.saving-{me}-{start}-live1234",
        "locked": f".model.saving-{gone}-0-held1234",  # pid gone, but its lock is held (here, by this process)
        "stale": f".model.saving-{gone}-0-dead1234",
        "stale-old": f".model.old-{gone}-0-dead5678",
        "other-model": f".other.saving-{gone}-0-dead1234",
        "pre-pid": ".model.saving-k2j4h5g6",  # written before folders carried a pid: no way to tell
    }
    if persistence._start_time(me) is not None:
        names["reused-pid"] = f".model.saving-{me}-{start + 1}-reus1234"  # this pid, but another process's start
    for name in names.values():
        (tmp_path / name).mkdir()
        (tmp_path / name / "model.safetensors").write_bytes(b"partial")
    held = os.open(tmp_path / names["locked"], os.O_RDONLY)
    fcntl.flock(held, fcntl.LOCK_EX | fcntl.LOCK_NB)
    try:
        persistence.clean_leftovers(str(target))
    finally:
        os.close(held)
    kept = {key for key, name in names.items() if (tmp_path / name).exists()}
    assert kept == {"mine", "locked", "other-model", "pre-pid"}
    persistence.clean_leftovers(str(target))  # the lock is gone with its holder
    assert not (tmp_path / names["locked"]).exists()


def test_a_live_child_saving_is_not_disturbed(two_versions, tmp_path):
    (model_a, _, _), (model_b, _, _) = two_versions
    target = tmp_path / "model"
    model_a.save(str(target))
    ready_r, ready_w = os.pipe()
    go_r, go_w = os.pipe()

    def slow_save() -> None:
        with persistence.atomic_folder(str(target)) as folder:
            os.write(ready_w, b"1")
            os.read(go_r, 1)  # hold the temporary folder until the parent has saved
            for name, data in two_versions[1][1].items():
                os.makedirs(os.path.dirname(os.path.join(folder, name)), exist_ok=True)
                Path(folder, name).write_bytes(data)

    pid = run_child(slow_save)
    os.read(ready_r, 1)
    model_a.save(str(target))  # cleans leftovers: the child's folder is live
    assert len(leftovers(target)) == 1
    os.write(go_w, b"1")
    assert os.waitpid(pid, 0)[1] == 0
    assert leftovers(target) == []
    assert assert_one_of(target, two_versions, with_extra=False) == 1


@pytest.mark.parametrize("kill_at", ["carrying", "between-renames", "after-exchange"])
def test_a_save_killed_in_the_swap_is_recovered_by_the_next(two_versions, tmp_path, monkeypatch, kill_at):
    (model_a, _, _), (model_b, _, _) = two_versions
    target = tmp_path / "model"
    model_a.save(str(target))
    (target / EXTRA).parent.mkdir()
    (target / EXTRA).write_bytes(b"score\n0.5\n")
    replace, exchange = os.replace, persistence._exchange

    def killing_replace(source: str, destination: str) -> None:
        replace(source, destination)
        carried = kill_at == "carrying" and destination.endswith(os.sep + "eval")
        if carried or (kill_at == "between-renames" and ".model.old-" in destination):
            os.kill(os.getpid(), signal.SIGKILL)

    def killing_exchange(first: str, second: str) -> bool:
        if kill_at == "between-renames" or not exchange(first, second):
            return False
        if kill_at == "after-exchange":
            os.kill(os.getpid(), signal.SIGKILL)
        return True

    def save() -> None:
        monkeypatch.setattr(os, "replace", killing_replace)
        monkeypatch.setattr(persistence, "_exchange", killing_exchange)
        model_b.save(str(target))

    pid = run_child(save)
    assert os.waitpid(pid, 0)[1] & 0x7F == signal.SIGKILL
    assert leftovers(target)
    assert target.exists() == (kill_at != "between-renames")
    persistence.clean_leftovers(str(target))
    assert leftovers(target) == []
    version = assert_one_of(target, two_versions, with_extra=True)
    assert version == (1 if kill_at == "after-exchange" else 0)
    assert not (target / persistence._CARRIED).exists()


def test_a_reader_never_finds_the_folder_missing(two_versions, tmp_path):
    if persistence._renameat2() is None:
        pytest.skip("no renameat2 here: the two-rename swap has a gap of two system calls")
    (model_a, _, _), (model_b, _, _) = two_versions
    target = tmp_path / "model"
    model_a.save(str(target))
    stop = tmp_path / "stop"
    result_r, result_w = os.pipe()

    def watch() -> None:
        checks = misses = 0
        while not stop.exists():
            checks += 1
            misses += not (target / "modules.json").is_file()
        os.write(result_w, f"{checks} {misses}".encode())

    pid = run_child(watch)
    for index in range(30):
        (model_b if index % 2 == 0 else model_a).save(str(target))
    stop.touch()
    os.waitpid(pid, 0)
    checks, misses = map(int, os.read(result_r, 64).split())
    assert checks > 100 and misses == 0


def test_a_save_with_extras_writes_the_standard_files_only(two_versions, tmp_path):
    (model_a, reference, _), _ = two_versions
    target = tmp_path / "model"
    model_a.save(str(target))
    (target / EXTRA).parent.mkdir()
    (target / EXTRA).write_bytes(b"score\n0.5\n")
    model_a.save(str(target))
    assert tree(target) == {**reference, str(EXTRA): b"score\n0.5\n"}
    assert leftovers(target) == []


def test_a_forked_child_saves_with_the_card_example_similarities(tiny_model, tmp_path):
    """Saving computes the card's example similarities; in a child forked after the parent ran torch on its OpenMP
    threads, a parallel kernel would hang for ever (the pool is not in the child): it runs on one thread there."""
    tiny_model.encode(TEXTS * 16)  # the parent's thread pool is up
    target = tmp_path / "saved_in_child"
    pid = run_child(lambda: tiny_model.save(str(target)))
    deadline = time.monotonic() + 120
    while (done := os.waitpid(pid, os.WNOHANG))[0] == 0 and time.monotonic() < deadline:
        time.sleep(0.1)
    if done[0] == 0:
        os.kill(pid, signal.SIGKILL)
        os.waitpid(pid, 0)
    assert done[0] == pid and done[1] == 0, "the child hung or failed while saving"
    card = (target / "README.md").read_text()
    assert "similarities = model.similarity(embeddings, embeddings)" in card
    assert "# tensor([[" in card  # the computed values, not only their shape
    assert torch.get_num_threads() >= 1
