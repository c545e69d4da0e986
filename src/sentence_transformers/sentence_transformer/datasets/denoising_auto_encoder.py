"""DenoisingAutoEncoderDataset: (noised, original) text pairs for TSDAE training."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
from torch.utils.data import Dataset

from sentence_transformers.sentence_transformer.readers.input_example import InputExample


class DenoisingAutoEncoderDataset(Dataset):
    """Pairs (noised text, original text) for :class:`DenoisingAutoEncoderLoss`.

    Args:
        sentences: The unlabelled sentences.
        noise_fn: Damages a sentence; by default (or None) :meth:`delete` (drops each word with probability 0.6).
    """

    def __init__(
        self,
        sentences: list[str],
        noise_fn: Callable[[str], str] | None = lambda text: DenoisingAutoEncoderDataset.delete(text),
    ) -> None:
        self.sentences = sentences
        self.noise_fn = noise_fn or DenoisingAutoEncoderDataset.delete

    def __getitem__(self, item: int) -> InputExample:
        sentence = self.sentences[item]
        return InputExample(texts=[self.noise_fn(sentence), sentence])

    def __len__(self) -> int:
        return len(self.sentences)

    @staticmethod
    def delete(text: str, del_ratio: float = 0.6) -> str:
        """Drop each whitespace-separated word with probability ``del_ratio``, always keeping at least one."""
        words = text.split()
        if not words:
            return text
        keep = np.random.rand(len(words)) > del_ratio
        if not keep.any():
            keep[np.random.randint(len(words))] = True
        return " ".join(word for word, kept in zip(words, keep, strict=True) if kept)
