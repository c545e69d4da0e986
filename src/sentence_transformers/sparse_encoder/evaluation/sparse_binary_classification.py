"""SparseBinaryClassificationEvaluator: BinaryClassificationEvaluator for SparseEncoder models, with sparsity
figures."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, Literal

import torch

from sentence_transformers.sentence_transformer.evaluation.binary_classification import BinaryClassificationEvaluator
from sentence_transformers.sparse_encoder.evaluation._sparsity import SparsityMixin

if TYPE_CHECKING:
    from torch import Tensor

    from sentence_transformers.sparse_encoder.model import SparseEncoder


class SparseBinaryClassificationEvaluator(SparsityMixin, BinaryClassificationEvaluator):
    """Accuracy, F1, precision, recall, average precision and MCC of labelling pairs by a similarity threshold, for
    sparse embeddings.

    The metrics of :class:`BinaryClassificationEvaluator` (``<fn>_accuracy``, ``<fn>_f1``, ``<fn>_ap``, ...; primary
    ``<fn>_ap`` or ``max_ap``), plus ``active_dims`` and ``sparsity_ratio`` of the embeddings of the distinct
    sentences (each encoded once).

    Args:
        sentences1: First sentence of each pair.
        sentences2: Second sentence of each pair.
        labels: 1 for similar / duplicate pairs, 0 otherwise.
        name: Prefix of the metric names and part of the CSV file name.
        batch_size: Encoding batch size.
        show_progress_bar: Show a progress bar while encoding.
        write_csv: Append the results to ``binary_classification_evaluation[_name]_results.csv``.
        max_active_dims: Keep at most this many active dimensions per embedding; None uses the model's setting.
        similarity_fn_names: Functions to evaluate, among "cosine", "dot", "euclidean", "manhattan"; default the
            model's ``similarity_fn_name``.
    """

    def __init__(
        self,
        sentences1: Sequence[str],
        sentences2: Sequence[str],
        labels: Sequence[int],
        name: str = "",
        batch_size: int = 32,
        show_progress_bar: bool = False,
        write_csv: bool = True,
        max_active_dims: int | None = None,
        similarity_fn_names: list[Literal["cosine", "dot", "euclidean", "manhattan"]] | None = None,
    ) -> None:
        self._init_sparsity(max_active_dims)
        super().__init__(
            sentences1=sentences1,
            sentences2=sentences2,
            labels=labels,
            name=name,
            batch_size=batch_size,
            show_progress_bar=show_progress_bar,
            write_csv=write_csv,
            similarity_fn_names=similarity_fn_names,
        )

    @property
    def csv_headers(self) -> list[str]:
        """The parent's columns, then active_dims and sparsity_ratio once the similarity functions are known."""
        headers = super().csv_headers
        return headers + list(self.sparsity_figures) if self.similarity_fn_names else headers

    def _embed_pairs(self, model: SparseEncoder) -> tuple[Tensor, Tensor]:
        """Sparse embeddings of both sides, each distinct sentence encoded once (rows picked with index_select, as
        sparse tensors do not support fancy indexing)."""
        try:
            unique = list(dict.fromkeys([*self.sentences1, *self.sentences2]))
        except TypeError:  # unhashable inputs: encode every one
            return self.embed_inputs(model, self.sentences1), self.embed_inputs(model, self.sentences2)
        embeddings = self.embed_inputs(model, unique)
        position = {sentence: index for index, sentence in enumerate(unique)}

        def rows(sentences: Sequence[str]) -> Tensor:
            index = torch.tensor([position[sentence] for sentence in sentences], dtype=torch.long)
            return embeddings.index_select(0, index.to(embeddings.device))

        return rows(self.sentences1), rows(self.sentences2)

    def embed_inputs(self, model: SparseEncoder, sentences: Sequence[str], **kwargs: Any) -> Tensor:
        """Encode ``sentences`` as one sparse CPU tensor and record its sparsity."""
        embeddings = self._encode_sparse(model, sentences, **kwargs)
        self._record_sparsity(model, embeddings)
        return embeddings
