"""MultipleNegativesRankingLoss (InfoNCE): each anchor must rank its own positive above every other candidate."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from typing import Any, Literal

import torch
from torch import Tensor, nn

from sentence_transformers.base.losses.merged_forward import embed_columns
from sentence_transformers.util.misc import similarity_fct_name
from sentence_transformers.util.similarity import cos_sim

from ._loss_utils import gather_rows

logger = logging.getLogger(__name__)

Direction = Literal["query_to_doc", "query_to_query", "doc_to_query", "doc_to_doc"]
DIRECTIONS = ("query_to_doc", "query_to_query", "doc_to_query", "doc_to_doc")
PARTITION_MODES = ("joint", "per_direction")
HARDNESS_MODES = (None, "in_batch_negatives", "hard_negatives", "all_negatives")

GTE_CITATION = """
@misc{li2023generaltextembeddingsmultistage,
    title={Towards General Text Embeddings with Multi-stage Contrastive Learning},
    author={Zehan Li and Xin Zhang and Yanzhao Zhang and Dingkun Long and Pengjun Xie and Meishan Zhang},
    year={2023},
    eprint={2308.03281},
    archivePrefix={arXiv},
    primaryClass={cs.CL},
    url={https://arxiv.org/abs/2308.03281},
}
"""
JINA_CITATION = """
@misc{gunther2024jinaembeddings28192token,
    title={Jina Embeddings 2: 8192-Token General-Purpose Text Embeddings for Long Documents},
    author={Michael G{\\"u}nther and Jackmin Ong and Isabelle Mohr and Alaeddine Abdessalem and Tanguy Abel and
        Mohammad Kalim Akram and Susana Guzman and Georgios Mastrapas and Saba Sturua and Bo Wang and
        Maximilian Werk and Nan Wang and Han Xiao},
    year={2024},
    eprint={2310.19923},
    archivePrefix={arXiv},
    primaryClass={cs.CL},
    url={https://arxiv.org/abs/2310.19923},
}
"""
INFONCE_CITATION = """
@misc{oord2019representationlearningcontrastivepredictive,
    title={Representation Learning with Contrastive Predictive Coding},
    author={Aaron van den Oord and Yazhe Li and Oriol Vinyals},
    year={2019},
    eprint={1807.03748},
    archivePrefix={arXiv},
    primaryClass={cs.LG},
    url={https://arxiv.org/abs/1807.03748},
}
"""


def _check_directions(directions: Iterable[str], partition_mode: str) -> tuple[str, ...]:
    """Validate ``directions`` against ``partition_mode`` and return them as a tuple."""
    directions = tuple(directions)
    unknown = [direction for direction in directions if direction not in DIRECTIONS]
    if not directions or unknown:
        raise ValueError(f"directions must be a non-empty subset of {DIRECTIONS}, got {directions!r}.")
    if "query_to_doc" not in directions:
        raise ValueError(f"directions must include 'query_to_doc' (it holds the positive pair), got {directions!r}.")
    if partition_mode not in PARTITION_MODES:
        raise ValueError(f"partition_mode must be one of {PARTITION_MODES}, got {partition_mode!r}.")
    if partition_mode == "per_direction" and {"query_to_query", "doc_to_doc"} & set(directions):
        raise ValueError(
            "partition_mode='per_direction' needs every direction to contain the positive pair, which "
            "'query_to_query' and 'doc_to_doc' do not; use partition_mode='joint' with them."
        )
    return directions


class InBatchRankingScorer:
    """The scoring shared by the plain and the cached ranking loss: per-anchor InfoNCE terms over the batch.

    Anchors are ``queries``; ``docs`` are the positive column followed by any hard-negative columns. Every anchor
    is scored against all documents of the batch; its own positive is the target.
    """

    scale: float
    similarity_fct: Callable[[Tensor, Tensor], Tensor]
    gather_across_devices: bool
    directions: tuple[str, ...]
    partition_mode: str
    hardness_mode: str | None
    hardness_strength: float

    def _set_ranking_options(
        self,
        scale: float,
        similarity_fct: Callable[[Tensor, Tensor], Tensor],
        gather_across_devices: bool,
        directions: Iterable[str],
        partition_mode: str,
        hardness_mode: str | None,
        hardness_strength: float,
    ) -> None:
        """Validate and store the ranking hyperparameters."""
        if not scale > 0:
            raise ValueError(f"scale must be a positive number, got {scale!r}.")
        if hardness_mode not in HARDNESS_MODES:
            raise ValueError(f"hardness_mode must be one of {HARDNESS_MODES}, got {hardness_mode!r}.")
        if hardness_strength < 0:
            raise ValueError(f"hardness_strength must be non-negative, got {hardness_strength!r}.")
        if hardness_mode is not None and hardness_strength == 0:
            logger.warning("hardness_mode=%r has no effect while hardness_strength is 0.", hardness_mode)
        self.directions = _check_directions(directions, partition_mode)
        self.scale = scale
        self.similarity_fct = similarity_fct
        self.gather_across_devices = gather_across_devices
        self.partition_mode = partition_mode
        self.hardness_mode = hardness_mode
        self.hardness_strength = hardness_strength

    def gather_columns(self, embeddings: list[Tensor]) -> tuple[Tensor, list[Tensor], Tensor]:
        """``(queries, docs, rows)``: all processes' columns when gathering, and this process's anchor rows."""
        if len(embeddings) < 2:
            raise ValueError(
                f"{type(self).__name__} needs at least 2 columns (anchor, positive), got {len(embeddings)}."
            )
        batch_size = embeddings[0].shape[0]
        # Each process scores its own anchors (rows offset:offset+batch_size of the global batch) against every
        # process's candidates; their positives sit at the same rows of the gathered positive column.
        (queries, *docs), offset = gather_rows(list(embeddings), self.gather_across_devices)
        return queries, docs, torch.arange(offset, offset + batch_size, device=queries.device)

    def row_losses(self, queries: Tensor, docs: list[Tensor], rows: Tensor) -> Tensor:
        """The loss term of each anchor in ``rows``: ``log Z - positive logit``."""
        logits = self._direction_logits(queries, docs, rows)
        positive = logits["query_to_doc"][torch.arange(len(rows), device=rows.device), rows]
        if self.partition_mode == "joint":
            log_z = torch.logsumexp(torch.cat(list(logits.values()), dim=1), dim=1)
        else:
            log_z = torch.stack([torch.logsumexp(matrix, dim=1) for matrix in logits.values()]).mean(dim=0)
        return log_z - positive

    def _direction_logits(self, queries: Tensor, docs: list[Tensor], rows: Tensor) -> dict[str, Tensor]:
        """Scaled similarity matrices, one per direction, each ``[len(rows), candidates]``."""
        world_batch, num_docs = queries.shape[0], len(docs)
        all_docs, anchors, positives = torch.cat(docs), queries[rows], docs[0][rows]
        own = torch.zeros(len(rows), world_batch, dtype=torch.bool, device=queries.device)
        own[torch.arange(len(rows), device=rows.device), rows] = True
        own_docs = own.repeat(1, num_docs)  # the anchor's positive and its own hard negatives
        raw = self.similarity_fct(anchors, all_docs)
        logits = {"query_to_doc": raw * self.scale + self._hardness_penalty(raw, own_docs, world_batch)}
        if "query_to_query" in self.directions:
            logits["query_to_query"] = (self.similarity_fct(anchors, queries) * self.scale).masked_fill(own, -torch.inf)
        if "doc_to_query" in self.directions:
            logits["doc_to_query"] = self.similarity_fct(queries, positives).T * self.scale
        if "doc_to_doc" in self.directions:
            doc_doc = self.similarity_fct(all_docs, positives).T * self.scale
            logits["doc_to_doc"] = doc_doc.masked_fill(own_docs, -torch.inf)
        return logits

    def _hardness_penalty(self, raw: Tensor, own_docs: Tensor, world_batch: int) -> Tensor | float:
        """``strength * stop_grad(similarity)`` on the negatives that ``hardness_mode`` selects (0 elsewhere)."""
        if self.hardness_mode is None or self.hardness_strength == 0:
            return 0.0
        hard_negative_columns = torch.zeros_like(own_docs)
        hard_negative_columns[:, world_batch:] = True
        if self.hardness_mode == "in_batch_negatives":
            selected = ~own_docs
        elif self.hardness_mode == "hard_negatives":
            selected = own_docs & hard_negative_columns
        else:  # all_negatives: everything but the anchor's own positive
            selected = ~(own_docs & ~hard_negative_columns)
        penalty = self.hardness_strength * raw.detach()
        return torch.where(selected, penalty, torch.zeros_like(penalty))

    def ranking_config(self) -> dict[str, Any]:
        """The ranking hyperparameters for the model card."""
        return {
            "scale": self.scale,
            "similarity_fct": similarity_fct_name(self.similarity_fct),
            "gather_across_devices": self.gather_across_devices,
            "directions": self.directions,
            "partition_mode": self.partition_mode,
            "hardness_mode": self.hardness_mode,
            "hardness_strength": self.hardness_strength,
        }

    @property
    def temperature(self) -> float:
        """``1 / scale``, the name some papers use."""
        return 1.0 / self.scale

    def ranking_citation(self) -> str:
        """The paper behind the chosen variant: GTE (all four directions), Jina (symmetric) or InfoNCE."""
        if set(self.directions) == set(DIRECTIONS) and self.partition_mode == "joint":
            return GTE_CITATION
        if set(self.directions) == {"query_to_doc", "doc_to_query"} and self.partition_mode == "per_direction":
            return JINA_CITATION
        return INFONCE_CITATION


class MultipleNegativesRankingLoss(InBatchRankingScorer, nn.Module):
    """In-batch negatives loss for (anchor, positive[, negative_1, ..., negative_n]) columns; no labels.

    For each anchor the positives of the other anchors (and every hard negative in the batch) are negatives: the
    loss is the cross-entropy of picking the own positive among all candidates, with similarities times ``scale``.

    Args:
        model: the SentenceTransformer to train.
        scale: multiplies the similarities (``1 / temperature``); 20 suits cosine similarity.
        similarity_fct: matrix similarity, ``cos_sim`` by default (with ``dot_score`` use a scale near 1).
        gather_across_devices: in distributed training, gather every process's embeddings (gradients flow back to
            each process's own) so that each anchor is scored against the whole global batch.
        directions: the terms in the softmax: ``query_to_doc`` (always), ``query_to_query`` (other anchors),
            ``doc_to_query`` (the symmetric term), ``doc_to_doc`` (other documents, except the anchor's own).
        partition_mode: ``joint`` (one softmax over all directions) or ``per_direction`` (one per direction, averaged).
        hardness_mode: add ``hardness_strength * stop_grad(similarity)`` to the logits of ``in_batch_negatives``,
            ``hard_negatives`` (the explicit negative columns of the anchor) or ``all_negatives``; None disables it.
        hardness_strength: the weight of that penalty (non-negative).
    """

    def __init__(
        self,
        model: nn.Module,
        scale: float = 20.0,
        similarity_fct: Callable[[Tensor, Tensor], Tensor] = cos_sim,
        gather_across_devices: bool = False,
        directions: tuple[Direction, ...] = ("query_to_doc",),
        partition_mode: Literal["joint", "per_direction"] = "joint",
        hardness_mode: Literal["in_batch_negatives", "hard_negatives", "all_negatives"] | None = None,
        hardness_strength: float = 0.0,
    ) -> None:
        super().__init__()
        self.model = model
        self._set_ranking_options(
            scale, similarity_fct, gather_across_devices, directions, partition_mode, hardness_mode, hardness_strength
        )

    def forward(self, sentence_features: Iterable[dict[str, Tensor]], labels: Tensor | None = None) -> Tensor:
        """Mean loss over the anchors of the batch (labels are ignored)."""
        return self.compute_loss_from_embeddings(embed_columns(self.model, sentence_features), labels)

    def compute_loss_from_embeddings(self, embeddings: list[Tensor], labels: Tensor | None = None) -> Tensor:
        """The loss from already computed column embeddings."""
        queries, docs, rows = self.gather_columns(embeddings)
        return self.row_losses(queries, docs, rows).mean()

    def get_config_dict(self) -> dict[str, Any]:
        """Hyperparameters for the model card."""
        return self.ranking_config()

    @property
    def citation(self) -> str:
        """BibTeX of the paper behind the configured variant."""
        return self.ranking_citation()
