"""Training infrastructure: collator, batch samplers, the Trainer, fit()."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from datasets import Dataset, DatasetDict
from torch.utils.data import ConcatDataset, DataLoader

from conftest import PAIRS, CosineMSE
from conftest import training_args as args
from sentence_transformers import (
    InputExample,
    SentencesDataset,
    SentenceTransformer,
    SentenceTransformerTrainer,
)
from sentence_transformers.base.sampler import (
    DefaultBatchSampler,
    GroupByLabelBatchSampler,
    NoDuplicatesBatchSampler,
    ProportionalBatchSampler,
    RoundRobinBatchSampler,
)
from sentence_transformers.sentence_transformer.data_collator import (
    SentenceTransformerDataCollator,
    split_features,
)


class Classifier(CosineMSE):
    """A loss that owns parameters (like SoftmaxLoss): they must be trained too."""

    def __init__(self, model):
        super().__init__(model)
        self.head = torch.nn.Linear(32, 2)

    def forward(self, features, labels):
        first, second = (self.model(f)["sentence_embedding"] for f in features)
        return torch.nn.functional.cross_entropy(self.head(first - second), (labels > 0.5).long())


def pair_dataset(repeat: int = 4) -> Dataset:
    rows = PAIRS * repeat
    return Dataset.from_dict({"s1": [r[0] for r in rows], "s2": [r[1] for r in rows], "score": [r[2] for r in rows]})


def test_collator_tokenizes_columns_in_order_with_labels_and_prompts(tiny_model):
    rows = [{"anchor": "a cat", "positive": "a dog", "label": 1.0}, {"anchor": "x", "positive": "y", "label": 0.0}]
    batch = SentenceTransformerDataCollator(tiny_model.tokenize, prompts={"anchor": "query: "})(rows)
    features, labels = split_features(batch)
    torch.testing.assert_close(labels, torch.tensor([1.0, 0.0]))
    assert len(features) == 2
    expected = tiny_model.tokenize(["query: a cat", "query: x"])
    torch.testing.assert_close(features[0]["input_ids"], expected["input_ids"])
    torch.testing.assert_close(features[1]["input_ids"], tiny_model.tokenize(["a dog", "y"])["input_ids"])
    per_dataset = SentenceTransformerDataCollator(tiny_model.tokenize, prompts={"nli": {"positive": "doc: "}})
    batch = per_dataset([{**row, "dataset_name": "nli"} for row in rows])
    assert batch["dataset_name"] == "nli"
    torch.testing.assert_close(
        split_features(batch)[0][1]["input_ids"], tiny_model.tokenize(["doc: a dog", "doc: y"])["input_ids"]
    )


def test_batch_samplers():
    data = [{"a": f"t{i % 5}", "b": f"u{i}", "label": i % 3} for i in range(12)]
    default = list(DefaultBatchSampler(data, 5, seed=1))
    assert sorted(i for batch in default for i in batch) == list(range(12)) and [len(b) for b in default] == [5, 5, 2]
    assert list(DefaultBatchSampler(data, 5, drop_last=True, seed=1)) == default[:2]
    no_dup = list(NoDuplicatesBatchSampler(data, 4, seed=1))
    assert sorted(i for batch in no_dup for i in batch) == list(range(12))
    for batch in no_dup:
        texts = [data[i]["a"] for i in batch]
        assert len(texts) == len(set(texts))
    grouped = list(GroupByLabelBatchSampler(data, 4, seed=1))
    for batch in grouped:
        labels = [data[i]["label"] for i in batch]
        assert all(labels.count(label) >= 2 for label in labels)
    with pytest.raises(ValueError, match="even batch_size"):
        GroupByLabelBatchSampler(data, 3)
    samplers = [DefaultBatchSampler(range(8), 2), DefaultBatchSampler(range(4), 2)]
    concat = ConcatDataset([range(8), range(4)])
    round_robin = list(RoundRobinBatchSampler(concat, samplers))
    assert [batch[0] >= 8 for batch in round_robin] == [False, True, False, True]
    proportional = list(ProportionalBatchSampler(concat, samplers))
    assert sorted(i for batch in proportional for i in batch) == list(range(12))


def test_trainer_trains_evaluates_and_records_the_run(tiny_bert_dir, tmp_path):
    model = SentenceTransformer(str(tiny_bert_dir), device="cpu")
    dataset = pair_dataset()
    loss = CosineMSE(model)
    features, labels = split_features(SentenceTransformerDataCollator(model.tokenize)(list(dataset)))
    with torch.no_grad():
        before = loss(features, labels).item()
    calls = []

    def evaluator(model, output_path=None, epoch=-1, steps=-1):
        calls.append(steps)
        return {"score": 0.5}

    trainer = SentenceTransformerTrainer(
        model=model,
        args=args(tmp_path, eval_strategy="steps", eval_steps=4, per_device_eval_batch_size=8),
        train_dataset=dataset,
        eval_dataset=dataset.select(range(8)),
        loss=loss,
        evaluator=evaluator,
    )
    trainer.train()
    with torch.no_grad():
        after = loss(features, labels).item()
    assert after < before
    metrics = trainer.evaluate()
    assert "eval_loss" in metrics and metrics["eval_score"] == 0.5 and calls[:2] == [4, 8]
    training = model.model_card_data["training"]
    assert training["losses"] == {"train": "CosineMSE"} and training["global_step"] == 16
    model.save(str(tmp_path / "trained"))
    assert "## Training" in (tmp_path / "trained" / "README.md").read_text()


def test_trainer_several_datasets_with_their_losses_and_loss_parameters(tiny_bert_dir, tmp_path):
    model = SentenceTransformer(str(tiny_bert_dir), device="cpu")
    classifier = Classifier(model)
    head_before = classifier.head.weight.detach().clone()
    datasets = DatasetDict({"sts": pair_dataset(2), "cls": pair_dataset(1)})
    trainer = SentenceTransformerTrainer(
        model=model,
        args=args(tmp_path, multi_dataset_batch_sampler="round_robin", num_train_epochs=1),
        train_dataset=datasets,
        loss={"sts": CosineMSE(model), "cls": classifier},
    )
    trainer.train()
    assert trainer.state.global_step == 4  # round robin: 2 batches of each, as many as the smallest has
    assert not torch.equal(classifier.head.weight.detach(), head_before), "the loss's own parameters were not trained"
    with pytest.raises(ValueError, match=r"Currently, \['other'\] occurs in `train_dataset` but not in `loss`"):
        bad = SentenceTransformerTrainer(
            model=model,
            args=args(tmp_path),
            train_dataset=DatasetDict({"other": pair_dataset(1)}),
            loss={"sts": CosineMSE(model)},
        )
        bad.train()


def test_checkpoints_are_model_folders_and_training_resumes(tiny_bert_dir, tmp_path):
    model = SentenceTransformer(str(tiny_bert_dir), device="cpu")
    run = args(tmp_path, save_strategy="steps", save_steps=4, num_train_epochs=1)
    SentenceTransformerTrainer(model=model, args=run, train_dataset=pair_dataset(), loss=CosineMSE(model)).train()
    checkpoint = tmp_path / "out" / "checkpoint-4"
    assert json.loads((checkpoint / "modules.json").read_text())[1]["type"] == "sentence_transformers.models.Pooling"
    reloaded = SentenceTransformer(str(checkpoint), device="cpu")
    assert reloaded.encode(["a cat"]).shape == (1, 32)
    fresh = SentenceTransformer(str(tiny_bert_dir), device="cpu")
    resumed = SentenceTransformerTrainer(model=fresh, args=run, train_dataset=pair_dataset(), loss=CosineMSE(fresh))
    resumed.train(resume_from_checkpoint=str(checkpoint))
    assert resumed.state.global_step == 8
    np.testing.assert_allclose(fresh.encode(["a cat"]), model.encode(["a cat"]), atol=1e-5)


def test_fit_equals_trainer_for_the_same_seed(tiny_bert_dir, tmp_path):
    examples = [InputExample(texts=[a, b], label=s) for a, b, s in PAIRS * 2]
    fitted = SentenceTransformer(str(tiny_bert_dir), device="cpu")
    loader = DataLoader(SentencesDataset(examples, fitted), shuffle=True, batch_size=4)
    fitted.fit(
        [(loader, CosineMSE(fitted))],
        epochs=2,
        warmup_steps=2,
        optimizer_params={"lr": 5e-4},
        show_progress_bar=False,
        output_path=str(tmp_path / "fit-out"),
    )
    trained = SentenceTransformer(str(tiny_bert_dir), device="cpu")
    dataset = Dataset.from_dict({"text_0": [e.texts[0] for e in examples], "text_1": [e.texts[1] for e in examples]})
    dataset = dataset.add_column("label", [e.label for e in examples])
    run = args(tmp_path, warmup_steps=2, seed=42, weight_decay=0.01, lr_scheduler_type="linear", learning_rate=5e-4)
    SentenceTransformerTrainer(model=trained, args=run, train_dataset=dataset, loss=CosineMSE(trained)).train()
    np.testing.assert_allclose(fitted.encode(["a cat sleeps"]), trained.encode(["a cat sleeps"]), atol=1e-5)
    saved = SentenceTransformer(str(tmp_path / "fit-out"), device="cpu")
    np.testing.assert_allclose(saved.encode(["a cat sleeps"]), fitted.encode(["a cat sleeps"]), atol=1e-6)


def test_smart_batching_collate(tiny_model):
    batch = [InputExample(texts=["a cat", "a dog"], label=1), InputExample(texts=["x", "y"], label=0)]
    features, labels = tiny_model.smart_batching_collate(batch)
    torch.testing.assert_close(labels, torch.tensor([1, 0]))
    torch.testing.assert_close(features[1]["input_ids"], tiny_model.tokenize(["a dog", "y"])["input_ids"])


def test_group_by_label_takes_the_first_valid_label_column():
    from datasets import Dataset

    data = Dataset.from_dict({"text": [f"t{i}" for i in range(8)], "class": [0, 1, 2, 3, 0, 1, 2, 3]})
    sampler = GroupByLabelBatchSampler(data, 4, seed=0, valid_label_columns=["label", "class"])
    assert sampler.label_column == "class"
    for batch in sampler:
        labels = [data[i]["class"] for i in batch]
        assert all(labels.count(label) == 2 for label in labels)
    with pytest.raises(ValueError, match=r"None of the valid_label_columns \['label', 'score'\].*'class'"):
        GroupByLabelBatchSampler(data, 4, valid_label_columns=["label", "score"])
