"""Trainer callbacks for SparseEncoder training."""

from __future__ import annotations

from sentence_transformers.sparse_encoder.callbacks.splade_callbacks import (
    SchedulerType,
    SpladeRegularizerWeightSchedulerCallback,
)

__all__ = ["SpladeRegularizerWeightSchedulerCallback", "SchedulerType"]
