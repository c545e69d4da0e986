"""InputModule: the first step of a pipeline, which turns raw inputs into tensors."""

from __future__ import annotations

from abc import abstractmethod
from typing import Any

import torch

from sentence_transformers.base.modules.module import Module


class InputModule(Module):
    """The first module of a pipeline: it turns raw inputs into tensors with ``tokenize``."""

    save_in_root: bool = True
    tokenizer: Any = None

    @abstractmethod
    def tokenize(self, texts: list[Any], **kwargs) -> dict[str, torch.Tensor]:
        """Turn a batch of inputs into the features the next step of ``forward`` expects."""

    def save_tokenizer(self, output_path: str, **kwargs) -> None:
        """Save the tokenizer, when it knows how to save itself."""
        if self.tokenizer is not None and hasattr(self.tokenizer, "save_pretrained"):
            self.tokenizer.save_pretrained(output_path)
