"""ListMLELoss: PListMLELoss without position weights."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from torch import nn

from sentence_transformers.cross_encoder.losses._common import IDENTITY
from sentence_transformers.cross_encoder.losses.plist_mle import PListMLELoss

if TYPE_CHECKING:
    from sentence_transformers.cross_encoder.model import CrossEncoder

LIST_MLE_CITATION = """
@inproceedings{10.1145/1390156.1390306,
    title = {Listwise Approach to Learning to Rank - Theory and Algorithm},
    author = {Xia, Fen and Liu, Tie-Yan and Wang, Jue and Zhang, Wensheng and Li, Hang},
    booktitle = {Proceedings of the 25th International Conference on Machine Learning},
    pages = {1192-1199},
    year = {2008},
    url = {https://doi.org/10.1145/1390156.1390306},
}
"""


class ListMLELoss(PListMLELoss):
    """ListMLE: the negative Plackett-Luce log-likelihood of the true document order, every position weighing the same.

    Args:
        model: the CrossEncoder to train (``num_labels=1``).
        activation_fn: applied to the logits first (identity by default, also when None).
        mini_batch_size: pairs per forward pass; None (or 0) means as many as there are queries, a negative value
            all pairs at once.
        respect_input_order: take the documents' input order as the true ranking (True), or sort them by label.
    """

    def __init__(
        self,
        model: CrossEncoder,
        activation_fn: nn.Module | None = IDENTITY,
        mini_batch_size: int | None = None,
        respect_input_order: bool = True,
    ) -> None:
        super().__init__(
            model,
            lambda_weight=None,
            activation_fn=activation_fn,
            mini_batch_size=mini_batch_size,
            respect_input_order=respect_input_order,
        )

    def get_config_dict(self) -> dict[str, Any]:
        """Settings shown on the model card (no ``lambda_weight``)."""
        config = super().get_config_dict()
        del config["lambda_weight"]
        return config

    @property
    def citation(self) -> str:
        """BibTeX of the paper that introduced the loss."""
        return LIST_MLE_CITATION
