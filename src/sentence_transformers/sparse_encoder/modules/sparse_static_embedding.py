"""SparseStaticEmbedding: the inference-free side of a SPLADE model — one static weight (e.g. IDF) per token present."""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Sequence
from typing import Any

import torch
from transformers import AutoTokenizer

from sentence_transformers.base.modules.input_module import InputModule, prepend_prompt

logger = logging.getLogger(__name__)


class SparseStaticEmbedding(InputModule):
    """Map a text to ``weight[token]`` for each vocabulary token it contains (0 elsewhere): no neural network runs.

    OpenSearch's inference-free SPLADE models encode queries this way (with IDF weights), and documents with a
    masked-LM route of a Router.

    Args:
        tokenizer: The tokenizer that maps texts to vocabulary ids (no special tokens are added).
        weight: One weight per vocabulary token, shape ``(vocab_size,)``; ones when None.
        frozen: Keep the weights fixed in training.
    """

    config_keys: list[str] = ["frozen"]
    saved_weights = "required"

    def __init__(self, tokenizer: Any, weight: torch.Tensor | None = None, frozen: bool = False) -> None:
        super().__init__()
        self.tokenizer = tokenizer
        if weight is None:
            weight = torch.ones(len(tokenizer.get_vocab()))
        elif weight.ndim != 1:
            raise ValueError(f"weight must have shape (vocab_size,), got {tuple(weight.shape)}")
        self.weight = torch.nn.Parameter(weight.detach().clone().float(), requires_grad=not frozen)
        self.frozen = frozen
        self.num_dimensions = self.weight.size(0)
        self.max_seq_length = tokenizer.model_max_length

    @property
    def modalities(self) -> list[str]:
        return ["text"]

    def forward(self, features: dict[str, torch.Tensor], **kwargs) -> dict[str, torch.Tensor]:
        """``sentence_embedding`` = presence of each token × its weight (× an incoming sentence_embedding)."""
        input_ids = features["input_ids"]
        mask = features["attention_mask"].to(torch.bool)
        presence = torch.zeros(input_ids.shape[0], self.num_dimensions, device=input_ids.device, dtype=torch.bool)
        rows = torch.arange(input_ids.shape[0], device=input_ids.device).unsqueeze(1).expand_as(input_ids)
        presence[rows[mask], input_ids[mask]] = True
        embeddings = presence.to(self.weight.dtype) * self.weight
        previous = features.get("sentence_embedding")
        if previous is not None:
            embeddings = embeddings * previous
        features["sentence_embedding"] = embeddings
        return features

    def preprocess(self, inputs: Sequence[str], prompt: str | None = None, **kwargs) -> dict[str, torch.Tensor]:
        """Token ids without special tokens, padded and truncated to the tokenizer's length."""
        texts = prepend_prompt(inputs, prompt) if prompt else list(inputs)
        return dict(self.tokenizer(texts, padding=True, truncation=True, return_tensors="pt", add_special_tokens=False))

    def save(self, output_path: str, *args, safe_serialization: bool = True, **kwargs) -> None:
        self.save_tokenizer(output_path)
        self.save_torch_weights(output_path, safe_serialization=safe_serialization)
        self.save_config(output_path)

    @classmethod
    def from_json(
        cls,
        json_path: str,
        tokenizer: Any,
        token: bool | str | None = None,
        cache_folder: str | None = None,
        revision: str | None = None,
        local_files_only: bool = False,
        **config: Any,
    ) -> SparseStaticEmbedding:
        """Build from a JSON file of ``{token: weight}`` (an ``idf.json``, locally or in a hub repository)."""
        if not os.path.exists(json_path):
            resolved = cls.load_file_path(
                json_path,
                "idf.json",
                token=token,
                cache_folder=cache_folder,
                revision=revision,
                local_files_only=local_files_only,
            )
            if resolved is None:
                raise ValueError(f"IDF JSON file not found at {json_path}. Please provide a valid path.")
            json_path = resolved
        with open(json_path, encoding="utf-8") as f:
            try:
                idf = json.load(f)
            except json.JSONDecodeError as exc:
                raise ValueError(f"Corrupt IDF JSON file {json_path}: {exc}") from exc
        weight = torch.zeros(len(tokenizer.get_vocab()), dtype=torch.float32)
        if idf:
            ids = tokenizer.convert_tokens_to_ids(list(idf))
            weight[torch.tensor(ids, dtype=torch.long)] = torch.tensor(list(idf.values()), dtype=torch.float32)
        return cls(tokenizer=tokenizer, weight=weight, **config)

    @classmethod
    def load(
        cls,
        model_name_or_path: str,
        subfolder: str = "",
        token: bool | str | None = None,
        cache_folder: str | None = None,
        revision: str | None = None,
        local_files_only: bool = False,
        **kwargs: Any,
    ) -> SparseStaticEmbedding:
        """Rebuild from a saved folder: config.json, the tokenizer, and model.safetensors (or an idf.json path)."""
        hub = {"token": token, "cache_folder": cache_folder, "revision": revision, "local_files_only": local_files_only}
        config = cls.load_config(model_name_or_path, subfolder=subfolder, **hub)
        folder = cls.load_dir_path(model_name_or_path, subfolder=subfolder, **hub)
        tokenizer = AutoTokenizer.from_pretrained(folder, local_files_only=True)
        path = config.pop("path", None)
        if path is not None and str(path).endswith(".json"):
            return cls.from_json(path, tokenizer, **hub, **cls.known_config(config))
        module = cls(tokenizer=tokenizer, **cls.known_config(config))
        return cls.load_saved_weights(module, model_name_or_path, subfolder=subfolder, **hub)

    def __repr__(self) -> str:
        return (
            f"SparseStaticEmbedding({self.get_config_dict()}, dim={self.num_dimensions}, "
            f"tokenizer={type(self.tokenizer).__name__})"
        )

    def get_embedding_dimension(self) -> int:
        """The vocabulary size."""
        return self.num_dimensions
