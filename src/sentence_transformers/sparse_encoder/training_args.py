"""SparseEncoderTrainingArguments: the shared training arguments; a SparseEncoder reads them per column, as a
SentenceTransformer does (``prompts`` and ``router_mapping`` per column or per dataset)."""

from __future__ import annotations

from dataclasses import dataclass

from sentence_transformers.base.training_args import BaseTrainingArguments


@dataclass
class SparseEncoderTrainingArguments(BaseTrainingArguments):
    r"""TrainingArguments for SparseEncoderTrainer; see ``BaseTrainingArguments`` for each argument.

    For an inference-free model (a Router with a static query route), set ``router_mapping`` so that each column
    takes its route, e.g. ``{"query": "query", "answer": "document"}``.
    """


__all__ = ["SparseEncoderTrainingArguments"]
