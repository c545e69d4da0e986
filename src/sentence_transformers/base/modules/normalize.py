"""Normalize: scales embeddings to unit length."""

from __future__ import annotations

import os
from typing import Any

import torch.nn.functional as F

from sentence_transformers.base.modules.module import Module


class Normalize(Module):
    """L2-normalizes one feature (``sentence_embedding`` by default) so that dot product equals cosine similarity.

    With ``module_input_name="token_embeddings"`` it normalizes each token vector instead, as late-interaction
    (MaxSim) scoring expects. A batch without the feature passes through unchanged.

    Args:
        module_input_name: The feature to normalize.
        module_output_name: The feature to write the result to; by default the one read.
    """

    config_keys: list[str] = ["module_input_name", "module_output_name"]

    def __init__(self, module_input_name: str = "sentence_embedding", module_output_name: str | None = None) -> None:
        super().__init__()
        self.module_input_name = module_input_name
        self.module_output_name = module_input_name if module_output_name is None else module_output_name

    def forward(self, features: dict[str, Any], **kwargs) -> dict[str, Any]:
        """Write the unit-length version of the input feature (normalized over its last axis)."""
        embeddings = features.get(self.module_input_name)
        if embeddings is not None:
            features[self.module_output_name] = F.normalize(embeddings, p=2, dim=-1)
        return features

    def save(self, output_path: str, *args, safe_serialization: bool = True, **kwargs) -> None:
        """Write config.json (every release reads the folder; those before 6.x ignore the file)."""
        os.makedirs(output_path, exist_ok=True)
        self.save_config(output_path)

    @classmethod
    def load(
        cls,
        model_name_or_path: str = "",
        subfolder: str = "",
        token: bool | str | None = None,
        cache_folder: str | None = None,
        revision: str | None = None,
        local_files_only: bool = False,
        **kwargs,
    ) -> Normalize:
        """Rebuild from config.json; a missing or empty folder, or no path at all (the 2.x call), gives the
        default Normalize."""
        if not model_name_or_path:
            return cls()
        hub = {"token": token, "cache_folder": cache_folder, "revision": revision, "local_files_only": local_files_only}
        config = cls.load_config(model_name_or_path, subfolder=subfolder, **hub)
        return cls(**{key: value for key, value in config.items() if key in cls.config_keys})
