"""The on-disk format: modules.json, the model config, type names, the remote-code gate, atomic save."""

from __future__ import annotations

import contextlib
import ctypes
import errno
import functools
import importlib
import importlib.util
import inspect
import json
import os
import platform
import re
import shutil
import sys
import tempfile
from collections.abc import Callable, Iterable, Iterator
from typing import Any

from torch import nn

MODULES_FILE = "modules.json"
MODEL_CONFIG_FILE = "config_sentence_transformers.json"
# The upstream sentence-transformers release whose on-disk format sbert writes. Upstream reads the
# "sentence_transformers" version of config_sentence_transformers.json, so that is where it goes; sbert's own
# version is written under "sbert".
FORMAT_VERSION = "6.2.0"

# Class name → module that defines it. Saved under ``sentence_transformers.models.<Class>``, a name every release reads.
_ST_MODULES = "sentence_transformers.sentence_transformer.modules"
_SPARSE_MODULES = "sentence_transformers.sparse_encoder.modules"
_MULTI_VECTOR_MODULES = "sentence_transformers.multi_vector_encoder.modules"
STANDARD_MODULES: dict[str, str] = {
    "Transformer": "sentence_transformers.base.modules.transformer",
    "Dense": "sentence_transformers.base.modules.dense",
    "Normalize": "sentence_transformers.base.modules.normalize",
    "Router": "sentence_transformers.base.modules.router",
    "Asym": "sentence_transformers.base.modules.router",
    "Pooling": f"{_ST_MODULES}.pooling",
    "StaticEmbedding": f"{_ST_MODULES}.static_embedding",
    "BoW": f"{_ST_MODULES}.bow",
    "WordEmbeddings": f"{_ST_MODULES}.word_embeddings",
    "WordWeights": f"{_ST_MODULES}.word_weights",
    "CNN": f"{_ST_MODULES}.cnn",
    "LSTM": f"{_ST_MODULES}.lstm",
    "WeightedLayerPooling": f"{_ST_MODULES}.weighted_layer_pooling",
    "WKPooling": f"{_ST_MODULES}.wk_pooling",
    "Dropout": f"{_ST_MODULES}.dropout",
    "LayerNorm": f"{_ST_MODULES}.layer_norm",
    "CLIPModel": f"{_ST_MODULES}.clip_model",
    "LogitScore": "sentence_transformers.cross_encoder.modules.logit_score",
    "MLMTransformer": f"{_SPARSE_MODULES}.mlm_transformer",
    "SpladePooling": f"{_SPARSE_MODULES}.splade_pooling",
    "SparseStaticEmbedding": f"{_SPARSE_MODULES}.sparse_static_embedding",
    "SparseAutoEncoder": f"{_SPARSE_MODULES}.sparse_auto_encoder",
    "MultiVectorMask": f"{_MULTI_VECTOR_MODULES}.multi_vector_mask",
    "HierarchicalTokenPooling": f"{_MULTI_VECTOR_MODULES}.token_pooling",
}
# Written under their full path: no release has them under ``sentence_transformers.models``.
_FULL_PATH_ONLY = {
    "LogitScore",
    "MLMTransformer",
    "SpladePooling",
    "SparseStaticEmbedding",
    "SparseAutoEncoder",
    "MultiVectorMask",
    "HierarchicalTokenPooling",
}


def read_json(path: str, what: str) -> Any:
    """Parse a JSON file, naming the file in the error when it is corrupt."""
    with open(path, encoding="utf-8") as f:
        try:
            return json.load(f)
        except json.JSONDecodeError as exc:
            raise ValueError(f"Corrupt {what} {path}: {exc}") from exc


def read_modules(folder: str) -> list[dict[str, Any]]:
    """The entries of modules.json, checked for shape, in pipeline order."""
    path = os.path.join(folder, MODULES_FILE)
    entries = read_json(path, "modules file")
    if not isinstance(entries, list) or not all(isinstance(e, dict) and "type" in e for e in entries):
        raise ValueError(f"Corrupt modules file {path}: expected a list of objects each with a 'type'")
    for position, entry in enumerate(entries):
        if not isinstance(entry["type"], str) or not isinstance(entry.get("path", ""), str):
            raise ValueError(f"Corrupt modules file {path}: entry {position} has a non-string 'type' or 'path'")
    return sorted(entries, key=lambda entry: entry.get("idx", 0))


def read_model_config(folder: str) -> dict[str, Any]:
    """config_sentence_transformers.json, or an empty config when the file is absent."""
    path = os.path.join(folder, MODEL_CONFIG_FILE)
    if not os.path.isfile(path):
        return {}
    config = read_json(path, "model config")
    if not isinstance(config, dict):
        raise ValueError(f"Corrupt model config {path}: expected a JSON object")
    return config


def write_json(path: str, data: Any) -> None:
    """Write indented JSON."""
    with open(path, "w", encoding="utf-8") as f:
        json.dump(data, f, indent=2)


def type_name(module: nn.Module) -> str:
    """The type name to write for a module: the 2.x alias for standard classes, else its import path."""
    cls = type(module)
    if STANDARD_MODULES.get(cls.__name__) == cls.__module__ and cls.__name__ not in _FULL_PATH_ONLY:
        return f"sentence_transformers.models.{cls.__name__}"
    return f"{cls.__module__}.{cls.__qualname__}"


def resolve_type(name: str, folder: str, trust_remote_code: bool = False, **hub_kwargs: Any) -> type:
    """The class a modules.json type name refers to.

    Standard names in any form resolve to sbert's classes. A class whose code sits in the model folder,
    or in a hub repository (``owner/repo--module.Class``), is imported only with ``trust_remote_code=True``.
    """
    if name.startswith("sentence_transformers."):
        return _standard_class(name)
    if "--" in name:
        repo_id, _, dotted = name.partition("--")
        _require_trust(name, f"hub repository {repo_id!r}", trust_remote_code)
        return _class_from_hub(repo_id, dotted, hub_kwargs)
    module_name, _, class_name = name.rpartition(".")
    if not module_name:
        raise ValueError(f"Module type {name!r} is not of the form 'package.module.Class'")
    local_file = _local_code_file(folder, module_name)
    if local_file is not None:
        _require_trust(name, f"the model folder ({os.path.relpath(local_file, folder)})", trust_remote_code)
        return _checked_class(name, getattr(_import_file(module_name, local_file), class_name, None))
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise ValueError(f"Module type {name!r}: cannot import {module_name!r} ({exc})") from exc
    return _checked_class(name, getattr(module, class_name, None))


def _standard_class(name: str) -> type:
    class_name = name.rsplit(".", 1)[-1]
    if class_name not in STANDARD_MODULES:
        known = ", ".join(sorted(STANDARD_MODULES))
        raise ValueError(f"Unknown module type {name!r}; sbert knows these standard modules: {known}")
    return getattr(importlib.import_module(STANDARD_MODULES[class_name]), class_name)


def _require_trust(name: str, where: str, trust_remote_code: bool) -> None:
    if not trust_remote_code:
        raise ValueError(
            f"Module type {name!r} is defined by code in {where}. Running it executes that code: "
            "pass trust_remote_code=True only if you trust its source."
        )


def _local_code_file(folder: str, module_name: str) -> str | None:
    base = os.path.join(folder, *module_name.split("."))
    for candidate in (base + ".py", os.path.join(base, "__init__.py")):
        if os.path.isfile(candidate):
            return candidate
    return None


# Module name → source file, for the custom code imported from model folders; a save copies it along.
_FOLDER_CODE: dict[str, str] = {}


def copy_folder_code(modules: Iterable[nn.Module], folder: str) -> None:
    """Copy the source of custom modules that came from a model folder, so the saved model stays loadable."""
    for module in modules:
        source = _FOLDER_CODE.get(type(module).__module__)
        if source is None:
            continue
        relative = type(module).__module__.replace(".", os.sep) + (
            os.sep + "__init__.py" if source.endswith("__init__.py") else ".py"
        )
        target = os.path.join(folder, relative)
        os.makedirs(os.path.dirname(target), exist_ok=True)
        shutil.copyfile(source, target)


def _import_file(module_name: str, path: str) -> Any:
    """Import a Python file from a model folder under ``module_name`` (so a re-save writes the same type name)."""
    spec = importlib.util.spec_from_file_location(module_name, path)
    if spec is None or spec.loader is None:
        raise ValueError(f"Cannot import module code from {path}")
    module = importlib.util.module_from_spec(spec)
    sys.modules[module_name] = module
    spec.loader.exec_module(module)
    _FOLDER_CODE[module_name] = path
    return module


def _class_from_hub(repo_id: str, dotted: str, hub_kwargs: dict[str, Any]) -> type:
    from huggingface_hub import hf_hub_download

    module_name, _, class_name = dotted.rpartition(".")
    hub_kwargs = {key: hub_kwargs[key] for key in ("token", "revision", "cache_dir") if hub_kwargs.get(key)}
    path = hf_hub_download(repo_id, filename=module_name.replace(".", "/") + ".py", **hub_kwargs)
    return _checked_class(f"{repo_id}--{dotted}", getattr(_import_file(module_name, path), class_name, None))


def _checked_class(name: str, obj: Any) -> type:
    if not (isinstance(obj, type) and issubclass(obj, nn.Module)):
        raise ValueError(f"Module type {name!r} does not name a torch.nn.Module class")
    return obj


def save_module(module: nn.Module, folder: str, safe_serialization: bool = True) -> None:
    """Call the module's ``save``; 2.x modules take only the folder."""
    parameters = inspect.signature(module.save).parameters
    if "safe_serialization" in parameters or _takes_var_kwargs(parameters):
        module.save(folder, safe_serialization=safe_serialization)
    else:
        module.save(folder)


def load_module(module_class: type, folder: str, subfolder: str, offered: dict[str, Any]) -> nn.Module:
    """Call the class's ``load``: the newer (folder, subfolder=…, …) form with the keyword arguments it
    accepts among ``offered``, or the 2.x ``load(path)`` form."""
    parameters = inspect.signature(module_class.load).parameters
    if "subfolder" not in parameters:
        return module_class.load(os.path.join(folder, subfolder))
    takes_any = _takes_var_kwargs(parameters)
    accepted = {key: value for key, value in offered.items() if takes_any or key in parameters}
    return module_class.load(folder, subfolder=subfolder, **accepted)


def _takes_var_kwargs(parameters: Any) -> bool:
    return any(p.kind is inspect.Parameter.VAR_KEYWORD for p in parameters.values())


# ------------------------------------------------------------------ atomic save
# A save writes into a temporary sibling ``.<name>.saving-<pid>-<start>-<random>`` and swaps it into place. <pid> and
# <start> (the process start time, in clock ticks since boot on Linux, else 0) name the saving process, and the
# folder is flock'ed while the save runs, so the next save can tell the folders of killed saves (lock free, process
# gone) from those of live ones and remove them. On Linux the swap is one renameat2(RENAME_EXCHANGE): the target is
# never missing. Elsewhere (or on a file system without it) it is two renames through
# ``.<name>.old-<pid>-<start>-<random>/model``: readers can miss the target for the two system calls between them,
# and a save killed there leaves it missing until the next save of that target, which moves the old folder back
# first. On Windows no process can be safely probed (os.kill ends it), so leftovers are kept there.
# Folders named without a pid (sbert before this scheme) are kept: nothing tells whether their save still runs.
_LEFTOVER = re.compile(r"^\.(?P<name>.+)\.(?P<kind>saving|old)-(?P<pid>\d+)-(?P<start>\d+)-[a-z0-9_]+$")
# Lists the entries a save carried over from the previous folder, so that they go back if the save is killed.
_CARRIED = ".sbert-carried.json"
_NOT_LOCKED = -1  # a lock "held" where the platform or file system has none
_RENAME_EXCHANGE = 2
_AT_FDCWD = -100
_SYS_RENAMEAT2 = {"x86_64": 316, "aarch64": 276}


@contextlib.contextmanager
def atomic_folder(path: str, carry_over: bool = True) -> Iterator[str]:
    """Yield a temporary sibling folder to write into; on success it replaces ``path`` in one atomic swap.

    With ``carry_over``, entries that were in ``path`` and that the new save does not write (an evaluation folder,
    say) are kept; without it, the new folder replaces the old one whole (an index or export folder). On error the
    temporary folder is removed and ``path`` is left as it was. Leftovers of killed saves of ``path`` are removed
    first.
    """
    path = os.path.abspath(path)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    clean_leftovers(path)
    temp, lock = _owned_folder(path, "saving")
    try:
        os.chmod(temp, 0o777 & ~_umask())
        try:
            yield temp
            _swap_into_place(temp, path, carry_over)
        except BaseException:
            with contextlib.suppress(OSError):
                _return_carried(temp, path)  # a swap that failed part way
            shutil.rmtree(temp, ignore_errors=True)
            raise
    finally:
        _unlock(lock)


def clean_leftovers(path: str) -> None:
    """Remove the temporary folders that killed saves of ``path`` left beside it.

    A folder is stale when no process holds its lock and the process named in it is gone (or its pid now belongs
    to a process started at another time). A target lost between the two renames of the fallback swap is moved
    back from its ``.old-*`` folder, and carried-over entries go back from a ``.saving-*`` folder.
    """
    path = os.path.abspath(path)
    with contextlib.suppress(OSError):
        os.remove(os.path.join(path, _CARRIED))  # a save killed right after the swap
    for folder, kind in _stale_leftovers(path):
        lock = _lock_folder(folder)
        if lock is None:
            continue
        try:
            if _owner_alive(folder):
                continue
            if kind == "old":
                _restore_target(folder, path)
            else:
                _return_carried(folder, path)
            _remove(folder)
        except OSError:
            continue  # cleaning is best effort: it must never fail a save
        finally:
            _unlock(lock)


def _stale_leftovers(path: str) -> list[tuple[str, str]]:
    """The ``.saving-*``/``.old-*`` siblings of ``path`` whose process is gone, ``.old-*`` first (it restores)."""
    parent, name = os.path.split(path)
    try:
        siblings = os.listdir(parent)
    except OSError:
        return []
    found = []
    for entry in siblings:
        match = _LEFTOVER.match(entry)
        if match and match["name"] == name and not _process_alive(int(match["pid"]), int(match["start"])):
            found.append((os.path.join(parent, entry), match["kind"]))
    return sorted(found, key=lambda item: item[1] != "old")


def _owner_alive(folder: str) -> bool:
    """Whether the process named in ``folder`` still runs (asked again once the folder is locked)."""
    match = _LEFTOVER.match(os.path.basename(folder))
    return match is None or _process_alive(int(match["pid"]), int(match["start"]))


def _restore_target(old: str, path: str) -> None:
    """Move the previous model back when a fallback swap was killed between its two renames."""
    previous = os.path.join(old, "model")
    if not os.path.lexists(path) and os.path.isdir(previous):
        os.rename(previous, path)


def _return_carried(temp: str, path: str) -> None:
    """Move back the entries a killed save had carried over from ``path`` into ``temp``."""
    try:
        carried = read_json(os.path.join(temp, _CARRIED), "carried-entries list")
    except (OSError, ValueError):
        return  # no list (nothing carried yet), or a list cut short (nothing moved yet)
    if not os.path.isdir(path) or not isinstance(carried, list):
        return
    for entry in carried:
        source, target = os.path.join(temp, str(entry)), os.path.join(path, str(entry))
        if os.path.lexists(source) and not os.path.lexists(target):
            os.rename(source, target)


def _owned_folder(path: str, kind: str) -> tuple[str, int]:
    """Create a temporary sibling of ``path`` named after this process, and lock it for the process's lifetime."""
    prefix = f".{os.path.basename(path)}.{kind}-{os.getpid()}-{_start_time(os.getpid()) or 0}-"
    folder = tempfile.mkdtemp(prefix=prefix, dir=os.path.dirname(path))
    lock = _lock_folder(folder)
    return folder, _NOT_LOCKED if lock is None else lock


def _lock_folder(folder: str) -> int | None:
    """Take an exclusive flock on ``folder`` without waiting: the descriptor, or None when another process holds it.

    The lock goes with the process: the kernel drops it when the process dies, however it dies.
    """
    try:
        import fcntl
    except ImportError:  # Windows
        return _NOT_LOCKED
    try:
        fd = os.open(folder, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
    except OSError:
        return None
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        return None
    except OSError:  # a file system without flock: the pid and start time decide alone
        os.close(fd)
        return _NOT_LOCKED
    return fd


def _unlock(lock: int) -> None:
    if lock != _NOT_LOCKED:
        os.close(lock)


def _process_alive(pid: int, start: int) -> bool:
    """Whether process ``pid``, started at ``start`` (0: unknown), still runs; a reused pid does not count."""
    if sys.platform == "win32":
        return True  # os.kill would end the process: never take a Windows save for dead
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass  # another user's process
    actual = _start_time(pid)
    if actual == -1:
        return False  # a zombie
    return actual is None or start == 0 or actual == start


def _start_time(pid: int) -> int | None:
    """When process ``pid`` started (clock ticks since boot), -1 for a zombie, None where /proc cannot tell."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            fields = f.read().rpartition(b")")[2].split()  # the fields after the command name, from the 3rd
        return -1 if fields[0] in (b"Z", b"X") else int(fields[19])
    except (OSError, IndexError, ValueError):
        return None


def _swap_into_place(new: str, path: str, carry_over: bool = True) -> None:
    if not os.path.lexists(path):
        os.replace(new, path)
        return
    if not os.path.isdir(path):
        raise NotADirectoryError(f"Cannot save a model to {path}: it is a file")
    if carry_over:
        _carry_over(path, new)
    if _exchange(new, path):
        with contextlib.suppress(FileNotFoundError):
            os.remove(os.path.join(path, _CARRIED))
        _remove(new)  # it now holds the previous model
        return
    old, lock = _owned_folder(path, "old")
    try:
        previous = os.path.join(old, "model")
        os.replace(path, previous)
        try:
            os.replace(new, path)  # between these two renames ``path`` is missing: see the comment on _LEFTOVER
        except BaseException:
            os.replace(previous, path)
            raise
        with contextlib.suppress(FileNotFoundError):
            os.remove(os.path.join(path, _CARRIED))
        _remove(old)
    finally:
        _unlock(lock)


def _carry_over(path: str, new: str) -> None:
    """Move the entries of ``path`` that the new save did not write into ``new``, listing them first."""
    extras = [e for e in os.listdir(path) if e != _CARRIED and not os.path.lexists(os.path.join(new, e))]
    if not extras:
        return
    write_json(os.path.join(new, _CARRIED), extras)
    for entry in extras:
        os.replace(os.path.join(path, entry), os.path.join(new, entry))


def _exchange(first: str, second: str) -> bool:
    """Swap two paths in one step (Linux renameat2 with RENAME_EXCHANGE); False where the system cannot."""
    renameat2 = _renameat2()
    if renameat2 is None:
        return False
    if renameat2(_AT_FDCWD, os.fsencode(first), _AT_FDCWD, os.fsencode(second), _RENAME_EXCHANGE) == 0:
        return True
    error = ctypes.get_errno()
    if error in (errno.ENOSYS, errno.EINVAL, errno.EOPNOTSUPP, errno.EPERM):
        return False  # an old kernel, or a file system without exchange
    raise OSError(error, os.strerror(error), second)


@functools.cache
def _renameat2() -> Callable[..., int] | None:
    """renameat2 from the C library, or the raw system call where the library lacks it; None off Linux."""
    if not sys.platform.startswith("linux"):
        return None
    try:
        libc = ctypes.CDLL(None, use_errno=True)
    except OSError:
        return None
    if hasattr(libc, "renameat2"):
        function = libc.renameat2
        function.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_int, ctypes.c_char_p, ctypes.c_uint]
        function.restype = ctypes.c_int
        return function
    number = _SYS_RENAMEAT2.get(platform.machine())
    if number is None or not hasattr(libc, "syscall"):
        return None
    syscall = libc.syscall
    syscall.argtypes = [ctypes.c_long, ctypes.c_int, ctypes.c_char_p, ctypes.c_int, ctypes.c_char_p, ctypes.c_uint]
    syscall.restype = ctypes.c_long
    return functools.partial(syscall, number)


def _remove(folder: str) -> None:
    """Remove a folder, or the link that stands for one."""
    if os.path.islink(folder):
        os.unlink(folder)
    else:
        shutil.rmtree(folder, ignore_errors=True)


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask
