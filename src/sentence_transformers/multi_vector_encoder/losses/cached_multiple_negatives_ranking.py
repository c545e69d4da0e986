"""CachedMultiVectorMultipleNegativesRankingLoss: the MaxSim in-batch negatives loss with GradCache."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from contextlib import nullcontext
from typing import TYPE_CHECKING, Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from tqdm import trange

from sentence_transformers.base.losses.gradcache import (
    CachedLossMixin,
    RandContext,
    check_mini_batching,
    slice_features,
)
from sentence_transformers.multi_vector_encoder.losses.multiple_negatives_ranking import (
    check_scale,
    default_scorer,
    gather_documents,
    in_batch_targets,
)
from sentence_transformers.util.misc import similarity_fct_name
from sentence_transformers.util.tensor import cat_padded_token_embeddings, stack_padded_token_embeddings

if TYPE_CHECKING:
    from sentence_transformers.multi_vector_encoder.model import MultiVectorEncoder

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


class CachedMultiVectorMultipleNegativesRankingLoss(CachedLossMixin, nn.Module):
    """MultiVectorMultipleNegativesRankingLoss whose memory grows with ``mini_batch_size``, not the batch size.

    Every column is embedded ``mini_batch_size`` rows at a time without gradients; the loss and its gradient with
    respect to the token embeddings are computed ``score_mini_batch_size`` queries at a time; ``backward()`` then
    re-embeds each mini-batch with gradients (replaying its dropout) and pushes the cached gradient through it.
    Loss and gradients equal those of the uncached loss; it costs a second forward pass.

    Inputs: (query, positive[, negative_1, ..., negative_n]) columns, no labels.

    Args:
        model: the MultiVectorEncoder to train.
        scale: multiplies the scores before the softmax (``1 / temperature``).
        similarity_fct: as in MultiVectorMultipleNegativesRankingLoss (``colbert_scores`` by default).
        mini_batch_size: rows per forward pass; the memory knob.
        mini_batch_num_tokens: when set, pack mini-batches up to this many (non-padding) tokens instead.
        score_mini_batch_size: queries scored at a time (default: ``mini_batch_size``).
        gather_across_devices: score every rank's queries against the documents of all ranks.
        show_progress_bar: show progress over the mini-batches.
    """

    def __init__(
        self,
        model: MultiVectorEncoder,
        *,
        scale: float = 1.0,
        similarity_fct: Callable[..., Tensor] | None = None,
        mini_batch_size: int = 32,
        mini_batch_num_tokens: int | None = None,
        score_mini_batch_size: int | None = None,
        gather_across_devices: bool = False,
        show_progress_bar: bool = False,
    ) -> None:
        super().__init__()
        check_mini_batching(mini_batch_size, mini_batch_num_tokens)
        self.model = model
        self.scale = check_scale(scale)
        self.similarity_fct = similarity_fct if similarity_fct is not None else default_scorer("colbert_scores")
        self.mini_batch_size = mini_batch_size
        self.mini_batch_num_tokens = mini_batch_num_tokens
        self.score_mini_batch_size = score_mini_batch_size if score_mini_batch_size is not None else mini_batch_size
        self.gather_across_devices = gather_across_devices
        self.show_progress_bar = show_progress_bar

    def get_config_dict(self) -> dict[str, Any]:
        """The settings shown in model cards."""
        return {
            "scale": self.scale,
            "similarity_fct": similarity_fct_name(self.similarity_fct),
            "mini_batch_size": self.mini_batch_size,
            "mini_batch_num_tokens": self.mini_batch_num_tokens,
            "score_mini_batch_size": self.score_mini_batch_size,
            "gather_across_devices": self.gather_across_devices,
        }

    def embed_minibatch(
        self,
        sentence_feature: dict[str, Tensor],
        begin: int,
        end: int,
        with_grad: bool,
        copy_random_state: bool,
        random_state: RandContext | None = None,
    ) -> tuple[Tensor, Tensor, RandContext | None]:
        """Rows ``begin:end`` of one column: ``(token embeddings, scoring mask, random state or None)``."""
        batch = slice_features(sentence_feature, begin, end)
        with nullcontext() if random_state is None else random_state:
            with nullcontext() if with_grad else torch.no_grad():
                state = RandContext(*batch.values()) if copy_random_state else None
                outputs = self.model(batch, task=batch.get("task"))
        return outputs["token_embeddings"], outputs["attention_mask"].bool(), state

    def loss_inputs(self, labels: Tensor | None, extras: list[list[tuple[Any, ...]]]) -> list[list[Tensor]]:
        """The scoring masks of every column's mini-batches (the labels are not used)."""
        return [[mask for mask, *_ in column] for column in extras]

    def calculate_loss(
        self, reps: list[list[Tensor]], masks_chunks: list[list[Tensor]], *, with_backward: bool = False
    ) -> Tensor:
        """The loss on the cached token embeddings (``masks_chunks``: each mini-batch's scoring mask), computed (and,
        with ``with_backward``, back-propagated) in query chunks of ``score_mini_batch_size``."""
        columns = [
            cat_padded_token_embeddings(chunks, column_masks)
            for chunks, column_masks in zip(reps, masks_chunks, strict=True)
        ]
        queries, queries_mask = columns[0]
        documents = [embedding for embedding, _ in columns[1:]]
        documents_masks = [mask for _, mask in columns[1:]]
        if self.gather_across_devices:
            documents, documents_masks = gather_documents(documents, documents_masks)
        stacked, stacked_mask = stack_padded_token_embeddings(documents, documents_masks)
        batch_size = len(queries)
        targets = in_batch_targets(batch_size, len(documents), queries.device, self.gather_across_devices)
        losses = []
        for begin in trange(
            0, batch_size, self.score_mini_batch_size, desc="Score mini-batches", disable=not self.show_progress_bar
        ):
            end = begin + self.score_mini_batch_size
            scores = self.similarity_fct(
                queries[begin:end], stacked, queries_mask=queries_mask[begin:end], documents_mask=stacked_mask
            )
            # divided inside the graph, so each chunk's gradient already carries the 1 / batch_size of the mean
            loss = F.cross_entropy(scores * self.scale, targets[begin:end], reduction="sum") / batch_size
            if with_backward:
                loss.backward()
                loss = loss.detach()
            losses.append(loss)
        return torch.stack(losses).sum()

    def calculate_loss_and_cache_gradients(
        self, reps: list[list[Tensor]], masks_chunks: list[list[Tensor]]
    ) -> tuple[Tensor, list[list[Tensor]]]:
        """The shared step (2) with the scoring masks of the mini-batches in place of labels."""
        return super().calculate_loss_and_cache_gradients(reps, masks_chunks)

    def forward(self, sentence_features: Iterable[dict[str, Tensor]], labels: Tensor | None = None) -> Tensor:
        """The loss over the whole batch; its ``backward()`` re-embeds mini-batch by mini-batch."""
        features = [
            {**column, "task": column.get("task", "query" if index == 0 else "document")}
            for index, column in enumerate(sentence_features)
        ]
        return self.forward_cached(features, labels)

    @property
    def citation(self) -> str:
        """Gao et al. (2021), GradCache."""
        return GRADCACHE_CITATION


__all__ = ["CachedMultiVectorMultipleNegativesRankingLoss"]
