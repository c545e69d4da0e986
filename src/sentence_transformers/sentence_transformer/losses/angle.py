"""AnglELoss: CoSENT on the angle similarity, which keeps a gradient where cosine similarity saturates."""

from __future__ import annotations

import torch
from torch import Tensor, nn

from .cosent import CoSENTLoss

ANGLE_CITATION = """
@inproceedings{li-li-2024-aoe,
    title = "{A}o{E}: Angle-optimized Embeddings for Semantic Textual Similarity",
    author = "Li, Xianming and Li, Jing",
    booktitle = "Proceedings of the 62nd Annual Meeting of the Association for Computational Linguistics",
    year = "2024",
    publisher = "Association for Computational Linguistics",
    url = "https://aclanthology.org/2024.acl-long.101/",
    doi = "10.18653/v1/2024.acl-long.101"
}
"""


def pairwise_angle_sim(x: Tensor, y: Tensor) -> Tensor:
    """``|cos + sin|`` of each row pair, reading each unit vector as complex numbers ``first half + i second half``.

    For unit vectors ``x = a + ib`` and ``y = c + id`` the cosine part is ``<a, c> + <b, d>`` and the sine part is
    ``<b, c> - <a, d>`` (the imaginary part of ``x * conj(y)``). An odd dimension is padded with one zero.
    """
    x, y = torch.as_tensor(x), torch.as_tensor(y)
    if not x.is_floating_point():
        x, y = x.float(), y.float()
    if x.shape[-1] % 2:
        x, y = nn.functional.pad(x, (0, 1)), nn.functional.pad(y, (0, 1))
    x, y = nn.functional.normalize(x, dim=-1), nn.functional.normalize(y, dim=-1)
    a, b = x.chunk(2, dim=-1)
    c, d = y.chunk(2, dim=-1)
    cosine = (a * c).sum(-1) + (b * d).sum(-1)
    sine = (b * c).sum(-1) - (a * d).sum(-1)
    return torch.abs(cosine + sine)


class AnglELoss(CoSENTLoss):
    """CoSENTLoss with ``pairwise_angle_sim`` as the similarity.

    Takes (text1, text2) pairs with float labels, or (anchor, positive, negative_1, ...) tuples: those become pairs
    (anchor, positive) with the label (1 when labels is None) and (anchor, negative_k) with ``1 - label``.

    Args:
        model: the SentenceTransformer to train.
        scale: multiplies the similarities (``1 / temperature``).
    """

    def __init__(self, model: nn.Module, scale: float = 20.0) -> None:
        super().__init__(model, scale, similarity_fct=pairwise_angle_sim)

    def compute_loss_from_embeddings(self, embeddings: list[Tensor], labels: Tensor | None) -> Tensor:
        """The loss from already computed column embeddings (pairs, or tuples turned into pairs)."""
        if len(embeddings) <= 2:
            if labels is None:
                raise ValueError("AnglELoss needs labels for (text1, text2) pairs.")
            return super().compute_loss_from_embeddings(embeddings, labels)
        anchors, others = embeddings[0], embeddings[1:]
        if labels is None:
            labels = torch.ones(anchors.shape[0], device=anchors.device)
        if labels.numel() != anchors.shape[0]:
            raise ValueError(f"AnglELoss expects {anchors.shape[0]} labels (one per example), got {labels.numel()}.")
        labels = labels.view(-1)
        pair_labels = torch.cat([labels, (1 - labels).repeat(len(others) - 1)])
        pairs = [anchors.repeat(len(others), 1), torch.cat(others)]
        return super().compute_loss_from_embeddings(pairs, pair_labels)

    @property
    def citation(self) -> str:
        """BibTeX of AnglE."""
        return ANGLE_CITATION
