"""ParallelSentencesDataset: the 2.x data for multilingual distillation (student learns the teacher's embeddings)."""

from __future__ import annotations

import logging
import random
from collections.abc import Iterable, Iterator
from typing import Any

import numpy as np
from torch.utils.data import Dataset

from sentence_transformers.sentence_transformer.readers._files import open_text
from sentence_transformers.sentence_transformer.readers.input_example import InputExample

logger = logging.getLogger(__name__)


class ParallelSentencesDataset(Dataset):
    """InputExample(texts=[sentence], label=teacher embedding of its source sentence), for MSELoss.

    Each dataset holds rows of parallel sentences, the first being the source (e.g. English) the teacher embeds;
    every sentence of the row (the source too) becomes a training text labelled with that embedding. Datasets are
    mixed by weight: each round takes ``weight`` rows of every dataset, so small datasets repeat.

    Args:
        student_model: The model being trained (kept for the 2.x API).
        teacher_model: The model whose source embeddings are the targets.
        batch_size: Batch size of the teacher's ``encode``.
        use_embedding_cache: Embed each source sentence once.
    """

    def __init__(self, student_model: Any, teacher_model: Any, batch_size: int = 8, use_embedding_cache: bool = True):
        self.student_model = student_model
        self.teacher_model = teacher_model
        self.batch_size = batch_size
        self.use_embedding_cache = use_embedding_cache
        self.datasets: list[list[tuple[str, list[str]]]] = []
        self.datasets_iterator: list[int] = []
        self.dataset_indices: list[int] = []
        self.cache: list[InputExample] = []
        self.embedding_cache: dict[str, np.ndarray] = {}
        self.num_sentences = 0

    def load_data(
        self, filepath: str, weight: int = 100, max_sentences: int | None = None, max_sentence_length: int | None = 128
    ) -> None:
        """Add a tab-separated file of parallel sentences (source first; gzip when named ``*.gz``).

        Rows with a sentence longer than ``max_sentence_length`` characters are skipped; at most
        ``max_sentences`` rows are read.
        """
        logger.info("Load %s", filepath)
        rows = []
        with open_text(filepath) as f:
            for line in f:
                sentences = line.strip().split("\t")
                if _too_long(sentences, max_sentence_length):
                    continue
                rows.append(sentences)
                if max_sentences and len(rows) >= max_sentences:
                    break
        self.add_dataset(rows, weight, max_sentences, max_sentence_length)

    def add_dataset(
        self,
        parallel_sentences: Iterable[list[str]],
        weight: int = 100,
        max_sentences: int | None = None,
        max_sentence_length: int | None = 128,
    ) -> None:
        """Add rows of parallel sentences (source first); rows sharing a source are merged."""
        targets: dict[str, dict[str, None]] = {}
        for sentences in parallel_sentences:
            if _too_long(sentences, max_sentence_length):
                continue
            targets.setdefault(sentences[0], {}).update(dict.fromkeys(sentences))
            if max_sentences and len(targets) >= max_sentences:
                break
        if not targets:
            return
        self.num_sentences += sum(len(row) for row in targets.values())
        self.dataset_indices.extend([len(self.datasets)] * weight)
        self.datasets.append([(source, list(row)) for source, row in targets.items()])
        self.datasets_iterator.append(0)

    def generate_data(self) -> None:
        """Fill the cache with one round: ``weight`` rows of every dataset, embedded by the teacher, shuffled."""
        rows = [self.next_entry(index) for index in self.dataset_indices]
        embeddings = self.get_embeddings([source for source, _ in rows])
        for embedding, (_, sentences) in zip(embeddings, rows, strict=True):
            self.cache.extend(InputExample(texts=[sentence], label=embedding) for sentence in sentences)
        random.shuffle(self.cache)

    def next_entry(self, data_idx: int) -> tuple[str, list[str]]:
        """The next row of dataset ``data_idx``; a dataset reshuffles and restarts when it runs out."""
        dataset = self.datasets[data_idx]
        entry = dataset[self.datasets_iterator[data_idx]]
        self.datasets_iterator[data_idx] += 1
        if self.datasets_iterator[data_idx] >= len(dataset):
            self.datasets_iterator[data_idx] = 0
            random.shuffle(dataset)
        return entry

    def get_embeddings(self, sentences: list[str]) -> list[np.ndarray]:
        """The teacher's embeddings of ``sentences`` (each sentence embedded once when caching)."""
        if not self.use_embedding_cache:
            return list(self._encode(sentences))
        new = [sentence for sentence in dict.fromkeys(sentences) if sentence not in self.embedding_cache]
        if new:
            self.embedding_cache.update(zip(new, self._encode(new), strict=True))
        return [self.embedding_cache[sentence] for sentence in sentences]

    def _encode(self, sentences: list[str]) -> np.ndarray:
        return self.teacher_model.encode(
            sentences, batch_size=self.batch_size, show_progress_bar=False, convert_to_numpy=True
        )

    def __len__(self) -> int:
        return self.num_sentences

    def __getitem__(self, idx: int) -> InputExample:
        """The next generated example; ``idx`` is ignored, as in 2.x (the data is a stream)."""
        if not self.cache:
            self.generate_data()
        return self.cache.pop()

    def __iter__(self) -> Iterator[InputExample]:
        """One epoch: ``len(self)`` examples (plain iteration over ``__getitem__`` would never end)."""
        for index in range(len(self)):
            yield self[index]


def _too_long(sentences: list[str], max_sentence_length: int | None) -> bool:
    return bool(max_sentence_length) and max(len(sentence) for sentence in sentences) > max_sentence_length
