"""SoftmaxLoss: a classifier on (u, v, |u - v|, u * v) trained with cross-entropy, as in SBERT's NLI training."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

import torch
from torch import Tensor, nn

from sentence_transformers.base.losses.merged_forward import embed_columns

from ._citations import SBERT_CITATION


class SoftmaxLoss(nn.Module):
    """Classify a (text1, text2) pair from its two embeddings; the labels are class ids.

    The classifier (a linear layer) is trained together with the model and is not part of the saved model. Called
    with ``labels=None`` it returns ``(embeddings, logits)`` instead of the loss, which is what
    LabelAccuracyEvaluator uses.

    Args:
        model: the SentenceTransformer to train.
        sentence_embedding_dimension: the model's embedding size (``model.get_sentence_embedding_dimension()``);
            ``embedding_dimension`` is accepted as the newer name.
        num_labels: the number of classes.
        concatenation_sent_rep: feed ``u`` and ``v`` to the classifier.
        concatenation_sent_difference: feed ``|u - v|``.
        concatenation_sent_multiplication: feed ``u * v``.
        loss_fct: compares logits with labels; ``nn.CrossEntropyLoss()`` by default.
    """

    def __init__(
        self,
        model: nn.Module,
        sentence_embedding_dimension: int | None = None,
        num_labels: int | None = None,
        concatenation_sent_rep: bool = True,
        concatenation_sent_difference: bool = True,
        concatenation_sent_multiplication: bool = False,
        loss_fct: Callable[[Tensor, Tensor], Tensor] | None = None,
        embedding_dimension: int | None = None,
    ) -> None:
        super().__init__()
        dimension = sentence_embedding_dimension if sentence_embedding_dimension is not None else embedding_dimension
        if dimension is None or num_labels is None:
            raise TypeError("SoftmaxLoss needs sentence_embedding_dimension and num_labels.")
        parts = 2 * concatenation_sent_rep + concatenation_sent_difference + concatenation_sent_multiplication
        if parts == 0:
            raise ValueError(
                "SoftmaxLoss needs at least one of concatenation_sent_rep, concatenation_sent_difference or "
                "concatenation_sent_multiplication set to True."
            )
        self.model = model
        self.num_labels = num_labels
        self.concatenation_sent_rep = concatenation_sent_rep
        self.concatenation_sent_difference = concatenation_sent_difference
        self.concatenation_sent_multiplication = concatenation_sent_multiplication
        self.classifier = nn.Linear(parts * dimension, num_labels, device=getattr(model, "device", None))
        self.loss_fct = loss_fct if loss_fct is not None else nn.CrossEntropyLoss()

    def forward(
        self, sentence_features: Iterable[dict[str, Tensor]], labels: Tensor | None
    ) -> Tensor | tuple[list[Tensor], Tensor]:
        """The classification loss, or ``(embeddings, logits)`` when ``labels`` is None."""
        reps = embed_columns(self.model, sentence_features)
        if len(reps) != 2:
            raise ValueError(f"SoftmaxLoss needs 2 columns (text1, text2), got {len(reps)}.")
        logits = self.classifier(self._pair_features(*reps))
        if labels is None:
            return reps, logits
        if self.num_labels == 1 or labels.shape != logits.shape:
            labels = labels.view(-1)
        return self.loss_fct(logits, labels)

    def _pair_features(self, rep_a: Tensor, rep_b: Tensor) -> Tensor:
        """Concatenate the chosen pair representations, in the classifier's dtype."""
        vectors = []
        if self.concatenation_sent_rep:
            vectors += [rep_a, rep_b]
        if self.concatenation_sent_difference:
            vectors.append(torch.abs(rep_a - rep_b))
        if self.concatenation_sent_multiplication:
            vectors.append(rep_a * rep_b)
        return torch.cat(vectors, dim=1).to(self.classifier.weight.dtype)

    def get_config_dict(self) -> dict[str, Any]:
        """Hyperparameters for the model card."""
        return {
            "num_labels": self.num_labels,
            "concatenation_sent_rep": self.concatenation_sent_rep,
            "concatenation_sent_difference": self.concatenation_sent_difference,
            "concatenation_sent_multiplication": self.concatenation_sent_multiplication,
        }

    @property
    def citation(self) -> str:
        """BibTeX of Sentence-BERT."""
        return SBERT_CITATION
