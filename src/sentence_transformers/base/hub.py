"""Name-or-path → local folder: a local directory, the cache, or a download through huggingface_hub."""

from __future__ import annotations

import fnmatch
import hashlib
import os
import shutil
import tempfile
from pathlib import Path

from huggingface_hub import constants, hf_hub_download, snapshot_download
from huggingface_hub.errors import (
    EntryNotFoundError,
    HfHubHTTPError,
    LocalEntryNotFoundError,
    RepositoryNotFoundError,
    RevisionNotFoundError,
)

# Weight formats and exports that the torch backend never reads: not worth downloading.
_IGNORE_PATTERNS = ["*.h5", "*.msgpack", "*.ot", "flax_model*", "tf_model*", "rust_model*", "onnx/*", "openvino/*"]

# Hub names that live at the hub's root; any other name without an owner means sentence-transformers/<name>.
_ROOT_LEVEL_MODELS = {
    "albert-base-v1",
    "albert-base-v2",
    "albert-large-v2",
    "bert-base-cased",
    "bert-base-multilingual-cased",
    "bert-base-multilingual-uncased",
    "bert-base-uncased",
    "bert-large-cased",
    "bert-large-uncased",
    "distilbert-base-cased",
    "distilbert-base-multilingual-cased",
    "distilbert-base-uncased",
    "distilroberta-base",
    "gpt2",
    "roberta-base",
    "roberta-large",
    "t5-base",
    "t5-small",
    "xlm-roberta-base",
    "xlm-roberta-large",
    "xlnet-base-cased",
}


class NotAModelFolderError(NotADirectoryError, ValueError):
    """A model path that names a file: a NotADirectoryError as upstream raises, and a ValueError (a bad argument)."""


def default_cache_folder(cache_folder: str | None = None) -> str | None:
    """The cache folder to use: the argument, else $SENTENCE_TRANSFORMERS_HOME, else huggingface_hub's default."""
    return cache_folder or os.environ.get("SENTENCE_TRANSFORMERS_HOME") or None


def hub_repo_id(name: str) -> str:
    """Map short names like ``all-MiniLM-L6-v2`` to ``sentence-transformers/all-MiniLM-L6-v2``."""
    if "/" in name or name in _ROOT_LEVEL_MODELS:
        return name
    return f"sentence-transformers/{name}"


def is_local(name_or_path: str) -> bool:
    """Whether the name points at a folder on this machine."""
    return os.path.isdir(os.path.expanduser(name_or_path))


def resolve_folder(
    name_or_path: str,
    token: bool | str | None = None,
    cache_folder: str | None = None,
    revision: str | None = None,
    local_files_only: bool = False,
) -> str:
    """Return a local folder holding the model: the path itself, or a hub snapshot (cached or downloaded).

    Raises FileNotFoundError naming the model and each place that was tried when none has it.
    """
    if not isinstance(name_or_path, (str, os.PathLike)):
        raise TypeError(f"A model name or path must be a string, got {type(name_or_path).__name__}")
    name_or_path = os.fspath(name_or_path)
    if is_local(name_or_path):
        return os.path.expanduser(name_or_path)
    if os.path.isfile(os.path.expanduser(name_or_path)):
        raise NotAModelFolderError(
            f"Path {name_or_path!r} is a file, not a folder: give the model's folder or a Hugging Face Hub model name"
        )
    if _looks_like_path(name_or_path):
        raise FileNotFoundError(f"Model folder {name_or_path!r} does not exist")
    repo_id = hub_repo_id(name_or_path)
    cache = default_cache_folder(cache_folder)
    try:
        return snapshot_download(
            repo_id,
            revision=revision,
            token=token,
            cache_dir=cache,
            local_files_only=local_files_only,
            ignore_patterns=_IGNORE_PATTERNS,
        )
    except (OSError, HfHubHTTPError, RepositoryNotFoundError, RevisionNotFoundError, ValueError) as exc:
        tried = f"no local folder {name_or_path!r}; hub repository {repo_id!r}"
        where = f" (cache {cache})" if cache else " (huggingface_hub's default cache)"
        raise FileNotFoundError(
            f"Could not load model {name_or_path!r}: {tried}{where} is neither cached nor downloadable. "
            f"Reason: {type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}"
        ) from exc


def resolve_file(
    name_or_path: str,
    filename: str,
    subfolder: str = "",
    token: bool | str | None = None,
    cache_folder: str | None = None,
    revision: str | None = None,
    local_files_only: bool = False,
) -> str | None:
    """Local path of one file of a model folder or hub repository, or None when the model has no such file."""
    name_or_path = os.fspath(name_or_path)
    if is_local(name_or_path):
        path = os.path.join(os.path.expanduser(name_or_path), subfolder, filename)
        return path if os.path.isfile(path) else None
    try:
        return hf_hub_download(
            hub_repo_id(name_or_path),
            filename=filename,
            subfolder=subfolder or None,
            revision=revision,
            token=token,
            cache_dir=default_cache_folder(cache_folder),
            local_files_only=local_files_only,
        )
    except LocalEntryNotFoundError as exc:
        raise FileNotFoundError(f"Could not fetch {subfolder}/{filename} of model {name_or_path!r}: {exc}") from exc
    except EntryNotFoundError:
        return None
    except (OSError, HfHubHTTPError) as exc:
        raise FileNotFoundError(f"Could not fetch {subfolder}/{filename} of model {name_or_path!r}: {exc}") from exc


LFS_THRESHOLD = 10 * 1024 * 1024  # the Hub stores larger files in LFS (blob named by sha256)


def add_to_hub_cache(folder: str | os.PathLike, repo_id: str, cache_dir: str | None = None) -> str:
    """Place a local model folder into the Hugging Face hub cache as ``repo_id``'s ``main`` revision.

    Uses the cache's own layout (``models--owner--name/blobs``, ``snapshots/<commit>``, ``refs/main``), so
    ``SentenceTransformer(repo_id)`` and every huggingface_hub reader find it offline exactly as after a download.
    Blobs are named as the Hub names them (git blob sha1, or sha256 for LFS files); the commit id is derived from
    the files, so placing the same folder twice changes nothing. Returns the snapshot folder.
    """
    source = Path(folder).expanduser()
    if not source.is_dir():
        raise FileNotFoundError(f"Model folder {str(folder)!r} does not exist")
    files = sorted(p.relative_to(source).as_posix() for p in source.rglob("*") if p.is_file() and ".git" not in p.parts)
    repo = Path(cache_dir or constants.HF_HUB_CACHE) / f"models--{repo_id.replace('/', '--')}"
    lfs = _lfs_patterns(source)
    blobs = {name: _blob_id(source / name, lfs) for name in files}
    commit = hashlib.sha1("".join(f"{name}\0{blob}\n" for name, blob in blobs.items()).encode()).hexdigest()
    snapshot = repo / "snapshots" / commit
    for name, blob in blobs.items():
        _place_blob(source / name, repo / "blobs" / blob, snapshot / name)
    (repo / "refs").mkdir(parents=True, exist_ok=True)
    (repo / "refs" / "main").write_text(commit)
    return str(snapshot)


def _lfs_patterns(folder: Path) -> list[str]:
    """The file patterns that the repository's .gitattributes sends to LFS."""
    attributes = folder / ".gitattributes"
    if not attributes.is_file():
        return []
    return [line.split()[0] for line in attributes.read_text().splitlines() if "filter=lfs" in line]


def _blob_id(path: Path, lfs: list[str]) -> str:
    """The Hub's name for a file's blob: sha256 of the content for LFS files, else the git blob sha1."""
    in_lfs = path.stat().st_size > LFS_THRESHOLD or any(fnmatch.fnmatch(path.name, pattern) for pattern in lfs)
    digest = hashlib.sha256() if in_lfs else hashlib.sha1(f"blob {path.stat().st_size}\0".encode())
    with open(path, "rb") as file:
        for chunk in iter(lambda: file.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _place_blob(source: Path, blob: Path, link: Path) -> None:
    """Copy the file into the blob store (atomically, once) and point the snapshot entry at it."""
    blob.parent.mkdir(parents=True, exist_ok=True)
    if not blob.exists():
        handle, temp = tempfile.mkstemp(dir=blob.parent, prefix=f".{blob.name}.")
        os.close(handle)
        shutil.copyfile(source, temp)
        os.replace(temp, blob)
    link.parent.mkdir(parents=True, exist_ok=True)
    if link.is_symlink() or link.exists():
        link.unlink()
    try:
        link.symlink_to(os.path.relpath(blob, link.parent))
    except OSError:  # no symlinks here (some Windows setups): huggingface_hub then keeps copies as well
        shutil.copyfile(blob, link)


def _looks_like_path(name: str) -> bool:
    """Names that can only be file paths (absolute, ./ ../ ~ or Windows drive) never go to the hub."""
    return name.startswith(("/", "./", "../", "~", "\\")) or (len(name) > 1 and name[1] == ":") or name.count("/") > 1
