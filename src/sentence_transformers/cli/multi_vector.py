"""Multi-vector (late-interaction) indexes for the command line: ``sbert index build`` with a MultiVectorEncoder, and
``sbert search`` over its index by MaxSim.

A multi-vector index folder has the ``manifest.json`` and ``texts.jsonl`` of every index (``cli.index``), with
``"index_type": "multi_vector"``, ``"model_type": "MultiVectorEncoder"``, ``"similarity"`` the model's (``maxsim`` or
``meanmaxsim``), ``"dimension"`` the size of a token vector, ``"tokens"`` the token vectors stored, and ``"engine"``:

- ``exact`` (``"precision": "float32"``): each document's token vectors (``encode_document``) in two .npy files,
  ``mv_offsets.npy`` int64 [count + 1] (document ``i`` is rows ``offsets[i]:offsets[i + 1]``) and
  ``mv_vectors.npy`` float32 [tokens, dimension], written as a stream and memory-mapped when searched with
  ``util.multi_vector_search`` (exact MaxSim, a block of documents at a time);
- ``plaid`` (``"precision": "int8"``): a ``util.MultiVectorIndex`` in the subfolder ``plaid/``: int8 token vectors
  and k-means centroids that pick the candidates (PLAID-style, approximate), the centroids trained on the token
  vectors of the first chunk of the corpus.

Queries are encoded with ``encode_query``; a ``meanmaxsim`` index divides the plaid engine's MaxSim by each query's
token count, as ``mean_maxsim`` does.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

INDEX_TYPE = "multi_vector"
EXACT, PLAID = "exact", "plaid"
ENGINES = (EXACT, PLAID)
PRECISIONS = {EXACT: "float32", PLAID: "int8"}
SIMILARITIES = ("maxsim", "meanmaxsim")
OFFSETS, VECTORS, PLAID_FOLDER = "mv_offsets.npy", "mv_vectors.npy", "plaid"
CORPUS_CHUNK = 4096  # documents scored at a time by the exact engine


def encode_multi_vector(model: Any, texts: list[str], role: str, **options: Any) -> list[np.ndarray]:
    """``texts`` through the MultiVectorEncoder's ``encode_query`` (``role`` "query") or ``encode_document`` with
    ``options``: one float32 [tokens_i, dim] array per text."""
    if not texts:
        return []
    encode = model.encode_query if role == "query" else model.encode_document
    return [np.asarray(row, dtype=np.float32) for row in encode(texts, convert_to_numpy=True, **options)]


class MultiVectorIndexWriter:
    """Writes a multi-vector index's token vectors into ``folder`` a block of documents at a time: for ``exact``, the
    vectors go to a raw temporary file and become ``mv_vectors.npy`` (header, then the raw bytes) in ``finish``;
    for ``plaid``, they are added to a ``util.MultiVectorIndex`` saved in ``finish``."""

    def __init__(self, folder: str, engine: str) -> None:
        if engine not in ENGINES:
            raise ValueError(f"a multi-vector index's engine is one of {ENGINES}, got {engine!r}")
        self.folder, self.engine = folder, engine
        self.counts: list[int] = []
        self.dimension: int | None = None
        self._raw = os.path.join(folder, f".{VECTORS}.raw")
        self._file = open(self._raw, "wb") if engine == EXACT else None  # noqa: SIM115
        self._index: Any = None
        if engine == PLAID:
            from sentence_transformers.util.multi_vector_index import MultiVectorIndex

            self._index = MultiVectorIndex()

    @property
    def tokens(self) -> int:
        return sum(self.counts)

    def append(self, rows: list[np.ndarray]) -> None:
        """Add documents, each a [tokens_i, dimension] array."""
        for row in rows:
            if self.dimension is None:
                self.dimension = int(row.shape[1])
            if row.ndim != 2 or row.shape[1] != self.dimension:
                raise ValueError(f"token vectors of shape {row.shape}, not [tokens, {self.dimension}]")
        self.counts.extend(len(row) for row in rows)
        if self._file is not None:
            for row in rows:
                self._file.write(np.ascontiguousarray(row, dtype="<f4").tobytes())
        elif rows:
            self._index.add([torch.from_numpy(row) for row in rows])

    def finish(self) -> int:
        """Write the index files; returns the number of token vectors stored."""
        if self._file is None:
            self._index.save(os.path.join(self.folder, PLAID_FOLDER))
            return self.tokens
        offsets = np.zeros(len(self.counts) + 1, dtype="<i8")
        np.cumsum(self.counts, out=offsets[1:])
        np.save(os.path.join(self.folder, OFFSETS), offsets)
        self._file.close()
        header = {"descr": np.lib.format.dtype_to_descr(np.dtype("<f4")), "fortran_order": False,
                  "shape": (self.tokens, self.dimension or 0)}  # fmt: skip
        with open(os.path.join(self.folder, VECTORS), "wb") as out, open(self._raw, "rb") as raw:
            np.lib.format.write_array_header_1_0(out, header)
            shutil.copyfileobj(raw, out, 1 << 20)
        os.unlink(self._raw)
        return self.tokens

    def discard(self) -> None:
        if self._file is not None:
            self._file.close()
            if os.path.exists(self._raw):
                os.unlink(self._raw)


class TokenVectors(Sequence):
    """The documents of an exact multi-vector index, memory-mapped: ``corpus[start:end]`` is a list of float32
    [tokens_i, dimension] tensors (what ``util.multi_vector_search`` slices, a block at a time)."""

    def __init__(self, offsets: np.ndarray, vectors: np.ndarray) -> None:
        self.offsets, self.vectors = offsets, vectors

    def __len__(self) -> int:
        return len(self.offsets) - 1

    def __getitem__(self, item: Any) -> Any:
        if isinstance(item, slice):
            start, stop, step = item.indices(len(self))
            if step != 1:
                raise ValueError("TokenVectors are sliced in steps of 1")
            bounds = np.asarray(self.offsets[start : max(stop, start) + 1], dtype=np.int64)
            first = int(bounds[0])
            block = torch.from_numpy(np.array(self.vectors[first : int(bounds[-1])], dtype=np.float32))
            cuts = (bounds - first).tolist()
            return [block[begin:end] for begin, end in zip(cuts[:-1], cuts[1:], strict=True)]
        position = int(item) + (len(self) if int(item) < 0 else 0)
        if not 0 <= position < len(self):
            raise IndexError(f"document {item} of {len(self)}")
        begin, end = int(self.offsets[position]), int(self.offsets[position + 1])
        return torch.from_numpy(np.array(self.vectors[begin:end], dtype=np.float32))


@dataclass
class MultiVectorCorpus:
    """An opened multi-vector index's documents: ``exact`` token vectors, or a ``plaid`` ``MultiVectorIndex``."""

    engine: str
    similarity: str
    documents: TokenVectors | None = None
    index: Any = None

    @property
    def count(self) -> int:
        return len(self.documents) if self.documents is not None else len(self.index)


def read_multi_vector(folder: str, manifest: dict[str, Any]) -> MultiVectorCorpus:
    """The documents of a multi-vector index folder, checked against its manifest; a problem is a ValueError."""
    engine, count, dimension = manifest["engine"], manifest["count"], manifest["dimension"]
    if engine not in ENGINES or manifest["precision"] != PRECISIONS[engine]:
        raise ValueError(f"a multi-vector index's engine and precision are one of {PRECISIONS}, got "
                         f"{engine!r} and {manifest['precision']!r}")  # fmt: skip
    if engine == PLAID:
        from sentence_transformers.util.multi_vector_index import MultiVectorIndex

        try:
            index = MultiVectorIndex.load(os.path.join(folder, PLAID_FOLDER))
        except (OSError, ValueError) as exc:
            raise ValueError(f"{PLAID_FOLDER}/ is not a readable MultiVectorIndex ({exc})") from None
        if len(index) != count or index.dim != dimension:
            raise ValueError(f"{PLAID_FOLDER}/ holds {len(index)} documents of dimension {index.dim}, the manifest "
                             f"{count} of dimension {dimension}")  # fmt: skip
        return MultiVectorCorpus(engine, manifest["similarity"], index=index)
    arrays = {}
    for name in (OFFSETS, VECTORS):
        path = os.path.join(folder, name)
        if not os.path.isfile(path):
            raise ValueError(f"{name} is missing")
        try:
            arrays[name] = np.load(path, mmap_mode="r", allow_pickle=False)
        except (OSError, ValueError) as exc:
            raise ValueError(f"{name} is not a readable .npy file ({exc})") from None
    offsets, vectors = arrays[OFFSETS], arrays[VECTORS]
    if offsets.ndim != 1 or offsets.dtype.kind != "i" or len(offsets) != count + 1:
        raise ValueError(f"{OFFSETS} is {offsets.dtype} {offsets.shape}, not int64 [count + 1 = {count + 1}]")
    if vectors.ndim != 2 or vectors.dtype != np.float32 or vectors.shape[1] != dimension:
        raise ValueError(f"{VECTORS} is {vectors.dtype} {vectors.shape}, not float32 [tokens, {dimension}]")
    if offsets[0] != 0 or offsets[-1] != len(vectors) or np.any(np.diff(offsets) < 0):
        raise ValueError(f"{OFFSETS} does not cover the {len(vectors)} rows of {VECTORS} in order")
    return MultiVectorCorpus(engine, manifest["similarity"], documents=TokenVectors(offsets, vectors))


def search_multi_vector(corpus: MultiVectorCorpus, queries: list[np.ndarray], top_k: int) -> list[list[dict]]:
    """The ``top_k`` documents of ``corpus`` for each query's token vectors: ``[[{"corpus_id", "score"}, ...]]``,
    best first, scored by the index's similarity (MaxSim or MeanMaxSim)."""
    from sentence_transformers.util.similarity import SimilarityFunction

    tensors = [torch.from_numpy(np.ascontiguousarray(query, dtype=np.float32)) for query in queries]
    if corpus.documents is not None:
        from sentence_transformers.util.multi_vector_retrieval import multi_vector_search

        score = SimilarityFunction.to_similarity_fn(corpus.similarity)
        return multi_vector_search(
            tensors, corpus.documents, top_k=top_k, corpus_chunk_size=CORPUS_CHUNK, score_function=score
        )
    results = corpus.index.search(tensors, top_k=top_k)
    if corpus.similarity == "meanmaxsim":
        for query, hits in zip(tensors, results, strict=True):
            for hit in hits:
                hit["score"] = hit["score"] / max(len(query), 1)
    return results
