"""ListNetLoss: cross-entropy between the softmax of a query's labels and the softmax of its documents' logits."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from torch import Tensor, nn

from sentence_transformers.cross_encoder.losses._common import IDENTITY, RankedLists, require_one_label
from sentence_transformers.util.misc import fullname

if TYPE_CHECKING:
    from sentence_transformers.cross_encoder.model import CrossEncoder

LIST_NET_CITATION = """
@inproceedings{cao2007learning,
    title={Learning to Rank: From Pairwise Approach to Listwise Approach},
    author={Cao, Zhe and Qin, Tao and Liu, Tie-Yan and Tsai, Ming-Feng and Li, Hang},
    booktitle={Proceedings of the 24th international conference on Machine learning},
    pages={129--136},
    year={2007}
}
"""


class ListNetLoss(nn.Module):
    """ListNet (top-one probabilities) for (query, [documents]) rows with one label per document.

    Both the labels and the logits of a query's documents become distributions by softmax; the loss is their
    cross-entropy, averaged over queries. Queries may have different numbers of documents: padding gets probability
    zero on the label side and is ignored.

    Args:
        model: the CrossEncoder to train (``num_labels=1``).
        activation_fn: applied to the logits first (identity by default, also when None).
        mini_batch_size: pairs per forward pass; None (or 0) means as many as there are queries, a negative value
            all pairs at once.
    """

    def __init__(
        self, model: CrossEncoder, activation_fn: nn.Module | None = IDENTITY, mini_batch_size: int | None = None
    ) -> None:
        super().__init__()
        self.model = model
        self.activation_fn = activation_fn or nn.Identity()
        self.mini_batch_size = mini_batch_size
        self.cross_entropy_loss = nn.CrossEntropyLoss()
        require_one_label(self, "supports")

    def forward(
        self,
        inputs: list[list[str] | list[list[str]]],
        labels: list[Tensor],
        prompt: str | None = None,
        task: str | None = None,
    ) -> Tensor:
        """The loss of one batch: ``inputs`` is ``[queries, documents_per_query]``, ``labels`` a tensor per query."""
        lists = RankedLists(self, inputs, labels, "ListNetLoss")
        logits = lists.matrix(lists.logits(self, prompt, task, self.mini_batch_size), -1e16)
        targets = lists.label_matrix(float("-inf")).softmax(dim=1)
        return self.cross_entropy_loss(logits, targets)

    def get_config_dict(self) -> dict[str, Any]:
        """Settings shown on the model card."""
        return {"activation_fn": fullname(self.activation_fn), "mini_batch_size": self.mini_batch_size}

    @property
    def citation(self) -> str:
        """BibTeX of the paper that introduced the loss."""
        return LIST_NET_CITATION
