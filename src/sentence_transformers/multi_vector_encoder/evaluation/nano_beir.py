"""MultiVectorNanoBEIREvaluator: MultiVectorInformationRetrievalEvaluator on each NanoBEIR dataset, aggregated."""

from __future__ import annotations

from typing import Any

from sentence_transformers.multi_vector_encoder.evaluation._common import refuse_truncate_dim
from sentence_transformers.multi_vector_encoder.evaluation.information_retrieval import (
    MultiVectorInformationRetrievalEvaluator,
)
from sentence_transformers.sentence_transformer.evaluation.nano_beir import NanoBEIREvaluator


class MultiVectorNanoBEIREvaluator(NanoBEIREvaluator):
    """Runs a :class:`MultiVectorInformationRetrievalEvaluator` on each NanoBEIR dataset and aggregates the metrics.

    Returns every dataset's metrics (``NanoMSMARCO_maxsim_ndcg@10``, ...) and their aggregate
    (``NanoBEIR_mean_maxsim_ndcg@10``, the primary metric with the model's default similarity).

    Args:
        *args: NanoBEIREvaluator's arguments (``dataset_names``, ``dataset_id``, cut-offs, ``batch_size``,
            ``score_functions``, ``aggregate_fn``, prompts, ...); ``truncate_dim`` must stay None.
        corpus_chunk_size: Documents encoded and scored at a time in each dataset.
        chunk_elements: Element budget of one chunk of the MaxSim token-similarity grid (default: maxsim's).
        **kwargs: as ``*args``.
    """

    information_retrieval_class = MultiVectorInformationRetrievalEvaluator

    def __init__(
        self, *args: Any, corpus_chunk_size: int = 5000, chunk_elements: int | None = None, **kwargs: Any
    ) -> None:
        refuse_truncate_dim(kwargs.get("truncate_dim"))
        super().__init__(*args, **kwargs)
        self.corpus_chunk_size = corpus_chunk_size
        self.chunk_elements = chunk_elements
        self._ir_kwargs.update(corpus_chunk_size=corpus_chunk_size, chunk_elements=chunk_elements)


__all__ = ["MultiVectorNanoBEIREvaluator"]
