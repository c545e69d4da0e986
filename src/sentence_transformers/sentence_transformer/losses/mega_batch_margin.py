"""MegaBatchMarginLoss: for each anchor, beat the hardest in-batch negative by a margin (Wieting and Gimpel, 2018)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from sentence_transformers.base.losses.gradcache import CachedLossMixin, check_mini_batching
from sentence_transformers.base.losses.merged_forward import embed_columns
from sentence_transformers.util.similarity import cos_sim

PARANMT_CITATION = """
@inproceedings{wieting-gimpel-2018-paranmt,
    title = "{P}ara{NMT}-50{M}: Pushing the Limits of Paraphrastic Sentence Embeddings with Millions of Machine
        Translations",
    author = "Wieting, John and Gimpel, Kevin",
    booktitle = "Proceedings of the 56th Annual Meeting of the Association for Computational Linguistics",
    month = jul,
    year = "2018",
    publisher = "Association for Computational Linguistics",
    url = "https://www.aclweb.org/anthology/P18-1042",
    doi = "10.18653/v1/P18-1042",
    pages = "451--462",
}
"""


class MegaBatchMarginLoss(CachedLossMixin, nn.Module):
    """For (anchor, positive) pairs: ``relu(positive_margin - cos(a, p)) + relu(max_neg cos(a, n) - negative_margin)``.

    The negative of each anchor is the most similar positive of another pair in the (mega) batch; the loss is the
    mean over anchors. The mini-batched version uses GradCache: memory grows with ``mini_batch_size`` rather than the
    batch size, and loss and gradients are the same as without it.

    Args:
        model: the SentenceTransformer to train.
        positive_margin: the cosine similarity each positive pair should reach.
        negative_margin: the cosine similarity the hardest negative should stay below.
        use_mini_batched_version: embed in mini-batches with gradient caching (for large batches).
        mini_batch_size: texts per forward pass in the mini-batched version.
        mini_batch_num_tokens: when set, pack mini-batches up to this many tokens instead.
        show_progress_bar: show progress over the mini-batches.
    """

    def __init__(
        self,
        model: nn.Module,
        positive_margin: float = 0.8,
        negative_margin: float = 0.3,
        use_mini_batched_version: bool = True,
        mini_batch_size: int = 50,
        mini_batch_num_tokens: int | None = None,
        show_progress_bar: bool = False,
    ) -> None:
        super().__init__()
        check_mini_batching(mini_batch_size, mini_batch_num_tokens)
        self.model = model
        self.positive_margin = positive_margin
        self.negative_margin = negative_margin
        self.use_mini_batched_version = use_mini_batched_version
        self.uses_gradient_cache = use_mini_batched_version
        self.mini_batch_size = mini_batch_size
        self.mini_batch_num_tokens = mini_batch_num_tokens
        self.show_progress_bar = show_progress_bar

    def forward(self, sentence_features: Iterable[dict[str, Tensor]], labels: Tensor | None = None) -> Tensor:
        """The mean margin loss over the anchors (labels are ignored)."""
        if self.use_mini_batched_version:
            return self.forward_mini_batched(sentence_features, labels)
        return self.forward_non_mini_batched(sentence_features, labels)

    def forward_mini_batched(
        self, sentence_features: Iterable[dict[str, Tensor]], labels: Tensor | None = None
    ) -> Tensor:
        """The loss with GradCache: embedded in mini-batches, re-embedded with gradients during ``backward()``."""
        features = _check_columns(sentence_features)
        return self.forward_cached(features, labels)

    def forward_non_mini_batched(
        self, sentence_features: Iterable[dict[str, Tensor]], labels: Tensor | None = None
    ) -> Tensor:
        """The loss from one forward pass over the whole batch (memory grows with the batch size)."""
        features = _check_columns(sentence_features)
        return self.calculate_loss([[rep] for rep in embed_columns(self.model, features)], labels)

    def calculate_loss(
        self, reps: list[list[Tensor]], labels: Tensor | None = None, with_backward: bool = False
    ) -> Tensor:
        """The loss from the (anchor, positive) mini-batch embeddings, ``mini_batch_size`` anchors at a time."""
        anchors, positives = (torch.cat(chunks) for chunks in reps)
        batch_size = anchors.shape[0]
        step = self.mini_batch_size if with_backward or not torch.is_grad_enabled() else batch_size
        total = 0.0
        for begin in range(0, batch_size, step):
            part = self._anchor_losses(anchors[begin : begin + step], positives, begin).sum() / batch_size
            if with_backward:
                part.backward()
                part = part.detach()
            total = total + part
        return total

    def _anchor_losses(self, anchors: Tensor, positives: Tensor, offset: int) -> Tensor:
        """Margin loss of each anchor in a chunk starting at batch row ``offset``."""
        rows = torch.arange(anchors.shape[0], device=anchors.device)
        scores = cos_sim(anchors, positives)
        positive_scores = scores[rows, rows + offset]
        hardest_negative = scores.index_put((rows, rows + offset), scores.new_tensor(-torch.inf)).max(dim=1).values
        return F.relu(self.positive_margin - positive_scores) + F.relu(hardest_negative - self.negative_margin)

    def get_config_dict(self) -> dict[str, Any]:
        """Hyperparameters for the model card."""
        return {
            "positive_margin": self.positive_margin,
            "negative_margin": self.negative_margin,
            "use_mini_batched_version": self.use_mini_batched_version,
            "mini_batch_size": self.mini_batch_size,
            "mini_batch_num_tokens": self.mini_batch_num_tokens,
        }

    @property
    def citation(self) -> str:
        """BibTeX of ParaNMT-50M (Wieting and Gimpel, 2018)."""
        return PARANMT_CITATION


def _check_columns(sentence_features: Iterable[dict[str, Tensor]]) -> list[dict[str, Tensor]]:
    """The two (anchor, positive) columns, or an error naming why a third makes no sense."""
    features = list(sentence_features)
    if len(features) != 2:
        raise ValueError(
            f"MegaBatchMarginLoss needs exactly 2 columns (anchor, positive), got {len(features)}; it mines its "
            "negatives from the other pairs of the batch."
        )
    return features
