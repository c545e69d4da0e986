"""Helpers shared by the CrossEncoder losses: model checks, scoring (query, document) pairs, padding ranked lists."""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor, nn

from sentence_transformers.util.tensor import batch_to_device

# Module-level defaults of ``activation_fn`` (parameter-free, so sharing one instance is harmless)
IDENTITY = nn.Identity()
SIGMOID = nn.Sigmoid()


def require_cross_encoder(loss: nn.Module) -> None:
    """Raise unless ``loss.model`` is a CrossEncoder (imported late: the model package imports the losses)."""
    from sentence_transformers.cross_encoder.model import CrossEncoder

    if not isinstance(loss.model, CrossEncoder):
        raise ValueError(
            f"{type(loss).__name__} expects a model of type CrossEncoder, but got a model of type {type(loss.model)}."
        )


def require_one_label(loss: nn.Module, verb: str = "expects") -> None:
    """Raise unless the model scores a pair with one logit; ``verb`` keeps upstream's wording per loss."""
    num_labels = loss.model.num_labels
    if num_labels != 1:
        raise ValueError(
            f"{type(loss).__name__} {verb} a model with 1 output label, "
            f"but got a model with {num_labels} output labels."
        )


def score_pairs(model: nn.Module, pairs: list[Any], prompt: str | None, task: str | None) -> Tensor:
    """The model's ``(len(pairs), num_labels)`` logits for a list of (query, document) pairs."""
    features = batch_to_device(model.preprocess(pairs, prompt=prompt, task=task), model.device)
    return model(features)["scores"]


def check_label_count(loss: nn.Module, logits: Tensor, labels: Tensor) -> Tensor:
    """``labels`` flattened, after checking there is one per scored pair."""
    if labels.numel() != logits.shape[0]:
        raise ValueError(
            f"{type(loss).__name__} expects {logits.shape[0]} labels (one per example), "
            f"but got {labels.numel()} labels with shape {tuple(labels.shape)}."
        )
    return labels.view(-1)


def check_pair_columns(loss: nn.Module, inputs: list[list[str]]) -> list[tuple[str, str]]:
    """The (first, second) pairs of a two-column batch."""
    if len(inputs) != 2:
        raise ValueError(
            f"{type(loss).__name__} expects a dataset with two non-label columns, "
            f"but got a dataset with {len(inputs)} columns."
        )
    return list(zip(inputs[0], inputs[1], strict=True))


class RankedLists:
    """A batch of queries, each with its own list of documents and one label per document.

    The list losses score every (query, document) pair, then lay the scores out as a ``(queries, max_docs)`` matrix;
    shorter lists are padded at the end and ``mask`` tells the real entries apart.
    """

    def __init__(
        self, loss: nn.Module, inputs: list[Any], labels: Any, name: str, labels_error: str | None = None
    ) -> None:
        """Check the batch; ``name`` is the loss named in the errors, ``labels_error`` the text for tensor labels."""
        if isinstance(labels, Tensor):
            raise ValueError(
                labels_error
                or f"{name} expects a list of labels for each sample, but got a single value for each sample."
            )
        if len(inputs) != 2:
            raise ValueError(f"{name} expects two inputs (queries, documents_list), but got {len(inputs)} inputs.")
        self.queries, self.docs_list = inputs
        self.docs_per_query = [len(docs) for docs in self.docs_list]
        labels_per_query = [len(query_labels) for query_labels in labels]
        if self.docs_per_query != labels_per_query:
            raise ValueError(
                f"Number of documents per query in inputs ({self.docs_per_query}) does not match number of labels "
                f"per query ({labels_per_query})."
            )
        self.labels = labels
        self.max_docs = max(self.docs_per_query)
        self.device = loss.model.device
        self.rows = torch.repeat_interleave(torch.arange(len(self.queries)), torch.tensor(self.docs_per_query))
        self.cols = torch.cat([torch.arange(count) for count in self.docs_per_query])

    @property
    def pairs(self) -> list[tuple[str, str]]:
        """Every (query, document) pair, query by query."""
        return [(query, doc) for query, docs in zip(self.queries, self.docs_list, strict=True) for doc in docs]

    def logits(self, loss: nn.Module, prompt: str | None, task: str | None, mini_batch_size: int | None) -> Tensor:
        """The activated logit of every pair (float32), scored ``mini_batch_size`` pairs per forward pass.

        ``None`` (or 0) scores as many pairs per pass as there are queries; a negative size scores all at once.
        """
        pairs = self.pairs
        chunk = mini_batch_size or len(self.queries)
        if chunk <= 0:
            chunk = len(pairs)
        chunks = [
            score_pairs(loss.model, pairs[begin : begin + chunk], prompt, task).view(-1)
            for begin in range(0, len(pairs), chunk)
        ]
        return loss.activation_fn(torch.cat(chunks).float())

    def matrix(self, values: Tensor, fill: float) -> Tensor:
        """``values`` (one per pair) laid out per query, the padding set to ``fill``."""
        out = torch.full((len(self.queries), self.max_docs), fill, device=self.device, dtype=values.dtype)
        out[self.rows, self.cols] = values.to(self.device)
        return out

    def label_matrix(self, fill: float) -> Tensor:
        """The labels laid out per query (float32), the padding set to ``fill``."""
        return self.matrix(torch.cat(list(self.labels)).float(), fill)

    @property
    def mask(self) -> Tensor:
        """True where a real document sits, False on padding."""
        out = torch.zeros((len(self.queries), self.max_docs), dtype=torch.bool, device=self.device)
        out[self.rows, self.cols] = True
        return out
