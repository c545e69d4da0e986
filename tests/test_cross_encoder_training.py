"""CrossEncoder training: CrossEncoderTrainer (on the shared BaseTrainer), its arguments and collator, and fit()."""

from __future__ import annotations

import logging
import os

import pytest
import torch
from datasets import Dataset, DatasetDict, IterableDataset
from torch import nn
from torch.utils.data import DataLoader

from sentence_transformers import InputExample, SentenceTransformerTrainer, SentenceTransformerTrainingArguments
from sentence_transformers.base.trainer import BaseTrainer
from sentence_transformers.cross_encoder import CrossEncoder
from sentence_transformers.cross_encoder.data_collator import CrossEncoderDataCollator
from sentence_transformers.cross_encoder.evaluation import CrossEncoderCorrelationEvaluator
from sentence_transformers.cross_encoder.fit_mixin import FitMixinLoss
from sentence_transformers.cross_encoder.losses import BinaryCrossEntropyLoss, CrossEntropyLoss
from sentence_transformers.cross_encoder.model_card_callback import CrossEncoderModelCardCallback
from sentence_transformers.cross_encoder.trainer import CrossEncoderTrainer
from sentence_transformers.cross_encoder.training_args import CrossEncoderTrainingArguments

PAIRS = [("a cat sits", "a cat sat"), ("the sun", "a dog runs"), ("red car", "a red car"), ("blue sky", "the sea")]
LABELS = [1.0, 0.0, 1.0, 0.0]


def make_model(path, num_labels: int = 1) -> CrossEncoder:
    torch.manual_seed(0)
    return CrossEncoder(str(path), num_labels=num_labels, device="cpu")


def pair_dataset(labels=LABELS) -> Dataset:
    return Dataset.from_dict({"query": [q for q, _ in PAIRS], "doc": [d for _, d in PAIRS], "label": labels})


def ce_args(tmp_path, **overrides) -> CrossEncoderTrainingArguments:
    options = {
        "output_dir": str(tmp_path / "out"),
        "per_device_train_batch_size": 2,
        "per_device_eval_batch_size": 4,
        "num_train_epochs": 1,
        "learning_rate": 1e-3,
        "report_to": "none",
        "save_strategy": "no",
        "disable_tqdm": True,
        "use_cpu": True,
    }
    return CrossEncoderTrainingArguments(**(options | overrides))


def logits(model: CrossEncoder, pairs=PAIRS) -> torch.Tensor:
    return model.predict(list(pairs), activation_fn=nn.Identity(), convert_to_tensor=True).float()


# ---------------------------------------------------------------- one trainer


def test_the_trainers_share_base_trainer_and_name_their_parts():
    assert issubclass(CrossEncoderTrainer, BaseTrainer) and issubclass(SentenceTransformerTrainer, BaseTrainer)
    assert CrossEncoderTrainer.model_class is CrossEncoder
    assert CrossEncoderTrainer.training_args_class is CrossEncoderTrainingArguments
    assert CrossEncoderTrainer.data_collator_class is CrossEncoderDataCollator
    assert CrossEncoderTrainer.model_card_callback_class is CrossEncoderModelCardCallback
    # The loop is BaseTrainer's: neither subclass has a training step or a loss computation of its own.
    for name in ("training_step", "compute_loss", "evaluate", "get_train_dataloader"):
        assert name not in vars(CrossEncoderTrainer) and name not in vars(SentenceTransformerTrainer)


def test_default_loss_follows_the_number_of_labels(tiny_bert_dir, tmp_path):
    one = CrossEncoderTrainer(model=make_model(tiny_bert_dir), args=ce_args(tmp_path), train_dataset=pair_dataset())
    assert type(one.loss) is BinaryCrossEntropyLoss
    three = make_model(tiny_bert_dir, num_labels=3)
    labels = pair_dataset(labels=[0, 1, 2, 1])
    many = CrossEncoderTrainer(model=three, args=ce_args(tmp_path), train_dataset=labels)
    assert type(many.loss) is CrossEntropyLoss


def test_other_arguments_and_streams_are_refused(tiny_bert_dir, tmp_path):
    model = make_model(tiny_bert_dir)
    st_args = SentenceTransformerTrainingArguments(output_dir=str(tmp_path), report_to="none")
    with pytest.raises(ValueError, match="CrossEncoderTrainingArguments"):
        CrossEncoderTrainer(model=model, args=st_args, train_dataset=pair_dataset())
    stream = IterableDataset.from_generator(lambda: iter([{"query": "a", "doc": "b", "label": 1.0}]))
    with pytest.raises(ValueError, match="does not support an IterableDataset for the `train_dataset`"):
        CrossEncoderTrainer(model=model, args=ce_args(tmp_path), train_dataset=stream)


def test_eval_loss_is_binary_cross_entropy_of_the_logits(tiny_bert_dir, tmp_path):
    model = make_model(tiny_bert_dir)
    trainer = CrossEncoderTrainer(model=model, args=ce_args(tmp_path), eval_dataset=pair_dataset())
    z = logits(model)
    y = torch.tensor(LABELS)
    # BCE with logits, by hand: -(y log σ(z) + (1-y) log(1-σ(z))), averaged.
    expected = -(y * torch.log(torch.sigmoid(z)) + (1 - y) * torch.log(1 - torch.sigmoid(z))).mean()
    assert trainer.evaluate()["eval_loss"] == pytest.approx(expected.item(), rel=1e-4)


def test_training_lowers_the_loss_and_moves_scores_towards_the_labels(tiny_bert_dir, tmp_path):
    model = make_model(tiny_bert_dir)
    before = logits(model)
    args = ce_args(tmp_path, num_train_epochs=8, learning_rate=5e-3)
    trainer = CrossEncoderTrainer(model=model, args=args, train_dataset=pair_dataset(), eval_dataset=pair_dataset())
    first = trainer.evaluate()["eval_loss"]
    trainer.train()
    assert trainer.evaluate()["eval_loss"] < first
    after = logits(model)
    gap_before = (before[0] + before[2] - before[1] - before[3]).item()
    gap_after = (after[0] + after[2] - after[1] - after[3]).item()
    assert gap_after > gap_before  # the positives' logits rose relative to the negatives'


def test_evaluator_metrics_reach_the_trainer(tiny_bert_dir, tmp_path):
    model = make_model(tiny_bert_dir)
    evaluator = CrossEncoderCorrelationEvaluator([list(p) for p in PAIRS], LABELS, name="dev")
    trainer = CrossEncoderTrainer(
        model=model, args=ce_args(tmp_path), train_dataset=pair_dataset(), evaluator=evaluator
    )
    metrics = trainer.evaluate()
    direct = evaluator(model)
    assert metrics["eval_dev_spearman"] == pytest.approx(direct["dev_spearman"])


class RecordingLoss(nn.Module):
    """Records what the trainer hands a loss; the loss is the mean logit (a graph to backpropagate)."""

    def __init__(self, model: CrossEncoder) -> None:
        super().__init__()
        self.model = model
        self.calls: list[dict] = []

    def forward(self, inputs, labels, prompt=None, task=None):
        self.calls.append({"inputs": inputs, "labels": labels, "prompt": prompt, "task": task})
        pairs = list(zip(*inputs, strict=True))
        features = self.model.preprocess(pairs, prompt=prompt)
        return self.model(features)["scores"].mean()


def test_the_loss_gets_untokenized_columns_labels_and_the_datasets_prompt(tiny_bert_dir, tmp_path):
    model = make_model(tiny_bert_dir)
    loss = RecordingLoss(model)
    datasets = DatasetDict({"qa": pair_dataset(), "nli": pair_dataset()})
    args = ce_args(tmp_path, prompts={"qa": "query: "}, per_device_train_batch_size=4)
    trainer = CrossEncoderTrainer(model=model, args=args, train_dataset=datasets, loss=loss)
    trainer.train()
    assert len(loss.calls) == 2
    by_prompt = {call["prompt"]: call for call in loss.calls}
    assert set(by_prompt) == {"query: ", None}
    call = by_prompt["query: "]
    rows = list(zip(*call["inputs"], call["labels"].tolist(), strict=True))  # the batch is shuffled
    assert sorted(rows) == sorted((q, d, label) for (q, d), label in zip(PAIRS, LABELS, strict=True))


def test_a_loss_without_prompt_and_task_is_called_without_them(tiny_bert_dir, tmp_path, caplog):
    model = make_model(tiny_bert_dir)

    class PlainLoss(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.model = model

        def forward(self, inputs, labels):
            return self.model(self.model.preprocess(list(zip(*inputs, strict=True))))["scores"].mean()

    trainer = CrossEncoderTrainer(
        model=model, args=ce_args(tmp_path, prompts="q: "), train_dataset=pair_dataset(), loss=PlainLoss()
    )
    with caplog.at_level(logging.WARNING):
        trainer.train()
    assert "could not be passed to PlainLoss" in caplog.text


# ---------------------------------------------------------------- the collator


def test_collator_passes_texts_through_and_resolves_prompt_and_task():
    collator = CrossEncoderDataCollator(prompts={"qa": "query: "}, router_mapping={"qa": "rerank"})
    rows = [
        {"q": "a", "d": "b", "score": 0.5, "dataset_name": "qa"},
        {"q": "c", "d": "e", "score": 1.0, "dataset_name": "qa"},
    ]
    batch = collator(rows)
    assert batch["q"] == ["a", "c"] and batch["d"] == ["b", "e"]
    assert batch["label"].tolist() == [0.5, 1.0]
    assert batch["prompt"] == "query: " and batch["task"] == "rerank" and batch["dataset_name"] == "qa"
    assert list(batch)[-2:] == ["q", "d"]  # column order kept
    other = collator([{"q": "a", "d": "b", "dataset_name": "nli"}])
    assert "prompt" not in other and "task" not in other and "label" not in other
    assert CrossEncoderDataCollator(prompts="p: ")([{"q": "a", "d": "b"}])["prompt"] == "p: "


def test_collator_keeps_list_labels_per_row():
    batch = CrossEncoderDataCollator()(
        [{"q": "a", "docs": ["x", "y"], "labels": [1, 0]}, {"q": "b", "docs": ["z"], "labels": [1]}]
    )
    assert [label.tolist() for label in batch["label"]] == [[1, 0], [1]]
    assert batch["docs"] == [["x", "y"], ["z"]]


def test_collator_refuses_per_column_prompts_and_routes():
    with pytest.raises(ValueError, match="prompts cannot be per-column"):
        CrossEncoderDataCollator(prompts={"qa": {"query": "q: "}})
    with pytest.raises(ValueError, match="router_mapping cannot be per-column"):
        CrossEncoderDataCollator(router_mapping={"qa": {"query": "query"}})


# ---------------------------------------------------------------- checkpoints and the card


def test_checkpoints_are_cross_encoder_folders(tiny_bert_dir, tmp_path):
    model = make_model(tiny_bert_dir)
    trainer = CrossEncoderTrainer(model=model, args=ce_args(tmp_path), train_dataset=pair_dataset())
    trainer._save(str(tmp_path / "ckpt"))
    expected = logits(model)
    assert torch.allclose(logits(CrossEncoder(str(tmp_path / "ckpt"), device="cpu")), expected, atol=1e-5)
    with torch.no_grad():
        for param in model.parameters():
            param.add_(1.0)
    trainer._load_from_checkpoint(str(tmp_path / "ckpt"))
    assert torch.allclose(logits(model), expected, atol=1e-5)


def test_model_card_records_the_cross_encoder_training(tiny_bert_dir, tmp_path):
    model = make_model(tiny_bert_dir)
    CrossEncoderTrainer(model=model, args=ce_args(tmp_path), train_dataset=pair_dataset()).train()
    model.save(str(tmp_path / "saved"))
    card = (tmp_path / "saved" / "README.md").read_text()
    assert "BinaryCrossEntropyLoss" in card and "generated_from_trainer" in card and "4 rows" in card


# ---------------------------------------------------------------- fit (2.x)


def examples(labels=LABELS) -> list[InputExample]:
    return [InputExample(texts=list(pair), label=label) for pair, label in zip(PAIRS, labels, strict=True)]


def test_fit_trains_evaluates_each_epoch_and_saves_the_best(tiny_bert_dir, tmp_path):
    model = make_model(tiny_bert_dir)
    before = logits(model)
    evaluator = CrossEncoderCorrelationEvaluator([list(p) for p in PAIRS], LABELS, name="dev")
    calls = []
    model.fit(
        DataLoader(examples(), batch_size=2, shuffle=True),
        evaluator=evaluator,
        epochs=2,
        warmup_steps=0,
        optimizer_params={"lr": 1e-3},
        output_path=str(tmp_path / "best"),
        callback=lambda score, epoch, steps: calls.append((epoch, steps)),
        show_progress_bar=False,
    )
    assert calls == [(0, -1), (1, -1)]
    assert not torch.allclose(logits(model), before)
    assert os.path.isfile(tmp_path / "best" / "eval" / "CrossEncoderCorrelationEvaluator_dev_results.csv")
    assert CrossEncoder(str(tmp_path / "best"), device="cpu").num_labels == 1


def test_fit_with_a_torch_loss_trains_it_on_the_logits(tiny_bert_dir, tmp_path):
    model = make_model(tiny_bert_dir)
    loss = FitMixinLoss(model, nn.MSELoss())
    features = [[q for q, _ in PAIRS], [d for _, d in PAIRS]]
    z = logits(model)
    assert loss(features, torch.tensor(LABELS)).item() == pytest.approx(
        ((z - torch.tensor(LABELS)) ** 2).mean().item(), rel=1e-4
    )
    sigmoid = FitMixinLoss(model, nn.MSELoss(), activation_fn=nn.Sigmoid())
    by_hand = ((torch.sigmoid(z) - torch.tensor(LABELS)) ** 2).mean().item()
    assert sigmoid(features, torch.tensor(LABELS)).item() == pytest.approx(by_hand, rel=1e-4)
    before = logits(model)
    model.fit(
        DataLoader(examples(), batch_size=4),
        loss_fct=nn.MSELoss(),
        warmup_steps=0,
        optimizer_params={"lr": 1e-2},
        epochs=3,
        show_progress_bar=False,
    )
    error = lambda scores: ((scores - torch.tensor(LABELS)) ** 2).mean().item()  # noqa: E731
    assert error(logits(model)) < error(before)


def test_smart_batching_collate_tokenizes_pairs_with_typed_labels(tiny_bert_dir):
    model = make_model(tiny_bert_dir)
    features, labels = model.smart_batching_collate(examples())
    assert labels.dtype == torch.float and labels.tolist() == LABELS
    expected = model.preprocess([list(pair) for pair in PAIRS])
    assert torch.equal(features["input_ids"], expected["input_ids"])
    padded = model.smart_batching_collate_text_only([[" a cat sits ", "a cat sat"]])
    assert torch.equal(padded["input_ids"], model.preprocess([["a cat sits", "a cat sat"]])["input_ids"])
    three = make_model(tiny_bert_dir, num_labels=3)
    assert three.smart_batching_collate(examples(labels=[0, 1, 2, 1]))[1].dtype == torch.long
