"""Hard negative mining: turn (anchor, positive) pairs into triplets, n-tuples or labeled data for training.

A bi-encoder embeds the anchors and a candidate corpus, keeps the most similar candidates per anchor, drops those that
are too close to (or too far from) the anchor, and samples negatives from what is left. A cross-encoder can rescore
the candidates before the thresholds are applied.
"""

from __future__ import annotations

import hashlib
import logging
import os
import random
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

import numpy as np
import torch
from torch import Tensor

from sentence_transformers.util.similarity import cos_sim, pairwise_cos_sim

if TYPE_CHECKING:
    from datasets import Dataset

__all__ = ["mine_hard_negatives"]

logger = logging.getLogger(__name__)

OutputFormat = Literal["triplet", "n-tuple", "n-tuple-scores", "labeled-pair", "labeled-list"]
_OUTPUT_FORMATS = ("triplet", "n-tuple", "labeled-pair", "labeled-list")
_SAMPLING_STRATEGIES = ("top", "random")
_FAISS_GPU_MAX_K = 2048  # FAISS on GPU retrieves at most this many neighbours per query
_NEG_INF = float("-inf")


@dataclass
class _Settings:
    """The mining options after defaults, deprecated arguments and include_positives have been resolved."""

    range_min: int
    range_max: int | None
    max_score: float | None
    min_score: float | None
    absolute_margin: float | None
    relative_margin: float | None
    num_negatives: int
    sampling_strategy: str
    include_positives: bool
    output_format: str
    output_scores: bool
    batch_size: int
    faiss_batch_size: int
    use_multi_process: list[str] | bool
    verbose: bool
    cache_folder: str | None
    prompts: dict[str, str | None]

    @property
    def has_margin(self) -> bool:
        return self.absolute_margin is not None or self.relative_margin is not None

    @property
    def has_threshold(self) -> bool:
        return self.has_margin or self.max_score is not None or self.min_score is not None


@dataclass
class _Texts:
    """Deduplicated anchors and candidate documents, and which documents are positives of which anchor."""

    queries: list[str]  # distinct anchors, in order of first appearance
    corpus: list[str]  # distinct candidate documents; every positive is among them
    positive_ids: list[list[int]]  # per query: corpus ids of its distinct positives
    rows_per_query: list[int]  # dataset rows per anchor, duplicates included

    @property
    def n_positives(self) -> list[int]:
        return [len(ids) for ids in self.positive_ids]

    def pairs(self) -> list[tuple[int, int]]:
        """(query index, corpus id) of every distinct (anchor, positive) pair, grouped by query."""
        return [(query, doc) for query, ids in enumerate(self.positive_ids) for doc in ids]


@dataclass
class _Mined:
    """The negatives chosen per query (``-inf`` score where too few were found) and the positive scores."""

    texts: _Texts
    positive_scores: Tensor  # [n_pairs], in the order of ``texts.pairs()``
    negative_scores: Tensor  # [n_queries, num_negatives], best first
    negative_ids: Tensor  # [n_queries, num_negatives], corpus ids
    skipped: dict[str, tuple[int, int]]  # threshold name -> (candidates it dropped, candidates in all)

    def per_pair(self) -> tuple[Tensor, Tensor]:
        """The negative scores and ids repeated once per positive of each query: [n_pairs, num_negatives]."""
        repeats = torch.tensor(self.texts.n_positives, device=self.negative_scores.device)
        scores = self.negative_scores.repeat_interleave(repeats, dim=0)
        return scores, self.negative_ids.repeat_interleave(repeats, dim=0)


@dataclass
class _Stats:
    """What the verbose report summarises: the kept negative scores, positive minus negative, the best row count."""

    negative_scores: Tensor
    differences: Tensor
    max_rows: int


def mine_hard_negatives(
    dataset: Dataset,
    model: Any,
    anchor_column_name: str | None = None,
    positive_column_name: str | None = None,
    corpus: list[str] | None = None,
    cross_encoder: Any | None = None,
    range_min: int = 0,
    range_max: int | None = None,
    max_score: float | None = None,
    min_score: float | None = None,
    absolute_margin: float | None = None,
    relative_margin: float | None = None,
    num_negatives: int = 3,
    sampling_strategy: Literal["random", "top"] = "top",
    query_prompt_name: str | None = None,
    query_prompt: str | None = None,
    corpus_prompt_name: str | None = None,
    corpus_prompt: str | None = None,
    include_positives: bool = False,
    output_format: OutputFormat = "triplet",
    output_scores: bool = False,
    batch_size: int = 32,
    faiss_batch_size: int = 16384,
    use_faiss: bool = False,
    use_multi_process: list[str] | bool = False,
    verbose: bool = True,
    cache_folder: str | None = None,
    as_triplets: bool | None = None,
    margin: float | None = None,
) -> Dataset:
    """Add hard negatives to a dataset of (anchor, positive) pairs.

    Every anchor is embedded with ``model.encode_query`` and every candidate (the positives plus ``corpus``) with
    ``model.encode_document``; the ``range_max + max positives per anchor`` most similar candidates are kept. Positives
    are excluded (unless ``include_positives``), then candidates are dropped when ``score + absolute_margin`` exceeds
    the anchor's lowest positive score, when ``score`` exceeds ``positive - |positive| * relative_margin``, when it is
    above ``max_score`` or below ``min_score``. The first ``range_min`` survivors are skipped and ``num_negatives`` are
    taken from the next ones, either the best (``"top"``) or at random (``"random"``, Python's ``random`` module).
    With a ``cross_encoder`` (any object with ``predict(pairs, batch_size=...)``) and a threshold, candidate and
    positive scores are recomputed by it first.

    Args:
        dataset: A ``datasets.Dataset`` of (anchor, positive) pairs; an anchor may appear with several positives.
        model: A SentenceTransformer (or an object with ``encode`` and optionally ``encode_query``/``encode_document``,
            ``similarity``, ``similarity_pairwise`` and ``device``).
        anchor_column_name: The anchor column; defaults to (and falls back to, when absent) the first column.
        positive_column_name: The positive column; defaults to (and falls back to, when absent) the second column.
        corpus: Extra candidate documents, besides the positives.
        cross_encoder: Rescores candidates and positives when a margin, max_score or min_score is given.
        range_min: Number of best surviving candidates to skip.
        range_max: Number of best surviving candidates to consider; derived from the other options when None.
        max_score: Drop candidates scoring above it.
        min_score: Drop candidates scoring below it.
        absolute_margin: Drop candidates within this distance of the anchor's lowest positive score.
        relative_margin: Drop candidates above ``positive - |positive| * relative_margin``.
        num_negatives: Negatives per anchor.
        sampling_strategy: "top" or "random".
        query_prompt_name: Prompt name for the anchors; ignored when ``query_prompt`` is given.
        query_prompt: Prompt text prepended to the anchors.
        corpus_prompt_name: Prompt name for the candidates; ignored when ``corpus_prompt`` is given.
        corpus_prompt: Prompt text prepended to the candidates.
        include_positives: Keep positives among the candidates (forces ``output_format="n-tuple"``).
        output_format: "triplet", "n-tuple", "labeled-pair" or "labeled-list" ("n-tuple-scores" is deprecated).
        output_scores: Add a ``scores`` column (triplet, n-tuple), or scores instead of labels (labeled formats).
        batch_size: Encoding (and cross-encoder) batch size.
        faiss_batch_size: Queries per similarity search chunk, with or without FAISS.
        use_faiss: Search with a FAISS inner-product index (needs ``faiss-cpu`` or ``faiss-gpu``).
        use_multi_process: Encode in a pool: True for the default devices, or a list of devices.
        verbose: Print progress and statistics.
        cache_folder: Save the embeddings here, and reuse them on later calls with the same model, prompts and texts.
        as_triplets: Deprecated; use ``output_format``.
        margin: Deprecated; use ``absolute_margin``.

    Returns:
        A new ``datasets.Dataset``: (anchor, positive, negative[, scores]) for "triplet",
        (anchor, positive, negative_1, ..., negative_n[, scores]) for "n-tuple", (anchor, document, label|score) for
        "labeled-pair" and (anchor, [documents], labels|scores) for "labeled-list".
    """
    dataset_class = _require_datasets()
    faiss = _import_faiss() if use_faiss else None
    _check_arguments(dataset, num_negatives, sampling_strategy, faiss_batch_size)
    anchor_column_name, positive_column_name = _resolve_columns(
        dataset.column_names, anchor_column_name, positive_column_name
    )
    prompts = {"query": query_prompt, "query_name": query_prompt_name}
    prompts.update({"corpus": corpus_prompt, "corpus_name": corpus_prompt_name})
    settings = _Settings(
        range_min=range_min, range_max=range_max, max_score=max_score, min_score=min_score,
        absolute_margin=absolute_margin, relative_margin=relative_margin, num_negatives=num_negatives,
        sampling_strategy=sampling_strategy, include_positives=include_positives, output_format=output_format,
        output_scores=output_scores, batch_size=batch_size, faiss_batch_size=faiss_batch_size,
        use_multi_process=use_multi_process, verbose=verbose, cache_folder=cache_folder, prompts=prompts,
    )  # fmt: skip
    _resolve_deprecated(settings, as_triplets, margin)
    texts = _collect_texts(dataset[anchor_column_name], dataset[positive_column_name], corpus, verbose)
    _resolve_range(settings, max(texts.rows_per_query), cross_encoder is not None, faiss)

    mined = _mine(model, cross_encoder, texts, settings, faiss)
    if verbose:
        _say("Negative candidates mined, preparing dataset...")
    data, stats = _BUILDERS[settings.output_format](mined, anchor_column_name, positive_column_name, settings)
    output = dataset_class.from_dict(data)
    if verbose:
        _report(mined, stats, len(output), settings)
    return output


# ----------------------------------------------------------------------------- arguments
def _say(message: str) -> None:
    """Print a verbose message (the report is meant for the console, as upstream prints it)."""
    print(message)  # noqa: T201


def _require_datasets() -> type:
    """The ``datasets.Dataset`` class, or an ImportError telling how to install it."""
    try:
        from datasets import Dataset
    except ImportError as exc:
        raise ImportError(
            'mine_hard_negatives needs the `datasets` package: pip install "sbert[train]" (or pip install datasets).'
        ) from exc
    return Dataset


def _import_faiss() -> Any:
    """The faiss module, or an ImportError telling how to install it."""
    try:
        import faiss
    except ImportError as exc:
        raise ImportError(
            'use_faiss=True needs the `faiss` package: pip install "sbert[search]" (or faiss-cpu / faiss-gpu).'
        ) from exc
    return faiss


def _check_arguments(dataset: Any, num_negatives: int, sampling_strategy: str, faiss_batch_size: int) -> None:
    """Reject arguments that cannot mine anything, with a message naming the argument."""
    if len(dataset) == 0:
        raise ValueError("The dataset is empty. Please provide a non-empty dataset.")
    if faiss_batch_size <= 0:
        raise ValueError(f"faiss_batch_size must be a positive integer, got {faiss_batch_size}.")
    if num_negatives < 1:
        raise ValueError(f"num_negatives must be at least 1, got num_negatives={num_negatives}.")
    if sampling_strategy not in _SAMPLING_STRATEGIES:
        raise ValueError(f"sampling_strategy must be one of {_SAMPLING_STRATEGIES}, got {sampling_strategy!r}.")


def _resolve_columns(columns: list[str], anchor: str | None, positive: str | None) -> tuple[str, str]:
    """The anchor and positive column names: the given ones when present, else the first and second columns."""
    if len(columns) < 2:
        raise ValueError(
            f"The dataset must have an anchor and a positive column, but it only has the columns {columns}."
        )
    return _pick_column(columns, "anchor", anchor, columns[0]), _pick_column(columns, "positive", positive, columns[1])


def _pick_column(columns: list[str], role: str, name: str | None, fallback: str) -> str:
    """``name`` when it is a column, else ``fallback`` (as upstream does), warning when a name was given."""
    if name and name in columns:
        return name
    if name:
        logger.warning(f"{role}_column_name={name!r} is not a column of the dataset {columns}; using {fallback!r}.")
    return fallback


def _resolve_deprecated(settings: _Settings, as_triplets: bool | None, margin: float | None) -> None:
    """Apply the deprecated arguments and the include_positives override, then validate the output format."""
    if as_triplets is not None:
        settings.output_format = "triplet" if as_triplets else "n-tuple"
        logger.warning(f"as_triplets is deprecated; use output_format={settings.output_format!r} instead.")
    if settings.output_format == "n-tuple-scores":
        logger.warning('output_format="n-tuple-scores" is deprecated; use "n-tuple" with output_scores=True.')
        settings.output_format, settings.output_scores = "n-tuple", True
    if margin is not None:
        settings.absolute_margin = margin
        logger.warning(f"margin is deprecated; use absolute_margin or relative_margin. absolute_margin={margin}.")
    if settings.include_positives:
        if settings.has_threshold or settings.range_min or settings.range_max is not None:
            logger.warning("With include_positives=True, the range, score and margin options may drop positives.")
        if settings.sampling_strategy != "top":
            logger.warning("With include_positives=True, random sampling may drop positives.")
        if settings.output_format != "n-tuple":
            logger.warning('include_positives=True keeps the ranking order: output_format is set to "n-tuple".')
            settings.output_format = "n-tuple"
    if settings.output_format not in _OUTPUT_FORMATS:
        raise ValueError(f"output_format must be one of {_OUTPUT_FORMATS}, got {settings.output_format!r}.")


def _resolve_range(settings: _Settings, max_positives: int, has_cross_encoder: bool, faiss: Any) -> None:
    """Derive range_max when it is not given, and check that the candidate window can hold num_negatives."""
    note = ""
    if settings.range_max is None:
        # Leave room for the positives, and for candidates the thresholds will drop.
        will_drop = settings.has_margin or settings.max_score is not None
        will_drop = will_drop or (has_cross_encoder and settings.min_score is not None)
        per_negative = 10 if will_drop else 1
        settings.range_max = settings.range_min + settings.num_negatives * per_negative + max_positives
        gpu_faiss = faiss is not None and getattr(faiss, "get_num_gpus", lambda: 0)() > 0
        if gpu_faiss and settings.range_max + max_positives > _FAISS_GPU_MAX_K:
            settings.range_max = _FAISS_GPU_MAX_K - max_positives
            note = f" range_max was capped to {settings.range_max}: FAISS on GPU retrieves at most 2048 documents."
        if settings.verbose:
            _say(f"Setting range_max to {settings.range_max} based on the provided parameters.{note}")
    if settings.range_min < 0:
        raise ValueError(f"range_min must be non-negative, got range_min={settings.range_min}.")
    if settings.range_min >= settings.range_max:
        raise ValueError(
            f"range_min must be smaller than range_max, got range_min={settings.range_min} and "
            f"range_max={settings.range_max}.{note}"
        )
    window = settings.range_max - settings.range_min
    if settings.num_negatives > window:
        raise ValueError(
            f"Cannot mine {settings.num_negatives} negatives per query: only {window} candidates remain between "
            f"range_min={settings.range_min} and range_max={settings.range_max}. Decrease num_negatives or range_min, "
            f"or increase range_max.{note}"
        )


def _collect_texts(anchors: list[str], positives: list[str], corpus: list[str] | None, verbose: bool) -> _Texts:
    """Deduplicate anchors and documents, and map each anchor to the corpus ids of its positives."""
    anchors, positives = list(anchors), list(positives)
    documents = list(dict.fromkeys(list(corpus or []) + positives))
    doc_ids = {text: index for index, text in enumerate(documents)}
    queries = list(dict.fromkeys(anchors))
    query_ids = {text: index for index, text in enumerate(queries)}
    positive_ids: list[list[int]] = [[] for _ in queries]
    for anchor, positive in zip(anchors, positives, strict=True):
        ids = positive_ids[query_ids[anchor]]
        if doc_ids[positive] not in ids:
            ids.append(doc_ids[positive])
    rows = Counter(anchors)
    texts = _Texts(queries, documents, positive_ids, [rows[query] for query in queries])
    if verbose and len(queries) != len(anchors):
        _say(f"Found {len(queries)} unique queries out of {len(anchors)} total queries.")
    if verbose and max(texts.rows_per_query) > 1:
        _say(f"Found an average of {np.mean(texts.rows_per_query):.3f} positives per query.")
    return texts


# ----------------------------------------------------------------------------- mining
def _mine(model: Any, cross_encoder: Any, texts: _Texts, settings: _Settings, faiss: Any) -> _Mined:
    """Embed, search, rescore, filter and sample: the negatives of every query."""
    device = torch.device(getattr(model, "device", "cpu"))
    query_embeddings, corpus_embeddings = _embed(model, texts, settings)
    k = settings.range_max + max(texts.rows_per_query)
    if faiss is not None:
        scores, indices = _search_faiss(faiss, query_embeddings, corpus_embeddings, k, settings.faiss_batch_size)
        scores, indices = scores.to(device), indices.to(device)
    else:
        scores, indices = _search_torch(model, query_embeddings, corpus_embeddings, k, settings, device)
    positive_scores = _score_positives(model, query_embeddings, corpus_embeddings, texts, device)
    del query_embeddings, corpus_embeddings
    if cross_encoder is not None and settings.has_threshold:
        scores, positive_scores = _rescore(cross_encoder, texts, indices, settings, device)
    scores = scores.masked_fill(indices < 0, _NEG_INF)
    if not settings.include_positives:
        scores = scores.masked_fill(_positive_mask(indices, texts.positive_ids), _NEG_INF)
    skipped = _apply_thresholds(scores, positive_scores, texts.n_positives, settings)
    negative_scores, negative_ids = _select(scores, indices, settings)
    return _Mined(texts, positive_scores, negative_scores, negative_ids, skipped)


def _to_numpy(embeddings: Any) -> np.ndarray:
    if isinstance(embeddings, Tensor):
        return embeddings.detach().float().cpu().numpy()
    return np.asarray(embeddings, dtype=np.float32)


def _encode(model: Any, role: str, texts: list[str], settings: _Settings, pool: Any) -> np.ndarray:
    """Embed texts with ``encode_query``/``encode_document`` (``encode`` when the model lacks them), normalized."""
    encode = getattr(model, f"encode_{role}", None) or model.encode
    prompt_key = "query" if role == "query" else "corpus"
    kwargs = {"pool": pool} if pool is not None else {}
    embeddings = encode(
        texts,
        batch_size=settings.batch_size,
        normalize_embeddings=True,
        convert_to_numpy=True,
        show_progress_bar=settings.verbose,
        prompt_name=settings.prompts[f"{prompt_key}_name"],
        prompt=settings.prompts[prompt_key],
        **kwargs,
    )
    return _to_numpy(embeddings)


def _cache_file(model: Any, role: str, texts: list[str], settings: _Settings) -> str:
    """Path of the cached embeddings for these texts: keyed by the model's name, the prompts and the texts."""
    card = getattr(model, "model_card_data", None)
    model_name = getattr(card, "base_model", None) or ""
    key = "query" if role == "query" else "corpus"
    fingerprint = repr((model_name, settings.prompts[key], settings.prompts[f"{key}_name"], texts))
    digest = hashlib.sha256(fingerprint.encode(), usedforsecurity=False).hexdigest()
    return os.path.join(settings.cache_folder, f"{key}_embeddings_{digest}.npy")


def _embed(model: Any, texts: _Texts, settings: _Settings) -> tuple[np.ndarray, np.ndarray]:
    """Query and corpus embeddings, read from and written to ``cache_folder`` when one is given."""
    jobs = {"query": texts.queries, "document": texts.corpus}
    paths = {role: None for role in jobs}
    if settings.cache_folder:
        os.makedirs(settings.cache_folder, exist_ok=True)
        paths = {role: _cache_file(model, role, items, settings) for role, items in jobs.items()}
    found = {role: _load_cached(path, settings.verbose) for role, path in paths.items()}
    missing = [role for role, embeddings in found.items() if embeddings is None]
    if missing:
        pool = _start_pool(model, settings.use_multi_process)
        try:
            for role in ("document", "query"):  # the corpus first, as upstream does
                if role in missing:
                    found[role] = _encode(model, role, jobs[role], settings, pool)
        finally:
            if pool is not None:
                model.stop_multi_process_pool(pool)
    for role in missing:
        if paths[role] is not None:
            np.save(paths[role], found[role])
            if settings.verbose:
                _say(f"[Cache] Saved {role} embeddings to {paths[role]}")
    return found["query"], found["document"]


def _load_cached(path: str | None, verbose: bool) -> np.ndarray | None:
    if path is None or not os.path.exists(path):
        return None
    embeddings = np.load(path)
    if verbose:
        _say(f"[Cache] Loaded embeddings from {path} (shape={embeddings.shape})")
    return embeddings


def _start_pool(model: Any, use_multi_process: list[str] | bool) -> Any:
    if not use_multi_process:
        return None
    devices = None if isinstance(use_multi_process, bool) else list(use_multi_process)
    return model.start_multi_process_pool(target_devices=devices)


def _similarity_fns(model: Any) -> tuple[Callable[..., Tensor], Callable[..., Tensor]]:
    """The model's matrix and pairwise similarity functions; cosine for a model without them."""
    return getattr(model, "similarity", cos_sim), getattr(model, "similarity_pairwise", pairwise_cos_sim)


def _search_torch(
    model: Any, queries: np.ndarray, corpus: np.ndarray, k: int, settings: _Settings, device: torch.device
) -> tuple[Tensor, Tensor]:
    """The k most similar corpus entries per query, by chunks of queries; padded with id -1 past the corpus size."""
    similarity, _ = _similarity_fns(model)
    corpus_tensor = torch.as_tensor(corpus, device=device)
    top_k = min(k, len(corpus))
    all_scores, all_indices = [], []
    for start in range(0, len(queries), settings.faiss_batch_size):
        chunk = torch.as_tensor(queries[start : start + settings.faiss_batch_size], device=device)
        chunk_scores, chunk_indices = torch.topk(similarity(chunk, corpus_tensor).to(device), k=top_k, dim=1)
        all_scores.append(chunk_scores)
        all_indices.append(chunk_indices)
    return _pad(torch.cat(all_scores), torch.cat(all_indices), k)


def _search_faiss(faiss: Any, queries: np.ndarray, corpus: np.ndarray, k: int, chunk: int) -> tuple[Tensor, Tensor]:
    """The k best inner products per query from a flat FAISS index (sharded over the GPUs when there are any)."""
    index = faiss.IndexFlatIP(corpus.shape[1])
    if getattr(faiss, "get_num_gpus", lambda: 0)() > 0:
        options = faiss.GpuMultipleClonerOptions()
        options.shard, options.useFloat16 = True, True
        index = faiss.index_cpu_to_all_gpus(index, co=options)
    index.add(np.ascontiguousarray(corpus, dtype=np.float32))
    all_scores, all_indices = [], []
    for start in range(0, len(queries), chunk):
        part = np.ascontiguousarray(queries[start : start + chunk], dtype=np.float32)
        chunk_scores, chunk_indices = index.search(part, k)
        all_scores.append(chunk_scores)
        all_indices.append(chunk_indices)
    scores = torch.from_numpy(np.concatenate(all_scores))
    return _pad(scores, torch.from_numpy(np.concatenate(all_indices)).long(), k)


def _pad(scores: Tensor, indices: Tensor, k: int) -> tuple[Tensor, Tensor]:
    """Pad to k columns with score -inf and id -1."""
    missing = k - scores.size(1)
    if missing <= 0:
        return scores, indices
    scores = torch.cat([scores, scores.new_full((scores.size(0), missing), _NEG_INF)], dim=1)
    return scores, torch.cat([indices, indices.new_full((indices.size(0), missing), -1)], dim=1)


def _score_positives(
    model: Any, queries: np.ndarray, corpus: np.ndarray, texts: _Texts, device: torch.device
) -> Tensor:
    """Similarity of every (anchor, positive) pair, in the order of ``texts.pairs()``."""
    _, pairwise = _similarity_fns(model)
    pairs = texts.pairs()
    query_rows = torch.as_tensor(queries[[query for query, _ in pairs]])
    doc_rows = torch.as_tensor(corpus[[doc for _, doc in pairs]])
    return pairwise(query_rows, doc_rows).to(device)


def _rescore(
    cross_encoder: Any, texts: _Texts, indices: Tensor, settings: _Settings, device: torch.device
) -> tuple[Tensor, Tensor]:
    """Candidate and positive scores from the cross-encoder; padded candidates stay at -inf."""
    rows, cols = (indices >= 0).nonzero(as_tuple=True)
    candidate_ids = indices[rows, cols].tolist()
    pairs = [(texts.queries[row], texts.corpus[doc]) for row, doc in zip(rows.tolist(), candidate_ids, strict=True)]
    positive_pairs = [(texts.queries[query], texts.corpus[doc]) for query, doc in texts.pairs()]
    pool = _start_pool(cross_encoder, settings.use_multi_process)
    try:
        candidate_scores = _predict(cross_encoder, pairs, settings.batch_size, pool).to(device)
        positive_scores = _predict(cross_encoder, positive_pairs, settings.batch_size, pool).to(device)
    finally:
        if pool is not None:
            cross_encoder.stop_multi_process_pool(pool)
    scores = torch.full(indices.shape, _NEG_INF, device=device, dtype=candidate_scores.dtype)
    scores[rows.to(device), cols.to(device)] = candidate_scores
    return scores, positive_scores


def _predict(cross_encoder: Any, pairs: list[tuple[str, str]], batch_size: int, pool: Any) -> Tensor:
    """Cross-encoder scores as a 1-D float tensor."""
    kwargs = {"pool": pool} if pool is not None else {}
    scores = cross_encoder.predict(pairs, batch_size=batch_size, convert_to_tensor=True, **kwargs)
    scores = scores.detach() if isinstance(scores, Tensor) else torch.as_tensor(np.asarray(scores))
    return scores.float().reshape(len(pairs))


def _positive_mask(indices: Tensor, positive_ids: list[list[int]]) -> Tensor:
    """True where a candidate is one of its query's positives."""
    width = max(len(ids) for ids in positive_ids)
    padded = [ids + [-2] * (width - len(ids)) for ids in positive_ids]  # -2 matches no candidate, not even padding
    positives = torch.tensor(padded, device=indices.device)
    chunk = 1024  # bounds the [chunk, candidates, positives] comparison
    parts = [
        (indices[start : start + chunk].unsqueeze(2) == positives[start : start + chunk].unsqueeze(1)).any(dim=2)
        for start in range(0, len(indices), chunk)
    ]
    return torch.cat(parts)


def _apply_thresholds(
    scores: Tensor, positive_scores: Tensor, n_positives: list[int], settings: _Settings
) -> dict[str, tuple[int, int]]:
    """Set to -inf (in place) the candidates that a margin, max_score or min_score rules out; count them."""
    drops: list[tuple[str, Callable[[Tensor], Tensor]]] = []
    if settings.has_margin:
        # With several positives, the margin is taken from the hardest (lowest scoring) one.
        hardest = torch.stack([part.min() for part in positive_scores.split(n_positives)]).unsqueeze(1)
        if settings.absolute_margin is not None:
            drops.append(("absolute_margin", lambda s: s + settings.absolute_margin > hardest))
        if settings.relative_margin is not None:
            drops.append(("relative_margin", lambda s: s > hardest - hardest.abs() * settings.relative_margin))
    if settings.max_score is not None:
        drops.append(("max_score", lambda s: s > settings.max_score))
    if settings.min_score is not None:
        drops.append(("min_score", lambda s: s < settings.min_score))
    skipped = {}
    for name, rule in drops:
        removed = rule(scores) & ~torch.isneginf(scores)
        scores[removed] = _NEG_INF
        skipped[name] = (int(removed.sum()), scores.numel())
    return skipped


def _select(scores: Tensor, indices: Tensor, settings: _Settings) -> tuple[Tensor, Tensor]:
    """Rank the surviving candidates, skip range_min, and take num_negatives: the best or a random sample."""
    ranked_scores, order = torch.topk(scores, k=settings.range_max, dim=1)
    ranked_ids = indices.gather(1, order)
    ranked_scores, ranked_ids = ranked_scores[:, settings.range_min :], ranked_ids[:, settings.range_min :]
    count = settings.num_negatives
    if settings.sampling_strategy == "top":
        return ranked_scores[:, :count], ranked_ids[:, :count]
    # Sample among the surviving candidates; only when too few survive may a -inf (empty) slot be drawn.
    available = (~torch.isneginf(ranked_scores)).sum(dim=1).clamp(min=count).tolist()
    picks = torch.tensor([random.sample(range(size), k=count) for size in available], device=scores.device)
    picked_scores, picked_ids = ranked_scores.gather(1, picks), ranked_ids.gather(1, picks)
    picked_scores, resort = picked_scores.sort(dim=1, descending=True)
    return picked_scores, picked_ids.gather(1, resort)


# ----------------------------------------------------------------------------- output formats
def _triplets(mined: _Mined, anchor: str, positive: str, settings: _Settings) -> tuple[dict, _Stats]:
    """One (anchor, positive, negative) row per found negative of every pair."""
    texts = mined.texts
    negative_scores, negative_ids = mined.per_pair()
    rows, cols = (~torch.isneginf(negative_scores)).nonzero(as_tuple=True)
    pairs = texts.pairs()
    data: dict[str, list] = {anchor: [], positive: [], "negative": []}
    for row, doc in zip(rows.tolist(), negative_ids[rows, cols].tolist(), strict=True):
        query, positive_id = pairs[row]
        data[anchor].append(texts.queries[query])
        data[positive].append(texts.corpus[positive_id])
        data["negative"].append(texts.corpus[doc])
    kept_positive, kept_negative = mined.positive_scores[rows], negative_scores[rows, cols]
    if settings.output_scores:
        data["scores"] = torch.stack([kept_positive, kept_negative], dim=1).tolist()
    return data, _Stats(kept_negative, kept_positive - kept_negative, negative_scores.numel())


def _labeled_pairs(mined: _Mined, anchor: str, positive: str, settings: _Settings) -> tuple[dict, _Stats]:
    """Per query: its positives labeled 1, then its found negatives labeled 0 (or their scores)."""
    texts = mined.texts
    label_column = "score" if settings.output_scores else "label"
    data: dict[str, list] = {anchor: [], positive: [], label_column: []}

    def add(query: int, doc: int, label: int, score: float) -> None:
        data[anchor].append(texts.queries[query])
        data[positive].append(texts.corpus[doc])
        data[label_column].append(score if settings.output_scores else label)

    positive_scores = iter(mined.positive_scores.tolist())
    for query, ids in enumerate(texts.positive_ids):
        for doc in ids:
            add(query, doc, 1, next(positive_scores))
        for doc, score in zip(mined.negative_ids[query].tolist(), mined.negative_scores[query].tolist(), strict=True):
            if score != _NEG_INF:
                add(query, doc, 0, score)
    negative_scores, _ = mined.per_pair()
    keep = ~torch.isneginf(negative_scores)
    differences = mined.positive_scores.unsqueeze(1).expand_as(negative_scores)[keep] - negative_scores[keep]
    max_rows = len(texts.queries) * settings.num_negatives + sum(texts.rows_per_query)
    return data, _Stats(negative_scores[keep], differences, max_rows)


def _n_tuples(mined: _Mined, anchor: str, positive: str, settings: _Settings) -> tuple[dict, _Stats]:
    """One (anchor, positive, negative_1, ..., negative_n) row per pair that found all n negatives."""
    texts = mined.texts
    negative_scores, negative_ids = mined.per_pair()
    keep = (~torch.isneginf(negative_scores)).all(dim=1)
    kept_pairs = [pair for pair, kept in zip(texts.pairs(), keep.tolist(), strict=True) if kept]
    data: dict[str, list] = {
        anchor: [texts.queries[query] for query, _ in kept_pairs],
        positive: [texts.corpus[doc] for _, doc in kept_pairs],
    }
    for column, ids in enumerate(negative_ids[keep].T.tolist(), start=1):
        data[f"negative_{column}"] = [texts.corpus[doc] for doc in ids]
    if not kept_pairs:  # no row: still name every negative column
        data.update({f"negative_{column}": [] for column in range(1, settings.num_negatives + 1)})
    kept_positive, kept_negative = mined.positive_scores[keep], negative_scores[keep]
    if settings.output_scores:
        data["scores"] = torch.cat([kept_positive.unsqueeze(1), kept_negative], dim=1).tolist()
    differences = (kept_positive.unsqueeze(1) - kept_negative).flatten()
    return data, _Stats(kept_negative.flatten(), differences, len(keep))


def _labeled_lists(mined: _Mined, anchor: str, positive: str, settings: _Settings) -> tuple[dict, _Stats]:
    """One (anchor, [positive, negatives...], [1, 0, ...]) row per pair that found at least one negative."""
    texts = mined.texts
    negative_scores, negative_ids = mined.per_pair()
    keep = ~torch.isneginf(negative_scores)
    label_column = "scores" if settings.output_scores else "labels"
    data: dict[str, list] = {anchor: [], positive: [], label_column: []}
    positive_scores = mined.positive_scores.tolist()
    for row, (query, doc) in enumerate(texts.pairs()):
        if not keep[row].any():
            continue
        kept_ids = negative_ids[row][keep[row]].tolist()
        data[anchor].append(texts.queries[query])
        data[positive].append([texts.corpus[doc]] + [texts.corpus[neg] for neg in kept_ids])
        if settings.output_scores:
            data[label_column].append([positive_scores[row]] + negative_scores[row][keep[row]].tolist())
        else:
            data[label_column].append([1] + [0] * len(kept_ids))
    differences = mined.positive_scores.unsqueeze(1).expand_as(negative_scores)[keep] - negative_scores[keep]
    return data, _Stats(negative_scores[keep], differences, keep.size(0))


_BUILDERS: dict[str, Callable[[_Mined, str, str, _Settings], tuple[dict, _Stats]]] = {
    "triplet": _triplets,
    "labeled-pair": _labeled_pairs,
    "n-tuple": _n_tuples,
    "labeled-list": _labeled_lists,
}


# ----------------------------------------------------------------------------- report
def _describe(scores: Tensor) -> list[str]:
    """Count, mean, median, std, min, quartiles and max of a score tensor, formatted ("-" when undefined)."""
    if scores.numel() == 0:
        return [f"{0:,}"] + ["-"] * 8
    values = scores.detach().float().cpu()
    quartiles = torch.quantile(values, torch.tensor([0.25, 0.5, 0.75])).tolist()
    std = values.std().item() if values.numel() > 1 else float("nan")
    stats = [values.mean().item(), values.median().item(), std, values.min().item(), *quartiles, values.max().item()]
    return [f"{values.numel():,}"] + [f"{value:.4f}" for value in stats]


def _report(mined: _Mined, stats: _Stats, n_rows: int, settings: _Settings) -> None:
    """Print score statistics, how many candidates each threshold dropped, and how many rows fell short."""
    row_format = "{:<6} {:>14} {:>14} {:>14}"
    metrics = ["Count", "Mean", "Median", "Std", "Min", "25%", "50%", "75%", "Max"]
    columns = [_describe(mined.positive_scores), _describe(stats.negative_scores), _describe(stats.differences)]
    columns[2][0] = ""
    _say(row_format.format("Metric", "Positive", "Negative", "Difference"))
    for metric, *values in zip(metrics, *columns, strict=True):
        _say(row_format.format(metric, *values))
    for name, (skipped, total) in mined.skipped.items():
        if skipped:
            value = getattr(settings, name)
            _say(f"Skipped {skipped:,} potential negatives ({skipped / total:.2%}) due to the {name} of {value}.")
    missing = stats.max_rows - n_rows
    if missing > 0:
        options = ["range_max"] + (["range_min"] if settings.range_min > 0 else [])
        options += [
            name for name in ("absolute_margin", "relative_margin", "max_score") if getattr(settings, name) is not None
        ]
        _say(
            f"Could not find enough negatives for {missing} samples ({missing / stats.max_rows:.2%}). "
            f"Consider adjusting {', '.join(options)} if you'd like to find more valid negatives."
        )
