"""SparseMSEEvaluator: MSEEvaluator for SparseEncoder models (teacher and student), with sparsity figures."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
import torch

from sentence_transformers.sentence_transformer.evaluation.mse import MSEEvaluator
from sentence_transformers.sparse_encoder.evaluation._sparsity import SparsityMixin

if TYPE_CHECKING:
    from sentence_transformers.sparse_encoder.model import SparseEncoder

logger = logging.getLogger(__name__)


class SparseMSEEvaluator(SparsityMixin, MSEEvaluator):
    """MSE (x100) between a sparse teacher's embeddings of ``source_sentences`` and the model's of
    ``target_sentences``.

    Both sides are encoded as dense vectors (the MSE is computed densely, so memory grows with the vocabulary size).
    Metrics: ``negative_mse`` (the primary one) plus ``active_dims`` and ``sparsity_ratio`` of the evaluated model's
    embeddings.

    Args:
        source_sentences: Sentences the teacher embeds.
        target_sentences: Sentences the evaluated model embeds, in the same order.
        teacher_model: The SparseEncoder whose embeddings are the targets (encoded once, here).
        show_progress_bar: Show a progress bar while encoding.
        batch_size: Encoding batch size.
        name: Prefix of the metric names and part of the CSV file name.
        write_csv: Append the results to ``mse_evaluation_<name>_results.csv``.
        max_active_dims: Keep at most this many active dimensions per embedding (teacher's too); None uses each
            model's setting.
    """

    def __init__(
        self,
        source_sentences: Sequence[str],
        target_sentences: Sequence[str],
        teacher_model: SparseEncoder | None = None,
        show_progress_bar: bool = False,
        batch_size: int = 32,
        name: str = "",
        write_csv: bool = True,
        max_active_dims: int | None = None,
    ) -> None:
        self._init_sparsity(max_active_dims)
        super().__init__(
            source_sentences=source_sentences,
            target_sentences=target_sentences,
            teacher_model=teacher_model,
            show_progress_bar=show_progress_bar,
            batch_size=batch_size,
            name=name,
            write_csv=write_csv,
        )
        self.csv_headers.extend(self.sparsity_figures)
        logger.warning("SparseMSEEvaluator computes the MSE on dense embeddings: memory grows with the vocabulary.")

    def embed_inputs(self, model: SparseEncoder, sentences: Sequence[str], **kwargs: Any) -> np.ndarray:
        """Encode ``sentences`` as dense vectors (a numpy array) and record their sparsity."""
        embeddings = self._encode_sparse(model, sentences, **{"convert_to_sparse_tensor": False, **kwargs})
        embeddings = torch.as_tensor(embeddings) if not isinstance(embeddings, torch.Tensor) else embeddings
        self._record_sparsity(model, embeddings)
        return embeddings.detach().cpu().float().numpy()
