"""Late-interaction checkpoints saved by other libraries, mapped onto MultiVectorEncoder's module pipeline without
importing them: PyLate folders (a modules.json of Transformer + ``pylate.models.Dense.Dense`` and the ColBERT
settings at the top of config_sentence_transformers.json; PyLate 3 marks them ``"model_type": "ColBERT"``) and
Stanford-NLP ColBERT folders (``"architectures": ["HF_ColBERT"]`` in config.json, the projection as
``linear.weight`` in the model's own weights file, the settings in ``artifact.metadata``).
"""

from __future__ import annotations

import logging
import os
import string
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Any

from torch import nn

from sentence_transformers.base import persistence, weights_io
from sentence_transformers.base.loading import LoadOptions, load_saved_modules
from sentence_transformers.base.modules.dense import Dense
from sentence_transformers.base.modules.transformer import Transformer

logger = logging.getLogger(__name__)

#: PyLate's module type names → sbert's (its Dense is sentence-transformers' Dense on token embeddings).
CLASS_ALIASES = {"pylate.models.Dense.Dense": "sentence_transformers.models.Dense"}
#: The model types of config_sentence_transformers.json that are PyLate 3 saves.
PYLATE_MODEL_TYPES = ("ColBERT",)
#: Top-level keys of a PyLate config that are Transformer constructor arguments.
_TRANSFORMER_KEYS = ("query_length", "document_length", "query_expansion")
#: Keys whose presence marks a PyLate (or hand-written ColBERT) config.
_PYLATE_MARKERS = (
    *_TRANSFORMER_KEYS,
    "do_query_expansion",
    "attend_to_expansion_tokens",
    "attend_to_mask_tokens",
    "query_prefix",
    "document_prefix",
    "skiplist_words",
)
#: The fixed query width of ColBERT checkpoints that do not name one.
DEFAULT_QUERY_LENGTH = 32


@dataclass
class LegacySettings:
    """What a PyLate or Stanford-NLP checkpoint says beyond its modules: the Transformer's multi-vector arguments,
    the prefix tokens (which become the query / document prompts), the skiplist, and whether the pipeline lacks
    its scoring mask and normalization (PyLate 3 lists only Transformer + Dense)."""

    transformer_defaults: dict[str, Any] = field(default_factory=dict)
    prefixes: dict[str, str] = field(default_factory=dict)
    prompts: dict[str, str] = field(default_factory=dict)
    skiplist_words: list[str] | None = None
    is_pylate_v3: bool = False


def pylate_settings(config: dict[str, Any]) -> LegacySettings:
    """The settings of a config_sentence_transformers.json written by PyLate (empty for other configs)."""
    settings = LegacySettings(is_pylate_v3=config.get("model_type") in PYLATE_MODEL_TYPES)
    prompts = {key: value for key, value in (config.get("prompts") or {}).items() if value is not None}
    for key, role in (("query_prefix", "query"), ("document_prefix", "document")):
        if key in config:
            prefix = config[key] or ""
            settings.prefixes[role] = prefix
            prompts[role] = prefix + (prompts.get(role) or "").removeprefix(prefix)
    settings.prompts = prompts
    knobs = {
        key: config[key]
        for key in _TRANSFORMER_KEYS
        if key in config and (config[key] is not None or key == "query_expansion")
    }
    if "query_expansion" not in knobs and any(key in config for key in _PYLATE_MARKERS):
        if config.get("do_query_expansion") is False:
            knobs["query_expansion"] = None
        else:  # PyLate pads queries to query_length with the mask token: the expansion's fixed length
            attend = config.get("attend_to_expansion_tokens", config.get("attend_to_mask_tokens"))
            length = knobs.pop("query_length", None) or DEFAULT_QUERY_LENGTH
            knobs["query_expansion"] = {"strategy": "fixed", "attend": bool(attend), "length": length}
    settings.transformer_defaults = knobs
    settings.skiplist_words = config.get("skiplist_words")
    return settings


def is_stanford_colbert(folder: str) -> bool:
    """Whether ``folder`` holds a Stanford-NLP ColBERT checkpoint (``HF_ColBERT`` architecture)."""
    return "HF_ColBERT" in architectures(folder)


def architectures(folder: str) -> list[str]:
    """The ``architectures`` of the folder's config.json (empty when it has none)."""
    path = os.path.join(folder, "config.json")
    if not os.path.isfile(path):
        return []
    return list(persistence.read_json(path, "model config").get("architectures") or [])


def stanford_settings(folder: str) -> LegacySettings:
    """The settings of a Stanford-NLP ColBERT folder, from its ``artifact.metadata`` (defaults without one):
    ``[unused0]`` / ``[unused1]`` markers, queries always mask-expanded to ``query_maxlen`` (32), documents cut to
    ``doc_maxlen``, punctuation skipped unless ``mask_punctuation`` is false."""
    path = os.path.join(folder, "artifact.metadata")
    metadata: dict[str, Any] = {}
    if os.path.isfile(path):
        metadata = persistence.read_json(path, "ColBERT metadata")
    else:
        logger.warning("No artifact.metadata file found for the Stanford-NLP ColBERT checkpoint: using default values.")
    settings = LegacySettings()
    settings.prefixes = {
        "query": (metadata.get("query_token_id") or "[unused0]") + " ",
        "document": (metadata.get("doc_token_id") or "[unused1]") + " ",
    }
    settings.prompts = dict(settings.prefixes)
    if metadata.get("doc_maxlen") is not None:
        settings.transformer_defaults["document_length"] = metadata["doc_maxlen"]
    settings.transformer_defaults["query_expansion"] = {
        "strategy": "fixed",
        "attend": bool(metadata.get("attend_to_mask_tokens")),
        "length": metadata.get("query_maxlen") or DEFAULT_QUERY_LENGTH,
    }
    settings.skiplist_words = list(string.punctuation) if metadata.get("mask_punctuation", True) else []
    return settings


def stanford_projection(folder: str) -> Dense:
    """The token-level projection of a Stanford-NLP ColBERT folder: ``linear.weight`` of its weights file."""
    state = weights_io.load_state_dict(folder)
    if "linear.weight" not in state:
        raise ValueError(f"{folder} is an HF_ColBERT checkpoint without the 'linear.weight' projection")
    weight = state["linear.weight"]
    dense = Dense(
        weight.shape[1],
        weight.shape[0],
        bias=False,
        activation_function=nn.Identity(),
        init_weight=weight,
        module_input_name="token_embeddings",
    )
    return dense


def load_listed_modules(
    folder: str, options: LoadOptions, transformer_defaults: dict[str, Any]
) -> tuple[OrderedDict[str, nn.Module], dict[str, list[str]]]:
    """The modules of a folder's modules.json, PyLate's type names mapped to sbert's, with load-time defaults
    (saved values win): ``transformer_defaults`` for a Transformer, token-level input for a Dense."""

    def defaults(module_class: type) -> dict[str, Any]:
        if issubclass(module_class, Transformer):
            return dict(transformer_defaults)
        if issubclass(module_class, Dense):
            return {"module_input_name": "token_embeddings"}
        return {}

    return load_saved_modules(folder, options, type_names=CLASS_ALIASES, init_defaults=defaults)


def register_prefix_tokens(tokenizer: Any, prefixes: dict[str, str]) -> None:
    """Make a checkpoint's prefix markers (``[unused0]``, PyLate's added "[Q] ") single special tokens, so that
    prepending them as text gives the ids the checkpoint was trained with. Prefixes the tokenizer does not know
    stay plain text, and those it already keeps whole are left alone."""
    if tokenizer is None:
        return
    from transformers import AddedToken

    added = set(getattr(tokenizer, "added_tokens_encoder", None) or {})
    vocabulary = tokenizer.get_vocab()
    new_tokens = []
    for value in prefixes.values():
        if not value or not value.split():
            continue
        for candidate in (value, value.split(None, 1)[0]):
            if candidate not in added and candidate not in vocabulary:
                continue
            if tokenizer.tokenize(candidate) != [candidate]:
                new_tokens.append(AddedToken(candidate, normalized=False, special=True))
            break
    if new_tokens:
        tokenizer.add_special_tokens({"additional_special_tokens": new_tokens})
