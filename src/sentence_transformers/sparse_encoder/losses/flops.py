"""FlopsLoss: the FLOPS sparsity regularizer of SPLADE, optionally restricted to dense enough embeddings."""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from torch import Tensor, nn

if TYPE_CHECKING:
    from sentence_transformers.sparse_encoder.model import SparseEncoder

FLOPS_CITATION = """
@article{paria2020minimizing,
    title={Minimizing FLOPs to Learn Efficient Sparse Representations},
    author={Paria, Biswajit and Yeh, Chih-Kuan and Yen, Ian E. H. and Xu, Ning and Ravikumar, Pradeep and
        P{\\'o}czos, Barnab{\\'a}s},
    journal={arXiv preprint arXiv:2004.05665},
    year={2020}
}
"""


class FlopsLoss(nn.Module):
    """``sum_j (mean_i w_ij) ** 2``: the squared mean activation of every vocabulary dimension, summed.

    It approximates the expected number of floating-point operations of a sparse dot product, so minimising it
    pushes the embeddings towards few (and rarely shared) active dimensions. With ``threshold`` only the
    embeddings with more than ``threshold`` non-zero values count (the others are zeroed before the mean; the
    batch size stays the divisor), the "FLOPS with l0 masking" variant.

    It is a regularizer, used inside :class:`SpladeLoss` (which calls :meth:`compute_loss_from_embeddings`),
    never as a loss of its own.

    Args:
        model: the SparseEncoder being regularized.
        threshold: when set, embeddings with at most this many active dimensions are left out of the penalty.
    """

    def __init__(self, model: SparseEncoder, threshold: float | None = None) -> None:
        super().__init__()
        self.model = model
        self.threshold = threshold

    def forward(self, sentence_features: Iterable[dict[str, Tensor]], labels: Tensor) -> Tensor:
        """Not available: FlopsLoss only regularizes embeddings that SpladeLoss computed."""
        raise NotImplementedError(
            "FlopsLoss is a regularizer, not a loss of its own: SpladeLoss applies it to the query and document "
            "embeddings (see its document_regularizer / query_regularizer arguments)."
        )

    def compute_loss_from_embeddings(self, embeddings: Tensor) -> Tensor:
        """The FLOPS penalty of a ``(batch, vocab)`` embedding matrix."""
        if self.threshold is not None:
            active = (embeddings != 0).sum(dim=1)
            embeddings = embeddings * (active > self.threshold).unsqueeze(1).to(embeddings.dtype)
        return embeddings.mean(dim=0).pow(2).sum()

    def get_config_dict(self) -> dict[str, Any]:
        """Settings shown on the model card."""
        return {"threshold": self.threshold}

    @property
    def citation(self) -> str:
        """BibTeX of Paria et al. (2020)."""
        return FLOPS_CITATION
