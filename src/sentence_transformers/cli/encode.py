"""``sbert encode``: texts from a text, JSONL, CSV, TSV or Parquet file, or stdin, into .npy, JSONL or Parquet.

Memory is bounded by one chunk of texts, not by the input: the texts are read as a stream (see ``cli.inputs``),
encoded ``CHUNK_SIZE`` at a time, and each chunk's rows go straight to the output.

- A .npy output is written through a memmap of a temporary sibling file: a first pass over the input counts (and
  checks) the texts without keeping them, so the array's shape is known before the first row is written; the pages
  written for a chunk are flushed and unmapped before the next one, so they never pile up in the process's memory.
  The finished file is renamed over the target; a failure removes it and leaves the target untouched.
- A JSONL output streams one chunk at a time (to stdout, or to a temporary sibling renamed into place at the end).
- A Parquet output (columns ``text`` and ``embedding``, a fixed-size list) gets one row group per chunk through a
  ``pyarrow.parquet.ParquetWriter`` on a temporary sibling, renamed into place at the end.
- int8/uint8 buckets span every embedding, as when the whole input is encoded in one call: the float embeddings go to
  a temporary .npy first, then are quantized chunk by chunk with the per-dimension ranges of all of them.
  binary/ubinary are per value, so each chunk is quantized on its own.
- stdin can be read only once: it is copied to a temporary file (next to the output) when a second pass is needed
  (a .npy output, or int8/uint8 precision); otherwise it streams.
- A SparseEncoder (detected from the model folder, or ``--model-type SparseEncoder``) writes each text's non-zero
  dimensions: JSONL ``{"text", "indices", "values"}`` (indices ascending), or Parquet columns ``text``, ``indices``
  (list of int32) and ``values`` (list of float32); a dense .npy would hold the whole vocabulary per text, so it is
  refused. ``--max-active-dims N`` keeps each text's N largest dimensions.
- ``--images SOURCE`` embeds image files instead of texts, with a model that takes images (a CLIP model): the images
  of a folder (recursive, sorted paths) or the paths of a list file (see ``cli.inputs.image_paths``), encoded as
  ``model.encode(paths)`` does; the outputs are the same, with an ``image`` field/column (the path) in place of
  ``text``. A text-only model is a one-line error naming the modality.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import logging
import os
import re
import secrets
import shutil
import sys
import tempfile
import warnings
from collections.abc import Callable, Iterable, Iterator
from typing import Any, TextIO

import numpy as np

from sentence_transformers.base.encoding import PRECISIONS
from sentence_transformers.cli import UsageError
from sentence_transformers.cli.inputs import IMAGE_EXTENSIONS, InputFile, chunked, image_paths, pyarrow_parquet
from sentence_transformers.cli.models import CROSS_ENCODER, SPARSE_ENCODER, model_type_name

DEFAULT_MODEL = "sentence-transformers/all-MiniLM-L6-v2"
CHUNK_SIZE = 16_384  # texts read, encoded and written at a time
SCALAR_PRECISIONS = ("int8", "uint8")  # buckets computed over all embeddings, so quantized after the last chunk
OUTPUT_FORMATS = (".npy", ".jsonl", ".parquet")
BACKENDS = ("torch", "onnx", "openvino")
DTYPES = ("float32", "float16", "bfloat16")
RAY_DEFAULT = "default"  # --ray without ADDRESS: RAY_ADDRESS's cluster, or a new local one
RAY_ADDRESS = re.compile(r"^(auto|local|default|ray://.+|[\w.-]+:\d+)$")
EXAMPLES = """examples:
  sbert encode sentences.txt -o embeddings.npy --normalize
  sbert encode corpus.csv --column body -o corpus.parquet --backend onnx
  sbert encode docs.parquet --column abstract -o docs.npy --dtype bfloat16 --quiet
  cat queries.txt | sbert encode --prompt "query: " > queries.jsonl
  sbert encode passages.txt -m naver/splade-v3 -o sparse.jsonl --max-active-dims 256   # {"text", "indices", "values"}
  sbert encode corpus/ --ray -o embedded/ --ray-workers 4 --ray-gpus 1   # resumable: a rerun skips files done
  sbert encode --images photos/ -m sentence-transformers/clip-ViT-B-32 -o photos.parquet   # {"image", "embedding"}"""


def add_parser(commands: argparse._SubParsersAction) -> None:
    """The ``encode`` subcommand's arguments."""
    encode = commands.add_parser(
        "encode",
        help="embed texts from a text, JSONL, CSV, TSV or Parquet file",
        description="Embed texts into a .npy, JSONL or Parquet file (columns text, embedding), or JSONL on stdout. "
        "A SparseEncoder writes JSONL {text, indices, values} or Parquet (columns text, indices, values).",
        epilog=EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    encode.add_argument(
        "input",
        nargs="?",
        default="-",
        help="a text file (one text per line), .jsonl, .csv, .tsv or .parquet file, or - for stdin (text lines)",
    )
    encode.add_argument(
        "--images",
        metavar="SOURCE",
        help="embed images instead of texts, with a model that takes them (a CLIP model): the image files "
        f"({' '.join(IMAGE_EXTENSIONS)}) of folder SOURCE and its subfolders (sorted paths), or the image paths of "
        "list file SOURCE (one per line, or --column of a JSONL/CSV/TSV/Parquet file); rows name the path as 'image'",
    )
    encode.add_argument("-o", "--output", help="write here: .npy, .jsonl or .parquet (default: JSONL on stdout)")
    encode.add_argument(
        "--column",
        "--field",
        dest="column",
        help="the column (JSONL field) of the texts (default: 'text', or a CSV/TSV/Parquet file's only column); "
        "with a text file or stdin, its lines are read as JSONL",
    )
    encode.add_argument(
        "-m", "--model", default=DEFAULT_MODEL, help=f"model folder or hub name (default {DEFAULT_MODEL})"
    )
    encode.add_argument(
        "--model-type",
        type=model_type_name,
        help="SentenceTransformer (dense) or SparseEncoder (sparse; also: sparse, splade); default: detected from "
        "the model folder",
    )
    encode.add_argument("-b", "--batch-size", type=int, default=32)
    encode.add_argument("--normalize", action="store_true", help="scale embeddings to unit length")
    encode.add_argument(
        "--max-active-dims",
        type=int,
        metavar="N",
        help="SparseEncoder: keep each text's N largest dimensions (default: the model's max_active_dims, else all)",
    )
    encode.add_argument("--prompt", help="text prepended to every input")
    encode.add_argument("--prompt-name", help="name of one of the model's prompts")
    encode.add_argument("--precision", choices=PRECISIONS, default="float32")
    encode.add_argument("--truncate-dim", type=int, help="keep only the first N dimensions")
    encode.add_argument("--device", help="cpu, cuda, cuda:1, mps, … (default: the best available)")
    encode.add_argument("--backend", choices=BACKENDS, default="torch", help="inference backend (default torch)")
    encode.add_argument("--dtype", choices=DTYPES, help="torch weights' dtype (default: as the model loads)")
    encode.add_argument("--compile", action="store_true", help="torch.compile the model first, its weights frozen "
                        "into the graphs (model.compile(freeze=True)); pays off on long runs: the first batches wait "
                        "for the compilation")  # fmt: skip
    encode.add_argument("--no-progress", action="store_true", help="hide the progress bar")
    encode.add_argument("-q", "--quiet", action="store_true", help="no progress bar, logs or messages on stderr")
    encode.add_argument("--chunk-size", type=int, default=CHUNK_SIZE, help=argparse.SUPPRESS)
    add_ray_arguments(encode)
    encode.set_defaults(run=run_encode)


def add_ray_arguments(encode: argparse.ArgumentParser) -> None:
    """``--ray [ADDRESS]`` and its options."""
    ray = encode.add_argument_group(
        "Ray",
        "embed a file or folder of .parquet/.jsonl/.txt files (local, or any filesystem URI Ray reads) on Ray Data "
        "into a folder (-o) of Parquet files, one per input file, with its columns plus 'embedding'; a rerun skips "
        "the files already written (pip install 'sbert[ray]')",
    )
    ray.add_argument(
        "--ray",
        nargs="?",
        const=RAY_DEFAULT,
        metavar="ADDRESS",
        help="run on the Ray cluster at ADDRESS (auto, host:6379, ray://host:10001); without one, the cluster of "
        "RAY_ADDRESS or a new local one",
    )
    ray.add_argument("--ray-workers", type=int, default=1, metavar="N", help="model replicas (Ray actors), default 1")
    ray.add_argument("--ray-gpus", type=float, default=0, metavar="G", help="GPUs per worker (default 0)")
    ray.add_argument("--ray-batch-rows", type=int, default=1024, metavar="N", help="rows handed to a worker at a time")


def check_args(args: argparse.Namespace) -> None:
    """Raise a UsageError for values or combinations of arguments that cannot work."""
    if args.chunk_size < 1:
        raise UsageError(f"--chunk-size must be at least 1, got {args.chunk_size}")
    if args.batch_size < 1:
        raise UsageError(f"--batch-size must be at least 1, got {args.batch_size}")
    if args.output is not None and os.path.splitext(args.output)[1].lower() not in OUTPUT_FORMATS:
        raise UsageError(f"--output must end in {', '.join(OUTPUT_FORMATS)}, got {args.output!r}")
    if args.dtype is not None and args.backend != "torch":
        raise UsageError(f"--dtype applies to the torch backend, not --backend {args.backend}")
    if getattr(args, "compile", False) and args.backend != "torch":
        raise UsageError(f"--compile applies to the torch backend, not --backend {args.backend}")
    if args.prompt is not None and args.prompt_name is not None:
        raise UsageError("pass --prompt or --prompt-name, not both")
    if args.max_active_dims is not None and args.max_active_dims < 1:
        raise UsageError(f"--max-active-dims must be at least 1, got {args.max_active_dims}")
    if getattr(args, "images", None) is not None:
        if args.input != "-":
            raise UsageError("pass INPUT (texts) or --images SOURCE, not both")
        if args.prompt is not None or args.prompt_name is not None:
            raise UsageError("--prompt and --prompt-name apply to texts, not to --images")


def check_sparse_args(args: argparse.Namespace, sparse: bool) -> None:
    """Options of the other model type are usage errors, not silently ignored."""
    if not sparse:
        if args.max_active_dims is not None:
            raise UsageError("--max-active-dims is for a SparseEncoder; this model is dense")
        return
    given = [flag for flag, on in (("--normalize", args.normalize), ("--precision", args.precision != "float32"),
                                   ("--truncate-dim", args.truncate_dim is not None)) if on]  # fmt: skip
    if given:
        raise UsageError(f"{', '.join(given)}: not for a SparseEncoder's sparse embeddings (use --max-active-dims)")
    if args.output is not None and os.path.splitext(args.output)[1].lower() == ".npy":
        raise UsageError("a SparseEncoder writes sparse rows to .jsonl or .parquet, not a dense .npy")


def model_type_of(args: argparse.Namespace) -> str:
    """``--model-type``, else the type of the model folder; a reranker is refused."""
    from sentence_transformers.cli.models import detect_model_type

    model_type = args.model_type or detect_model_type(args.model)
    if model_type == CROSS_ENCODER:
        raise ValueError(f"{args.model!r} is a CrossEncoder (reranker): it scores pairs and does not embed texts "
                         "(use sbert rerank)")  # fmt: skip
    if model_type == "MultiVectorEncoder":
        raise ValueError(f"{args.model!r} is a MultiVectorEncoder: it gives a vector per token, not one embedding "
                         "per text (use sbert index build / sbert search, or sbert serve's /embed_all)")  # fmt: skip
    return model_type


def run_encode(args: argparse.Namespace) -> int:
    """Read the texts chunk by chunk, encode each chunk, and write its embeddings."""
    if args.ray is not None:
        if args.images is not None:
            raise UsageError("--ray embeds texts; --images runs without it")
        return run_ray(args)
    check_args(args)
    sparse = model_type_of(args) == SPARSE_ENCODER
    check_sparse_args(args, sparse)
    if sparse and args.images is not None:
        raise ValueError(f"--images: {args.model!r} is a SparseEncoder, which embeds text only, not image inputs; "
                         "use a model that embeds images, e.g. a CLIP model")  # fmt: skip
    if sparse:
        return run_encode_sparse(args)
    items = "images" if args.images is not None else "texts"
    kind = os.path.splitext(args.output)[1].lower() if args.output else ".jsonl"
    scalar = args.precision in SCALAR_PRECISIONS
    work_dir = os.path.dirname(os.path.abspath(args.output)) if args.output else None
    with quiet(args.quiet), contextlib.ExitStack() as cleanup:
        source: TextSource | ImageSource
        if args.images is not None:
            source = ImageSource(image_paths(args.images, args.column))
        else:
            rereadable = kind == ".npy" or scalar
            source = open_source(args.input, args.column, cleanup, rereadable=rereadable, spool_dir=work_dir)
        total = source.count() if source.rereadable else None  # also reports bad input before the model loads
        sink = open_output(kind, args.output, total or 0, key="image" if args.images is not None else "text")
        cleanup.callback(sink.discard)  # does nothing once the output is in place
        encode = load_encoder(args, images=args.images is not None)
        with _progress_bar(total, disable=args.no_progress or args.quiet, unit=items) as progress:
            if scalar:
                _encode_scalar(source, encode, sink, args.precision, args.chunk_size, progress, cleanup, work_dir)
            else:
                for chunk in source.chunks(args.chunk_size):
                    sink.write(chunk, encode(chunk, args.precision))
                    progress.update(len(chunk))
        if sink.count == 0:  # no texts: still an empty (0, dim) array, as encoding an empty list gives
            sink.write([], encode([], args.precision))
        sink.finish()
    if not args.quiet:
        print(f"sbert: encoded {sink.count} {items} → {sink.shape}", file=sys.stderr)  # noqa: T201
    return 0


def run_encode_sparse(args: argparse.Namespace) -> int:
    """A SparseEncoder's rows, chunk by chunk, to JSONL or Parquet."""
    from sentence_transformers.cli.models import load_model
    from sentence_transformers.cli.sparse import encode_sparse

    kind = os.path.splitext(args.output)[1].lower() if args.output else ".jsonl"
    with quiet(args.quiet), contextlib.ExitStack() as cleanup:
        source = open_source(args.input, args.column, cleanup)
        sink: SparseOutput = SparseParquetOutput(args.output) if kind == ".parquet" else SparseJsonlOutput(args.output)
        cleanup.callback(sink.discard)
        model_kwargs = {"torch_dtype": args.dtype} if args.dtype else None
        model = load_model(
            args.model, SPARSE_ENCODER, device=args.device, backend=args.backend, model_kwargs=model_kwargs
        )
        if args.compile:
            model.compile(freeze=True)
        options = {"batch_size": args.batch_size, "show_progress_bar": False, "prompt": args.prompt,
                   "prompt_name": args.prompt_name, "max_active_dims": args.max_active_dims}  # fmt: skip
        with _progress_bar(None, disable=args.no_progress or args.quiet) as progress:
            for chunk in source.chunks(args.chunk_size):
                sink.write(chunk, encode_sparse(model, chunk, **options))
                progress.update(len(chunk))
        sink.finish()
    if not args.quiet:
        active = f", {sink.nnz / sink.count:.1f} active dims per text" if sink.count else ""
        message = (
            f"sbert: encoded {sink.count} texts → sparse ({sink.count}, {model.get_embedding_dimension()}){active}"
        )
        print(message, file=sys.stderr)  # noqa: T201
    return 0


def load_encoder(args: argparse.Namespace, images: bool = False) -> Callable[[list[str], str], np.ndarray]:
    """Load the model of ``args`` and return ``encode(texts, precision)`` with the other options of ``args``.
    With ``images`` (the inputs are image paths), a model that does not take images is a ValueError."""
    from sentence_transformers import SentenceTransformer

    model_kwargs = {"torch_dtype": args.dtype} if args.dtype else None
    model = SentenceTransformer(args.model, device=args.device, backend=args.backend, model_kwargs=model_kwargs)
    if args.compile:
        model.compile(freeze=True)
    if images:
        check_image_model(model, args.model)

    def encode(texts: list[str], precision: str) -> np.ndarray:
        return model.encode(
            texts,
            batch_size=args.batch_size,
            show_progress_bar=False,  # one bar over all chunks instead
            normalize_embeddings=args.normalize,
            prompt=args.prompt,
            prompt_name=args.prompt_name,
            precision=precision,
            truncate_dim=args.truncate_dim,
        )

    return encode


def check_image_model(model: Any, name: str) -> None:
    """A one-line ValueError naming the modality when ``model`` does not embed images."""
    if not model.supports("image"):
        raise ValueError(f"--images: {name!r} embeds {', '.join(model.modalities)} only, not image inputs; use a "
                         "model that embeds images, e.g. a CLIP model")  # fmt: skip


def check_ray_args(args: argparse.Namespace) -> None:
    """``--ray``: take INPUT from ``--ray`` when argparse put it there, then raise a UsageError for what cannot work."""
    if args.input == "-" and not RAY_ADDRESS.match(args.ray):
        args.input, args.ray = args.ray, RAY_DEFAULT  # `sbert encode --ray corpus/ -o out/`
    if args.input == "-":
        raise UsageError("--ray reads files: pass a file or folder, not stdin")
    if args.output is None or os.path.splitext(args.output)[1].lower() in (".npy", ".jsonl"):
        raise UsageError(f"--ray writes a folder of Parquet files: pass -o FOLDER, got {args.output!r}")
    if args.precision in SCALAR_PRECISIONS:
        raise UsageError(f"--ray embeds batch by batch, so --precision {args.precision} buckets would differ")
    if args.max_active_dims is not None or args.model_type not in (None, "SentenceTransformer"):
        raise UsageError("--ray embeds with a dense SentenceTransformer; sparse models are not supported there")
    counts = {"batch-size": args.batch_size, "ray-workers": args.ray_workers, "ray-batch-rows": args.ray_batch_rows}
    for option, value in counts.items():
        if value < 1:
            raise UsageError(f"--{option} must be at least 1, got {value}")
    if args.dtype is not None and args.backend != "torch":
        raise UsageError(f"--dtype applies to the torch backend, not --backend {args.backend}")
    if getattr(args, "compile", False):
        raise UsageError("--compile compiles the model of this process; Ray workers load their own, uncompiled")
    if args.prompt is not None and args.prompt_name is not None:
        raise UsageError("pass --prompt or --prompt-name, not both")


def run_ray(args: argparse.Namespace) -> int:
    """``--ray``: embed INPUT's files on Ray Data into one Parquet file each under the --output folder."""
    check_ray_args(args)
    if model_type_of(args) == SPARSE_ENCODER:
        raise UsageError("--ray embeds with a dense SentenceTransformer; sparse models are not supported there")
    from sentence_transformers.integrations import ray as on_ray

    ray = on_ray.require_ray()
    with quiet(args.quiet):
        started = not ray.is_initialized()
        if started:
            address = None if args.ray == RAY_DEFAULT else args.ray
            ray.init(address=address, include_dashboard=False, log_to_driver=not args.quiet)
        try:
            result = on_ray.embed_files(args.input, args.output, args.model, **_ray_options(args))
        except Exception as exc:
            message = on_ray.user_error(exc) if type(exc).__module__.startswith("ray") else None
            if message is None:
                raise
            raise ValueError(message) from exc
        finally:
            if started:
                ray.shutdown()
    if not args.quiet:
        done = f"; {len(result.skipped)} already there" if result.skipped else ""
        print(f"sbert: encoded {result.rows} texts into {len(result.written)} files{done}", file=sys.stderr)  # noqa: T201
    return 0


def _ray_options(args: argparse.Namespace) -> dict[str, Any]:
    """embed_files' options from ``args``."""
    return {
        "column": args.column or "text",
        "concurrency": args.ray_workers,
        "num_gpus": args.ray_gpus or None,
        "rows_per_batch": args.ray_batch_rows,
        "batch_size": args.batch_size,
        "device": args.device,
        "backend": args.backend,
        "model_kwargs": {"torch_dtype": args.dtype} if args.dtype else None,
        "normalize_embeddings": args.normalize,
        "prompt": args.prompt,
        "prompt_name": args.prompt_name,
        "precision": args.precision,
        "truncate_dim": args.truncate_dim,
    }


@contextlib.contextmanager
def quiet(enabled: bool) -> Iterator[None]:
    """While ``enabled``: nothing on stderr from Python (logs, warnings, progress bars); restored at the end."""
    if not enabled:
        yield
        return
    previous = logging.root.manager.disable
    logging.disable(logging.ERROR)  # handlers keep the stderr they were made with, so disable them too
    try:
        with open(os.devnull, "w") as devnull, contextlib.redirect_stderr(devnull), warnings.catch_warnings():
            warnings.simplefilter("ignore")
            yield
    finally:
        logging.disable(previous)


def _encode_scalar(
    source: TextSource,
    encode: Callable[[list[str], str], np.ndarray],
    sink: Output,
    precision: str,
    chunk_size: int,
    progress: Any,
    cleanup: contextlib.ExitStack,
    work_dir: str | None,
) -> None:
    """int8/uint8: float embeddings to a temporary .npy, then quantized per chunk with ranges over all of them."""
    from sentence_transformers.util.quantization import logger as quantization_logger
    from sentence_transformers.util.quantization import quantize_embeddings

    floats = NpyRows(_temporary_file(cleanup, work_dir, ".npy"), source.count())
    for chunk in source.chunks(chunk_size):
        floats.append(encode(chunk, "float32"))
        progress.update(len(chunk))
    floats.check_full()
    if floats.rows == 0:
        return
    ranges = None  # a single embedding: quantize_embeddings raises its usual error
    if floats.rows >= 2:
        quantization_logger.warning("Computing %s quantization buckets from %d embeddings.", precision, floats.rows)
        ranges = floats.ranges(chunk_size)
    blocks = floats.blocks(chunk_size)
    pairs: Iterable[tuple[list[str], np.ndarray]] = (
        zip(source.chunks(chunk_size), blocks, strict=True) if sink.needs_texts else (([], block) for block in blocks)
    )
    for chunk, block in pairs:
        sink.write(chunk, quantize_embeddings(block, precision, ranges=ranges))


# ----------------------------------------------------------------------------------------------------------- input
class TextSource:
    """The texts of ``column`` of an input file (see ``cli.inputs``), read as a stream; stdin can be read once."""

    def __init__(self, file: InputFile, column: str | None) -> None:
        self.file, self.column = file, column
        self._count: int | None = None

    @property
    def rereadable(self) -> bool:
        return self.file.path != "-"

    def texts(self) -> Iterator[str]:
        return self.file.texts(self.column)

    def chunks(self, size: int) -> Iterator[list[str]]:
        return chunked(self.texts(), size)

    def count(self) -> int:
        """The number of texts, from one pass that keeps none of them (and raises on a malformed row)."""
        if self._count is None:
            self._count = self.file.count(self.column)
        return self._count


def open_source(
    source: str,
    column: str | None,
    cleanup: contextlib.ExitStack,
    rereadable: bool = False,
    spool_dir: str | None = None,
) -> TextSource:
    """The texts of a file, or of stdin (``-``). When the source must be ``rereadable``, stdin is first copied to a
    temporary file in ``spool_dir`` (default: the system's temporary folder), removed when ``cleanup`` closes."""
    if source == "-" and rereadable:
        path = _temporary_file(cleanup, spool_dir, ".txt")
        with open(path, "w", encoding="utf-8", errors="surrogateescape", newline="") as f:
            shutil.copyfileobj(sys.stdin, f, 1 << 20)
        return TextSource(InputFile(path, "text", name="<stdin>", errors="surrogateescape"), column)
    return TextSource(InputFile(source), column)


class ImageSource:
    """The image paths of ``--images`` (see ``cli.inputs.image_paths``), as a TextSource gives texts."""

    rereadable = True

    def __init__(self, paths: list[str]) -> None:
        self.paths = paths

    def texts(self) -> Iterator[str]:
        return iter(self.paths)

    def chunks(self, size: int) -> Iterator[list[str]]:
        return chunked(self.paths, size)

    def count(self) -> int:
        return len(self.paths)


# ---------------------------------------------------------------------------------------------------------- output
def _temporary_file(cleanup: contextlib.ExitStack, folder: str | None, suffix: str) -> str:
    """An empty temporary file in ``folder``, removed when ``cleanup`` closes."""
    fd, path = tempfile.mkstemp(prefix=".sbert-", suffix=suffix, dir=folder)
    os.close(fd)
    cleanup.callback(_remove, path)
    return path


def _remove(path: str) -> None:
    with contextlib.suppress(FileNotFoundError):
        os.unlink(path)


class StagedFile:
    """A new file beside ``target`` that replaces ``target`` on commit, so ``target`` is never half-written."""

    def __init__(self, target: str) -> None:
        self.target = target
        folder, name = os.path.split(os.path.abspath(target))
        self.path = os.path.join(folder, f".{name}.{secrets.token_hex(4)}.tmp")
        with open(self.path, "xb"):  # created with the usual permissions, unlike mkstemp's 0600
            pass
        self.done = False

    def commit(self) -> None:
        os.replace(self.path, self.target)
        self.done = True

    def discard(self) -> None:
        if not self.done:
            _remove(self.path)
            self.done = True


class NpyRows:
    """An .npy file of ``rows`` rows, filled in order through a memmap that is flushed and unmapped after every
    block, so written pages leave the process's resident memory. dtype and row shape come from the first block."""

    def __init__(self, path: str, rows: int) -> None:
        self.path, self.rows, self.filled = path, rows, 0
        self.started = False

    def append(self, block: np.ndarray) -> None:
        end = self.filled + len(block)
        if end > self.rows:
            raise ValueError("the input grew while it was being encoded")
        if not self.started and self.rows == 0:
            with open(self.path, "wb") as f:
                np.lib.format.write_array(f, np.ascontiguousarray(block))
        elif not self.started:
            shape = (self.rows, *block.shape[1:])
            rows = np.lib.format.open_memmap(self.path, mode="w+", dtype=block.dtype, shape=shape)
            rows[: len(block)] = block
            rows.flush()
            del rows
        elif len(block):
            rows = np.lib.format.open_memmap(self.path, mode="r+")
            rows[self.filled : end] = block
            rows.flush()
            del rows
        self.started, self.filled = True, end

    def check_full(self) -> None:
        if self.filled != self.rows:
            raise ValueError(f"the input changed while it was being encoded ({self.filled} texts, not {self.rows})")

    def blocks(self, size: int) -> Iterator[np.ndarray]:
        """The rows, ``size`` at a time, each copied out of a memmap that is unmapped before the next."""
        for start in range(0, self.rows, size):
            rows = np.lib.format.open_memmap(self.path, mode="r")
            block = np.array(rows[start : start + size])
            del rows
            yield block

    def ranges(self, size: int) -> np.ndarray:
        """Per-dimension ``[min, max]`` over all rows (``[2, dim]``), as quantize_embeddings computes them."""
        low = high = None
        for block in self.blocks(size):
            block = block.reshape(-1, block.shape[-1])
            low = block.min(axis=0) if low is None else np.minimum(low, block.min(axis=0))
            high = block.max(axis=0) if high is None else np.maximum(high, block.max(axis=0))
        return np.vstack([low, high])


class Output:
    """Where the embeddings go, a chunk at a time; ``finish`` puts the output in place, ``discard`` drops it."""

    needs_texts = True
    key = "text"  # the field/column naming each row's input ("image" for image paths)

    def __init__(self) -> None:
        self.count = 0
        self.row_shape: tuple[int, ...] = ()

    @property
    def shape(self) -> tuple[int, ...]:
        return (self.count, *self.row_shape)

    def write(self, texts: list[str], embeddings: np.ndarray) -> None:
        self.count += len(embeddings)
        self.row_shape = tuple(embeddings.shape[1:])

    def finish(self) -> None:
        raise NotImplementedError

    def discard(self) -> None:
        raise NotImplementedError


class NpyOutput(Output):
    """A .npy of a known number of rows, written through a memmap of a staged file."""

    needs_texts = False

    def __init__(self, target: str, rows: int) -> None:
        super().__init__()
        self.staged = StagedFile(target)
        self.rows = NpyRows(self.staged.path, rows)

    def write(self, texts: list[str], embeddings: np.ndarray) -> None:
        self.rows.append(embeddings)
        super().write(texts, embeddings)

    def finish(self) -> None:
        self.rows.check_full()
        self.staged.commit()

    def discard(self) -> None:
        self.staged.discard()


class JsonlOutput(Output):
    """JSONL lines {"text", "embedding"} on stdout (``target`` None), or in a staged file."""

    def __init__(self, target: str | None) -> None:
        super().__init__()
        self.staged: StagedFile | None = None
        self.stream: TextIO = sys.stdout
        if target is not None:
            self.staged = StagedFile(target)
            self.stream = open(self.staged.path, "w", encoding="utf-8")

    def write(self, texts: list[str], embeddings: np.ndarray) -> None:
        for text, embedding in zip(texts, embeddings, strict=True):
            record: dict[str, Any] = {self.key: text, "embedding": embedding.tolist()}
            self.stream.write(json.dumps(record, ensure_ascii=False) + "\n")
        self.stream.flush()
        super().write(texts, embeddings)

    def finish(self) -> None:
        if self.staged is not None:
            self.stream.close()
            self.staged.commit()

    def discard(self) -> None:
        if self.staged is not None:
            self.stream.close()
            self.staged.discard()


class ParquetOutput(Output):
    """A Parquet file of columns ``text`` and ``embedding`` (a fixed-size list; float16/bfloat16 stored as float32,
    quantized ones as they are), one row group per chunk, written to a staged file."""

    def __init__(self, target: str) -> None:
        super().__init__()
        self.pq = pyarrow_parquet()  # a missing pyarrow fails before the model loads
        self.staged = StagedFile(target)
        self.writer: Any = None

    def write(self, texts: list[str], embeddings: np.ndarray) -> None:
        import pyarrow as pa

        if embeddings.dtype.kind == "f" and embeddings.dtype != np.float32:
            embeddings = embeddings.astype(np.float32)
        vectors = pa.FixedSizeListArray.from_arrays(pa.array(embeddings.reshape(-1)), embeddings.shape[1])
        table = pa.table({self.key: pa.array(texts, type=pa.string()), "embedding": vectors})
        if self.writer is None:
            self.writer = self.pq.ParquetWriter(self.staged.path, table.schema)
        self.writer.write_table(table, row_group_size=max(len(texts), 1))
        super().write(texts, embeddings)

    def finish(self) -> None:
        self.writer.close()
        self.staged.commit()

    def discard(self) -> None:
        if self.writer is not None:
            self.writer.close()
            self.writer = None
        self.staged.discard()


class SparseOutput:
    """Where sparse rows go, a chunk at a time; ``finish`` puts the output in place, ``discard`` drops it."""

    def __init__(self) -> None:
        self.count = self.nnz = 0

    def write(self, texts: list[str], rows: Any) -> None:
        self.count += len(rows)
        self.nnz += rows.nnz

    def finish(self) -> None:
        raise NotImplementedError

    def discard(self) -> None:
        raise NotImplementedError


class SparseJsonlOutput(SparseOutput):
    """JSONL lines {"text", "indices", "values"} on stdout (``target`` None), or in a staged file."""

    def __init__(self, target: str | None) -> None:
        super().__init__()
        self.lines = JsonlOutput(target)

    def write(self, texts: list[str], rows: Any) -> None:
        stream = self.lines.stream
        for text, (indices, values) in zip(texts, rows, strict=True):
            record = {"text": text, "indices": indices.tolist(), "values": values.tolist()}
            stream.write(json.dumps(record, ensure_ascii=False) + "\n")
        stream.flush()
        super().write(texts, rows)

    def finish(self) -> None:
        self.lines.finish()

    def discard(self) -> None:
        self.lines.discard()


class SparseParquetOutput(SparseOutput):
    """A Parquet file of columns ``text``, ``indices`` (list of int32) and ``values`` (list of float32), one row
    group per chunk, written to a staged file."""

    def __init__(self, target: str) -> None:
        super().__init__()
        self.pq = pyarrow_parquet()  # a missing pyarrow fails before the model loads
        self.staged = StagedFile(target)
        self.writer: Any = None

    def write(self, texts: list[str], rows: Any) -> None:
        import pyarrow as pa

        offsets = pa.array(rows.offsets.astype(np.int32))
        table = pa.table(
            {
                "text": pa.array(texts, type=pa.string()),
                "indices": pa.ListArray.from_arrays(offsets, pa.array(rows.indices.astype(np.int32))),
                "values": pa.ListArray.from_arrays(offsets, pa.array(rows.values.astype(np.float32))),
            }
        )
        if self.writer is None:
            self.writer = self.pq.ParquetWriter(self.staged.path, table.schema)
        self.writer.write_table(table, row_group_size=max(len(texts), 1))
        super().write(texts, rows)

    def finish(self) -> None:
        if self.writer is None:  # no texts: an empty file with the columns
            self.write([], _no_rows())
        self.writer.close()
        self.staged.commit()

    def discard(self) -> None:
        if self.writer is not None:
            self.writer.close()
            self.writer = None
        self.staged.discard()


def _no_rows() -> Any:
    from sentence_transformers.cli.sparse import SparseRows

    return SparseRows.empty(0)


def open_output(kind: str, target: str | None, rows: int, key: str = "text") -> Output:
    """The output for ``target`` of ``kind`` (its extension): a .npy of ``rows`` rows, Parquet, or JSONL; ``key``
    names the field/column of each row's input."""
    sink: Output
    if kind == ".npy" and target is not None:
        sink = NpyOutput(target, rows)
    elif kind == ".parquet" and target is not None:
        sink = ParquetOutput(target)
    else:
        sink = JsonlOutput(target)
    sink.key = key
    return sink


def _progress_bar(total: int | None, disable: bool, unit: str = "texts") -> Any:
    from tqdm.autonotebook import tqdm

    return tqdm(total=total, desc="Encoding", unit=f" {unit}", disable=disable)
