"""Finding model files locally or on the Hugging Face Hub, and downloading a URL to a file."""

from __future__ import annotations

import logging
import os
from pathlib import Path, PureWindowsPath
from typing import Any

from huggingface_hub import snapshot_download
from huggingface_hub.errors import HFValidationError, LocalEntryNotFoundError
from tqdm.auto import tqdm

from sentence_transformers.base.hub import default_cache_folder, hub_repo_id, resolve_file

try:  # huggingface_hub >= 1.0: a cache miss after a failed hub call, transient unlike its LocalEntryNotFound parent
    from huggingface_hub.errors import IncompleteSnapshotError
except ImportError:  # pragma: no cover - older huggingface_hub never raises it

    class IncompleteSnapshotError(Exception):
        """Placeholder for huggingface_hub versions without this error."""


logger = logging.getLogger(__name__)


class disabled_tqdm(tqdm):  # noqa: N801 - upstream's public name
    """A tqdm progress bar that is always disabled, e.g. as ``tqdm_class`` for ``snapshot_download``."""

    def __init__(self, *args, **kwargs) -> None:
        kwargs["disable"] = True
        super().__init__(*args, **kwargs)

    def __delattr__(self, attr: str) -> None:
        """Tolerate deleting a missing ``_lock`` (https://github.com/huggingface/huggingface_hub/issues/1603)."""
        try:
            super().__delattr__(attr)
        except AttributeError:
            if attr != "_lock":
                raise


def _validate_relative_path(path: str | Path) -> None:
    """Reject absolute paths, drive letters, ``..`` components and NUL bytes (POSIX and Windows syntax alike)."""
    if not isinstance(path, (str, Path)):
        raise ValueError(f"Invalid model path {path!r}: expected a relative path.")
    windows = PureWindowsPath(path)
    if windows.anchor or ".." in windows.parts or "\0" in str(path):
        raise ValueError(f"Invalid model path {str(path)!r}: expected a relative path without '..' components.")


def load_file_path(
    model_name_or_path: str,
    filename: str | Path,
    subfolder: str = "",
    token: bool | str | None = None,
    cache_folder: str | None = None,
    revision: str | None = None,
    local_files_only: bool = False,
) -> str | None:
    """Local path of ``subfolder/filename`` of a model folder or Hub repository (downloaded if needed).

    Returns None when the file is not there: a local folder without it, a Hub repository without it, a file missing
    from the cache with ``local_files_only``, or a name that is no valid repository id. Other Hub errors
    (authentication, network, missing repository) propagate rather than being mistaken for "no such file".

    Raises:
        ValueError: If ``subfolder`` or ``filename`` is absolute or contains ``..``.
    """
    _validate_relative_path(subfolder)
    _validate_relative_path(filename)
    local_path = Path(model_name_or_path, subfolder, filename)
    if local_path.exists():
        return str(local_path)
    if Path(model_name_or_path).is_dir():
        return None
    relative = Path(subfolder, filename)
    parent = relative.parent.as_posix()
    try:
        return resolve_file(
            model_name_or_path,
            relative.name,
            subfolder="" if parent == "." else parent,
            token=token,
            cache_folder=cache_folder,
            revision=revision,
            local_files_only=local_files_only,
        )
    except HFValidationError as exc:
        logger.debug(f"Could not load {str(filename)!r} from {model_name_or_path!r}: {exc}")
        return None
    except FileNotFoundError as exc:
        if isinstance(exc.__cause__, LocalEntryNotFoundError):  # not cached, and the hub may not be asked
            logger.debug(f"Could not load {str(filename)!r} from {model_name_or_path!r}: {exc}")
            return None
        raise


def is_sentence_transformer_model(
    model_name_or_path: str,
    token: bool | str | None = None,
    cache_folder: str | None = None,
    revision: str | None = None,
    local_files_only: bool = False,
) -> bool:
    """Whether the model folder or Hub repository has a ``modules.json`` (is a Sentence Transformers model).

    Hub errors other than "file not found" propagate (see :func:`load_file_path`), so that a flaky hub is not read
    as "not a Sentence Transformers model".
    """
    path = load_file_path(
        model_name_or_path,
        "modules.json",
        token=token,
        cache_folder=cache_folder,
        revision=revision,
        local_files_only=local_files_only,
    )
    return path is not None


def load_dir_path(
    model_name_or_path: str,
    subfolder: str,
    token: bool | str | None = None,
    cache_folder: str | None = None,
    revision: str | None = None,
    local_files_only: bool = False,
) -> str | None:
    """Local path of ``subfolder`` of a model folder or Hub repository, downloading only that subfolder if needed.

    Returns None for a local folder without that subfolder, a name that is no valid repository id, or a repository
    absent from the cache with ``local_files_only``. Other hub failures fall back to the cache once; if the cache
    lacks the subfolder as well, the original error is raised.

    Raises:
        ValueError: If ``subfolder`` is absolute or contains ``..``.
        OSError: If the download yields a snapshot without the subfolder.
    """
    _validate_relative_path(subfolder)
    subfolder = Path(subfolder).as_posix() if isinstance(subfolder, Path) else subfolder
    local_path = Path(model_name_or_path, subfolder)
    if local_path.exists():
        return str(local_path)
    if Path(model_name_or_path).is_dir():
        return None
    wants_subfolder = subfolder not in ("", ".")
    download_kwargs: dict[str, Any] = {
        "repo_id": hub_repo_id(model_name_or_path),
        "revision": revision,
        "allow_patterns": f"{subfolder}/**" if wants_subfolder else None,
        "token": token,
        "cache_dir": default_cache_folder(cache_folder),
        "local_files_only": local_files_only,
        "tqdm_class": disabled_tqdm,
    }
    try:
        repo_path = snapshot_download(**download_kwargs)
    except IncompleteSnapshotError:
        raise  # a transient hub failure with an incomplete cache: not "absent"
    except (HFValidationError, LocalEntryNotFoundError) as exc:
        logger.debug(f"Could not load subfolder {subfolder!r} from {model_name_or_path!r}: {exc}")
        return None
    except Exception as first_error:  # noqa: BLE001 - auth, rate limit, network: the cache may still have it
        download_kwargs["local_files_only"] = True
        try:
            repo_path = snapshot_download(**download_kwargs)
        except LocalEntryNotFoundError:
            raise first_error from None
        if wants_subfolder and not Path(repo_path, subfolder).is_dir():
            raise first_error from None
        return str(Path(repo_path, subfolder))
    if wants_subfolder and not Path(repo_path, subfolder).is_dir():
        raise OSError(
            f"Could not download {subfolder!r} of {model_name_or_path!r} from the Hub, and the local cache does not "
            "contain it."
        )
    return str(Path(repo_path, subfolder))


def _httpx() -> Any:
    """The httpx module huggingface_hub uses (httpx or its httpx2 successor)."""
    try:
        from huggingface_hub.utils import httpx
    except ImportError:
        import httpx
    return httpx


def http_get(url: str, path: str) -> None:
    """Download ``url`` to the file ``path`` with a progress bar, creating parent folders.

    The body is streamed to ``<path>_part`` and renamed to ``path`` only once complete, so an interrupted or failed
    download never leaves a truncated file at ``path`` (nor a stale ``_part`` file).

    Raises:
        httpx.HTTPStatusError: On a 4xx/5xx response, naming the status and the URL; nothing is written.
        OSError: If ``path`` cannot be written.
    """
    httpx = _httpx()
    folder = os.path.dirname(path)
    if folder:
        os.makedirs(folder, exist_ok=True)
    part_path = f"{path}_part"
    with httpx.stream("GET", url, follow_redirects=True) as response:
        response.raise_for_status()
        content_length = response.headers.get("Content-Length")
        total = int(content_length) if content_length is not None else None
        desc = f"Downloading {os.path.basename(path)}"
        progress = tqdm(unit="B", unit_scale=True, total=total, leave=False, desc=desc)
        try:
            with open(part_path, "wb") as handle:
                for chunk in response.iter_bytes(chunk_size=1024 * 64):
                    handle.write(chunk)
                    progress.update(len(chunk))
            os.replace(part_path, path)
        except BaseException:
            if os.path.exists(part_path):
                os.remove(part_path)
            raise
        finally:
            progress.close()
