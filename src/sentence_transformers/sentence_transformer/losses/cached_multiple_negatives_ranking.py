"""CachedMultipleNegativesRankingLoss: MultipleNegativesRankingLoss with GradCache, for batches beyond memory."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any, Literal

import torch
from torch import Tensor, nn
from tqdm import trange

from sentence_transformers.base.losses.gradcache import CachedLossMixin, check_mini_batching
from sentence_transformers.util.similarity import cos_sim

from ._loss_utils import backward_from_cut, cut_graph
from .multiple_negatives_ranking import Direction, InBatchRankingScorer

# settable like attributes, held outside nn.Module's registries (a similarity module must not become a submodule)
RANKING_OPTIONS = (
    "scale",
    "similarity_fct",
    "gather_across_devices",
    "directions",
    "partition_mode",
    "hardness_mode",
    "hardness_strength",
)

GRADCACHE_CITATION = """
@misc{gao2021scaling,
    title={Scaling Deep Contrastive Learning Batch Size under Memory Limited Setup},
    author={Luyu Gao and Yunyi Zhang and Jiawei Han and Jamie Callan},
    year={2021},
    eprint={2101.06983},
    archivePrefix={arXiv},
    primaryClass={cs.LG}
}
"""


class CachedMultipleNegativesRankingLoss(CachedLossMixin, InBatchRankingScorer, nn.Module):
    """MultipleNegativesRankingLoss whose memory grows with ``mini_batch_size``, not with the batch size.

    The batch is embedded in mini-batches without gradients, the loss and its gradient with respect to the
    embeddings are computed (also in anchor chunks), and ``loss.backward()`` re-embeds each mini-batch with
    gradients (replaying its dropout) to finish the backward pass. Loss and gradients equal those of
    MultipleNegativesRankingLoss; it is slower (two forward passes) but allows far larger batches.

    Args:
        model: the SentenceTransformer to train.
        scale, similarity_fct, gather_across_devices, directions, partition_mode, hardness_mode, hardness_strength:
            as in MultipleNegativesRankingLoss.
        mini_batch_size: texts per forward pass (and anchors per loss chunk); the memory knob.
        mini_batch_num_tokens: when set, pack mini-batches up to this many (non-padding) tokens instead.
        show_progress_bar: show progress over the mini-batches.
    """

    def __init__(
        self,
        model: nn.Module,
        scale: float = 20.0,
        similarity_fct: Callable[[Tensor, Tensor], Tensor] = cos_sim,
        mini_batch_size: int = 32,
        mini_batch_num_tokens: int | None = None,
        gather_across_devices: bool = False,
        directions: tuple[Direction, ...] = ("query_to_doc",),
        partition_mode: Literal["joint", "per_direction"] = "joint",
        show_progress_bar: bool = False,
        hardness_mode: Literal["in_batch_negatives", "hard_negatives", "all_negatives"] | None = None,
        hardness_strength: float = 0.0,
    ) -> None:
        super().__init__()
        check_mini_batching(mini_batch_size, mini_batch_num_tokens)
        self.model = model
        self.mini_batch_size = mini_batch_size
        self.mini_batch_num_tokens = mini_batch_num_tokens
        self.show_progress_bar = show_progress_bar
        self._set_ranking_options(
            scale, similarity_fct, gather_across_devices, directions, partition_mode, hardness_mode, hardness_strength
        )

    def __setattr__(self, name: str, value: Any) -> None:
        """Keep the ranking hyperparameters apart from nn.Module's registries; the properties below read them."""
        if name in RANKING_OPTIONS:
            self.__dict__.setdefault("_ranking_options", {})[name] = value
        else:
            super().__setattr__(name, value)

    def _option(self, name: str) -> Any:
        return self.__dict__["_ranking_options"][name]

    @property
    def scale(self) -> float:
        """Multiplier of the similarities (``1 / temperature``)."""
        return self._option("scale")

    @property
    def similarity_fct(self) -> Callable[[Tensor, Tensor], Tensor]:
        """The matrix similarity function."""
        return self._option("similarity_fct")

    @property
    def gather_across_devices(self) -> bool:
        """Whether every process's embeddings are gathered in distributed training."""
        return self._option("gather_across_devices")

    @property
    def directions(self) -> tuple[str, ...]:
        """The terms of the softmax."""
        return self._option("directions")

    @property
    def partition_mode(self) -> str:
        """``joint`` (one softmax) or ``per_direction``."""
        return self._option("partition_mode")

    @property
    def hardness_mode(self) -> str | None:
        """Which negatives get the hardness penalty (None: none)."""
        return self._option("hardness_mode")

    @property
    def hardness_strength(self) -> float:
        """Weight of the hardness penalty."""
        return self._option("hardness_strength")

    def forward(self, sentence_features: Iterable[dict[str, Tensor]], labels: Tensor | None = None) -> Tensor:
        """Mean loss over the anchors; call ``backward()`` on it as on any loss."""
        features = list(sentence_features)
        if len(features) < 2:
            raise ValueError(f"{type(self).__name__} needs at least 2 columns (anchor, positive), got {len(features)}.")
        return self.forward_cached(features, labels)

    def calculate_loss(
        self, reps: list[list[Tensor]], labels: Tensor | None = None, with_backward: bool = False
    ) -> Tensor:
        """The mean anchor loss, computed ``mini_batch_size`` anchors at a time (back-propagated per chunk).

        With ``with_backward`` the chunks back-propagate into leaf copies of the (gathered) columns, whose summed
        gradient then crosses the cat (and the gather's collective) once.
        """
        columns = [torch.cat(chunks) for chunks in reps]
        queries, docs, rows = self.gather_columns(columns)
        gathered = [queries, *docs]
        if with_backward:
            queries, *docs = leaves = cut_graph(gathered)
        batch_size = len(rows)
        total = 0.0
        for begin in trange(
            0, batch_size, self.mini_batch_size, desc="Calculating loss", disable=not self.show_progress_bar
        ):
            part = self.row_losses(queries, docs, rows[begin : begin + self.mini_batch_size]).sum() / batch_size
            if with_backward:
                part.backward()
                part = part.detach()
            total = total + part
        if with_backward:
            backward_from_cut(gathered, leaves)
        return total

    def get_config_dict(self) -> dict[str, Any]:
        """Hyperparameters for the model card."""
        return {
            **self.ranking_config(),
            "mini_batch_size": self.mini_batch_size,
            "mini_batch_num_tokens": self.mini_batch_num_tokens,
        }

    @property
    def citation(self) -> str:
        """BibTeX of GradCache (Gao et al., 2021)."""
        return GRADCACHE_CITATION
