"""Contrastive Tension (Carlsson et al., 2021): two copies of the model learn to agree on identical sentences only."""

from __future__ import annotations

import copy
import math
import random
from collections.abc import Callable, Iterable, Iterator
from typing import Any

import torch
from torch import Tensor, nn

from sentence_transformers.sentence_transformer.readers.input_example import InputExample
from sentence_transformers.util.misc import similarity_fct_name
from sentence_transformers.util.similarity import cos_sim


class ContrastiveTensionLoss(nn.Module):
    """Binary cross-entropy on the dot product of two independent copies' embeddings of a sentence pair.

    ``model`` (the one you keep) embeds the second column, a frozen-at-start copy ``model1`` (trained too) the first.
    Pairs of the same sentence are positives (label 1), pairs of different sentences negatives (label 0). The loss
    is summed over the batch, as in the paper. Without labels, a pair is positive when its token ids are equal.

    Args:
        model: The SentenceTransformer to train.

    Inputs: (sentence A, sentence B) pairs, usually from :class:`ContrastiveTensionDataLoader`; labels optional.
    """

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.model = model
        self.model1 = copy.deepcopy(model)
        self.criterion = nn.BCEWithLogitsLoss(reduction="sum")

    @property
    def model2(self) -> nn.Module:
        """Upstream's name for ``model``."""
        return self.model

    def forward(self, sentence_features: Iterable[dict[str, Tensor]], labels: Tensor | None = None) -> Tensor:
        """Summed BCE of the pairs' dot products against their labels."""
        features1, features2 = tuple(sentence_features)
        embeddings1 = self.model1(dict(features1))["sentence_embedding"]
        embeddings2 = self.model(dict(features2))["sentence_embedding"]
        scores = (embeddings1 * embeddings2).sum(dim=-1)
        if labels is None:
            labels = _same_tokens(features1, features2)
        return self.criterion(scores, labels.reshape(-1).to(device=scores.device, dtype=scores.dtype))

    def get_config_dict(self) -> dict[str, Any]:
        """Settings shown in model cards (none)."""
        return {}

    @property
    def citation(self) -> str:
        """BibTeX of the paper behind the loss."""
        return CARLSSON_2021


def _same_tokens(features1: dict[str, Tensor], features2: dict[str, Tensor]) -> Tensor:
    """1.0 where the two columns hold the same token ids (ignoring padding), else 0.0."""
    ids1, ids2 = features1["input_ids"], features2["input_ids"]
    mask1, mask2 = features1.get("attention_mask"), features2.get("attention_mask")
    if mask1 is None or mask2 is None:
        if ids1.shape != ids2.shape:
            return torch.zeros(ids1.shape[0])
        return (ids1 == ids2).all(dim=1).float()
    return torch.tensor(
        [torch.equal(a[m.bool()], b[n.bool()]) for a, m, b, n in zip(ids1, mask1, ids2, mask2, strict=True)],
        dtype=torch.float,
    )


class ContrastiveTensionLossInBatchNegatives(nn.Module):
    """Contrastive Tension with in-batch negatives: each sentence's two embeddings must find each other.

    Both copies embed the same sentences; ``scores[i, j] = similarity_fct(copy1(s_i), model(s_j)) * scale``, and the
    loss is the mean of the cross-entropies of rows and of columns with the diagonal as target. The scale is a
    trainable parameter (stored as its log), starting at ``scale``.

    Args:
        model: The SentenceTransformer to train.
        scale: Initial inverse temperature (20 by default).
        similarity_fct: Similarity matrix function; cosine by default.

    Inputs: one column of single sentences; no labels.
    """

    def __init__(self, model: nn.Module, scale: float = 20.0, similarity_fct: Callable[..., Tensor] = cos_sim) -> None:
        super().__init__()
        if scale <= 0:
            raise ValueError(f"scale must be positive, got {scale!r}")
        self.model = model
        self.model1 = copy.deepcopy(model)
        self.similarity_fct = similarity_fct
        self.cross_entropy_loss = nn.CrossEntropyLoss()
        self.logit_scale = nn.Parameter(torch.tensor(math.log(scale)))

    @property
    def model2(self) -> nn.Module:
        """Upstream's name for ``model``."""
        return self.model

    def forward(self, sentence_features: Iterable[dict[str, Tensor]], labels: Tensor | None = None) -> Tensor:
        """Symmetric in-batch cross-entropy between the two copies' embeddings."""
        features = next(iter(sentence_features))
        embeddings1 = self.model1(dict(features))["sentence_embedding"]
        embeddings2 = self.model(dict(features))["sentence_embedding"]
        scores = self.similarity_fct(embeddings1, embeddings2) * self.logit_scale.exp()
        targets = torch.arange(scores.shape[0], device=scores.device)
        return (self.cross_entropy_loss(scores, targets) + self.cross_entropy_loss(scores.T, targets)) / 2

    def get_config_dict(self) -> dict[str, Any]:
        """Settings shown in model cards."""
        return {
            "scale": self.logit_scale.exp().item(),
            "similarity_fct": similarity_fct_name(self.similarity_fct),
        }

    @property
    def citation(self) -> str:
        """BibTeX of the paper behind the loss."""
        return CARLSSON_2021


class ContrastiveTensionDataLoader:
    """Batches of InputExample pairs for :class:`ContrastiveTensionLoss`.

    In each batch, every ``pos_neg_ratio``-th pair (starting with the first) is a sentence with itself (label 1);
    the others pair two different sentences (label 0). Sentences are shuffled at every iteration and each is used
    once per epoch.

    Args:
        sentences: The unlabelled sentences.
        batch_size: Pairs per batch; must be divisible by ``pos_neg_ratio``.
        pos_neg_ratio: One positive pair per this many pairs (8 by default).
    """

    def __init__(self, sentences: list[str], batch_size: int, pos_neg_ratio: int = 8) -> None:
        if pos_neg_ratio < 1 or batch_size < 1 or batch_size % pos_neg_ratio != 0:
            raise ValueError(
                f"batch_size ({batch_size}) must be a positive multiple of pos_neg_ratio ({pos_neg_ratio})"
            )
        self.sentences = sentences
        self.batch_size = batch_size
        self.pos_neg_ratio = pos_neg_ratio
        self.collate_fn: Callable[[list[InputExample]], Any] | None = None

    def __len__(self) -> int:
        sentences_per_batch = 2 * self.batch_size - self.batch_size // self.pos_neg_ratio
        return len(self.sentences) // sentences_per_batch

    def __iter__(self) -> Iterator[Any]:
        order = list(self.sentences)
        random.shuffle(order)
        remaining = iter(order)
        for _ in range(len(self)):
            batch = []
            for index in range(self.batch_size):
                first = next(remaining)
                positive = index % self.pos_neg_ratio == 0
                second = first if positive else next(remaining)
                batch.append(InputExample(texts=[first, second], label=int(positive)))
            yield self.collate_fn(batch) if self.collate_fn is not None else batch


CARLSSON_2021 = """
@inproceedings{carlsson2021semantic,
    title={Semantic Re-tuning with Contrastive Tension},
    author={Fredrik Carlsson and Amaru Cuba Gyllensten and Evangelia Gogoulou and Erik Ylip{\"a}{\"a} Hellqvist and Magnus Sahlgren},
    booktitle={International Conference on Learning Representations},
    year={2021},
    url={https://openreview.net/forum?id=Ov_sMNau-PF}
}
"""  # noqa: E501
