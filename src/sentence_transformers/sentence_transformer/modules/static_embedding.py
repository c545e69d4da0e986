"""StaticEmbedding: a text's embedding is the mean of learned per-token vectors (model2vec-style static models).

No attention and no context: tokenize, look the token ids up in a table, average. That makes it orders of
magnitude faster than a transformer, which is why such models are distilled from one (``from_distillation``)
or loaded ready-made from model2vec (``from_model2vec``).
"""

from __future__ import annotations

import inspect
import logging
import math
import os
from collections.abc import Callable
from itertools import chain
from typing import Any

import numpy as np
import torch
from tokenizers import Tokenizer
from torch import nn
from transformers import PreTrainedTokenizerFast

from sentence_transformers.base.modules.input_module import InputModule

logger = logging.getLogger(__name__)

TOKENIZER_FILE = "tokenizer.json"
MODEL2VEC_HINT = '`pip install model2vec` (or `pip install "sbert[distill]"`)'
# Parameters an older/newer model2vec ``distill`` may lack, and the value that means "what it does anyway".
_IMPLICIT_DISTILL_DEFAULTS: dict[str, Any] = {
    "apply_zipf": True,
    "use_subword": True,
    "sif_coefficient": 1e-4,
    "token_remove_pattern": r"\[unused\d+\]",
    "quantize_to": "float32",
    "vocabulary": None,
    "device": None,
}


class StaticEmbedding(InputModule):
    """Mean of trained per-token embeddings (``torch.nn.EmbeddingBag``), over a fast ``tokenizers`` tokenizer.

    Texts are tokenized without special tokens and without padding: a batch is one flat list of token ids
    plus the offset where each text starts, which is what EmbeddingBag consumes. An empty text gives a zero
    vector. Being this cheap, it usually runs fastest on the CPU.

    Args:
        tokenizer: A ``tokenizers.Tokenizer``, or a ``transformers.PreTrainedTokenizerFast`` (its backend is used).
        embedding_weights: Pre-trained table of shape (vocabulary size, dimension).
        embedding_dim: Dimension of a randomly initialised table; needed when no weights are given.
    """

    save_in_root: bool = True
    config_keys: list[str] = []
    modalities: list[str] = ["text"]

    def __init__(
        self,
        tokenizer: Tokenizer | PreTrainedTokenizerFast,
        embedding_weights: np.ndarray | torch.Tensor | None = None,
        embedding_dim: int | None = None,
        **kwargs,
    ) -> None:
        super().__init__()
        self.tokenizer: Tokenizer = _backend_tokenizer(tokenizer)
        self.tokenizer.no_padding()
        self.embedding = _embedding_bag(self.tokenizer.get_vocab_size(), embedding_weights, embedding_dim)
        self.num_embeddings: int = self.embedding.num_embeddings
        self.embedding_dim: int = self.embedding.embedding_dim
        self.base_model: str | None = kwargs.get("base_model")  # only for the model card

    def tokenize(self, texts: list[str], prompt: str | None = None, **kwargs) -> dict[str, torch.Tensor]:
        """Flat ``input_ids`` of all texts and the ``offsets`` where each text starts (no special tokens)."""
        texts = [texts] if isinstance(texts, str) else list(texts)
        bad = [text for text in texts if not isinstance(text, str)]
        if bad:
            raise TypeError(f"StaticEmbedding embeds strings only, got {type(bad[0]).__name__}: {bad[0]!r:.100}")
        if prompt:
            texts = [prompt + text for text in texts]
        encode = getattr(self.tokenizer, "encode_batch_fast", self.tokenizer.encode_batch)
        ids = [encoding.ids for encoding in encode(texts, add_special_tokens=False)] if texts else []
        lengths = [len(token_ids) for token_ids in ids]
        starts = np.cumsum([0, *lengths[:-1]], dtype=np.int64) if lengths else np.zeros(0, dtype=np.int64)
        input_ids = torch.tensor(list(chain.from_iterable(ids)), dtype=torch.long)
        return {"input_ids": input_ids, "offsets": torch.from_numpy(starts)}

    def forward(self, features: dict[str, torch.Tensor], **kwargs) -> dict[str, torch.Tensor]:
        """Average the token vectors of each text into ``sentence_embedding``."""
        features["sentence_embedding"] = self.embedding(features["input_ids"], features["offsets"])
        return features

    @property
    def max_seq_length(self) -> float:
        """No length limit of its own (``math.inf``); a tokenizer with truncation enabled still truncates."""
        return math.inf

    @max_seq_length.setter
    def max_seq_length(self, value: int) -> None:
        raise AttributeError(
            f"StaticEmbedding has no sequence length limit to set (got max_seq_length={value!r}); "
            "use tokenizer.enable_truncation(max_length) to cut long texts"
        )

    def get_embedding_dimension(self) -> int:
        """Size of the embeddings."""
        return self.embedding_dim

    def __repr__(self) -> str:
        return f"StaticEmbedding({{'num_embeddings': {self.num_embeddings}, 'embedding_dim': {self.embedding_dim}}})"

    def save(self, output_path: str, *args, safe_serialization: bool = True, **kwargs) -> None:
        """Write model.safetensors (key ``embedding.weight``) and tokenizer.json, upstream's layout."""
        self.save_torch_weights(output_path, safe_serialization=safe_serialization)
        self.save_tokenizer(output_path)

    def save_tokenizer(self, output_path: str, **kwargs) -> None:
        """Write the tokenizer as a single tokenizer.json."""
        os.makedirs(output_path, exist_ok=True)
        self.tokenizer.save(os.path.join(output_path, TOKENIZER_FILE))

    @classmethod
    def load(
        cls,
        model_name_or_path: str,
        subfolder: str = "",
        token: bool | str | None = None,
        cache_folder: str | None = None,
        revision: str | None = None,
        local_files_only: bool = False,
        **kwargs,
    ) -> StaticEmbedding:
        """Rebuild from tokenizer.json and the weights; also reads a model2vec folder (``embeddings`` key)."""
        hub = {
            "subfolder": subfolder,
            "token": token,
            "cache_folder": cache_folder,
            "revision": revision,
            "local_files_only": local_files_only,
        }
        tokenizer_path = cls.load_file_path(model_name_or_path, filename=TOKENIZER_FILE, **hub)
        if tokenizer_path is None:
            raise FileNotFoundError(f"No {TOKENIZER_FILE} in {os.path.join(model_name_or_path, subfolder)}")
        weights = cls.load_torch_weights(model_name_or_path, **hub)
        if "embedding.weight" in weights:
            table = weights["embedding.weight"]
        elif "embeddings" in weights:
            table = fold_model2vec_weights(weights["embeddings"], weights.get("mapping"), weights.get("weights"))
        else:
            found = ", ".join(sorted(weights)) or "none"
            raise ValueError(f"No 'embedding.weight' (or model2vec 'embeddings') tensor in the weights; found: {found}")
        return cls(Tokenizer.from_file(tokenizer_path), embedding_weights=table)

    @classmethod
    def from_model2vec(cls, model_id_or_path: str) -> StaticEmbedding:
        """Load a model2vec ``StaticModel`` (hub id or folder) and take over its tokenizer and embeddings.

        Raises:
            ImportError: If the ``model2vec`` package is not installed.
        """
        try:
            from model2vec import StaticModel
        except ImportError as exc:
            raise ImportError(f"StaticEmbedding.from_model2vec needs the model2vec package: {MODEL2VEC_HINT}") from exc
        return cls._from_static_model(StaticModel.from_pretrained(model_id_or_path), model_id_or_path)

    @classmethod
    def from_distillation(
        cls,
        model_name: str,
        vocabulary: list[str] | None = None,
        device: str | None = None,
        pca_dims: int | None = 256,
        apply_zipf: bool = True,
        sif_coefficient: float | None = 1e-4,
        token_remove_pattern: str | None = r"\[unused\d+\]",
        quantize_to: str = "float32",
        use_subword: bool = True,
        **kwargs: Any,
    ) -> StaticEmbedding:
        """Distill a static model from a transformer with model2vec: embed every token once, PCA, SIF-weight.

        Args:
            model_name: Hugging Face model id or local folder of the model to distill.
            vocabulary: Extra words to add to the tokenizer's vocabulary.
            device: Where to run the transformer (model2vec picks one when None).
            pca_dims: Output dimension after PCA; None keeps the model's dimension without PCA.
            apply_zipf: Weight tokens by an estimated Zipf frequency; False turns weighting off
                (``sif_coefficient=None`` on model2vec versions that dropped this parameter).
            sif_coefficient: SIF weighting coefficient; None for no weighting.
            token_remove_pattern: Regex of tokens to drop from the vocabulary.
            quantize_to: dtype of the resulting table ("float32", "float16", ...).
            use_subword: Keep the subword vocabulary (model2vec versions without this option always do).
            **kwargs: Further ``model2vec.distill.distill`` parameters (e.g. ``pooling``, ``trust_remote_code``).

        Raises:
            ImportError: If model2vec (with its distillation dependencies) is not installed.
            ValueError: If the installed model2vec does not support a requested parameter.
        """
        try:
            from model2vec.distill import distill
        except ImportError as exc:
            raise ImportError(
                f"StaticEmbedding.from_distillation needs the model2vec package with its distillation extras: "
                f"{MODEL2VEC_HINT} ({exc})"
            ) from exc
        requested = {
            "vocabulary": vocabulary,
            "device": device,
            "pca_dims": pca_dims,
            "apply_zipf": apply_zipf,
            "sif_coefficient": sif_coefficient,
            "token_remove_pattern": token_remove_pattern,
            "quantize_to": quantize_to,
            "use_subword": use_subword,
            **kwargs,
        }
        static_model = distill(model_name, **distill_arguments(distill, requested))
        return cls._from_static_model(static_model, model_name)

    @classmethod
    def _from_static_model(cls, static_model: Any, base_model: str) -> StaticEmbedding:
        """Fold a model2vec StaticModel's table (with its optional token mapping and weights) into ours."""
        table = static_model.embedding
        if isinstance(table, nn.Module):  # some model2vec versions hold an nn.Embedding
            table = table.weight.detach()
        else:
            table = fold_model2vec_weights(
                table, getattr(static_model, "token_mapping", None), getattr(static_model, "weights", None)
            )
        return cls(static_model.tokenizer, embedding_weights=table, base_model=base_model)


def _backend_tokenizer(tokenizer: Any) -> Tokenizer:
    """The Rust ``tokenizers.Tokenizer`` behind what was given; slow tokenizers cannot tokenize in one batch call."""
    if isinstance(tokenizer, PreTrainedTokenizerFast):
        return tokenizer.backend_tokenizer
    if isinstance(tokenizer, Tokenizer):
        return tokenizer
    raise ValueError(
        f"StaticEmbedding needs a fast tokenizer: a tokenizers.Tokenizer or a transformers.PreTrainedTokenizerFast, "
        f"got {type(tokenizer).__name__}: {tokenizer!r:.100}. Load one with tokenizers.Tokenizer.from_pretrained(...)"
    )


def _embedding_bag(
    vocab_size: int, embedding_weights: np.ndarray | torch.Tensor | None, embedding_dim: int | None
) -> nn.EmbeddingBag:
    """A trainable mean-EmbeddingBag from the given table, else a random one of ``embedding_dim`` columns."""
    if embedding_weights is not None:
        table = _as_tensor(embedding_weights)
        if table.dim() != 2:
            shape = tuple(table.shape)
            raise ValueError(f"embedding_weights must be 2-D (vocabulary size, dimension), got shape {shape}")
        if not table.is_floating_point():  # e.g. int8-quantized model2vec tables
            table = table.to(torch.float32)
        if table.shape[0] < vocab_size:
            logger.warning(f"embedding_weights has {table.shape[0]} rows but the tokenizer knows {vocab_size} tokens")
        return nn.EmbeddingBag.from_pretrained(table.detach(), freeze=False, mode="mean")
    if embedding_dim is None:
        raise ValueError("StaticEmbedding needs either embedding_weights or embedding_dim, got neither")
    if isinstance(embedding_dim, bool) or not isinstance(embedding_dim, int) or embedding_dim <= 0:
        raise ValueError(f"embedding_dim must be a positive integer, got {embedding_dim!r}")
    return nn.EmbeddingBag(vocab_size, embedding_dim, mode="mean")


def fold_model2vec_weights(
    embeddings: np.ndarray | torch.Tensor,
    token_mapping: np.ndarray | torch.Tensor | None = None,
    token_weights: np.ndarray | torch.Tensor | None = None,
) -> torch.Tensor:
    """One row per token id: ``embeddings[token_mapping[id]] * token_weights[id]``, which model2vec averages.

    Vocabulary-quantized model2vec models share rows between tokens (``mapping``) and scale each token
    (``weights``); folding both into a plain table lets a mean-EmbeddingBag reproduce them.
    """
    table = _as_tensor(embeddings)
    if not table.is_floating_point():
        table = table.to(torch.float32)
    if token_mapping is not None:
        table = table[_as_tensor(token_mapping).long()]
    if token_weights is not None:
        scale = _as_tensor(token_weights).to(torch.float32)
        table = (table.to(torch.promote_types(table.dtype, torch.float32)) * scale[:, None]).to(table.dtype)
    return table.contiguous()


def distill_arguments(distill: Callable[..., Any], requested: dict[str, Any]) -> dict[str, Any]:
    """Map our ``from_distillation`` parameters onto what the installed model2vec ``distill`` accepts.

    A parameter it lacks is dropped when our value means what that version does anyway (see
    ``_IMPLICIT_DISTILL_DEFAULTS``); ``apply_zipf=False`` becomes ``sif_coefficient=None``; anything
    else it cannot honour raises instead of being silently ignored.
    """
    parameters = inspect.signature(distill).parameters
    if any(p.kind is inspect.Parameter.VAR_KEYWORD for p in parameters.values()):
        return requested
    accepted = set(parameters) - {"model_name"}
    arguments = {key: value for key, value in requested.items() if key in accepted}
    if "apply_zipf" not in accepted and requested.get("apply_zipf") is False and "sif_coefficient" in accepted:
        arguments["sif_coefficient"] = None
        requested = {**requested, "apply_zipf": True}
    unsupported = [
        f"{key}={value!r}" for key, value in requested.items() if key not in accepted and not _means_default(key, value)
    ]
    if unsupported:
        raise ValueError(
            f"The installed model2vec ({_model2vec_version()}) does not support {', '.join(unsupported)} in distill; "
            f"it accepts: {', '.join(sorted(accepted))}"
        )
    return arguments


def _as_tensor(values: np.ndarray | torch.Tensor) -> torch.Tensor:
    """A tensor view of an array (or the tensor itself)."""
    return values if torch.is_tensor(values) else torch.from_numpy(np.ascontiguousarray(values))


def _means_default(key: str, value: Any) -> bool:
    return key in _IMPLICIT_DISTILL_DEFAULTS and value == _IMPLICIT_DISTILL_DEFAULTS[key]


def _model2vec_version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return f"version {version('model2vec')}"
    except PackageNotFoundError:
        return "unknown version"
