"""``sbert index build``: embed a corpus into an index folder that ``sbert search`` queries.

A dense index folder (format version 1) holds three files:

- ``manifest.json``: ``{"format": "sbert-index", "format_version": 1, "index_type": "dense", "model",
  "model_type", "normalize", "precision", "dimension", "count", "similarity", "ranges", "engine", "texts_sha256",
  "created_by"}`` (``index_type``, ``model_type`` and ``texts_sha256`` are absent from older indexes: dense, a
  SentenceTransformer). ``dimension`` is the float embedding size
  (binary indexes store ``ceil(dimension / 8)`` bytes per row); ``ranges`` holds the per-dimension ``[min, max]``
  (``[2, dimension]``) used to quantize int8/uint8 embeddings, which the float queries are quantized with too
  (null for other precisions); ``engine`` is the search engine chosen at build time (``sbert search``'s default).
- ``embeddings.npy``: ``[count, dimension]`` float32, or the quantized embeddings (int8/uint8, or packed bits as
  int8 for binary and uint8 for ubinary). Quantized indexes keep no float embeddings: search rescoring compares the
  float query with the dequantized corpus rows, as `semantic_search_faiss`/`semantic_search_usearch` do.
- ``texts.jsonl``: one ``{"id": i, "text": ...}`` per line, line ``i`` for row ``i``, so texts stream.

A SparseEncoder's corpus makes a sparse index: the same manifest and texts, ``"index_type": "sparse"``, and the
corpus matrix in CSR form (see ``cli.sparse``), searched exactly by sparse dot product.

A MultiVectorEncoder's corpus makes a multi-vector index: the same manifest and texts, ``"index_type":
"multi_vector"``, each document's token vectors (``encode_document``), searched by MaxSim, exactly (``--engine
exact``, the default) or through int8 vectors and k-means centroid candidates (``--engine plaid``); see
``cli.multi_vector``.

The folder is built in a hidden sibling folder, then renamed into place: a failed build leaves no partial index.
Embeddings are normalized when ``--normalize`` is given or the model's similarity is cosine, so an inner product
(what faiss and usearch compute) is the model's similarity. ``texts_sha256`` (of ``texts.jsonl``) lets hybrid search
check that two indexes hold the same corpus.

``--images SOURCE`` (a folder of image files, searched recursively, or a list file of image paths; see
``cli.inputs.image_paths``) indexes images with a model that embeds them (a CLIP model): ``texts.jsonl`` holds each
image's absolute path (or URL) as its ``text``, and the manifest adds ``"modality": "image"`` (absent: texts), so
``sbert search`` with a text query returns image paths.
"""

from __future__ import annotations

import argparse
import hashlib
import importlib.util
import json
import os
import sys
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np

from sentence_transformers import __sbert_version__
from sentence_transformers.base.persistence import atomic_folder
from sentence_transformers.cli import UsageError
from sentence_transformers.cli.encode import CHUNK_SIZE, DEFAULT_MODEL, NpyRows
from sentence_transformers.cli.inputs import chunked, image_paths, read_texts
from sentence_transformers.cli.models import CROSS_ENCODER, MULTI_VECTOR_ENCODER, SPARSE_ENCODER, model_type_name
from sentence_transformers.cli.multi_vector import ENGINES as MULTI_VECTOR_ENGINES
from sentence_transformers.cli.multi_vector import INDEX_TYPE as MULTI_VECTOR
from sentence_transformers.cli.multi_vector import PRECISIONS as MULTI_VECTOR_PRECISIONS
from sentence_transformers.cli.multi_vector import SIMILARITIES as MULTI_VECTOR_SIMILARITIES
from sentence_transformers.cli.multi_vector import (
    MultiVectorCorpus,
    MultiVectorIndexWriter,
    encode_multi_vector,
    read_multi_vector,
)
from sentence_transformers.cli.sparse import INDEX_TYPE as SPARSE
from sentence_transformers.cli.sparse import SparseIndexWriter, SparseMatrix, encode_sparse, read_sparse_matrix

FORMAT = "sbert-index"
FORMAT_VERSION = 1
MANIFEST, EMBEDDINGS, TEXTS = "manifest.json", "embeddings.npy", "texts.jsonl"
INDEX_PRECISIONS = ("float32", "int8", "uint8", "binary", "ubinary")
SCALAR_PRECISIONS = ("int8", "uint8")
BINARY_PRECISIONS = ("binary", "ubinary")
SIMILARITIES = ("cosine", "dot")  # the ones an inner-product search reproduces
ENGINES = ("faiss", "usearch", "exact")
ENGINE_MODULES = {"faiss": "faiss", "usearch": "usearch"}
DTYPES = {"float32": np.float32, "int8": np.int8, "uint8": np.uint8, "binary": np.int8, "ubinary": np.uint8}
DENSE = "dense"
IMAGE = "image"  # the manifest's "modality" of an index of image paths
INDEX_TYPES = (DENSE, SPARSE, MULTI_VECTOR)
MANIFEST_FIELDS: dict[str, type | tuple[type, ...]] = {
    "model": str,
    "normalize": bool,
    "precision": str,
    "dimension": int,
    "count": int,
    "similarity": str,
    "engine": str,
}


def add_parser(commands: argparse._SubParsersAction) -> None:
    """The ``index`` command and its ``build`` subcommand."""
    index = commands.add_parser(
        "index",
        help="build a search index folder from a corpus",
        description="Build and manage search index folders (query them with `sbert search`).",
        epilog="example: sbert index build corpus.txt -o my-index/ --precision int8",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    actions = index.add_subparsers(dest="action", required=True, metavar="ACTION")
    build = actions.add_parser(
        "build",
        help="embed a corpus into an index folder",
        description="Embed a corpus (one text per line, or a JSONL field) into an index folder: dense embeddings "
        "(searched with faiss, usearch or exactly), or with a SparseEncoder a sparse index (searched exactly by "
        "sparse dot product; combine it with a dense index in `sbert search --hybrid`), or with a "
        "MultiVectorEncoder a multi-vector index (token vectors searched by MaxSim, exactly or with --engine plaid).",
        epilog="examples:\n  sbert index build corpus.jsonl --field body -o my-index/ --precision binary\n"
        "  sbert index build corpus.txt -m naver/splade-v3 -o sparse-index/ --max-active-dims 256\n"
        "  sbert index build corpus.txt -m my-colbert/ -o colbert-index/ --engine plaid\n"
        "  sbert index build --images photos/ -m sentence-transformers/clip-ViT-B-32 -o photo-index/",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    build.add_argument(
        "corpus",
        nargs="?",
        help="a text file (one text per line), .jsonl, .csv, .tsv or .parquet file, or - for stdin",
    )
    build.add_argument(
        "--images",
        metavar="SOURCE",
        help="index images instead of texts, with a model that embeds them (a CLIP model): the image files of folder "
        "SOURCE and its subfolders, or the image paths of list file SOURCE; the index stores their absolute paths",
    )
    build.add_argument("-o", "--output", required=True, help="the index folder to create")
    build.add_argument(
        "--column",
        "--field",
        dest="column",
        help="the column (JSONL field) of the texts (default: 'text', or a CSV/TSV/Parquet file's only column)",
    )
    build.add_argument(
        "-m", "--model", default=DEFAULT_MODEL, help=f"model folder or hub name (default {DEFAULT_MODEL})"
    )
    build.add_argument(
        "--model-type",
        type=model_type_name,
        help="SentenceTransformer (dense index), SparseEncoder (sparse index; also: sparse, splade) or "
        "MultiVectorEncoder (multi-vector index; also: multi-vector, late-interaction); default: detected from the "
        "model folder",
    )
    build.add_argument("--normalize", action="store_true", help="scale embeddings to unit length (dense)")
    build.add_argument("--precision", choices=INDEX_PRECISIONS, default="float32", help="dense: stored precision")
    build.add_argument(
        "--engine",
        choices=(*ENGINES, *MULTI_VECTOR_ENGINES[1:]),
        help="dense: default engine of `sbert search` (default: best installed); multi-vector: exact (float32 token "
        "vectors, exact MaxSim; the default) or plaid (int8 token vectors and centroid candidates, approximate)",
    )
    build.add_argument(
        "--max-active-dims",
        type=int,
        metavar="N",
        help="sparse: keep each document's N largest dimensions (default: the model's max_active_dims, else all)",
    )
    build.add_argument("-b", "--batch-size", type=int, default=32)
    build.add_argument("--device", help="cpu, cuda, cuda:1, mps, … (default: the best available)")
    build.add_argument("--force", action="store_true", help="replace an existing index folder")
    build.add_argument("--no-progress", action="store_true", help="hide the progress bar")
    build.add_argument("--chunk-size", type=int, default=CHUNK_SIZE, help=argparse.SUPPRESS)
    build.set_defaults(run=run_build)


def run_build(args: argparse.Namespace) -> int:
    """Write the texts, embed them chunk by chunk, then the manifest, in a staging folder renamed into place."""
    if args.batch_size < 1 or args.chunk_size < 1:
        raise UsageError("--batch-size and --chunk-size must be at least 1")
    if (args.corpus is None) == (args.images is None):
        raise UsageError("give a CORPUS file of texts or --images SOURCE (one of them)")
    images = image_paths(args.images, args.column) if args.images is not None else None  # fails before the model
    target = os.path.abspath(args.output)
    _check_replaceable(target, args.force)
    from sentence_transformers.cli.models import detect_model_type

    model_type = args.model_type or detect_model_type(args.model, multi_vector=True)
    if model_type == CROSS_ENCODER:
        raise ValueError(f"{args.model!r} is a CrossEncoder (reranker): it scores pairs and cannot embed a corpus "
                         "for an index (rerank search results with `sbert rerank`)")  # fmt: skip
    index_type = {SPARSE_ENCODER: SPARSE, MULTI_VECTOR_ENCODER: MULTI_VECTOR}.get(model_type, DENSE)
    if index_type != DENSE and images is not None:
        raise ValueError(f"--images: {args.model!r} is a {model_type}, which embeds text only, not image inputs; "
                         "use a model that embeds images, e.g. a CLIP model")  # fmt: skip
    _check_build_options(args, index_type)
    engine = {SPARSE: "exact", MULTI_VECTOR: args.engine or "exact"}.get(index_type) or resolve_engine(args.engine)
    items = "texts" if images is None else "images"
    with atomic_folder(target, carry_over=False) as stage:
        if images is None:
            corpus: Iterable[str] = read_texts(args.corpus, args.column)
        else:
            corpus = (path if _is_url(path) else os.path.abspath(path) for path in images)
        count, digest = _write_texts(corpus, os.path.join(stage, TEXTS))
        if count == 0:
            raise ValueError(f"{args.corpus}: no texts to index")
        if index_type == SPARSE:
            manifest = _embed_sparse(args, stage, count)
        elif index_type == MULTI_VECTOR:
            manifest = _embed_multi_vector(args, stage, count, engine)
        else:
            manifest = _embed(args, stage, count, images is not None)
        manifest["engine"] = engine
        manifest["texts_sha256"] = digest
        if images is not None:
            manifest["modality"] = IMAGE
        with open(os.path.join(stage, MANIFEST), "w", encoding="utf-8") as f:
            json.dump(manifest, f, indent=2)
            f.write("\n")
    if index_type == SPARSE:
        shape = f"{count} × {manifest['dimension']} sparse, {manifest['nnz'] / count:.1f} active dims per text"
    elif index_type == MULTI_VECTOR:
        shape = f"{manifest['tokens']} token vectors × {manifest['dimension']} {manifest['precision']}"
    else:
        shape = f"{count} × {manifest['dimension']} {manifest['precision']}"
    print(f"sbert: indexed {count} {items} → {args.output} ({shape}, engine {engine})", file=sys.stderr)  # noqa: T201
    return 0


def _is_url(path: str) -> bool:
    return path.startswith(("http://", "https://"))


def _check_build_options(args: argparse.Namespace, index_type: str) -> None:
    """Options of the other index types are usage errors, not silently ignored."""
    if index_type == MULTI_VECTOR:
        given = [flag for flag, on in (("--normalize", args.normalize), ("--precision", args.precision != "float32"),
                                       ("--max-active-dims", args.max_active_dims is not None)) if on]  # fmt: skip
        if given:
            raise UsageError(f"{', '.join(given)}: a MultiVectorEncoder builds a multi-vector index (the model's "
                             "token vectors; --engine plaid stores them as int8); these options are for dense or "
                             "sparse indexes")  # fmt: skip
        if args.engine not in (None, *MULTI_VECTOR_ENGINES):
            raise UsageError(f"--engine {args.engine}: a multi-vector index is searched with "
                             f"{' or '.join(MULTI_VECTOR_ENGINES)}")  # fmt: skip
        return
    if args.engine in MULTI_VECTOR_ENGINES[1:]:
        raise UsageError(f"--engine {args.engine} is for a MultiVectorEncoder's multi-vector index; this model is "
                         f"{'sparse' if index_type == SPARSE else 'dense'}")  # fmt: skip
    if index_type == SPARSE:
        given = [flag for flag, on in (("--normalize", args.normalize), ("--precision", args.precision != "float32"),
                                       ("--engine", args.engine not in (None, "exact"))) if on]  # fmt: skip
        if given:
            raise UsageError(f"{', '.join(given)}: a SparseEncoder builds a sparse index (float32, searched exactly); "
                             "these options are for dense indexes")  # fmt: skip
        if args.max_active_dims is not None and args.max_active_dims < 1:
            raise UsageError(f"--max-active-dims must be at least 1, got {args.max_active_dims}")
    elif args.max_active_dims is not None:
        raise UsageError("--max-active-dims is for a SparseEncoder's sparse index; this model is dense")


# ------------------------------------------------------------------------------------------------------ engines
def installed(engine: str) -> bool:
    """Whether ``engine``'s library can be imported (``exact`` always can)."""
    module = ENGINE_MODULES.get(engine)
    return module is None or importlib.util.find_spec(module) is not None


def resolve_engine(requested: str | None, preferred: str | None = None) -> str:
    """``requested`` (an error when its library is missing), else ``preferred`` when installed, else the first
    installed of faiss, usearch, exact."""
    if requested is not None:
        if not installed(requested):
            raise ImportError(f"--engine {requested} needs the `{ENGINE_MODULES[requested]}` package; install it")
        return requested
    if preferred in ENGINES and installed(preferred):
        return preferred
    return next(engine for engine in ENGINES if installed(engine))


# -------------------------------------------------------------------------------------------------------- build
def _write_texts(texts: Iterable[str], path: str) -> tuple[int, str]:
    """Write ``texts.jsonl``; returns the number of texts and the file's SHA-256."""
    count, digest = 0, hashlib.sha256()
    with open(path, "wb") as f:
        for count, text in enumerate(texts, start=1):
            line = (json.dumps({"id": count - 1, "text": text}, ensure_ascii=False) + "\n").encode("utf-8")
            digest.update(line)
            f.write(line)
    return count, digest.hexdigest()


def _stored_chunks(path: str, size: int) -> Iterator[list[str]]:
    """The texts of a ``texts.jsonl``, ``size`` at a time."""
    with open(path, encoding="utf-8") as f:
        yield from chunked((json.loads(line)["text"] for line in f), size)


def _embed(args: argparse.Namespace, stage: str, count: int, images: bool = False) -> dict[str, Any]:
    """Encode the staged texts (image paths when ``images``) into ``embeddings.npy``; returns the manifest (without
    the engine)."""
    from sentence_transformers import SentenceTransformer
    from sentence_transformers.cli.encode import check_image_model

    model = SentenceTransformer(args.model, device=args.device)
    if images:
        check_image_model(model, args.model)
    similarity = str(model.similarity_fn_name)
    if similarity not in SIMILARITIES:
        raise ValueError(f"model similarity {similarity!r} is not supported by indexes; use one of {SIMILARITIES}")
    normalize = bool(args.normalize or similarity == "cosine")
    scalar = args.precision in SCALAR_PRECISIONS
    rows = NpyRows(os.path.join(stage, ".floats.npy" if scalar else EMBEDDINGS), count)
    dimension = 0
    with _progress_bar(count, args.no_progress) as progress:
        for chunk in _stored_chunks(os.path.join(stage, TEXTS), args.chunk_size):
            block = model.encode_document(
                chunk, batch_size=args.batch_size, show_progress_bar=False, normalize_embeddings=normalize
            )
            block = np.asarray(block, dtype=np.float32)
            dimension = block.shape[1]
            rows.append(block if scalar else _quantize(block, args.precision))
            progress.update(len(chunk))
    rows.check_full()
    ranges = _quantize_scalar_rows(rows, stage, args.precision, args.chunk_size) if scalar else None
    return {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "index_type": DENSE,
        "model": _model_name(args.model),
        "model_type": getattr(model, "model_type", "SentenceTransformer"),
        "normalize": normalize,
        "precision": args.precision,
        "dimension": int(dimension),
        "count": count,
        "similarity": similarity,
        "ranges": ranges,
        "created_by": f"sbert {__sbert_version__}",
    }


def _model_name(name: str) -> str:
    return os.path.abspath(name) if os.path.isdir(name) else name


def _embed_sparse(args: argparse.Namespace, stage: str, count: int) -> dict[str, Any]:
    """Encode the staged texts with the SparseEncoder's ``encode_document`` into the CSR files; returns the
    manifest (without the engine)."""
    from sentence_transformers.cli.models import load_model

    model = load_model(args.model, SPARSE_ENCODER, device=args.device)
    similarity = str(model.similarity_fn_name)
    if similarity != "dot":
        raise ValueError(f"sparse indexes are searched by dot product; this model's similarity is {similarity!r}")
    writer = SparseIndexWriter(stage)
    try:
        with _progress_bar(count, args.no_progress) as progress:
            for chunk in _stored_chunks(os.path.join(stage, TEXTS), args.chunk_size):
                rows = encode_sparse(model, chunk, "document", batch_size=args.batch_size, show_progress_bar=False,
                                     max_active_dims=args.max_active_dims)  # fmt: skip
                writer.append(rows)
                progress.update(len(chunk))
        nnz = writer.finish()
    except BaseException:
        writer.discard()
        raise
    max_active_dims = args.max_active_dims if args.max_active_dims is not None else model.max_active_dims
    return {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "index_type": SPARSE,
        "model": _model_name(args.model),
        "model_type": SPARSE_ENCODER,
        "normalize": False,
        "precision": "float32",
        "dimension": int(model.get_embedding_dimension()),
        "count": count,
        "nnz": int(nnz),
        "max_active_dims": max_active_dims,
        "similarity": similarity,
        "ranges": None,
        "created_by": f"sbert {__sbert_version__}",
    }


def _embed_multi_vector(args: argparse.Namespace, stage: str, count: int, engine: str) -> dict[str, Any]:
    """Encode the staged texts with the MultiVectorEncoder's ``encode_document`` into the index files of ``engine``;
    returns the manifest (without the engine)."""
    from sentence_transformers.cli.models import load_model

    model = load_model(args.model, MULTI_VECTOR_ENCODER, device=args.device)
    similarity = str(model.similarity_fn_name)
    writer = MultiVectorIndexWriter(stage, engine)
    try:
        with _progress_bar(count, args.no_progress) as progress:
            for chunk in _stored_chunks(os.path.join(stage, TEXTS), args.chunk_size):
                writer.append(encode_multi_vector(model, chunk, "document", batch_size=args.batch_size,
                                                  show_progress_bar=False))  # fmt: skip
                progress.update(len(chunk))
        tokens = writer.finish()
    except BaseException:
        writer.discard()
        raise
    return {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "index_type": MULTI_VECTOR,
        "model": _model_name(args.model),
        "model_type": MULTI_VECTOR_ENCODER,
        "normalize": False,
        "precision": MULTI_VECTOR_PRECISIONS[engine],
        "dimension": int(writer.dimension or model.get_embedding_dimension()),
        "count": count,
        "tokens": int(tokens),
        "similarity": similarity,
        "ranges": None,
        "created_by": f"sbert {__sbert_version__}",
    }


def _quantize(block: np.ndarray, precision: str, ranges: np.ndarray | None = None) -> np.ndarray:
    from sentence_transformers.util.quantization import quantize_embeddings

    return np.asarray(quantize_embeddings(block, precision, ranges=ranges))  # type: ignore[arg-type]


def _quantize_scalar_rows(floats: NpyRows, stage: str, precision: str, chunk_size: int) -> list[list[float]]:
    """Quantize the staged float rows to ``embeddings.npy`` with per-dimension ranges over all of them; returns the
    ranges (``[2, dimension]``)."""
    ranges = floats.ranges(chunk_size).astype(np.float32)
    quantized = NpyRows(os.path.join(stage, EMBEDDINGS), floats.rows)
    for block in floats.blocks(chunk_size):
        quantized.append(_quantize(block, precision, ranges))
    quantized.check_full()
    os.unlink(floats.path)
    return ranges.tolist()


def _progress_bar(total: int, disable: bool) -> Any:
    from tqdm.autonotebook import tqdm

    return tqdm(total=total, desc="Indexing", unit=" texts", disable=disable)


# --------------------------------------------------------------------------------------------- folder placement
def _check_replaceable(target: str, force: bool) -> None:
    """Fail early when ``target`` exists and may not be replaced: only ``--force`` over an index or empty folder."""
    if not os.path.lexists(target):
        return
    if not force:
        raise FileExistsError(f"{target} already exists; pass --force to replace it")
    if not os.path.isdir(target) or (os.listdir(target) and not os.path.isfile(os.path.join(target, MANIFEST))):
        raise FileExistsError(f"{target} exists and is not an index folder; not replacing it")


# ---------------------------------------------------------------------------------------------- reading an index
@dataclass
class IndexFolder:
    """An opened dense index folder: its manifest and its embeddings (memory-mapped)."""

    folder: str
    manifest: dict[str, Any]
    embeddings: np.ndarray

    sparse = False
    multi_vector = False

    @property
    def count(self) -> int:
        return self.manifest["count"]

    @property
    def precision(self) -> str:
        return self.manifest["precision"]

    @property
    def ranges(self) -> np.ndarray | None:
        ranges = self.manifest.get("ranges")
        return None if ranges is None else np.asarray(ranges, dtype=np.float32)

    def texts(self, ids: Iterable[int]) -> dict[int, str]:
        """The texts of the rows ``ids``, from one streaming pass over ``texts.jsonl``."""
        wanted, found = set(ids), {}
        path = os.path.join(self.folder, TEXTS)
        try:
            with open(path, encoding="utf-8") as f:
                for number, line in enumerate(f):
                    if number in wanted:
                        found[number] = _text_record(line, number)
                        if len(found) == len(wanted):
                            break
        except OSError as exc:
            raise ValueError(f"index folder {self.folder}: cannot read {TEXTS} ({exc.strerror or exc})") from exc
        if len(found) < len(wanted):
            raise ValueError(f"index folder {self.folder}: {TEXTS} has fewer texts than the manifest's count")
        return found


@dataclass
class SparseIndexFolder(IndexFolder):
    """An opened sparse index folder: its manifest and its corpus matrix (CSR, memory-mapped); ``embeddings`` is
    unused (empty)."""

    matrix: SparseMatrix | None = None

    sparse = True


@dataclass
class MultiVectorIndexFolder(IndexFolder):
    """An opened multi-vector index folder: its manifest and its documents' token vectors (``cli.multi_vector``);
    ``embeddings`` is unused (empty)."""

    corpus: MultiVectorCorpus | None = None

    multi_vector = True


def _text_record(line: str, number: int) -> str:
    """The text of line ``number`` of ``texts.jsonl``; a ValueError when it is not ``{"id": number, "text": str}``."""
    try:
        record = json.loads(line)
    except json.JSONDecodeError:
        record = None
    if not isinstance(record, dict) or record.get("id") != number or not isinstance(record.get("text"), str):
        raise ValueError(f"{TEXTS} line {number + 1} is not {{'id': {number}, 'text': ...}}")
    return record["text"]


def open_index(folder: str) -> IndexFolder:
    """Read and check an index folder, dense, sparse (a ``SparseIndexFolder``) or multi-vector (a
    ``MultiVectorIndexFolder``); any problem is a one-line ValueError naming the folder."""
    try:
        manifest = _read_manifest(folder)
        if manifest.get("index_type") == MULTI_VECTOR:
            corpus = read_multi_vector(folder, manifest)
            _check_texts(folder, manifest["count"])
            return MultiVectorIndexFolder(folder, manifest, np.zeros((0, 0), np.float32), corpus)
        if manifest.get("index_type", DENSE) == SPARSE:
            matrix = read_sparse_matrix(folder, manifest["count"], manifest["dimension"])
            _check_texts(folder, manifest["count"])
            return SparseIndexFolder(folder, manifest, np.zeros((0, 0), np.float32), matrix)
        embeddings = _read_embeddings(folder, manifest)
        _check_texts(folder, manifest["count"])
    except ValueError as exc:
        raise ValueError(f"index folder {folder}: {exc}") from exc
    return IndexFolder(folder, manifest, embeddings)


def _check_texts(folder: str, count: int) -> None:
    """``texts.jsonl`` exists and has ``count`` lines (counted in 1 MiB blocks, without parsing)."""
    path = os.path.join(folder, TEXTS)
    lines = 0
    try:
        with open(path, "rb") as f:
            while block := f.read(1 << 20):
                lines += block.count(b"\n")
    except FileNotFoundError:
        raise ValueError(f"{TEXTS} is missing") from None
    except OSError as exc:
        raise ValueError(f"cannot read {TEXTS} ({exc.strerror or exc})") from None
    if lines != count:
        raise ValueError(f"{TEXTS} has {lines} texts but the manifest's count is {count}")


def _read_manifest(folder: str) -> dict[str, Any]:
    """The checked manifest of ``folder``."""
    if not os.path.isdir(folder):
        raise ValueError("not a folder")
    path = os.path.join(folder, MANIFEST)
    try:
        with open(path, encoding="utf-8") as f:
            manifest = json.load(f)
    except FileNotFoundError:
        raise ValueError(f"{MANIFEST} is missing (not an sbert index)") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ValueError(f"{MANIFEST} is not valid JSON ({exc})") from None
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
        raise ValueError(f"{MANIFEST} is not an sbert index manifest")
    if manifest.get("format_version") != FORMAT_VERSION:
        raise ValueError(f"unsupported index format version {manifest.get('format_version')!r}")
    for key, kind in MANIFEST_FIELDS.items():
        if not isinstance(manifest.get(key), kind) or (kind is int and isinstance(manifest[key], bool)):
            raise ValueError(f"{MANIFEST} has no valid {key!r}")
    _check_manifest_values(manifest)
    return manifest


def _check_manifest_values(manifest: dict[str, Any]) -> None:
    """Precision, similarity, sizes and int8 ranges of a manifest whose fields have the right types."""
    if manifest.get("index_type", DENSE) not in INDEX_TYPES:
        raise ValueError(f"{MANIFEST} has an unknown index_type {manifest['index_type']!r}")
    if manifest.get("index_type") == SPARSE and (manifest["precision"], manifest["similarity"]) != ("float32", "dot"):
        raise ValueError(f"{MANIFEST}: a sparse index is float32 with dot similarity")
    if manifest["precision"] not in INDEX_PRECISIONS:
        raise ValueError(f"{MANIFEST} has an unknown precision {manifest['precision']!r}")
    if manifest.get("index_type") == MULTI_VECTOR:
        if manifest["similarity"] not in MULTI_VECTOR_SIMILARITIES:
            raise ValueError(f"{MANIFEST}: a multi-vector index's similarity is one of {MULTI_VECTOR_SIMILARITIES}")
    elif manifest["similarity"] not in SIMILARITIES:
        raise ValueError(f"{MANIFEST} has an unsupported similarity {manifest['similarity']!r}")
    if manifest["count"] < 1 or manifest["dimension"] < 1:
        raise ValueError(f"{MANIFEST} has an invalid count or dimension")
    if manifest["precision"] in SCALAR_PRECISIONS and manifest.get("index_type") != MULTI_VECTOR:  # plaid: per vector
        try:
            shape = np.asarray(manifest.get("ranges"), dtype=np.float32).shape
        except (TypeError, ValueError):
            shape = ()
        if shape != (2, manifest["dimension"]):
            raise ValueError(f"{MANIFEST} has no valid {manifest['precision']} ranges ([2, dimension])")


def _read_embeddings(folder: str, manifest: dict[str, Any]) -> np.ndarray:
    """``embeddings.npy``, memory-mapped, checked against the manifest."""
    path = os.path.join(folder, EMBEDDINGS)
    if not os.path.isfile(path):
        raise ValueError(f"{EMBEDDINGS} is missing")
    try:
        embeddings = np.load(path, mmap_mode="r", allow_pickle=False)
    except (OSError, ValueError) as exc:
        raise ValueError(f"{EMBEDDINGS} is not a readable .npy file ({exc})") from None
    precision, dimension = manifest["precision"], manifest["dimension"]
    width = -(-dimension // 8) if precision in BINARY_PRECISIONS else dimension
    if embeddings.ndim != 2:
        raise ValueError(f"{EMBEDDINGS} is not a 2-D array (shape {embeddings.shape})")
    if embeddings.shape[0] != manifest["count"]:
        raise ValueError(f"{EMBEDDINGS} has {embeddings.shape[0]} rows but the manifest's count is {manifest['count']}")
    if embeddings.shape[1] != width or embeddings.dtype != DTYPES[precision]:
        raise ValueError(f"{EMBEDDINGS} is {embeddings.dtype} {embeddings.shape}, not {precision} with width {width}")
    return embeddings
