"""SparseTranslationEvaluator: TranslationEvaluator for SparseEncoder models, with sparsity figures."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import torch

from sentence_transformers.sentence_transformer.evaluation.translation import TranslationEvaluator
from sentence_transformers.sparse_encoder.evaluation._sparsity import SparsityMixin

if TYPE_CHECKING:
    from torch import Tensor

    from sentence_transformers.sparse_encoder.model import SparseEncoder


class SparseTranslationEvaluator(SparsityMixin, TranslationEvaluator):
    """Accuracy of matching parallel sentences by cosine similarity of their sparse embeddings, in both directions.

    The metrics of :class:`TranslationEvaluator` (``src2trg_accuracy``, ``trg2src_accuracy`` and the primary
    ``mean_accuracy``), plus ``active_dims`` and ``sparsity_ratio`` of the source and target embeddings.

    Args:
        source_sentences: Sentences in one language.
        target_sentences: Their translations, in the same order.
        show_progress_bar: Show a progress bar while encoding.
        batch_size: Encoding batch size.
        name: Prefix of the metric names and part of the CSV file name.
        print_wrong_matches: Print every source whose nearest target is wrong, with the top 5 targets.
        write_csv: Append the results to ``translation_evaluation[_name]_results.csv``.
        max_active_dims: Keep at most this many active dimensions per embedding; None uses the model's setting.
    """

    def __init__(
        self,
        source_sentences: Sequence[str],
        target_sentences: Sequence[str],
        show_progress_bar: bool = False,
        batch_size: int = 16,
        name: str = "",
        print_wrong_matches: bool = False,
        write_csv: bool = True,
        max_active_dims: int | None = None,
    ) -> None:
        self._init_sparsity(max_active_dims)
        super().__init__(
            source_sentences,
            target_sentences,
            show_progress_bar=show_progress_bar,
            batch_size=batch_size,
            name=name,
            print_wrong_matches=print_wrong_matches,
            write_csv=write_csv,
        )
        self.csv_headers.extend(self.sparsity_figures)

    def embed_inputs(self, model: SparseEncoder, sentences: Sequence[str], **kwargs: Any) -> Tensor:
        """Encode ``sentences`` as one sparse CPU tensor and record its sparsity."""
        kwargs.pop("convert_to_tensor", None)  # always one (sparse) tensor
        embeddings = self._encode_sparse(model, sentences, convert_to_tensor=True, **kwargs)
        if isinstance(embeddings, list):
            embeddings = torch.stack(embeddings)
        self._record_sparsity(model, embeddings)
        return embeddings
