"""Sparse embeddings for the command line and the server: rows of (indices, values), sparse index folders, exact
sparse search, and reciprocal rank fusion.

- ``SparseRows``: the non-zero entries of ``n`` sparse embeddings in CSR form (``offsets`` [n + 1], ``indices``
  ascending within a row, ``values`` float32), what ``sbert encode``, ``/embed_sparse`` and a sparse index hold.
- A sparse index folder has the same ``manifest.json`` and ``texts.jsonl`` as a dense one (``cli.index``), with
  ``"index_type": "sparse"``, ``"model_type": "SparseEncoder"``, ``"similarity": "dot"``, ``"precision": "float32"``,
  ``"dimension"`` the vocabulary size, ``"nnz"`` the stored entries and ``"max_active_dims"``; the corpus matrix is
  CSR in three .npy files (``sparse_offsets.npy`` int64 [count + 1], ``sparse_indices.npy`` int32 [nnz],
  ``sparse_values.npy`` float32 [nnz]), written as a stream and memory-mapped when searched.
- ``search_sparse``: exact search by sparse dot product, a block of corpus rows at a time (a CSR × dense product in
  torch), keeping each query's best; a row that shares no active dimension with the query (score 0) is no hit, and
  equal scores rank by row id.
- ``reciprocal_rank_fusion``: RRF (Cormack et al., 2009): each ranking gives a row ``1 / (k + rank)`` (rank from 1),
  summed over the rankings; equal fused scores rank by row id.
"""

from __future__ import annotations

import os
import shutil
import warnings
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

OFFSETS, INDICES, VALUES = "sparse_offsets.npy", "sparse_indices.npy", "sparse_values.npy"
INDEX_TYPE = "sparse"
RRF_K = 60  # the constant of Cormack et al. (2009), as everywhere
BLOCK_ROWS = 65_536  # corpus rows scored at a time
QUERY_BLOCK = 256  # queries scored at a time (a dense [vocabulary, queries] matrix)


@dataclass(frozen=True)
class SparseRows:
    """``n`` sparse embeddings in CSR form: row ``i``'s entries are ``indices[offsets[i]:offsets[i + 1]]`` (ascending)
    and the same slice of ``values``; only non-zero values are kept."""

    offsets: np.ndarray  # int64 [n + 1]
    indices: np.ndarray  # int64 [nnz]
    values: np.ndarray  # float32 [nnz]
    dimension: int

    def __len__(self) -> int:
        return len(self.offsets) - 1

    @property
    def nnz(self) -> int:
        return len(self.values)

    def row(self, position: int) -> tuple[np.ndarray, np.ndarray]:
        """The indices and values of row ``position``."""
        start, end = int(self.offsets[position]), int(self.offsets[position + 1])
        return self.indices[start:end], self.values[start:end]

    def __iter__(self) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        return (self.row(position) for position in range(len(self)))

    def select(self, start: int, end: int) -> SparseRows:
        """Rows ``start`` to ``end`` (exclusive)."""
        first, last = int(self.offsets[start]), int(self.offsets[end])
        offsets = self.offsets[start : end + 1] - first
        return SparseRows(offsets, self.indices[first:last], self.values[first:last], self.dimension)

    def to_dense(self) -> np.ndarray:
        """[n, dimension] float32 (for small inputs)."""
        dense = np.zeros((len(self), self.dimension), dtype=np.float32)
        rows = np.repeat(np.arange(len(self)), np.diff(self.offsets))
        dense[rows, self.indices] = self.values
        return dense

    def to_torch(self) -> torch.Tensor:
        """A coalesced torch sparse COO tensor [n, dimension]."""
        rows = torch.from_numpy(np.repeat(np.arange(len(self), dtype=np.int64), np.diff(self.offsets)))
        indices = torch.stack([rows, torch.from_numpy(self.indices.astype(np.int64))])
        size = (len(self), self.dimension)
        return torch.sparse_coo_tensor(indices, torch.from_numpy(self.values), size, is_coalesced=True)

    @classmethod
    def empty(cls, dimension: int) -> SparseRows:
        return cls(np.zeros(1, np.int64), np.zeros(0, np.int64), np.zeros(0, np.float32), dimension)

    @classmethod
    def concat(cls, parts: Sequence[SparseRows], dimension: int) -> SparseRows:
        """The rows of ``parts``, in order."""
        if not parts:
            return cls.empty(dimension)
        shifts = np.cumsum([0] + [part.nnz for part in parts[:-1]])
        offsets = np.concatenate([[0]] + [part.offsets[1:] + shift for part, shift in zip(parts, shifts, strict=True)])
        indices = np.concatenate([part.indices for part in parts])
        values = np.concatenate([part.values for part in parts])
        return cls(offsets.astype(np.int64), indices, values, dimension)


def sparse_rows(embeddings: torch.Tensor) -> SparseRows:
    """The rows of a [n, dimension] embedding tensor, sparse (any layout) or dense, with their zeros dropped."""
    count, dimension = int(embeddings.shape[0]), int(embeddings.shape[1])
    embeddings = embeddings.detach()
    if embeddings.layout == torch.strided:
        rows, columns = torch.nonzero(embeddings, as_tuple=True)
        values = embeddings[rows, columns]
    else:
        if embeddings.layout != torch.sparse_coo:
            embeddings = embeddings.to_sparse_coo()
        embeddings = embeddings.coalesce()  # row-major order, columns ascending within a row
        rows, columns = embeddings.indices()
        values = embeddings.values()
        kept = values != 0
        rows, columns, values = rows[kept], columns[kept], values[kept]
    rows, columns = rows.cpu().numpy(), columns.cpu().numpy().astype(np.int64)
    values = values.to("cpu", torch.float32).numpy()
    offsets = np.zeros(count + 1, dtype=np.int64)
    np.cumsum(np.bincount(rows, minlength=count), out=offsets[1:])
    return SparseRows(offsets, columns, values, dimension)


def encode_sparse(model: Any, texts: list[str], role: str | None = None, **options: Any) -> SparseRows:
    """``texts`` through the SparseEncoder's ``encode`` (``role`` "query" or "document": ``encode_query`` or
    ``encode_document``) with ``options``, as rows."""
    dimension = int(model.get_embedding_dimension())
    if not texts:
        return SparseRows.empty(dimension)
    encode = {"query": model.encode_query, "document": model.encode_document}.get(role or "", model.encode)
    embeddings = encode(texts, convert_to_tensor=True, convert_to_sparse_tensor=True, **options)
    return sparse_rows(embeddings)


def reciprocal_rank_fusion(rankings: Sequence[Sequence[int]], k: float = RRF_K) -> list[tuple[int, float, list]]:
    """Fuse rankings of row ids (best first) with RRF: each row scores the sum of ``1 / (k + rank)`` over the rankings
    it is in (``rank`` from 1). Returns ``(id, fused score, [its rank in each ranking, or None])``, best first;
    equal scores rank by id."""
    scores: dict[int, float] = {}
    ranks: dict[int, list[int | None]] = {}
    for position, ranking in enumerate(rankings):
        for rank, row in enumerate(ranking, start=1):
            row = int(row)
            scores[row] = scores.get(row, 0.0) + 1.0 / (k + rank)
            ranks.setdefault(row, [None] * len(rankings))[position] = rank
    order = sorted(scores, key=lambda row: (-scores[row], row))
    return [(row, scores[row], ranks[row]) for row in order]


# ------------------------------------------------------------------------------------------------- index files
class SparseIndexWriter:
    """Writes the CSR files of a sparse index into ``folder`` a block of rows at a time: indices and values go to
    raw temporary files as they come, and become .npy files (header, then the raw bytes) in ``finish``."""

    def __init__(self, folder: str) -> None:
        self.folder = folder
        self.counts: list[np.ndarray] = []
        self.nnz = 0
        self._raw = {name: os.path.join(folder, f".{name}.raw") for name in (INDICES, VALUES)}
        self._files = {name: open(path, "wb") for name, path in self._raw.items()}  # noqa: SIM115

    def append(self, rows: SparseRows) -> None:
        self._files[INDICES].write(rows.indices.astype("<i4").tobytes())
        self._files[VALUES].write(rows.values.astype("<f4").tobytes())
        self.counts.append(np.diff(rows.offsets))
        self.nnz += rows.nnz

    def finish(self) -> int:
        """Write the three .npy files; returns the number of stored entries."""
        offsets = np.zeros(sum(len(c) for c in self.counts) + 1, dtype="<i8")
        if self.counts:
            np.cumsum(np.concatenate(self.counts), out=offsets[1:])
        np.save(os.path.join(self.folder, OFFSETS), offsets)
        for name, dtype in ((INDICES, "<i4"), (VALUES, "<f4")):
            self._files[name].close()
            header = {"descr": np.lib.format.dtype_to_descr(np.dtype(dtype)), "fortran_order": False,
                      "shape": (self.nnz,)}  # fmt: skip
            with open(os.path.join(self.folder, name), "wb") as out, open(self._raw[name], "rb") as raw:
                np.lib.format.write_array_header_1_0(out, header)
                shutil.copyfileobj(raw, out, 1 << 20)
            os.unlink(self._raw[name])
        return self.nnz

    def discard(self) -> None:
        for name, file in self._files.items():
            file.close()
            if os.path.exists(self._raw[name]):
                os.unlink(self._raw[name])


@dataclass
class SparseMatrix:
    """A sparse index's corpus rows, memory-mapped."""

    offsets: np.ndarray
    indices: np.ndarray
    values: np.ndarray
    dimension: int

    @property
    def count(self) -> int:
        return len(self.offsets) - 1

    def block(self, start: int, end: int) -> torch.Tensor:
        """Rows ``start`` to ``end`` as a torch CSR tensor [end - start, dimension]."""
        first, last = int(self.offsets[start]), int(self.offsets[end])
        crow = torch.from_numpy(np.asarray(self.offsets[start : end + 1], dtype=np.int64) - first)
        columns = torch.from_numpy(np.asarray(self.indices[first:last], dtype=np.int64))
        values = torch.from_numpy(np.array(self.values[first:last], dtype=np.float32))
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", "Sparse CSR tensor support is in beta", UserWarning)
            return torch.sparse_csr_tensor(
                crow, columns, values, size=(end - start, self.dimension), check_invariants=False
            )


def read_sparse_matrix(folder: str, count: int, dimension: int) -> SparseMatrix:
    """The CSR files of a sparse index folder, memory-mapped and checked against the manifest's ``count`` and
    ``dimension``; a problem is a ValueError naming the file."""
    arrays = {}
    for name, kind in ((OFFSETS, "i"), (INDICES, "i"), (VALUES, "f")):
        path = os.path.join(folder, name)
        if not os.path.isfile(path):
            raise ValueError(f"{name} is missing")
        try:
            array = np.load(path, mmap_mode="r", allow_pickle=False)
        except (OSError, ValueError) as exc:
            raise ValueError(f"{name} is not a readable .npy file ({exc})") from None
        if array.ndim != 1 or array.dtype.kind != kind:
            raise ValueError(f"{name} is {array.dtype} {array.shape}, not a 1-D {'integer' if kind == 'i' else 'float'}"
                             " array")  # fmt: skip
        arrays[name] = array
    offsets, indices, values = arrays[OFFSETS], arrays[INDICES], arrays[VALUES]
    if len(offsets) != count + 1:
        raise ValueError(f"{OFFSETS} has {len(offsets) - 1} rows but the manifest's count is {count}")
    if len(indices) != len(values) or offsets[0] != 0 or offsets[-1] != len(values):
        raise ValueError(f"{OFFSETS}, {INDICES} and {VALUES} do not agree ({len(indices)} indices, {len(values)} "
                         f"values, offsets ending at {int(offsets[-1])})")  # fmt: skip
    if count and np.any(np.diff(offsets) < 0):
        raise ValueError(f"{OFFSETS} is not ascending")
    if len(indices) and (int(indices.min()) < 0 or int(indices.max()) >= dimension):
        raise ValueError(f"{INDICES} holds dimensions outside [0, {dimension})")
    return SparseMatrix(offsets, indices, values, dimension)


# ------------------------------------------------------------------------------------------------------ search
def search_sparse(
    matrix: SparseMatrix, queries: SparseRows, top_k: int, block_rows: int = BLOCK_ROWS
) -> list[list[dict[str, Any]]]:
    """The ``top_k`` rows of ``matrix`` by dot product with each query: ``[[{"corpus_id", "score"}, ...], ...]``,
    best first; rows scoring 0 (no shared active dimension) are left out, equal scores rank by id."""
    if queries.dimension != matrix.dimension:
        raise ValueError(f"the model's sparse embeddings have {queries.dimension} dimensions, the index's "
                         f"{matrix.dimension}")  # fmt: skip
    results: list[list[dict[str, Any]]] = []
    for first in range(0, len(queries), QUERY_BLOCK):
        part = queries.select(first, min(first + QUERY_BLOCK, len(queries)))
        dense = torch.from_numpy(part.to_dense().T.copy())  # [dimension, queries]
        best: list[tuple[np.ndarray, np.ndarray]] = [(np.zeros(0, np.int64), np.zeros(0, np.float32))] * len(part)
        for start in range(0, matrix.count, block_rows):
            end = min(start + block_rows, matrix.count)
            scores = (matrix.block(start, end) @ dense).numpy()  # [rows, queries]
            best = [_keep_best(*best[j], scores[:, j], start, top_k) for j in range(len(part))]
        for ids, values in best:
            results.append([{"corpus_id": int(i), "score": float(s)} for i, s in zip(ids, values, strict=True)])
    return results


def _keep_best(ids: np.ndarray, scores: np.ndarray, block: np.ndarray, start: int, top_k: int) -> tuple:
    """The ``top_k`` best of the kept ``ids``/``scores`` (lower ids than the block's) and the non-zero rows of
    ``block`` (scores of rows ``start``…), best first, equal scores by id."""
    found = np.flatnonzero(block)
    if len(found) > top_k:
        kth = np.partition(block[found], len(found) - top_k)[len(found) - top_k]
        found = found[block[found] >= kth]  # ties at the boundary all stay: the lowest ids win below
    all_ids = np.concatenate([ids, found + start])
    all_scores = np.concatenate([scores, block[found].astype(np.float32)])
    order = np.argsort(-all_scores, kind="stable")[:top_k]  # stable: ids ascending among equal scores
    return all_ids[order], all_scores[order]
