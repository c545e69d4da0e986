"""A compressed late-interaction index: int8 token vectors plus centroid candidate generation (PLAID-style).

Every token vector is stored as int8 codes with one float16 scale per vector (about a quarter of float32), and
is assigned to its nearest k-means centroid. A search runs in three stages, none of which loops over documents:

1. each query token probes its ``n_probe`` most similar centroids; the documents with a token in any probed
   centroid are the candidates;
2. the candidates are ranked by an approximate MaxSim in which every document token is replaced by its
   centroid, and the best ``n_rescore`` are kept;
3. those are scored with MaxSim over their dequantized int8 vectors, and optionally the best ``n_full`` again
   over full-precision vectors the caller supplies.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
import torch
from torch import Tensor

from sentence_transformers.util.similarity import maxsim

__all__ = ["MultiVectorIndex"]

_ARRAYS = ("codes", "scales", "token_centroids", "doc_offsets", "centroids", "ivf_docs", "ivf_offsets")
_FORMAT_VERSION = 1
MaskLike = Tensor | np.ndarray | None
MultiVectors = Sequence[Tensor | np.ndarray] | Tensor | np.ndarray
# What a document without any token scores, as in util.similarity.maxsim.
_EMPTY_DOCUMENT_SCORE = -1e9


def _as_float_list(embeddings: MultiVectors, mask: MaskLike = None) -> list[Tensor]:
    """Multi-vector input (a list of ``(tokens, dim)`` items, or padded with an optional mask) as float32 items."""
    if isinstance(embeddings, (Tensor, np.ndarray)) and embeddings.ndim == 3:
        padded = torch.as_tensor(embeddings).float()
        keep = padded.any(dim=-1) if mask is None else torch.as_tensor(mask).bool()
        return [item[row_mask] for item, row_mask in zip(padded, keep, strict=True)]
    if isinstance(embeddings, (Tensor, np.ndarray)) and embeddings.ndim == 2:
        return [torch.as_tensor(embeddings).float()]
    items = [torch.as_tensor(item).float() for item in embeddings]
    for item in items:
        if item.ndim != 2:
            raise ValueError(f"Each multi-vector item must be (tokens, dim), got shape {tuple(item.shape)}.")
    return items


def quantize_int8(vectors: Tensor) -> tuple[Tensor, Tensor]:
    """Symmetric per-vector int8 codes and float16 scales with ``vectors ≈ codes * scales[:, None]``."""
    scales = vectors.abs().amax(dim=1).clamp(min=1e-12) / 127.0
    scales = scales.half().float().clamp(min=6e-8)  # quantize against the scale that is actually stored
    codes = torch.round(vectors / scales.unsqueeze(1)).clamp_(-127, 127).to(torch.int8)
    return codes, scales.half()


def kmeans(vectors: Tensor, n_centroids: int, iterations: int = 10, seed: int = 0, chunk: int = 8192) -> Tensor:
    """Lloyd's k-means (squared Euclidean) from a k-means++ start; empty clusters are re-seeded."""
    generator = torch.Generator().manual_seed(seed)
    n_centroids = min(n_centroids, len(vectors))
    centroids = _kmeans_plus_plus(vectors, n_centroids, generator)
    for _ in range(iterations):
        assignment = assign(vectors, centroids, chunk)
        sums = torch.zeros_like(centroids).index_add_(0, assignment, vectors)
        counts = torch.bincount(assignment, minlength=n_centroids)
        empty = counts == 0
        centroids = sums / counts.clamp(min=1).unsqueeze(1).to(sums.dtype)
        if empty.any():
            refill = torch.randint(len(vectors), (int(empty.sum()),), generator=generator)
            centroids[empty] = vectors[refill]
    return centroids


def _kmeans_plus_plus(vectors: Tensor, n_centroids: int, generator: torch.Generator) -> Tensor:
    """k-means++ seeding (each next centre drawn with probability ∝ squared distance) on a pool of the vectors."""
    pool = vectors[torch.randperm(len(vectors), generator=generator)[: 16 * n_centroids]]
    chosen = [int(torch.randint(len(pool), (1,), generator=generator))]
    distances = (pool - pool[chosen[0]]).pow(2).sum(dim=1)
    for _ in range(1, n_centroids):
        total = distances.sum()
        if total <= 0:  # every pool point coincides with a centre already: draw uniformly
            pick = int(torch.randint(len(pool), (1,), generator=generator))
        else:
            pick = int(torch.multinomial(distances / total, 1, generator=generator))
        chosen.append(pick)
        distances = torch.minimum(distances, (pool - pool[pick]).pow(2).sum(dim=1))
    return pool[chosen].clone()


def assign(vectors: Tensor, centroids: Tensor, chunk: int = 8192) -> Tensor:
    """Index of the nearest centroid (squared Euclidean) of every vector, computed ``chunk`` rows at a time."""
    half_norms = 0.5 * centroids.pow(2).sum(dim=1)
    parts = [(rows @ centroids.T - half_norms).argmax(dim=1) for rows in vectors.split(chunk)]
    return torch.cat(parts) if parts else torch.zeros(0, dtype=torch.long)


def _dequantize(codes: Tensor, scales: Tensor) -> Tensor:
    """Float32 vectors back from int8 codes and their per-vector scales."""
    return codes.float() * scales.float().unsqueeze(1)


def _segment_max(values: Tensor, segment: Tensor, n_segments: int) -> Tensor:
    """``out[:, s] = max(values[:, segment == s])`` for ``(rows, n)`` values; empty segments are -inf."""
    out = values.new_full((len(values), n_segments), float("-inf"))
    return out.scatter_reduce(1, segment.unsqueeze(0).expand_as(values), values, reduce="amax")


class MultiVectorIndex:
    """Compressed MaxSim index over multi-vector documents.

    Args:
        n_centroids: k-means centroids; None picks a power of two near ``4 * sqrt(total tokens)`` at the first
            :meth:`add`, when the centroids are trained on that batch's token vectors.
        n_probe: centroids each query token probes for candidates.
        n_rescore: candidates (after the centroid approximation) rescored on the int8 vectors.
        kmeans_iterations: Lloyd iterations when training the centroids.
        kmeans_sample: most token vectors the centroids are trained on.
        seed: seed of the k-means sample and initialisation.

    Example::

        index = MultiVectorIndex()
        index.add(corpus_token_embeddings)          # list of (tokens_i, dim) tensors
        hits = index.search(query_token_embeddings, top_k=10)
        index.save("my_index"); index = MultiVectorIndex.load("my_index")
    """

    def __init__(
        self,
        n_centroids: int | None = None,
        n_probe: int = 4,
        n_rescore: int = 256,
        kmeans_iterations: int = 10,
        kmeans_sample: int = 65_536,
        seed: int = 0,
    ) -> None:
        for name, value in (("n_probe", n_probe), ("n_rescore", n_rescore), ("kmeans_sample", kmeans_sample)):
            if value <= 0:
                raise ValueError(f"`{name}` must be a positive integer, got {value!r}.")
        if n_centroids is not None and n_centroids <= 0:
            raise ValueError(f"`n_centroids` must be a positive integer or None, got {n_centroids!r}.")
        self.n_centroids = n_centroids
        self.n_probe = n_probe
        self.n_rescore = n_rescore
        self.kmeans_iterations = kmeans_iterations
        self.kmeans_sample = kmeans_sample
        self.seed = seed
        self.centroids: Tensor | None = None
        self._codes: list[Tensor] = []
        self._scales: list[Tensor] = []
        self._token_centroids: list[Tensor] = []
        self._lengths: list[int] = []
        self._packed: dict[str, Tensor] | None = None

    def __len__(self) -> int:
        return len(self._lengths)

    @property
    def dim(self) -> int | None:
        """Token embedding size, or None before the first :meth:`add`."""
        return None if self.centroids is None else self.centroids.shape[1]

    def train(self, token_vectors: Tensor | np.ndarray) -> None:
        """Fit the centroids on ``(n, dim)`` token vectors (a sample of at most ``kmeans_sample`` is used)."""
        vectors = torch.as_tensor(token_vectors).float()
        if vectors.ndim != 2 or len(vectors) == 0:
            raise ValueError(f"train() needs a non-empty (n, dim) matrix of token vectors, got {tuple(vectors.shape)}.")
        n_centroids = self.n_centroids or max(1, 2 ** round(np.log2(4 * np.sqrt(len(vectors)))))
        if len(vectors) > self.kmeans_sample:
            generator = torch.Generator().manual_seed(self.seed)
            vectors = vectors[torch.randperm(len(vectors), generator=generator)[: self.kmeans_sample]]
        self.centroids = kmeans(vectors, n_centroids, self.kmeans_iterations, self.seed)
        self.n_centroids = len(self.centroids)

    def add(self, embeddings: MultiVectors, mask: MaskLike = None) -> list[int]:
        """Add documents (a list of ``(tokens_i, dim)`` items, or padded with ``mask``); returns their ids.

        The first call trains the centroids on its token vectors unless :meth:`train` ran before.
        """
        documents = _as_float_list(embeddings, mask)
        if not documents:
            return []
        vectors = torch.cat(documents)
        if self.centroids is None:
            self.train(vectors)
        if vectors.shape[1] != self.dim:
            raise ValueError(f"Token vectors have {vectors.shape[1]} dimensions, the index holds {self.dim}.")
        codes, scales = quantize_int8(vectors)
        self._codes.append(codes)
        self._scales.append(scales)
        # int16 ids where the centroids fit: two bytes a token instead of four.
        id_dtype = torch.int16 if self.n_centroids <= torch.iinfo(torch.int16).max else torch.int32
        self._token_centroids.append(assign(vectors, self.centroids).to(id_dtype))
        first = len(self._lengths)
        self._lengths.extend(len(document) for document in documents)
        self._packed = None
        return list(range(first, len(self._lengths)))

    def _pack(self) -> dict[str, Tensor]:
        """Concatenated storage plus the inverted lists (centroid → documents), rebuilt after an :meth:`add`."""
        if self._packed is not None:
            return self._packed
        for parts in (self._codes, self._scales, self._token_centroids):
            parts[:] = [torch.cat(parts)] if len(parts) > 1 else parts
        lengths = torch.tensor(self._lengths, dtype=torch.int64)
        offsets = torch.zeros(len(lengths) + 1, dtype=torch.int64)
        offsets[1:] = torch.cumsum(lengths, 0)
        token_docs = torch.repeat_interleave(torch.arange(len(lengths)), lengths)
        token_centroids = self._token_centroids[0] if self._token_centroids else torch.zeros(0, dtype=torch.int32)
        # One (centroid, document) entry per distinct pair, sorted by centroid: a CSR inverted list.
        pairs = torch.unique(token_centroids.long() * max(len(lengths), 1) + token_docs)
        ivf_centroids = pairs // max(len(lengths), 1)
        ivf_offsets = torch.zeros(self.n_centroids + 1, dtype=torch.int64)
        ivf_offsets[1:] = torch.cumsum(torch.bincount(ivf_centroids, minlength=self.n_centroids), 0)
        self._packed = {
            "codes": self._codes[0] if self._codes else torch.zeros(0, self.dim or 0, dtype=torch.int8),
            "scales": self._scales[0] if self._scales else torch.zeros(0, dtype=torch.float16),
            "token_centroids": token_centroids,
            "doc_offsets": offsets,
            "ivf_docs": (pairs % max(len(lengths), 1)).to(torch.int32),
            "ivf_offsets": ivf_offsets,
        }
        return self._packed

    def memory_usage(self) -> dict[str, int | float]:
        """Bytes held per part, their total, the float32 size of the same token vectors and the ratio."""
        packed = self._pack() if len(self) else {}
        sizes = {name: t.numel() * t.element_size() for name, t in packed.items()}
        sizes["centroids"] = 0 if self.centroids is None else self.centroids.numel() * 4
        total = sum(sizes.values())
        n_tokens = sum(self._lengths)
        float32 = n_tokens * (self.dim or 0) * 4
        return {**sizes, "total": total, "tokens": n_tokens, "float32": float32, "ratio": total / max(float32, 1)}

    def _gather_tokens(self, doc_ids: Tensor) -> tuple[Tensor, Tensor]:
        """Token rows of ``doc_ids`` (concatenated) and, for each row, the position of its document in doc_ids."""
        offsets = self._pack()["doc_offsets"]
        starts, lengths = offsets[doc_ids], offsets[doc_ids + 1] - offsets[doc_ids]
        owner = torch.repeat_interleave(torch.arange(len(doc_ids)), lengths)
        first_row = torch.cumsum(lengths, 0) - lengths
        rows = starts[owner] + torch.arange(len(owner)) - first_row[owner]
        return rows, owner

    def _candidates(self, centroid_sims: Tensor, n_probe: int) -> Tensor:
        """Documents with a token in any centroid among the ``n_probe`` nearest of some query token."""
        packed = self._pack()
        probed = centroid_sims.topk(min(n_probe, self.n_centroids), dim=1).indices.unique()
        starts, ends = packed["ivf_offsets"][probed], packed["ivf_offsets"][probed + 1]
        owner = torch.repeat_interleave(torch.arange(len(probed)), ends - starts)
        first = torch.cumsum(ends - starts, 0) - (ends - starts)
        entries = starts[owner] + torch.arange(len(owner)) - first[owner]
        return packed["ivf_docs"][entries].long().unique()

    def _late_interaction(self, doc_ids: Tensor, token_sims: Callable[[Tensor], Tensor]) -> Tensor:
        """MaxSim of one query against ``doc_ids``; ``token_sims(rows)`` gives its ``(q_tokens, rows)`` sims."""
        rows, owner = self._gather_tokens(doc_ids)
        best = _segment_max(token_sims(rows), owner, len(doc_ids))
        scores = best.masked_fill(best.isneginf(), 0.0).sum(dim=0)
        offsets = self._pack()["doc_offsets"]
        return scores.masked_fill(offsets[doc_ids + 1] == offsets[doc_ids], _EMPTY_DOCUMENT_SCORE)

    def search(
        self,
        query_embeddings: MultiVectors,
        top_k: int = 10,
        query_mask: MaskLike = None,
        n_probe: int | None = None,
        n_rescore: int | None = None,
        full_precision: Callable[[list[int]], Sequence[Tensor | np.ndarray]] | None = None,
        n_full: int | None = None,
    ) -> list[list[dict[str, int | float]]]:
        """The ``top_k`` documents of every query, as ``semantic_search`` returns them.

        Args:
            query_embeddings: a list of ``(tokens_i, dim)`` queries, one ``(tokens, dim)`` query, or a padded
                ``(queries, tokens, dim)`` tensor with ``query_mask``.
            top_k: documents returned per query.
            query_mask: mask for padded queries (default: all-zero rows are padding).
            n_probe: centroids probed per query token (default: the index's setting).
            n_rescore: candidates rescored on the int8 vectors (default: the index's setting).
            full_precision: optional callable mapping a list of document ids to their full-precision
                ``(tokens, dim)`` embeddings; the best ``n_full`` int8 results are then rescored exactly.
            n_full: documents rescored with ``full_precision`` (default: ``2 * top_k``).

        Returns:
            One list per query of ``{"corpus_id", "score"}`` dicts, best first.
        """
        if top_k <= 0:
            raise ValueError(f"`top_k` must be a positive integer, got {top_k!r}.")
        queries = _as_float_list(query_embeddings, query_mask)
        if len(self) == 0:
            return [[] for _ in queries]
        n_probe = n_probe or self.n_probe
        n_rescore = max(n_rescore or self.n_rescore, top_k)
        return [self._search_one(q, top_k, n_probe, n_rescore, full_precision, n_full) for q in queries]

    def _search_one(
        self,
        query: Tensor,
        top_k: int,
        n_probe: int,
        n_rescore: int,
        full_precision: Callable[[list[int]], Sequence[Tensor | np.ndarray]] | None,
        n_full: int | None,
    ) -> list[dict[str, int | float]]:
        """One query through the three stages (see the module docstring)."""
        packed = self._pack()
        centroid_sims = query @ self.centroids.T
        candidates = self._candidates(centroid_sims, n_probe)
        if len(candidates) > n_rescore:
            # Each document token stands in as its centroid: a lookup into the query-centroid similarities.
            token_centroids = packed["token_centroids"]
            approx = self._late_interaction(candidates, lambda rows: centroid_sims[:, token_centroids[rows].long()])
            candidates = candidates[approx.topk(n_rescore).indices]
        codes, scales = packed["codes"], packed["scales"]
        scores = self._late_interaction(candidates, lambda rows: query @ _dequantize(codes[rows], scales[rows]).T)
        order = scores.argsort(descending=True)
        candidates, scores = candidates[order], scores[order]
        if full_precision is not None:
            keep = max(n_full or 2 * top_k, top_k)
            head = candidates[:keep].tolist()
            exact = maxsim(query.unsqueeze(0), [torch.as_tensor(d).float() for d in full_precision(head)])[0]
            order = exact.argsort(descending=True)
            candidates, scores = torch.tensor(head)[order], exact[order]
        hits = zip(candidates[:top_k].tolist(), scores[:top_k].tolist(), strict=True)
        return [{"corpus_id": int(i), "score": float(s)} for i, s in hits]

    def save(self, path: str | os.PathLike) -> None:
        """Write the index as ``.npy`` files plus ``config.json`` into the folder ``path``, atomically.

        Everything is written to a temporary folder beside ``path`` that is then renamed into place, so a crash
        leaves either the old index or the new one, never a half-written one.
        """
        if self.centroids is None:
            raise ValueError("Cannot save an empty MultiVectorIndex: add() documents first.")
        target = Path(path)
        target.parent.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(prefix=f".{target.name}.", dir=target.parent))
        try:
            arrays = {**self._pack(), "centroids": self.centroids}
            for name in _ARRAYS:
                np.save(staging / f"{name}.npy", arrays[name].numpy())
            (staging / "config.json").write_text(json.dumps(self._config(), indent=2), encoding="utf-8")
            _replace_dir(staging, target)
        except BaseException:
            shutil.rmtree(staging, ignore_errors=True)
            raise

    def _config(self) -> dict[str, int | None]:
        return {
            "format_version": _FORMAT_VERSION,
            "n_centroids": self.n_centroids,
            "n_probe": self.n_probe,
            "n_rescore": self.n_rescore,
            "kmeans_iterations": self.kmeans_iterations,
            "kmeans_sample": self.kmeans_sample,
            "seed": self.seed,
        }

    @classmethod
    def load(cls, path: str | os.PathLike) -> MultiVectorIndex:
        """Read an index written by :meth:`save`."""
        folder = Path(path)
        config_path = folder / "config.json"
        if not config_path.is_file():
            raise FileNotFoundError(f"No MultiVectorIndex at {folder}: config.json is missing.")
        config = json.loads(config_path.read_text(encoding="utf-8"))
        if config.pop("format_version", None) != _FORMAT_VERSION:
            raise ValueError(f"{config_path} is not a version {_FORMAT_VERSION} MultiVectorIndex config.")
        index = cls(**config)
        arrays = {name: torch.from_numpy(np.load(folder / f"{name}.npy")) for name in _ARRAYS}
        index.centroids = arrays.pop("centroids")
        offsets = arrays["doc_offsets"]
        index._lengths = (offsets[1:] - offsets[:-1]).tolist()
        index._codes, index._scales = [arrays["codes"]], [arrays["scales"]]
        index._token_centroids = [arrays["token_centroids"]]
        index._packed = arrays
        return index


def _replace_dir(staging: Path, target: Path) -> None:
    """Move the finished ``staging`` folder to ``target``, swapping out an existing index there."""
    if not target.exists():
        os.replace(staging, target)
        return
    backup = Path(tempfile.mkdtemp(prefix=f".{target.name}.old.", dir=target.parent))
    backup.rmdir()
    os.replace(target, backup)
    try:
        os.replace(staging, target)
    except BaseException:
        os.replace(backup, target)
        raise
    shutil.rmtree(backup, ignore_errors=True)
