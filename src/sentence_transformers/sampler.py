"""The 3.x import path ``sentence_transformers.sampler``: re-exports only.

Upstream's RoundRobinBatchSampler and ProportionalBatchSampler are one class here, MultiDatasetBatchSampler,
whose ``mode`` picks the interleaving.
"""

from sentence_transformers.sentence_transformer.training.samplers import (
    DefaultBatchSampler,
    GroupByLabelBatchSampler,
    MultiDatasetBatchSampler,
    NoDuplicatesBatchSampler,
)

__all__ = ["DefaultBatchSampler", "GroupByLabelBatchSampler", "MultiDatasetBatchSampler", "NoDuplicatesBatchSampler"]
