"""Name-or-path → local folder: a local directory, the cache, or a download through huggingface_hub."""

from __future__ import annotations

import os

from huggingface_hub import hf_hub_download, snapshot_download
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


def _looks_like_path(name: str) -> bool:
    """Names that can only be file paths (absolute, ./ ../ ~ or Windows drive) never go to the hub."""
    return name.startswith(("/", "./", "../", "~", "\\")) or (len(name) > 1 and name[1] == ":") or name.count("/") > 1
