"""``sbert search``: query an index folder built by ``sbert index build``.

The queries are encoded with the index's model (or ``--model``), normalized as the corpus was, and searched with:

- ``faiss`` or ``usearch`` (exact flat search) through `semantic_search_faiss`/`semantic_search_usearch`. For
  quantized indexes the float queries are quantized (int8/uint8 with the manifest's ranges) to pick
  ``k * --rescore-multiplier`` candidates, which are then rescored with the float queries against the dequantized
  rows. faiss takes uint8/ubinary and usearch int8/binary codes: the other layout is shifted by 128 on the fly.
- ``exact``: `util.semantic_search`; for a quantized index, over all dequantized rows with the float queries, which
  is the rescoring of every row.

A sparse index (built with a SparseEncoder) is searched exactly by sparse dot product with the queries'
``encode_query`` embeddings (``cli.sparse.search_sparse``); texts sharing no active dimension with a query are no hits.

A multi-vector index (built with a MultiVectorEncoder) is searched by MaxSim (the model's similarity) with the
queries' ``encode_query`` token vectors, with the engine it was built with (``cli.multi_vector.search_multi_vector``):
``exact`` (``util.multi_vector_search`` over the stored token vectors) or ``plaid`` (``util.MultiVectorIndex``:
centroid candidates, then int8 vectors; approximate). ``--engine`` applies to dense indexes only.

Hybrid search (``--hybrid INDEX``): a second index over the same corpus, typically a sparse one beside a dense one.
Each index gives its ``--rrf-candidates`` best texts per query (default: ``max(100, k)``), and the two rankings are
fused with reciprocal rank fusion: a text scores ``1 / (rrf_k + rank)`` in each ranking it is in (rank from 1,
``--rrf-k`` 60 by default), summed; the ``k`` best fused texts are printed with that score (equal scores: lower id
first), and JSONL lines also give ``ranks``: ``[rank in INDEX, rank in the --hybrid index]`` (null where absent).

Results: a table per query (rank, score, id, text), or ``--jsonl`` lines ``{"query", "rank", "id", "score", "text"}``.
An index of images (``sbert index build --images``; manifest ``"modality": "image"``) is searched with text queries
the same way, and its results name the image's path as ``image`` in place of ``text``.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Iterator
from typing import Any

import numpy as np

from sentence_transformers.cli import UsageError
from sentence_transformers.cli.index import BINARY_PRECISIONS, ENGINES, IndexFolder, open_index, resolve_engine
from sentence_transformers.cli.inputs import chunked, read_texts
from sentence_transformers.cli.multi_vector import PLAID, encode_multi_vector, search_multi_vector
from sentence_transformers.cli.sparse import RRF_K, encode_sparse, reciprocal_rank_fusion, search_sparse

QUERY_CHUNK = 1024  # queries encoded, searched and printed at a time
RRF_CANDIDATES = 100  # results of each index fused, at least (k when larger)
SearchResults = list[list[dict[str, Any]]]


def add_parser(commands: argparse._SubParsersAction) -> None:
    """The ``search`` subcommand's arguments."""
    search = commands.add_parser(
        "search",
        help="query an index folder built by `sbert index build`",
        description="Find the texts of an index folder most similar to a query, or to each query of a file.",
        epilog='examples:\n  sbert search my-index/ "how do I reset my password?" -k 5\n'
        "  sbert search my-index/ --queries questions.txt --jsonl > hits.jsonl\n"
        '  sbert search dense-index/ "reset password" --hybrid sparse-index/ --rrf-k 60 --rrf-candidates 100',
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    search.add_argument("index", help="index folder (dense, sparse or multi-vector)")
    search.add_argument("query", nargs="?", help="the query text (or use --queries)")
    search.add_argument(
        "--queries", help="a file of queries: text (one per line), .jsonl, .csv, .tsv or .parquet; - for stdin"
    )
    search.add_argument(
        "--column",
        "--field",
        dest="column",
        help="the column (JSONL field) of the queries (default: 'text', or a CSV/TSV/Parquet file's only column)",
    )
    search.add_argument("-k", "--top-k", type=int, default=10, help="results per query (default 10)")
    search.add_argument("--jsonl", action="store_true", help="print JSONL lines instead of a table")
    engines = search.add_mutually_exclusive_group()
    engines.add_argument(
        "--engine",
        choices=ENGINES,
        help="dense indexes: default the index's engine if installed, else faiss, usearch, exact (a sparse index is "
        "always searched exactly; a multi-vector index with the engine it was built with)",
    )
    engines.add_argument("--exact", action="store_const", const="exact", dest="engine", help="same as --engine exact")
    search.add_argument(
        "--rescore-multiplier", type=int, default=4, help="quantized indexes: candidates rescored per result (4)"
    )
    search.add_argument("-m", "--model", help="model folder or hub name (default: the index's model)")
    search.add_argument(
        "--max-active-dims",
        type=int,
        metavar="N",
        help="sparse indexes: keep each query's N largest dimensions (default: the model's max_active_dims)",
    )
    search.add_argument("-b", "--batch-size", type=int, default=32)
    search.add_argument("--device", help="cpu, cuda, cuda:1, mps, … (default: the best available)")
    hybrid = search.add_argument_group(
        "hybrid search",
        "fuse the results of INDEX and of a second index over the same corpus (a sparse index beside a\n"
        "dense one, say) with reciprocal rank fusion: a text scores 1 / (rrf-k + rank) in each ranking\n"
        "it is in (rank from 1), summed; JSONL lines add 'ranks': [rank in INDEX, rank in INDEX2]",
    )
    hybrid.add_argument("--hybrid", metavar="INDEX2", help="the second index folder (dense or sparse), same corpus")
    hybrid.add_argument(
        "--hybrid-model", metavar="MODEL", help="model of the --hybrid index's queries (default: that index's model)"
    )
    hybrid.add_argument(
        "--rrf-k", type=float, default=None, metavar="K", help=f"RRF's rank constant k (default {RRF_K})"
    )
    hybrid.add_argument(
        "--rrf-candidates",
        type=int,
        metavar="N",
        help=f"results taken from each index before fusing (default: the larger of {RRF_CANDIDATES} and -k)",
    )
    search.set_defaults(run=run_search)


def run_search(args: argparse.Namespace) -> int:
    """Encode the queries a chunk at a time, search the index (and the --hybrid one, then fuse), and print each
    chunk's results."""
    _check_args(args)
    index = open_index(args.index)  # a bad folder or queries file fails before the model loads
    other = open_index(args.hybrid) if args.hybrid is not None else None
    indexes = [index] if other is None else [index, other]
    _check_index_args(args, indexes)
    queries = _read_queries(args)
    dense = [folder for folder in indexes if not folder.sparse and not folder.multi_vector]
    engine = resolve_engine(args.engine, dense[0].manifest["engine"]) if dense else "exact"
    searchers = [Searcher(index, args.model, engine, args)]
    if other is not None:
        searchers.append(Searcher(other, args.hybrid_model, engine, args))
    depth = args.rrf_candidates or max(RRF_CANDIDATES, args.top_k)
    rrf_k = RRF_K if args.rrf_k is None else args.rrf_k
    key = "image" if index.manifest.get("modality") == "image" else "text"
    printed = 0
    for chunk in chunked(queries, QUERY_CHUNK):
        if other is None:
            results = searchers[0].search(chunk, args.top_k)
        else:
            results = fuse([searcher.search(chunk, depth) for searcher in searchers], rrf_k, args.top_k)
        texts = index.texts(hit["corpus_id"] for hits in results for hit in hits)
        _print_results(chunk, results, texts, args.jsonl, first=printed == 0, key=key)
        printed += len(chunk)
    how = " + ".join(searcher.description for searcher in searchers)
    fused = f", fused by reciprocal rank fusion (k={rrf_k:g}, {depth} candidates each)" if other is not None else ""
    print(f"sbert: searched {printed} queries with {how}{fused}", file=sys.stderr)  # noqa: T201
    return 0


class Searcher:
    """One index and the model of its queries: dense (``engine``), sparse (exact sparse dot product) or multi-vector
    (MaxSim, with the index's engine)."""

    def __init__(self, index: IndexFolder, model: str | None, engine: str, args: argparse.Namespace) -> None:
        self.index, self.engine, self.args = index, engine, args
        name = model or index.manifest["model"]
        if index.multi_vector:
            from sentence_transformers.cli.models import MULTI_VECTOR_ENCODER, load_model

            self.model = load_model(name, MULTI_VECTOR_ENCODER, device=args.device)
        elif index.sparse:
            from sentence_transformers.cli.models import SPARSE_ENCODER, load_model

            self.model = load_model(name, SPARSE_ENCODER, device=args.device)
        else:
            from sentence_transformers import SentenceTransformer

            self.model = SentenceTransformer(name, device=args.device)

    @property
    def description(self) -> str:
        if self.index.multi_vector:
            return f"multi-vector {self.index.manifest['engine']} {self.index.manifest['similarity']} search"
        return "sparse exact search" if self.index.sparse else self.engine

    def search(self, queries: list[str], top_k: int) -> SearchResults:
        """The ``top_k`` rows of the index for each query."""
        options = {"batch_size": self.args.batch_size, "show_progress_bar": False}
        if self.index.multi_vector:
            return self._search_multi_vector(queries, top_k, options)
        if self.index.sparse:
            rows = encode_sparse(self.model, queries, "query", max_active_dims=self.args.max_active_dims, **options)
            return search_sparse(self.index.matrix, rows, top_k)
        embeddings = self.model.encode_query(queries, normalize_embeddings=self.index.manifest["normalize"], **options)
        embeddings = np.asarray(embeddings, dtype=np.float32)
        if embeddings.shape[1] != self.index.manifest["dimension"]:
            raise ValueError(
                f"the model's embeddings have {embeddings.shape[1]} dimensions, the index's "
                f"{self.index.manifest['dimension']}"
            )
        return search_index(self.index, embeddings, top_k, self.engine, self.args.rescore_multiplier)

    def _search_multi_vector(self, queries: list[str], top_k: int, options: dict[str, Any]) -> SearchResults:
        rows = encode_multi_vector(self.model, queries, "query", **options)
        dimension = self.index.manifest["dimension"]
        if rows and rows[0].shape[1] != dimension:
            raise ValueError(f"the model's token vectors have {rows[0].shape[1]} dimensions, the index's {dimension}")
        return search_multi_vector(self.index.corpus, rows, top_k)


def fuse(lists: list[SearchResults], rrf_k: float, top_k: int) -> SearchResults:
    """Each query's results of several indexes fused by reciprocal rank fusion: the ``top_k`` best
    ``{"corpus_id", "score" (fused), "ranks" (in each index, or None)}``."""
    fused = []
    for per_query in zip(*lists, strict=True):
        rankings = [[hit["corpus_id"] for hit in hits] for hits in per_query]
        fused.append(
            [
                {"corpus_id": corpus_id, "score": score, "ranks": ranks}
                for corpus_id, score, ranks in reciprocal_rank_fusion(rankings, rrf_k)[:top_k]
            ]
        )
    return fused


def _check_args(args: argparse.Namespace) -> None:
    if args.top_k < 1:
        raise UsageError(f"-k must be at least 1, got {args.top_k}")
    if (args.query is None) == (args.queries is None):
        raise UsageError("give either a query or --queries FILE")
    if args.column is not None and args.queries is None:
        raise UsageError("--column applies to --queries only")
    if args.rescore_multiplier < 1 or args.batch_size < 1:
        raise UsageError("--rescore-multiplier and --batch-size must be at least 1")
    if args.hybrid is None:
        given = [flag for flag, value in (("--hybrid-model", args.hybrid_model), ("--rrf-k", args.rrf_k),
                                          ("--rrf-candidates", args.rrf_candidates)) if value is not None]  # fmt: skip
        if given:
            raise UsageError(f"{', '.join(given)} go with --hybrid INDEX2")
    if args.rrf_k is not None and args.rrf_k < 0:
        raise UsageError(f"--rrf-k must not be negative, got {args.rrf_k:g}")
    if args.rrf_candidates is not None and args.rrf_candidates < 1:
        raise UsageError(f"--rrf-candidates must be at least 1, got {args.rrf_candidates}")
    if args.max_active_dims is not None and args.max_active_dims < 1:
        raise UsageError(f"--max-active-dims must be at least 1, got {args.max_active_dims}")


def _check_index_args(args: argparse.Namespace, indexes: list[IndexFolder]) -> None:
    """Options that need a dense (or a sparse) index, and two indexes of one corpus for --hybrid."""
    if all(index.sparse or index.multi_vector for index in indexes):
        if args.engine not in (None, "exact"):
            raise UsageError(f"--engine {args.engine} is for dense indexes; a sparse index is searched exactly, a "
                             "multi-vector index with the engine it was built with")  # fmt: skip
        plaid = [index.folder for index in indexes if index.multi_vector and index.manifest["engine"] == PLAID]
        if args.engine == "exact" and plaid:
            raise UsageError(f"--engine exact: {plaid[0]} is a plaid multi-vector index (int8 vectors, searched "
                             "through its centroids); build it with --engine exact for exact MaxSim")  # fmt: skip
    if args.max_active_dims is not None and not any(index.sparse for index in indexes):
        raise UsageError("--max-active-dims is for sparse indexes")
    if len(indexes) == 2:
        first, second = indexes
        if first.count != second.count:
            raise ValueError(f"--hybrid: {first.folder} holds {first.count} texts and {second.folder} "
                             f"{second.count}; hybrid search fuses two indexes of the same corpus")  # fmt: skip
        digests = [index.manifest.get("texts_sha256") for index in indexes]
        if None not in digests and digests[0] != digests[1]:
            raise ValueError(f"--hybrid: {first.folder} and {second.folder} hold different texts; hybrid search "
                             "fuses two indexes of the same corpus")  # fmt: skip


def _read_queries(args: argparse.Namespace) -> Iterator[str]:
    """The query, or the queries of ``--queries``, streamed (a missing file fails at once)."""
    return iter([args.query]) if args.query is not None else read_texts(args.queries, args.column)


# ------------------------------------------------------------------------------------------------------ search
def search_index(index: IndexFolder, queries: np.ndarray, top_k: int, engine: str, multiplier: int) -> SearchResults:
    """The ``top_k`` rows of ``index`` for each float query: ``[[{"corpus_id", "score"}, ...], ...]``."""
    if engine == "exact":
        return _search_exact(index, queries, top_k)
    from sentence_transformers.util.quantization import semantic_search_faiss, semantic_search_usearch

    precision, corpus = _engine_layout(engine, index.precision, np.asarray(index.embeddings))
    search = semantic_search_faiss if engine == "faiss" else semantic_search_usearch
    results, _ = search(
        queries,
        corpus_embeddings=corpus,
        corpus_precision=precision,  # type: ignore[arg-type]
        top_k=top_k,
        ranges=index.ranges,
        rescore=precision != "float32",
        rescore_multiplier=multiplier,
        exact=True,
    )
    return results


def _engine_layout(engine: str, precision: str, corpus: np.ndarray) -> tuple[str, np.ndarray]:
    """The precision and codes ``engine`` searches: faiss takes uint8/ubinary, usearch int8/binary/ubinary.
    int8 and uint8 codes (and binary and ubinary ones) differ by 128, with the same buckets or bits."""
    shifts = {"faiss": {"int8": "uint8", "binary": "ubinary"}, "usearch": {"uint8": "int8"}}
    target = shifts[engine].get(precision, precision)
    if target == precision:
        return precision, corpus
    if target in ("uint8", "ubinary"):
        return target, (corpus.astype(np.int16) + 128).astype(np.uint8)
    return target, (corpus.astype(np.int16) - 128).astype(np.int8)


def _search_exact(index: IndexFolder, queries: np.ndarray, top_k: int) -> SearchResults:
    """`util.semantic_search` over the float rows, or over the dequantized rows of a quantized index."""
    import torch

    from sentence_transformers.util import cos_sim, dot_score, semantic_search

    if index.precision == "float32":
        corpus = np.array(index.embeddings, dtype=np.float32)  # a writable copy, as torch wants
        score = cos_sim if index.manifest["similarity"] == "cosine" else dot_score
    else:
        corpus, score = dequantize(np.asarray(index.embeddings), index.precision, index.ranges), dot_score
    return semantic_search(torch.from_numpy(queries), torch.from_numpy(corpus), top_k=top_k, score_function=score)


def dequantize(codes: np.ndarray, precision: str, ranges: np.ndarray | None) -> np.ndarray:
    """Float rows comparable with float queries, as the quantization helpers' rescoring builds them: scalar codes
    become the lower edge of their bucket, packed bits become 0/1 values."""
    from sentence_transformers.util.quantization import _as_ubinary, _starts_steps

    if precision in BINARY_PRECISIONS:
        return np.unpackbits(_as_ubinary(codes), axis=-1).astype(np.float32)
    starts, steps = _starts_steps(np.asarray(ranges, dtype=np.float32))
    unsigned = codes.astype(np.float32) + (128 if precision == "int8" else 0)
    return (starts + unsigned * steps).astype(np.float32)


# ------------------------------------------------------------------------------------------------------ output
def _print_results(
    queries: list[str], results: SearchResults, texts: dict[int, str], jsonl: bool, first: bool, key: str = "text"
) -> None:
    """One chunk's results on stdout: JSONL lines, or a table per query separated by blank lines; ``key`` names the
    hit's text (``image`` for an index of image paths)."""
    lines: list[str] = []
    for query, hits in zip(queries, results, strict=True):
        if jsonl:
            lines.extend(
                json.dumps(_record(query, rank, hit, texts, key), ensure_ascii=False)
                for rank, hit in enumerate(hits, start=1)
            )
            continue
        if lines or not first:
            lines.append("")
        lines.extend(_table(query, hits, texts, key))
    sys.stdout.write("".join(line + "\n" for line in lines))
    sys.stdout.flush()


def _record(query: str, rank: int, hit: dict[str, Any], texts: dict[int, str], key: str = "text") -> dict[str, Any]:
    corpus_id = int(hit["corpus_id"])
    record = {"query": query, "rank": rank, "id": corpus_id, "score": float(hit["score"]), key: texts[corpus_id]}
    if "ranks" in hit:
        record["ranks"] = hit["ranks"]
    return record


def _table(query: str, hits: list[dict[str, Any]], texts: dict[int, str], key: str = "text") -> list[str]:
    """``query: …`` then aligned ``rank  score  id  text`` rows (texts on one line; ``key`` heads the last column)."""
    id_width = max([len("id"), *(len(str(hit["corpus_id"])) for hit in hits)])
    rank_width = max(len("rank"), len(str(len(hits))))
    rows = [f"query: {_one_line(query)}", f"{'rank':>{rank_width}}  {'score':>8}  {'id':>{id_width}}  {key}"]
    for rank, hit in enumerate(hits, start=1):
        text = _one_line(texts[int(hit["corpus_id"])])
        rows.append(f"{rank:>{rank_width}}  {hit['score']:>8.4f}  {hit['corpus_id']:>{id_width}}  {text}")
    return rows


def _one_line(text: str) -> str:
    return " ".join(text.split())
