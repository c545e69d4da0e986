"""GISTEmbedLoss: in-batch negatives ranking loss where a guide model removes likely false negatives."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, Literal

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from transformers import PreTrainedTokenizerBase

from sentence_transformers.sentence_transformer.losses._loss_utils import backward_from_cut, cut_graph, gather_rows
from sentence_transformers.util.tensor import batch_to_device

MarginStrategy = Literal["absolute", "relative"]


class GISTEmbedLoss(nn.Module):
    """Guided in-sample selection of training negatives (GISTEmbed, Solatorio 2024).

    Like MultipleNegativesRankingLoss (cross-entropy over cosine similarities / temperature, the positive as the
    target), with anchor-anchor, positive-positive and anchor-negative similarities as extra candidates. A frozen
    guide model scores every candidate too; a candidate the guide finds more similar to the anchor than the
    anchor's own positive (minus ``margin``) is probably a false negative and is dropped (its score set to -inf).

    Args:
        model: The SentenceTransformer to train.
        guide: A SentenceTransformer that judges candidates; it is never trained.
        temperature: Divides the cosine similarities (0.01 by default).
        margin_strategy: "absolute" drops candidates with guide score > positive score - margin; "relative" drops
            those with guide score > positive score - |positive score| * margin.
        margin: Tolerance of the filter; 0 drops every candidate the guide ranks above the positive.
        contrast_anchors: Use the other anchors as candidates.
        contrast_positives: Add positive-to-positives similarities as another block of candidates.
        gather_across_devices: In distributed training, gather every process's embeddings (anchors too; gradients
            flow back to each process's own) so that each anchor is scored against the whole global batch.

    Inputs: (anchor, positive) or (anchor, positive, negative, ...) text columns; no labels.
    """

    def __init__(
        self,
        model: nn.Module,
        guide: nn.Module,
        temperature: float = 0.01,
        margin_strategy: MarginStrategy = "absolute",
        margin: float = 0.0,
        contrast_anchors: bool = True,
        contrast_positives: bool = True,
        gather_across_devices: bool = False,
    ) -> None:
        super().__init__()
        for name, value in (("model", model), ("guide", guide)):
            if not isinstance(getattr(value, "tokenizer", None), PreTrainedTokenizerBase):
                raise ValueError(f"GISTEmbedLoss needs a Hugging Face tokenizer on the {name}, got {value!r:.80}")
        if margin_strategy not in ("absolute", "relative"):
            raise ValueError(f"margin_strategy must be 'absolute' or 'relative', got {margin_strategy!r}")
        self.model = model
        self.guide = guide
        self.temperature = temperature
        self.margin_strategy = margin_strategy
        self.margin = margin
        self.contrast_anchors = contrast_anchors
        self.contrast_positives = contrast_positives
        self.gather_across_devices = gather_across_devices
        self.cross_entropy_loss = nn.CrossEntropyLoss()
        # the guide reads the model's token ids unless its vocabulary or length limit differ
        self.must_retokenize = model.tokenizer.get_vocab() != guide.tokenizer.get_vocab() or (
            guide.max_seq_length or 0
        ) < (model.max_seq_length or 0)

    def forward(self, sentence_features: Iterable[dict[str, Tensor]], labels: Tensor | None = None) -> Tensor:
        """Embed every column with the model (with gradients) and the guide (without), then rank."""
        sentence_features = list(sentence_features)
        guide_inputs = [self.guide_features(features) for features in sentence_features]
        embeddings = [self.model(features)["sentence_embedding"] for features in sentence_features]
        with torch.no_grad():
            guide_embeddings = [self.guide(features)["sentence_embedding"] for features in guide_inputs]
        return self.ranking_loss(embeddings, guide_embeddings, chunk_size=None)

    def guide_features(self, features: dict[str, Tensor]) -> dict[str, Tensor]:
        """The guide's input for one column: a copy of the model's, or the texts retokenized for the guide."""
        if not self.must_retokenize:
            return batch_to_device(dict(features), self.guide.device)
        texts = self.model.tokenizer.batch_decode(features["input_ids"], skip_special_tokens=True)
        return batch_to_device(self.guide.tokenize(texts), self.guide.device)

    def ranking_loss(
        self,
        embeddings: list[Tensor],
        guide_embeddings: list[Tensor],
        chunk_size: int | None,
        with_backward: bool = False,
    ) -> Tensor:
        """Mean cross-entropy over anchors, computed ``chunk_size`` anchors at a time (all at once for None).

        With ``with_backward`` every chunk is back-propagated at once and freed (used by the cached variant).
        """
        if len(embeddings) < 2 or len(embeddings) != len(guide_embeddings):
            raise ValueError(f"GISTEmbedLoss needs (anchor, positive[, negatives...]) columns, got {len(embeddings)}")
        batch_size = embeddings[0].shape[0]
        # This process's anchors are rows offset:offset+batch_size of the gathered (global) batch.
        columns, offset = gather_rows(list(embeddings), self.gather_across_devices)
        guide_columns, _ = gather_rows(list(guide_embeddings), self.gather_across_devices, with_grad=False)
        leaves = cut_graph(columns) if with_backward else columns
        chunk_size = chunk_size or batch_size
        total = torch.zeros((), device=embeddings[0].device)
        for begin in range(offset, offset + batch_size, chunk_size):
            end = min(begin + chunk_size, offset + batch_size)
            logits = self.chunk_logits(leaves, guide_columns, begin, end)
            targets = torch.arange(begin, end, device=logits.device)
            chunk_loss = self.cross_entropy_loss(logits, targets) * (end - begin) / batch_size
            if with_backward:
                chunk_loss.backward()
                chunk_loss = chunk_loss.detach()
            total = total + chunk_loss
        if with_backward:
            backward_from_cut(columns, leaves)
        return total

    def sim_matrix(self, embed1: Tensor, embed2: Tensor) -> Tensor:
        """Cosine similarity of every row of ``embed1`` with every row of ``embed2``: ``[len(embed1), len(embed2)]``."""
        return _cos(embed1, embed2)

    def chunk_logits(self, columns: list[Tensor], guide_columns: list[Tensor], begin: int, end: int) -> Tensor:
        """[end - begin, n_candidates] similarities / temperature of anchors ``begin:end``, false negatives -inf.

        ``columns`` (anchor, positive, negatives...) and the guide's ``guide_columns`` hold every candidate; the
        positive of anchor row ``i`` is row ``i`` of the positive column.
        """
        (anchors, positives, *negatives), (guide_anchors, guide_positives, *guide_negatives) = columns, guide_columns
        own = slice(begin, end)
        rows = torch.arange(end - begin, device=anchors.device)
        positive_ap_guide = self.sim_matrix(guide_anchors[own], guide_positives)
        positive_score = positive_ap_guide[rows, begin + rows].unsqueeze(1)
        slack = self.margin if self.margin_strategy == "absolute" else positive_score.abs() * self.margin
        threshold = positive_score - slack

        def filtered(scores: Tensor, guide_scores: Tensor, keep: Tensor | None = None) -> Tensor:
            drop = guide_scores > threshold
            if keep is not None:
                drop = drop & ~keep
            return scores.masked_fill(drop, -torch.inf)

        keep = torch.zeros_like(positive_ap_guide, dtype=torch.bool)
        keep[rows, begin + rows] = True
        blocks = [filtered(self.sim_matrix(anchors[own], positives), positive_ap_guide, keep)]
        if self.contrast_anchors:
            blocks.append(
                filtered(self.sim_matrix(anchors[own], anchors), self.sim_matrix(guide_anchors[own], guide_anchors))
            )
        if self.contrast_positives:
            blocks.append(
                filtered(
                    self.sim_matrix(positives[own], positives), self.sim_matrix(guide_positives[own], guide_positives)
                )
            )
        for negative, guide_negative in zip(negatives, guide_negatives, strict=True):
            blocks.append(
                filtered(self.sim_matrix(anchors[own], negative), self.sim_matrix(guide_anchors[own], guide_negative))
            )
        return torch.cat(blocks, dim=1) / self.temperature

    def get_config_dict(self) -> dict[str, Any]:
        """Settings shown in model cards."""
        return {
            "guide": self.guide,
            "temperature": self.temperature,
            "margin_strategy": self.margin_strategy,
            "margin": self.margin,
            "contrast_anchors": self.contrast_anchors,
            "contrast_positives": self.contrast_positives,
            "gather_across_devices": self.gather_across_devices,
        }

    @property
    def citation(self) -> str:
        """BibTeX of the paper behind the loss."""
        return SOLATORIO_2024


def _cos(a: Tensor, b: Tensor) -> Tensor:
    """Cosine similarity matrix [len(a), len(b)]."""
    return F.normalize(a, p=2, dim=-1) @ F.normalize(b, p=2, dim=-1).T


SOLATORIO_2024 = """
@misc{solatorio2024gistembed,
    title={GISTEmbed: Guided In-sample Selection of Training Negatives for Text Embedding Fine-tuning},
    author={Aivin V. Solatorio},
    year={2024},
    eprint={2402.16829},
    archivePrefix={arXiv},
    primaryClass={cs.LG}
}
"""
