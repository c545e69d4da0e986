"""MultiVectorMultipleNegativesRankingLoss: in-batch negatives (InfoNCE) on late-interaction (MaxSim) scores."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from sentence_transformers.base.losses.merged_forward import embed_columns_padded
from sentence_transformers.util.distributed import all_gather_padded, get_rank
from sentence_transformers.util.misc import similarity_fct_name
from sentence_transformers.util.tensor import stack_padded_token_embeddings

if TYPE_CHECKING:
    from sentence_transformers.multi_vector_encoder.model import MultiVectorEncoder

HENDERSON_CITATION = """
@misc{henderson2017efficient,
    title={Efficient Natural Language Response Suggestion for Smart Reply},
    author={Matthew Henderson and Rami Al-Rfou and Brian Strope and Yun-hsuan Sung and Laszlo Lukacs and
        Ruiqi Guo and Sanjiv Kumar and Balint Miklos and Ray Kurzweil},
    year={2017},
    eprint={1705.00652},
    archivePrefix={arXiv},
    primaryClass={cs.CL}
}
"""


def default_scorer(name: str) -> Callable[..., Tensor]:
    """A scoring function of ``multi_vector_encoder.scoring`` by name, imported on first use."""
    from sentence_transformers.multi_vector_encoder import scoring

    return getattr(scoring, name)


def embed_query(model: nn.Module, features: dict[str, Any]) -> tuple[Tensor, Tensor]:
    """``(token_embeddings, boolean scoring mask)`` of the query column, run with its ``task`` (default "query").

    The mask comes from the model's output: a MultiVectorMask module rewrites ``attention_mask`` into the mask of
    the tokens that take part in scoring.
    """
    outputs = model(features, task=features.get("task", "query"))
    return outputs["token_embeddings"], outputs["attention_mask"].bool()


def embed_documents(
    model: nn.Module, features_list: list[dict[str, Any]], mini_batch_size: int | None
) -> tuple[list[Tensor], list[Tensor]]:
    """Per document column, ``(batch, tokens, dim)`` token embeddings and their masks (task default "document")."""
    return embed_columns_padded(model, features_list, mini_batch_size, task_default="document")


def gather_documents(embeddings: list[Tensor], masks: list[Tensor]) -> tuple[list[Tensor], list[Tensor]]:
    """Every rank's document columns (with gradients for this rank's), padded to the widest rank's token count."""
    gathered = [
        all_gather_padded(embedding, mask, with_grad=True) for embedding, mask in zip(embeddings, masks, strict=True)
    ]
    return [embedding for embedding, _ in gathered], [mask for _, mask in gathered]


def in_batch_targets(batch_size: int, num_columns: int, device: torch.device, gathered: bool) -> Tensor:
    """The score column of each query's positive: scores are query-major, so query ``i``'s positive sits at
    ``i * num_columns`` (offset by the rank's share of the global batch when documents were gathered)."""
    targets = torch.arange(batch_size, device=device) * num_columns
    return targets + get_rank() * batch_size * num_columns if gathered else targets


def check_scale(scale: float) -> float:
    """``scale`` must be positive (it is ``1 / temperature``)."""
    if not scale > 0:
        raise ValueError(f"scale must be a positive number (1 / temperature), got {scale!r}.")
    return scale


class MultiVectorMultipleNegativesRankingLoss(nn.Module):
    """Each query must score its own positive above every other document of the batch (and all hard negatives).

    The documents of all columns, over all rows of the batch, are the candidates of every query; the score is
    MaxSim (``colbert_scores``) unless ``similarity_fct`` says otherwise, and the loss is the cross-entropy of the
    scaled scores against each query's positive.

    Inputs: (query, positive[, negative_1, ..., negative_n]) columns, no labels.

    Args:
        model: the MultiVectorEncoder to train.
        scale: multiplies the scores before the softmax (``1 / temperature``). MaxSim is a sum over query tokens,
            not a cosine, so the default is 1.0.
        similarity_fct: scores queries ``(Q, q_tokens, dim)`` against stacked documents ``(Q, N, d_tokens, dim)``
            (keywords ``queries_mask``, ``documents_mask``) and returns ``(Q, Q * N)`` query-major scores;
            ``colbert_scores`` by default, e.g. ``XTRScores()`` for XTR.
        mini_batch_size: rows per forward pass while embedding the documents (bounds padding, not memory).
        score_mini_batch_size: queries scored at a time (bounds the scoring intermediate).
        gather_across_devices: score every rank's queries against the documents of all ranks.
    """

    def __init__(
        self,
        model: MultiVectorEncoder,
        *,
        scale: float = 1.0,
        similarity_fct: Callable[..., Tensor] | None = None,
        mini_batch_size: int | None = None,
        score_mini_batch_size: int | None = None,
        gather_across_devices: bool = False,
    ) -> None:
        super().__init__()
        self.model = model
        self.scale = check_scale(scale)
        self.similarity_fct = similarity_fct if similarity_fct is not None else default_scorer("colbert_scores")
        self.mini_batch_size = mini_batch_size
        self.score_mini_batch_size = score_mini_batch_size
        self.gather_across_devices = gather_across_devices

    def get_config_dict(self) -> dict[str, Any]:
        """The settings shown in model cards."""
        return {
            "scale": self.scale,
            "similarity_fct": similarity_fct_name(self.similarity_fct),
            "mini_batch_size": self.mini_batch_size,
            "score_mini_batch_size": self.score_mini_batch_size,
            "gather_across_devices": self.gather_across_devices,
        }

    def forward(self, sentence_features: Iterable[dict[str, Tensor]], labels: Tensor | None = None) -> Tensor:
        """Cross-entropy of the in-batch MaxSim scores; ``labels`` are ignored."""
        features = [dict(column) for column in sentence_features]
        queries, queries_mask = embed_query(self.model, features[0])
        documents, documents_masks = embed_documents(self.model, features[1:], self.mini_batch_size)
        if self.gather_across_devices:
            documents, documents_masks = gather_documents(documents, documents_masks)
        stacked, stacked_mask = stack_padded_token_embeddings(documents, documents_masks)
        scores = score_in_chunks(
            self.similarity_fct, queries, queries_mask, stacked, stacked_mask, self.score_mini_batch_size
        )
        targets = in_batch_targets(len(queries), len(documents), queries.device, self.gather_across_devices)
        return F.cross_entropy(scores * self.scale, targets)

    @property
    def citation(self) -> str:
        """Henderson et al. (2017), where in-batch negatives come from."""
        return HENDERSON_CITATION


def score_in_chunks(
    similarity_fct: Callable[..., Tensor],
    queries: Tensor,
    queries_mask: Tensor,
    documents: Tensor,
    documents_mask: Tensor,
    chunk_size: int | None,
) -> Tensor:
    """``similarity_fct`` over ``chunk_size`` queries at a time against all documents, concatenated by query."""
    step = chunk_size or len(queries)
    chunks = [
        similarity_fct(
            queries[begin : begin + step],
            documents,
            queries_mask=queries_mask[begin : begin + step],
            documents_mask=documents_mask,
        )
        for begin in range(0, len(queries), step)
    ]
    return torch.cat(chunks, dim=0)


__all__ = ["MultiVectorMultipleNegativesRankingLoss"]
