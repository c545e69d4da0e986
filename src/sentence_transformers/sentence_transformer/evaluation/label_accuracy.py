"""LabelAccuracyEvaluator: classification accuracy of a softmax head (e.g. SoftmaxLoss) over a labelled dataloader."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

import numpy as np
import torch
from torch import Tensor, nn
from torch.utils.data import DataLoader

from sentence_transformers.base.evaluation.evaluator import SentenceEvaluator
from sentence_transformers.util.tensor import batch_to_device

if TYPE_CHECKING:
    from sentence_transformers.sentence_transformer.model import SentenceTransformer

logger = logging.getLogger(__name__)


class LabelAccuracyEvaluator(SentenceEvaluator):
    """Share of examples whose highest logit from ``softmax_model`` is their label; the primary metric.

    The dataloader yields 2.x ``InputExample`` objects (its ``collate_fn`` is replaced by one that tokenizes each
    text column with the evaluated model). ``softmax_model(features, labels=None)`` must return
    ``(embeddings, logits)``, as ``SoftmaxLoss`` does.

    Args:
        dataloader: Labelled ``InputExample`` batches.
        name: Prefix of the metric names and part of the CSV file name.
        softmax_model: The classification head wrapping the model, e.g. a ``SoftmaxLoss``.
        write_csv: Append the results to ``accuracy_evaluation[_name]_results.csv``.
    """

    def __init__(
        self, dataloader: DataLoader, name: str = "", softmax_model: nn.Module | None = None, write_csv: bool = True
    ) -> None:
        super().__init__()
        self.dataloader = dataloader
        self.name = name
        self.softmax_model = softmax_model
        self.write_csv = write_csv
        self.csv_file = "accuracy_evaluation" + (f"_{name}" if name else "") + "_results.csv"
        self.csv_headers = ["epoch", "steps", "accuracy"]
        self.primary_metric = "accuracy"

    def __call__(
        self, model: SentenceTransformer, output_path: str | None = None, epoch: int = -1, steps: int = -1
    ) -> dict[str, float]:
        """Predict every batch with the softmax head, count correct labels, write CSV and return the accuracy."""
        if self.softmax_model is None:
            raise ValueError("LabelAccuracyEvaluator needs a softmax_model (e.g. the SoftmaxLoss used for training).")
        logger.info(f"Evaluation on the {self.name} dataset{self.describe_when(epoch, steps)}:")
        correct, total = self._count_correct(model)
        accuracy = correct / total if total else 0.0
        logger.info(f"Accuracy: {accuracy:.4f} ({correct}/{total})\n")
        if self.write_csv:
            self.write_csv_row(output_path, self.csv_file, self.csv_headers, [epoch, steps, accuracy])
        metrics = self.prefix_name_to_metrics({"accuracy": accuracy}, self.name)
        self.store_metrics_in_model_card_data(model, metrics, epoch, steps)
        return metrics

    def _count_correct(self, model: SentenceTransformer) -> tuple[int, int]:
        """(correct, total) over the dataloader, in eval mode and without gradients; training mode is restored."""
        self.dataloader.collate_fn = lambda batch: collate_examples(model, batch)
        modes = [(module, module.training) for module in (*model.modules(), *self.softmax_model.modules())]
        model.eval()
        self.softmax_model.eval()
        correct = total = 0
        try:
            with torch.no_grad():
                for features, labels in self.dataloader:
                    features = [batch_to_device(feature, model.device) for feature in features]
                    _, logits = self.softmax_model(features, labels=None)
                    correct += int((logits.argmax(dim=1) == labels.to(logits.device)).sum().item())
                    total += logits.shape[0]
        finally:
            for module, training in modes:
                module.training = training
        return correct, total


def collate_examples(model: SentenceTransformer, batch: list[Any]) -> tuple[list[dict[str, Tensor]], Tensor]:
    """Tokenize each text column of a batch of ``InputExample`` and stack the labels into a tensor."""
    if not all(hasattr(example, "texts") and hasattr(example, "label") for example in batch):
        raise TypeError(f"LabelAccuracyEvaluator's dataloader must yield InputExample objects, got {type(batch[0])}.")
    columns = zip(*(example.texts for example in batch), strict=True)
    features = [model.tokenize(list(column)) for column in columns]
    labels = [example.label for example in batch]
    if isinstance(labels[0], np.ndarray):
        return features, torch.from_numpy(np.stack(labels))
    return features, torch.tensor(labels)
