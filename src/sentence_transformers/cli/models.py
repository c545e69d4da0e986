"""Which model type a folder holds, and loading it as that type: what ``sbert serve``, ``encode``, ``index``,
``search``, ``info`` and ``export`` share so that a reranker folder is handled as a CrossEncoder, and a sparse
model's folder as a SparseEncoder, without a flag.

A folder is the type its config_sentence_transformers.json names (``"model_type": "CrossEncoder"``,
``"SparseEncoder"`` or ``"MultiVectorEncoder"``); a plain Hugging Face folder (no modules.json) whose config.json
architectures end in ``ForSequenceClassification`` (how most published rerankers are stored) is a CrossEncoder;
anything else is a SentenceTransformer. A MultiVectorEncoder (late interaction) is detected only where the command
handles it (``load_model``, as ``sbert serve`` and ``info`` use it, and ``sbert index build``/``search``); other
commands refuse its folder with a clear message. A plain masked-LM folder stays a SentenceTransformer (most BERT
checkpoints are stored so): ``--model-type SparseEncoder`` loads it as SPLADE, and ``--model-type multi-vector``
a plain checkpoint as a MultiVectorEncoder.
"""

from __future__ import annotations

import json
import os
from typing import Any

SENTENCE_TRANSFORMER, CROSS_ENCODER, SPARSE_ENCODER = "SentenceTransformer", "CrossEncoder", "SparseEncoder"
MULTI_VECTOR_ENCODER = "MultiVectorEncoder"
MODEL_TYPES = (SENTENCE_TRANSFORMER, CROSS_ENCODER, SPARSE_ENCODER, MULTI_VECTOR_ENCODER)
_ALIASES = {
    "sentencetransformer": SENTENCE_TRANSFORMER,
    "embedding": SENTENCE_TRANSFORMER,
    "dense": SENTENCE_TRANSFORMER,
    "crossencoder": CROSS_ENCODER,
    "cross-encoder": CROSS_ENCODER,
    "reranker": CROSS_ENCODER,
    "sparseencoder": SPARSE_ENCODER,
    "sparse-encoder": SPARSE_ENCODER,
    "sparse": SPARSE_ENCODER,
    "splade": SPARSE_ENCODER,
    "multivectorencoder": MULTI_VECTOR_ENCODER,
    "multi-vector-encoder": MULTI_VECTOR_ENCODER,
    "multi-vector": MULTI_VECTOR_ENCODER,
    "multi_vector": MULTI_VECTOR_ENCODER,
    "late-interaction": MULTI_VECTOR_ENCODER,
}


def model_type_name(value: str) -> str:
    """A ``--model-type`` value as its canonical name (``reranker`` and ``cross-encoder`` are CrossEncoder;
    ``sparse`` and ``splade`` are SparseEncoder; ``multi-vector`` and ``late-interaction`` are MultiVectorEncoder;
    ``embedding`` and ``dense`` are SentenceTransformer)."""
    canonical = _ALIASES.get(value.strip().lower())
    if canonical is None:
        raise ValueError(
            f"--model-type must be one of {', '.join(MODEL_TYPES)} (or reranker, sparse, multi-vector, embedding), "
            f"got {value!r}"
        )
    return canonical


def detect_model_type(name: str, multi_vector: bool = False) -> str:
    """The model type of a local folder or cached hub model; SentenceTransformer when it cannot be told (the loader
    then reports a missing model). A MultiVectorEncoder folder is a ValueError unless ``multi_vector`` (the
    command handles late-interaction models)."""
    from sentence_transformers.base.hub import resolve_folder

    try:
        folder = resolve_folder(name, local_files_only=True)
    except (OSError, ValueError):
        try:
            folder = resolve_folder(name)  # a hub model not cached yet: loading it downloads the same snapshot
        except (OSError, ValueError):
            return SENTENCE_TRANSFORMER
    return folder_model_type(folder, multi_vector)


def saved_model_type(name: str) -> str | None:
    """The model type a local folder or cached hub model was saved as (by Sentence Transformers); None for a plain
    Hugging Face folder, or one not found here."""
    from sentence_transformers.base.hub import resolve_folder

    try:
        folder = resolve_folder(name, local_files_only=True)
    except (OSError, ValueError):
        return None
    return _saved_type(folder)


def _saved_type(folder: str) -> str | None:
    saved = _read_json(os.path.join(folder, "config_sentence_transformers.json")).get("model_type")
    if saved:
        return saved
    return SENTENCE_TRANSFORMER if os.path.isfile(os.path.join(folder, "modules.json")) else None


def folder_model_type(folder: str, multi_vector: bool = False) -> str:
    """The model type of a local model folder (see the module's docstring); a MultiVectorEncoder only with
    ``multi_vector``."""
    saved = _saved_type(folder)
    if saved == MULTI_VECTOR_ENCODER and not multi_vector:
        raise ValueError(
            f"{folder!r} holds a MultiVectorEncoder (late-interaction) model; this command handles "
            f"{', '.join(MODEL_TYPES[:-2])} and {MODEL_TYPES[-2]} (serve it with `sbert serve`, index it with "
            "`sbert index build`)"
        )
    if saved is not None:
        if saved not in MODEL_TYPES:
            handled = f"{', '.join(MODEL_TYPES[:-1])} and {MODEL_TYPES[-1]}"
            raise ValueError(f"{folder!r} holds a {saved} model; sbert's commands handle {handled}")
        return saved
    architectures = _read_json(os.path.join(folder, "config.json")).get("architectures") or []
    if any(str(name).endswith("ForSequenceClassification") for name in architectures):
        return CROSS_ENCODER
    return SENTENCE_TRANSFORMER


def load_model(name: str, model_type: str | None = None, **kwargs: Any) -> Any:
    """``name`` loaded as ``model_type`` (default: detected) with the constructor's ``kwargs``."""
    model_type = model_type or detect_model_type(name, multi_vector=True)
    if model_type == CROSS_ENCODER:
        from sentence_transformers.cross_encoder import CrossEncoder

        return CrossEncoder(name, **kwargs)
    if model_type == SPARSE_ENCODER:
        from sentence_transformers.sparse_encoder import SparseEncoder

        return SparseEncoder(name, **kwargs)
    if model_type == MULTI_VECTOR_ENCODER:
        from sentence_transformers.multi_vector_encoder import MultiVectorEncoder

        return MultiVectorEncoder(name, **kwargs)
    from sentence_transformers import SentenceTransformer

    return SentenceTransformer(name, **kwargs)


def is_cross_encoder(model: Any) -> bool:
    """Whether ``model`` scores pairs (a CrossEncoder) rather than embedding texts."""
    return getattr(model, "model_type", None) == CROSS_ENCODER


def is_sparse_encoder(model: Any) -> bool:
    """Whether ``model`` makes sparse embeddings over its vocabulary (a SparseEncoder)."""
    return getattr(model, "model_type", None) == SPARSE_ENCODER


def is_multi_vector_encoder(model: Any) -> bool:
    """Whether ``model`` makes one vector per token (a late-interaction MultiVectorEncoder)."""
    return getattr(model, "model_type", None) == MULTI_VECTOR_ENCODER


def _read_json(path: str) -> dict[str, Any]:
    if not os.path.isfile(path):
        return {}
    try:
        with open(path, encoding="utf-8") as f:
            data = json.load(f)
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}
