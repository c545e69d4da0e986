"""The 2.x ``CrossEncoder.fit()``: a DataLoader of InputExample pairs, handed over to CrossEncoderTrainer.

It shares the SentenceTransformer fit's pieces (reading the loader, the batch sampler matching it, the scheduler
names, the 2.x evaluation schedule), so only what differs lives here: the pair dataset, the default losses and the
wrapper that trains a plain torch loss on the logits.
"""

from __future__ import annotations

import tempfile
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import torch
from torch import Tensor, nn
from torch.utils.data import DataLoader

from sentence_transformers.cross_encoder.losses._common import IDENTITY, check_pair_columns, score_pairs
from sentence_transformers.sentence_transformer.fit_mixin import (
    _batches,
    _fit_evaluation,
    _Plan,
    batch_sampler_for,
    loader_examples,
    optimizer_kwargs,
    scheduler_type,
)
from sentence_transformers.util.tensor import batch_to_device

if TYPE_CHECKING:
    from sentence_transformers.cross_encoder.model import CrossEncoder
    from sentence_transformers.sentence_transformer.readers.input_example import InputExample


class FitMixinLoss(nn.Module):
    """Train a plain torch loss (e.g. ``nn.MSELoss()``) on the logits of (first, second) text pairs.

    Args:
        model: The CrossEncoder.
        loss_fct: Called as ``loss_fct(logits, labels)``: logits flattened and labels float for one label, labels
            as class indices (long) for several.
        activation_fn: Applied to the logits first.
    """

    def __init__(self, model: CrossEncoder, loss_fct: nn.Module, activation_fn: nn.Module | None = None) -> None:
        super().__init__()
        self.model = model
        self.loss_fct = loss_fct
        self.activation_fn = activation_fn if activation_fn is not None else nn.Identity()

    def forward(self, inputs: list[list[str]], labels: Tensor) -> Tensor:
        """The loss of one batch of two text columns."""
        logits = score_pairs(self.model, check_pair_columns(self, inputs), None, None)
        if self.model.num_labels == 1:
            logits, labels = logits.view(-1), labels.float()
        else:
            labels = labels.long()
        return self.loss_fct(self.activation_fn(logits), labels.to(logits.device))


def examples_to_pair_dataset(examples: list[InputExample]) -> Any:
    """InputExamples → a Dataset with columns sentence_0, sentence_1, … and ``label``.

    The label column is left out when every label is 0 (InputExample's default: examples without labels, for the
    losses that need none).
    """
    from datasets import Dataset

    if not examples:
        raise ValueError("fit() got a train_dataloader with no training examples")
    width = len(examples[0].texts)
    dataset = Dataset.from_dict({f"sentence_{i}": [example.texts[i] for example in examples] for i in range(width)})
    labels = [example.label for example in examples]
    try:
        unlabelled = set(labels) == {0}
    except TypeError:  # unhashable labels (lists of document labels)
        unlabelled = False
    return dataset if unlabelled else dataset.add_column("label", labels)


def fit(
    self: CrossEncoder,
    train_dataloader: DataLoader,
    evaluator: Any = None,
    epochs: int = 1,
    loss_fct: nn.Module | None = None,
    activation_fct: nn.Module = IDENTITY,
    scheduler: str = "WarmupLinear",
    warmup_steps: int = 10000,
    optimizer_class: type[torch.optim.Optimizer] = torch.optim.AdamW,
    optimizer_params: dict[str, object] = {"lr": 2e-5},  # noqa: B006 - upstream's default, never mutated
    weight_decay: float = 0.01,
    evaluation_steps: int = 0,
    output_path: str | None = None,
    save_best_model: bool = True,
    max_grad_norm: float = 1,
    use_amp: bool = False,
    callback: Callable[[float, int, int], None] | None = None,
    show_progress_bar: bool = True,
) -> None:
    """Train with the 2.x API; the work is done by CrossEncoderTrainer (the recommended way to train).

    Args:
        train_dataloader: A DataLoader of InputExamples (two texts and a label each).
        evaluator: Evaluates every ``evaluation_steps`` steps and after each epoch; its primary metric picks the best
            model.
        epochs: Number of epochs.
        loss_fct: A torch loss over (logits, labels); default BinaryCrossEntropyLoss for one label, else
            CrossEntropyLoss.
        activation_fct: Applied to the logits before the loss.
        scheduler: constantlr, warmupconstant, warmuplinear, warmupcosine or warmupcosinewithhardrestarts.
        warmup_steps: Steps of learning-rate warm-up.
        optimizer_class / optimizer_params: The optimizer and its arguments (default AdamW, lr 2e-5).
        weight_decay: Weight decay (not applied to biases and LayerNorm weights).
        evaluation_steps: Also evaluate every so many steps of an epoch (0: only after each epoch).
        output_path: Where the best model (by the evaluator) is saved; evaluator CSVs go to its ``eval`` folder.
        save_best_model: Save the model at ``output_path`` whenever the evaluator's score improves.
        max_grad_norm: Gradient clipping.
        use_amp: Mixed precision (on CUDA).
        callback: Called as ``callback(score, epoch, steps)`` after each evaluation (steps -1 after an epoch).
        show_progress_bar: Show a progress bar.
    """
    from transformers import PrinterCallback

    from sentence_transformers.cross_encoder.trainer import CrossEncoderTrainer
    from sentence_transformers.cross_encoder.training_args import CrossEncoderTrainingArguments

    examples = loader_examples(train_dataloader)
    dataset = examples_to_pair_dataset(examples)
    batch_size = getattr(train_dataloader, "batch_size", None) or 8
    steps_per_epoch = _batches(train_dataloader, len(examples), batch_size)
    if steps_per_epoch == 0:
        return
    params = optimizer_kwargs(self, optimizer_class, optimizer_params)
    plan = _Plan(1, steps_per_epoch, evaluation_steps, output_path, save_best_model, checkpoint_path=None)
    with tempfile.TemporaryDirectory(prefix="sbert-fit-") as scratch:
        args = CrossEncoderTrainingArguments(
            output_dir=scratch,
            num_train_epochs=epochs,
            max_steps=steps_per_epoch * epochs,
            per_device_train_batch_size=batch_size,
            learning_rate=params["lr"],
            weight_decay=weight_decay,
            warmup_steps=warmup_steps,
            lr_scheduler_type=scheduler_type(scheduler),
            max_grad_norm=max_grad_norm,
            fp16=use_amp and torch.cuda.is_available(),
            eval_strategy="no",
            save_strategy="no",
            disable_tqdm=not show_progress_bar,
            batch_sampler=batch_sampler_for(train_dataloader),
            report_to="none",
            logging_steps=max(1, steps_per_epoch * epochs // 20),
        )
        trainer = CrossEncoderTrainer(
            model=self,
            args=args,
            train_dataset=dataset,
            loss=_fit_loss(self, loss_fct, activation_fct),
            callbacks=[_fit_evaluation(self, plan, evaluator, callback)],
            optimizer_cls_and_kwargs=(optimizer_class, params),
        )
        if not show_progress_bar:
            trainer.remove_callback(PrinterCallback)
        trainer.train()


def _fit_loss(model: CrossEncoder, loss_fct: nn.Module | None, activation_fct: nn.Module) -> nn.Module:
    """The loss fit() trains with: the CrossEncoder default for the model's labels, or ``loss_fct`` on the logits."""
    from sentence_transformers.cross_encoder.losses import BinaryCrossEntropyLoss, CrossEntropyLoss

    if loss_fct is not None:
        return FitMixinLoss(model, loss_fct=loss_fct, activation_fn=activation_fct)
    if model.num_labels == 1:
        return BinaryCrossEntropyLoss(model, activation_fn=activation_fct)
    return CrossEntropyLoss(model, activation_fn=activation_fct)


class FitMixin:
    """The 2.x training API of CrossEncoder: ``fit`` (also ``old_fit``) and the 2.x collate functions."""

    fit = fit
    old_fit = fit  # the name 4.x+ gives the pre-4.0 training method; here it trains the same way

    def smart_batching_collate(self: CrossEncoder, batch: list[InputExample]) -> tuple[dict[str, Tensor], Tensor]:
        """A batch of InputExamples → the tokenized pairs (on the model's device) and their labels (float for one
        label, class indices for several)."""
        features = self.smart_batching_collate_text_only([example.texts for example in batch])
        dtype = torch.float if self.num_labels == 1 else torch.long
        labels = torch.tensor([example.label for example in batch], dtype=dtype, device=self.device)
        return features, labels

    def smart_batching_collate_text_only(self: CrossEncoder, batch: list[list[str]]) -> dict[str, Tensor]:
        """A batch of text pairs → the tokenized pairs (texts stripped) on the model's device."""
        pairs = [[text.strip() for text in texts] for texts in batch]
        return batch_to_device(self.preprocess(pairs), self.device)


__all__ = ["FitMixin", "FitMixinLoss"]
