"""Corpus embedding on Ray Data: a picklable embedder for ``map_batches``, ``embed_dataset`` and ``embed_files``.

``SentenceEmbedder`` takes a batch of rows and gives it back with an embedding column added. It loads its model on
first use (once per Ray actor, Dask worker or Spark task) and drives ``SentenceTransformer.encode``, so batching,
sorting by length and the backends stay the engine's. A batch may be a dict of numpy arrays (Ray's "numpy" format), a
pandas DataFrame (Ray's "pandas"; Dask's ``map_partitions``), a pyarrow Table (Ray's "pyarrow"), or just the texts (a
numpy array, list or Series, as Spark's ``predict_batch_udf`` passes them), which give back an ``[n, dim]`` array.

``embed_files`` writes one Parquet file per input file, named after it, through a temporary sibling renamed into
place; a rerun skips the inputs whose output exists, so an interrupted run resumes where it stopped.

Ray is imported only when used: without it this module imports, and using it raises an ImportError saying what to
install.
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import posixpath
import re
import secrets
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    import pyarrow as pa
    from ray.data import Dataset

    from sentence_transformers import SentenceTransformer

INSTALL_HINT = 'Ray Data is not installed: pip install "sbert[ray]" (or pip install "ray[data]")'
FORMATS = {".parquet": "parquet", ".pq": "parquet", ".jsonl": "jsonl", ".ndjson": "jsonl", ".txt": "text"}
PER_BATCH_PRECISIONS = ("int8", "uint8")  # their buckets would change from batch to batch
PATH_COLUMN = "path"  # the column Ray Data's readers add with include_paths=True
_ERROR_LINE = re.compile(r"^(?:[\w.]+\.)?(\w*(?:Error|Exception)): (.+)$")


def require_ray() -> Any:
    """The ``ray`` module with Ray Data loaded, or an ImportError that says how to install it."""
    try:
        import ray
        import ray.data  # noqa: F401
    except ImportError as exc:
        raise ImportError(INSTALL_HINT) from exc
    return ray


# -------------------------------------------------------------------------------------------------------- embedder
class SentenceEmbedder:
    """Embeds the texts of a batch's ``column`` into ``output_column``; a callable class for ``map_batches``.

    Args:
        model: A model name or folder, loaded on first use where the embedder runs; or a SentenceTransformer,
            pickled along with the embedder.
        column: The column of the texts.
        output_column: The column of the embeddings (replaced when the batch has one already).
        batch_size: Texts per forward pass.
        device: Passed to SentenceTransformer when ``model`` is a name (default: the best available).
        backend: Passed to SentenceTransformer when ``model`` is a name.
        model_kwargs: Passed to SentenceTransformer when ``model`` is a name (e.g. ``{"torch_dtype": "float16"}``).
        encode_kwargs: Passed to ``encode``: ``normalize_embeddings``, ``prompt``, ``prompt_name``, ``precision``
            (float32, binary or ubinary: int8/uint8 buckets would differ per batch), ``truncate_dim``, …
    """

    def __init__(
        self,
        model: str | os.PathLike | SentenceTransformer,
        *,
        column: str = "text",
        output_column: str = "embedding",
        batch_size: int = 32,
        device: str | None = None,
        backend: str = "torch",
        model_kwargs: dict[str, Any] | None = None,
        **encode_kwargs: Any,
    ) -> None:
        precision = encode_kwargs.get("precision", "float32")
        if precision in PER_BATCH_PRECISIONS:
            raise ValueError(
                f"precision {precision!r} computes its buckets per batch, so batches would disagree; embed in "
                "float32 and quantize afterwards with quantize_embeddings(..., ranges=...), or use binary/ubinary"
            )
        if batch_size < 1:
            raise ValueError(f"batch_size must be at least 1, got {batch_size}")
        self.model_source = model
        self.column, self.output_column, self.batch_size = column, output_column, batch_size
        self.load_kwargs = {"device": device, "backend": backend, "model_kwargs": model_kwargs}
        self.encode_kwargs = {"show_progress_bar": False, **encode_kwargs}
        self._model = None if _is_name(model) else model

    @property
    def model(self) -> SentenceTransformer:
        """The model, loaded on first use."""
        if self._model is None:
            from sentence_transformers import SentenceTransformer

            self._model = SentenceTransformer(os.fspath(self.model_source), **self.load_kwargs)
        return self._model

    def __getstate__(self) -> dict[str, Any]:
        state = self.__dict__.copy()
        if _is_name(self.model_source):
            state["_model"] = None  # loaded again where the embedder lands
        return state

    def __call__(self, batch: Any) -> Any:
        """``batch`` with the embeddings added, in the batch's own format; bare texts give an ``[n, dim]`` array."""
        if isinstance(batch, Mapping):
            return self._embed_dict(batch)
        library = type(batch).__module__.split(".")[0]
        if library == "pandas" and hasattr(batch, "columns"):
            return self._embed_pandas(batch)
        if library == "pyarrow" and hasattr(batch, "column_names"):
            return self._embed_arrow(batch)
        return self.embed(batch)

    def embed(self, texts: Sequence[Any], describe: Callable[[int], str] | None = None) -> np.ndarray:
        """The ``[n, dim]`` embeddings of ``texts``; a value that is not a string raises a TypeError naming its row
        (and, through ``describe``, the row's other values)."""
        texts = texts.tolist() if hasattr(texts, "tolist") else list(texts)
        for row, text in enumerate(texts):
            if not isinstance(text, str):
                shown = repr(text) if len(repr(text)) <= 80 else repr(text)[:77] + "..."
                where = describe(row) if describe is not None else ""
                raise TypeError(
                    f"row {row} of the batch has {type(text).__name__} {shown} in column {self.column!r}, "
                    f"not a string{where}"
                )
        return np.asarray(self.model.encode(texts, batch_size=self.batch_size, **self.encode_kwargs))

    def _check_column(self, names: Sequence[str]) -> None:
        if self.column not in names:
            raise ValueError(f"the batch has no column {self.column!r}; it has: {', '.join(map(repr, names))}")

    def _embed_dict(self, batch: Mapping[str, Any]) -> dict[str, Any]:
        self._check_column(list(batch))
        others = [name for name in batch if name != self.column]
        embeddings = self.embed(batch[self.column], lambda row: _the_row({name: batch[name][row] for name in others}))
        return {**batch, self.output_column: embeddings}

    def _embed_pandas(self, frame: Any) -> Any:
        self._check_column(list(frame.columns))
        others = frame.drop(columns=[self.column])
        embeddings = self.embed(frame[self.column].tolist(), lambda row: _the_row(others.iloc[row].to_dict()))
        out = frame.copy(deep=False)  # the caller's frame stays as it was
        out[self.output_column] = list(embeddings)
        return out

    def _embed_arrow(self, table: pa.Table) -> pa.Table:
        self._check_column(table.column_names)
        others = [name for name in table.column_names if name != self.column]

        def describe(row: int) -> str:
            return _the_row({name: table.column(name)[row].as_py() for name in others})

        vectors = fixed_size_list(self.embed(table.column(self.column).to_pylist(), describe))
        if self.output_column in table.column_names:
            return table.set_column(table.column_names.index(self.output_column), self.output_column, vectors)
        return table.append_column(self.output_column, vectors)


def fixed_size_list(embeddings: np.ndarray) -> pa.FixedSizeListArray:
    """An ``[n, dim]`` array as an Arrow fixed-size list column (the layout ``sbert encode -o x.parquet`` writes)."""
    import pyarrow as pa

    embeddings = np.ascontiguousarray(embeddings)
    return pa.FixedSizeListArray.from_arrays(pa.array(embeddings.reshape(-1)), embeddings.shape[1])


def _is_name(model: Any) -> bool:
    return isinstance(model, (str, os.PathLike))


def _the_row(values: Mapping[str, Any]) -> str:
    shown = repr({name: value.item() if isinstance(value, np.generic) else value for name, value in values.items()})
    return f" (the row: {shown if len(shown) <= 200 else shown[:197] + '...'})" if values else ""


# ---------------------------------------------------------------------------------------------------------- inputs
def input_format(name: str) -> str:
    """The format of a file by its extension: parquet, jsonl or text (the default, as ``sbert encode`` reads)."""
    return FORMATS.get(posixpath.splitext(name)[1].lower(), "text")


def list_inputs(sources: str | os.PathLike | Sequence[str | os.PathLike]) -> tuple[Any, list[tuple[str, str]]]:
    """The input files of ``sources`` (files or folders; local paths or URIs such as ``s3://bucket/corpus``) as
    ``(path on the filesystem, name)`` pairs and their pyarrow filesystem. A folder gives its .parquet, .jsonl,
    .ndjson and .txt files, recursively and sorted, skipping names that start with ``.`` or ``_``, each named by its
    path under the folder; a file is named by its base name."""
    sources = [sources] if isinstance(sources, (str, os.PathLike)) else list(sources)
    if not sources:
        raise ValueError("no input files or folders given")
    filesystem, files = None, []
    for source in map(os.fspath, sources):
        source_fs, path = _filesystem(source)
        if filesystem is not None and source_fs.type_name != filesystem.type_name:
            raise ValueError(f"the inputs are on different filesystems ({filesystem.type_name}, {source!r})")
        filesystem = source_fs
        files.extend(_files_under(source_fs, path, source))
    return filesystem, files


def _filesystem(location: str) -> tuple[Any, str]:
    """A pyarrow filesystem and the path on it of a local path or a URI."""
    from pyarrow import fs

    if "://" not in location:
        return fs.LocalFileSystem(), os.path.abspath(os.path.expanduser(location))
    return fs.FileSystem.from_uri(location)


def _files_under(filesystem: Any, path: str, source: str) -> list[tuple[str, str]]:
    from pyarrow import fs

    info = filesystem.get_file_info(path)
    if info.type == fs.FileType.NotFound:
        raise FileNotFoundError(f"input {source!r} not found")
    if info.type == fs.FileType.File:
        return [(path, posixpath.basename(path))]
    files = []
    for entry in filesystem.get_file_info(fs.FileSelector(path, recursive=True)):
        name = posixpath.relpath(entry.path, path)
        hidden = any(part.startswith((".", "_")) for part in name.split("/"))
        if entry.type == fs.FileType.File and not hidden and posixpath.splitext(name)[1].lower() in FORMATS:
            files.append((entry.path, name))
    if not files:
        raise FileNotFoundError(f"no {', '.join(FORMATS)} files under {source!r}")
    return sorted(files)


def _common_format(names: Sequence[str], fmt: str | None) -> str:
    if fmt is not None:
        if fmt not in set(FORMATS.values()):
            raise ValueError(f"unknown input format {fmt!r}; known: parquet, jsonl, text")
        return fmt
    formats = sorted({input_format(name) for name in names})
    if len(formats) > 1:
        raise ValueError(f"the inputs mix formats ({', '.join(formats)}); embed each format on its own")
    return formats[0]


def read_inputs(
    sources: str | os.PathLike | Sequence[str | os.PathLike],
    input_format: str | None = None,
    include_paths: bool = False,
    **read_options: Any,
) -> Dataset:
    """A Ray Dataset of the rows of ``sources`` (see :func:`list_inputs`), all in one format: Parquet, JSONL (one
    object per line), or text (a ``text`` column, one row per non-blank line). ``read_options`` go to the reader."""
    filesystem, files = list_inputs(sources)
    fmt = _common_format([name for _, name in files], input_format)
    return _read(fmt, [path for path, _ in files], filesystem, include_paths, read_options)


def _read(fmt: str, paths: list[str], filesystem: Any, include_paths: bool, options: dict[str, Any]) -> Dataset:
    data = require_ray().data
    common = {"filesystem": filesystem, "include_paths": include_paths, "file_extensions": None, **options}
    if fmt == "parquet":
        return data.read_parquet(paths, **common)
    if fmt == "jsonl":
        return data.read_json(paths, **common)
    return data.read_text(paths, **common)


# ----------------------------------------------------------------------------------------------------- the dataset
def embed_dataset(
    data: Dataset | str | os.PathLike | Sequence[str | os.PathLike],
    model: str | os.PathLike | SentenceTransformer,
    *,
    column: str = "text",
    rows_per_batch: int = 1024,
    concurrency: int | tuple[int, int] = 1,
    num_gpus: float | None = None,
    num_cpus: float | None = None,
    input_format: str | None = None,
    include_paths: bool = False,
    read_options: dict[str, Any] | None = None,
    **options: Any,
) -> Dataset:
    """A Ray Dataset of ``data``'s rows with an ``embedding`` column added (lazy, as Ray Datasets are).

    Args:
        data: A Ray Dataset, or files and folders to read (see :func:`read_inputs`).
        model: A model name or folder (or a SentenceTransformer, pickled to every worker).
        column: The column of the texts.
        rows_per_batch: Rows handed to a worker at a time.
        concurrency: Workers (model replicas, Ray actors): a number, or ``(min, max)`` to autoscale.
        num_gpus: GPUs per worker.
        num_cpus: CPUs per worker (Ray's default: 1).
        input_format: parquet, jsonl or text (default: by extension).
        include_paths: Keep a ``path`` column naming each row's file.
        read_options: Passed to Ray's reader (``read_parquet``, ``read_json`` or ``read_text``).
        options: Passed to :class:`SentenceEmbedder` (``batch_size``, ``output_column``, ``device``,
            ``normalize_embeddings``, ``prompt``, ``precision``, …).
    """
    ray = require_ray()
    if not isinstance(data, ray.data.Dataset):
        data = read_inputs(data, input_format, include_paths, **(read_options or {}))
    SentenceEmbedder(model, column=column, **options)  # bad options fail here, not in every worker
    if isinstance(concurrency, int):
        size = {"size": concurrency}
    else:
        size = {"min_size": concurrency[0], "max_size": concurrency[1]}
    resources = {name: value for name, value in (("num_gpus", num_gpus), ("num_cpus", num_cpus)) if value}
    return data.map_batches(
        SentenceEmbedder,
        fn_constructor_kwargs={"model": model, "column": column, **options},
        batch_size=rows_per_batch,
        batch_format="pyarrow",
        compute=ray.data.ActorPoolStrategy(**size),
        **resources,
    )


# ------------------------------------------------------------------------------------------------------- the files
@dataclasses.dataclass
class EmbedFilesResult:
    """What :func:`embed_files` did: the outputs it wrote, those it found already written, and its rows."""

    written: list[str] = dataclasses.field(default_factory=list)
    skipped: list[str] = dataclasses.field(default_factory=list)
    rows: int = 0


def output_name(name: str) -> str:
    """The output file of an input named ``name``: the same path, with ``.parquet`` added unless it ends so."""
    return name if name.lower().endswith(".parquet") else name + ".parquet"


def embed_files(
    sources: str | os.PathLike | Sequence[str | os.PathLike],
    output: str | os.PathLike,
    model: str | os.PathLike | SentenceTransformer,
    *,
    column: str = "text",
    input_format: str | None = None,
    read_options: dict[str, Any] | None = None,
    **options: Any,
) -> EmbedFilesResult:
    """Embed each input file into a Parquet file under ``output`` (a folder or URI): its columns, in order, plus
    ``embedding``; ``a/b.jsonl`` under an input folder becomes ``a/b.jsonl.parquet``. Inputs whose output exists are
    skipped, so a rerun finishes an interrupted one. The workers read and embed; this process writes each file
    (to a temporary sibling, renamed into place once the file's last row is in). ``options``: as :func:`embed_dataset`.
    """
    ray = require_ray()
    filesystem, files = list_inputs(sources)
    fmt = _common_format([name for _, name in files], input_format)
    out_fs, out_root = _filesystem(os.fspath(output))
    targets = {path: posixpath.join(out_root, output_name(name)) for path, name in files}
    existing = {info.path for info in out_fs.get_file_info(list(targets.values())) if info.type.name != "NotFound"}
    result = EmbedFilesResult(skipped=[target for target in targets.values() if target in existing])
    pending = [path for path, target in targets.items() if target not in existing]
    if not pending:
        return result
    with _preserving_order(ray):
        data = _read(fmt, pending, filesystem, True, read_options or {})
        embedded = embed_dataset(data, model, column=column, **options)
        _write_per_file(embedded.iter_batches(batch_format="pyarrow", batch_size=None), out_fs, targets, result)
    return result


@contextlib.contextmanager
def _preserving_order(ray: Any) -> Iterator[None]:
    """Rows come out in input order while the block runs, so each file's rows arrive together and in order."""
    execution = ray.data.DataContext.get_current().execution_options
    previous, execution.preserve_order = execution.preserve_order, True
    try:
        yield
    finally:
        execution.preserve_order = previous


def _write_per_file(batches: Iterator[pa.Table], filesystem: Any, targets: dict[str, str], result: Any) -> None:
    """Write the rows of each input file into its target; a file is committed when the next one's rows begin."""
    writer: _StagedParquet | None = None
    committed: set[str] = set()
    try:
        for batch in batches:
            for source, rows in _runs_by_source(batch):
                if writer is not None and writer.source != source:
                    result.written.append(writer.commit())
                    committed.add(writer.source)
                    writer = None
                if writer is None and source in committed:
                    filesystem.delete_file(targets[source])
                    raise RuntimeError(f"rows of {source} arrived after its output was written; it was removed")
                writer = writer or _StagedParquet(filesystem, targets[source], source)
                writer.write(rows)
                result.rows += rows.num_rows
        if writer is not None:
            result.written.append(writer.commit())
            writer = None
    except BaseException:
        if writer is not None:
            writer.discard()
        raise


def _runs_by_source(table: pa.Table) -> Iterator[tuple[str, pa.Table]]:
    """The rows of ``table`` in runs of one source file, without the path column."""
    sources = table.column(PATH_COLUMN).to_pylist()
    body = table.select([name for name in table.column_names if name != PATH_COLUMN])
    start = 0
    for end in range(1, len(sources) + 1):
        if end == len(sources) or sources[end] != sources[start]:
            yield sources[start], body.slice(start, end - start)
            start = end


class _StagedParquet:
    """A Parquet file written to a temporary sibling of ``target`` and moved over it on commit."""

    def __init__(self, filesystem: Any, target: str, source: str) -> None:
        self.filesystem, self.target, self.source = filesystem, target, source
        folder, name = posixpath.split(target)
        filesystem.create_dir(folder, recursive=True)
        self.temporary = posixpath.join(folder, f".{name}.{secrets.token_hex(4)}.tmp")
        self.stream = filesystem.open_output_stream(self.temporary)
        self.writer: Any = None

    def write(self, table: pa.Table) -> None:
        import pyarrow.parquet as pq

        if self.writer is None:
            self.writer = pq.ParquetWriter(self.stream, table.schema)
        elif not table.schema.equals(self.writer.schema):
            table = table.cast(self.writer.schema)  # e.g. a column that was all null in the first block
        self.writer.write_table(table)

    def commit(self) -> str:
        self.writer.close()
        self.stream.close()
        self.filesystem.move(self.temporary, self.target)
        return self.target

    def discard(self) -> None:
        with contextlib.suppress(Exception):
            if self.writer is not None:
                self.writer.close()
            self.stream.close()
        with contextlib.suppress(Exception):
            self.filesystem.delete_file(self.temporary)


# ---------------------------------------------------------------------------------------------------------- errors
def user_error(exc: BaseException) -> str | None:
    """The message of the user-facing error (e.g. a bad row's TypeError) inside a Ray task error, if any."""
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if not type(current).__module__.startswith("ray") and not type(current).__name__.startswith("RayTaskError"):
            return f"{type(current).__name__}: {current}"
        current = getattr(current, "cause", None) or current.__cause__
    for line in str(exc).splitlines():
        match = _ERROR_LINE.match(line.strip())
        if match and not line.strip().startswith("ray.") and match.group(1) not in ("UserCodeException", "RayError"):
            return f"{match.group(1)}: {match.group(2)}"
    return None
