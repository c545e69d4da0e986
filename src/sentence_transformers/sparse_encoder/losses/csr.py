"""CSRLoss and CSRReconstructionLoss: train a SparseAutoEncoder on top of a dense model (Contrastive Sparse
Representation)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from sentence_transformers.sparse_encoder.losses.sparse_multiple_negatives_ranking import (
    SparseMultipleNegativesRankingLoss,
)

if TYPE_CHECKING:
    from sentence_transformers.sparse_encoder.model import SparseEncoder

CSR_CITATION = """
@misc{wen2025matryoshkarevisitingsparsecoding,
    title={Beyond Matryoshka: Revisiting Sparse Coding for Adaptive Representation},
    author={Tiansheng Wen and Yifei Wang and Zequn Zeng and Zhong Peng and Yudi Su and Xinyang Liu and Bo Chen and
        Hongwei Liu and Stefanie Jegelka and Chenyu You},
    year={2025},
    eprint={2503.01776},
    archivePrefix={arXiv},
    primaryClass={cs.LG},
    url={https://arxiv.org/abs/2503.01776},
}
"""

# The SparseAutoEncoder's training outputs that the reconstruction terms read.
BACKBONE_KEY = "sentence_embedding_backbone"
RECONSTRUCTION_K_KEY = "decoded_embedding_k"
RECONSTRUCTION_4K_KEY = "decoded_embedding_4k"
RECONSTRUCTION_AUX_KEY = "decoded_embedding_aux"
RECONSTRUCTION_K_PRE_BIAS_KEY = "decoded_embedding_k_pre_bias"


def normalized_mean_squared_error(reconstruction: Tensor, original_input: Tensor) -> Tensor:
    """``mse(reconstruction, original_input)`` divided by the batch variance of ``original_input``.

    The variance is the mean squared distance of the inputs to their mean row; when it is zero (all rows equal)
    the plain mean squared error is returned.

    Args:
        reconstruction: the decoder's output, ``(batch, dim)``.
        original_input: what it should reconstruct, ``(batch, dim)``.
    """
    variance = F.mse_loss(original_input.mean(dim=0, keepdim=True).expand_as(original_input), original_input)
    constant = bool((original_input == original_input[:1]).all()) or bool(variance == 0)
    return F.mse_loss(reconstruction, original_input) / (variance.new_ones(()) if constant else variance)


class CSRReconstructionLoss(nn.Module):
    """How well the SparseAutoEncoder's sparse codes reconstruct the dense backbone embedding.

    Per input column, with ``x`` the backbone embedding: ``L(k) = mse(x, decode(top-k code))``,
    ``L(4k) = mse(x, decode(top-4k code))`` and ``L_aux``, the normalized MSE of the auxiliary (dead-latent) code's
    reconstruction against the residual ``x - decode_k`` (decoder bias excluded, residual not back-propagated).
    Each is averaged over the columns; the result is ``{"reconstruction_loss_k": L(k),
    "reconstruction_loss_4k": L(4k) / 8, "reconstruction_loss_aux": beta * L_aux}``.

    A component of :class:`CSRLoss` (which calls :meth:`compute_loss_from_embeddings` with the model outputs), not
    a loss of its own. The model must end with a SparseAutoEncoder in training mode, which adds the
    ``decoded_embedding_*`` outputs.

    Args:
        model: the SparseEncoder (a CSR model: dense backbone + SparseAutoEncoder).
        beta: weight of the auxiliary term ``L_aux``.
    """

    def __init__(self, model: SparseEncoder, beta: float = 1.0) -> None:
        super().__init__()
        self.model = model
        self.beta = beta

    def forward(self, sentence_features: Iterable[dict[str, Tensor]]) -> dict[str, Tensor]:
        """Not available: use CSRLoss, which adds this reconstruction loss to its base loss."""
        raise NotImplementedError(
            "CSRReconstructionLoss is a component of CSRLoss and is not used on its own: train with CSRLoss(model)."
        )

    def compute_loss_from_embeddings(self, outputs: list[dict[str, Tensor]]) -> dict[str, Tensor]:
        """The three reconstruction terms from the model outputs of every input column."""
        totals = {"k": [], "4k": [], "aux": []}
        for column, output in enumerate(outputs):
            missing = [
                key
                for key in (BACKBONE_KEY, RECONSTRUCTION_K_KEY, RECONSTRUCTION_4K_KEY, RECONSTRUCTION_K_PRE_BIAS_KEY)
                if key not in output
            ]
            if missing:
                raise ValueError(
                    f"CSRReconstructionLoss: the outputs of column {column} lack {missing}; the model must end with "
                    "a SparseAutoEncoder module running in training mode (not under torch.inference_mode)."
                )
            backbone = output[BACKBONE_KEY]
            loss_k = F.mse_loss(backbone, output[RECONSTRUCTION_K_KEY])
            totals["k"].append(loss_k)
            totals["4k"].append(F.mse_loss(backbone, output[RECONSTRUCTION_4K_KEY]))
            reconstruction_aux = output.get(RECONSTRUCTION_AUX_KEY)
            if reconstruction_aux is None:
                totals["aux"].append(torch.zeros_like(loss_k))
            else:
                residual = backbone - output[RECONSTRUCTION_K_PRE_BIAS_KEY].detach()
                totals["aux"].append(normalized_mean_squared_error(reconstruction_aux, residual))

        def mean(values: list[Tensor]) -> Tensor | float:
            return torch.stack(values).mean() if values else 0.0

        return {
            "reconstruction_loss_k": mean(totals["k"]),
            "reconstruction_loss_4k": mean(totals["4k"]) / 8.0,
            "reconstruction_loss_aux": self.beta * mean(totals["aux"]),
        }

    def get_config_dict(self) -> dict[str, Any]:
        """Settings shown on the model card."""
        return {"beta": self.beta}

    @property
    def citation(self) -> str:
        """BibTeX of CSR (Wen et al., 2025)."""
        return CSR_CITATION


class CSRLoss(nn.Module):
    """Train a CSR model: ``reconstruction terms + gamma * base loss``.

    Every column goes through the model once; :class:`CSRReconstructionLoss` (with ``beta``) reads the
    SparseAutoEncoder's reconstructions from the outputs, and the base loss scores the sparse embeddings. The
    forward pass returns the terms as a dict (``reconstruction_loss_k``, ``reconstruction_loss_4k``,
    ``reconstruction_loss_aux``, then ``base_loss`` or the base loss's own keys, each times ``gamma``).

    Args:
        model: the SparseEncoder: a dense model (Transformer + Pooling) followed by a SparseAutoEncoder.
        loss: the base loss, one of the ``Sparse*Loss`` classes; SparseMultipleNegativesRankingLoss (InfoNCE,
            as in the paper) when None.
        beta: weight of the auxiliary reconstruction term.
        gamma: weight of the base loss.
    """

    def __init__(
        self, model: SparseEncoder, loss: nn.Module | None = None, beta: float = 0.1, gamma: float = 1.0
    ) -> None:
        super().__init__()
        if loss is not None and not callable(getattr(loss, "compute_loss_from_embeddings", None)):
            raise ValueError(
                f"CSRLoss needs a base loss with a compute_loss_from_embeddings(embeddings, labels) method, which "
                f"{type(loss).__name__} does not have; use one of the Sparse*Loss classes."
            )
        if isinstance(loss, CSRReconstructionLoss | CSRLoss):
            raise ValueError(f"{type(loss).__name__} cannot be the base loss of CSRLoss.")
        self.model = model
        self.beta = beta
        self.gamma = gamma
        self.reconstruction_loss = CSRReconstructionLoss(model=model, beta=beta)
        self.loss = loss if loss is not None else SparseMultipleNegativesRankingLoss(model=model)

    def forward(
        self, sentence_features: Iterable[dict[str, Tensor]], labels: Tensor | None = None
    ) -> dict[str, Tensor]:
        """The loss terms of one batch."""
        # One forward per column: the reconstruction terms need each column's own output dict.
        outputs = [self.model(features) for features in sentence_features]
        terms = self.reconstruction_loss.compute_loss_from_embeddings(outputs)
        base_loss = self.loss.compute_loss_from_embeddings([output["sentence_embedding"] for output in outputs], labels)
        if isinstance(base_loss, dict):
            terms.update({key: value * self.gamma for key, value in base_loss.items()})
        else:
            terms["base_loss"] = base_loss * self.gamma
        return terms

    def get_config_dict(self) -> dict[str, Any]:
        """Settings shown on the model card."""
        return {"beta": self.beta, "gamma": self.gamma, "loss": type(self.loss).__name__}

    @property
    def citation(self) -> str:
        """BibTeX of CSR (Wen et al., 2025)."""
        return CSR_CITATION
