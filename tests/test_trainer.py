"""SentenceTransformerTrainer: samplers, best-model loading, evaluators, prompts, loss factories, eval datasets."""

from __future__ import annotations

import os
import random

import pytest
import torch
from datasets import Dataset, DatasetDict

from conftest import CosineMSE, training_args
from sentence_transformers import (
    SentenceTransformer,
    SentenceTransformerTrainer,
    SentenceTransformerTrainingArguments,
)
from sentence_transformers.base.sampler import NoDuplicatesBatchSampler
from sentence_transformers.sentence_transformer.data_collator import (
    SentenceTransformerDataCollator,
    column_prompt,
    split_features,
)
from sentence_transformers.sentence_transformer.evaluation import EmbeddingSimilarityEvaluator, SequentialEvaluator
from sentence_transformers.sentence_transformer.modules import Pooling

WORDS = "cat dog man woman sun street guitar table paris france capital search fox windowsill table brown".split()


def unique_pairs(size: int, offset: int = 0) -> Dataset:
    """Rows whose texts are all different, with a string label shared by every row."""
    anchors = [f"{WORDS[i % len(WORDS)]} {i + offset}" for i in range(size)]
    positives = [f"the {WORDS[(i + 3) % len(WORDS)]} {i + offset}" for i in range(size)]
    return Dataset.from_dict({"anchor": anchors, "positive": positives, "label": ["entailment"] * size})


def texts_only(size: int, offset: int = 0) -> Dataset:
    return unique_pairs(size, offset).remove_columns("label")


def scored_pairs(size: int = 16) -> Dataset:
    return texts_only(size).add_column("score", [float(i % 2) for i in range(size)])


class Recording(torch.nn.Module):
    """In-batch contrastive loss that records each batch's size and feature keys (labels are ignored)."""

    def __init__(self, model: SentenceTransformer) -> None:
        super().__init__()
        self.model = model
        self.sizes: list[int] = []
        self.features: list[list[dict]] = []

    def forward(self, features, labels):
        self.sizes.append(int(features[0]["input_ids"].shape[0]))
        self.features.append([dict(f) for f in features])
        first, second = (self.model(f)["sentence_embedding"] for f in features)
        scores = torch.cosine_similarity(first.unsqueeze(1), second.unsqueeze(0), dim=-1) * 20
        return torch.nn.functional.cross_entropy(scores, torch.arange(len(first)))


def make_args(tmp_path, **kwargs) -> SentenceTransformerTrainingArguments:
    return training_args(tmp_path, **{"num_train_epochs": 1, "per_device_eval_batch_size": 4, **kwargs})


def fresh(tiny_bert_dir) -> SentenceTransformer:
    return SentenceTransformer(str(tiny_bert_dir), device="cpu")


# ---------------------------------------------------------------- 1. no-duplicates sampler


def test_no_duplicates_sampler_counts_only_text_columns():
    data = unique_pairs(12).add_column("dataset_name", ["nli"] * 12)
    batches = list(NoDuplicatesBatchSampler(data, 4, seed=1))
    assert [len(batch) for batch in batches] == [4, 4, 4]
    rows = [{"anchor": f"a{i % 3}", "positive": f"p{i}", "label": "same", "score": 1.0} for i in range(6)]
    batches = list(NoDuplicatesBatchSampler(rows, 3, seed=0))
    assert [len(batch) for batch in batches] == [3, 3]  # the anchors a0..a2 repeat: at most one of each per batch
    for batch in batches:
        assert len({rows[i]["anchor"] for i in batch}) == 3
    # A column named as a label column is not text, even for a custom label name.
    custom = Dataset.from_dict({"text": ["x", "y", "z", "w"], "tag": ["t"] * 4})
    assert [len(b) for b in NoDuplicatesBatchSampler(custom, 4, valid_label_columns=("tag",))] == [4]
    assert [len(b) for b in NoDuplicatesBatchSampler(custom, 4)] == [1, 1, 1, 1]


@pytest.mark.parametrize("trial", range(40))
def test_no_duplicates_batches_never_share_a_text_between_rows(trial):
    """Issue 9's report of a batch holding one text twice: on random datasets with heavy duplication, no two rows of
    a batch share a text, every row is used at most once per epoch, and with drop_last=False every row is used.
    The only repeats a batch can hold are inside one row (anchor == positive), which is never split."""
    rng = random.Random(trial)
    vocab = [f"t{i}" for i in range(rng.randint(3, 30))]
    size, columns = rng.randint(1, 60), ["anchor", "positive", "negative"][: rng.randint(1, 3)]
    data = Dataset.from_dict({column: [rng.choice(vocab) for _ in range(size)] for column in columns})
    drop_last = rng.random() < 0.5
    sampler = NoDuplicatesBatchSampler(data, rng.randint(1, 8), drop_last=drop_last, seed=trial)
    for epoch in range(2):
        sampler.set_epoch(epoch)
        used = []
        for batch in sampler:
            used += batch
            row_texts = [{data[i][column] for column in columns} for i in batch]
            texts = [text for row in row_texts for text in row]
            assert len(texts) == len(set(texts)), (batch, row_texts)
        assert len(used) == len(set(used))
        if not drop_last:
            assert sorted(used) == list(range(size))


def test_no_duplicates_through_the_trainer_on_a_dataset_dict(tiny_bert_dir, tmp_path):
    model = fresh(tiny_bert_dir)
    loss = Recording(model)
    trainer = SentenceTransformerTrainer(
        model=model,
        args=make_args(tmp_path, batch_sampler="no_duplicates"),
        # A string label cannot become a tensor: keep only the text columns (plus the trainer's dataset_name).
        train_dataset=DatasetDict({"one": texts_only(8), "two": texts_only(8, offset=100)}),
        loss={"one": loss, "two": loss},
    )
    trainer.train()
    assert loss.sizes == [4, 4, 4, 4]


# ---------------------------------------------------------------- 2. load_best_model_at_end


def test_load_best_model_at_end_loads_the_best_checkpoint(tiny_bert_dir, tmp_path):
    model = fresh(tiny_bert_dir)
    scripted = {2: 0.1, 4: 0.9, 6: 0.3, 8: 0.2}

    def evaluator(model, output_path=None, epoch=-1, steps=-1):
        return {"score": scripted[steps]}

    run = make_args(
        tmp_path,
        eval_strategy="steps",
        eval_steps=2,
        save_strategy="steps",
        save_steps=2,
        load_best_model_at_end=True,
        metric_for_best_model="score",
        greater_is_better=True,
    )
    trainer = SentenceTransformerTrainer(
        model=model, args=run, train_dataset=scored_pairs(32), loss=CosineMSE(model), evaluator=evaluator
    )
    trainer.train()
    assert trainer.state.best_model_checkpoint.endswith("checkpoint-4")
    best = fresh_from(tmp_path / "out" / "checkpoint-4")
    last = fresh_from(tmp_path / "out" / "checkpoint-8")
    state = model.state_dict()
    for name, value in best.state_dict().items():
        torch.testing.assert_close(state[name], value)
    assert any(not torch.equal(state[name], value) for name, value in last.state_dict().items())


def fresh_from(path) -> SentenceTransformer:
    return SentenceTransformer(str(path), device="cpu")


# ---------------------------------------------------------------- 3. evaluators


def test_evaluator_gets_output_path_epoch_steps_and_may_return_a_float(tiny_bert_dir, tmp_path):
    model = fresh(tiny_bert_dir)
    calls = []

    def evaluator(model, output_path=None, epoch=-1, steps=-1):
        calls.append((output_path, epoch, steps))
        return 0.25

    trainer = SentenceTransformerTrainer(
        model=model, args=make_args(tmp_path), train_dataset=scored_pairs(), loss=CosineMSE(model), evaluator=evaluator
    )
    assert trainer.evaluator_output_path == os.path.join(str(tmp_path / "out"), "eval")
    trainer.train()
    metrics = trainer.evaluate()
    assert metrics["eval_evaluator"] == 0.25
    assert calls[-1] == (trainer.evaluator_output_path, 1, 4)
    trainer.evaluator_output_path = str(tmp_path / "elsewhere")
    trainer.evaluate()
    assert calls[-1][0] == str(tmp_path / "elsewhere") and os.path.isdir(tmp_path / "elsewhere")


def test_a_list_of_evaluators_runs_sequentially_and_writes_csv_to_the_output_path(tiny_bert_dir, tmp_path):
    model = fresh(tiny_bert_dir)
    pairs = scored_pairs(8)
    similarity = EmbeddingSimilarityEvaluator(pairs["anchor"], pairs["positive"], pairs["score"], name="sts")
    trainer = SentenceTransformerTrainer(
        model=model,
        args=make_args(tmp_path),
        train_dataset=pairs,
        loss=CosineMSE(model),
        evaluator=[similarity, lambda model, output_path=None, epoch=-1, steps=-1: 0.5],
    )
    assert isinstance(trainer.evaluator, SequentialEvaluator)
    metrics = trainer.evaluate()
    assert "eval_sts_spearman_cosine" in metrics and metrics["eval_evaluator_1"] == 0.5
    assert metrics["eval_sequential_score"] == 0.5
    assert (tmp_path / "out" / "eval" / similarity.csv_file).is_file()


# ---------------------------------------------------------------- 4. prompts


def test_prompt_forms():
    column_prompts = {"anchor": "query: "}
    by_dataset = {"nli": "query: ", "sts": {"positive": "document: "}}
    assert column_prompt("query: ", "any", "positive") == "query: "
    assert column_prompt(column_prompts, None, "anchor") == "query: "
    assert column_prompt(column_prompts, "nli", "anchor") == "query: "
    assert column_prompt(column_prompts, "nli", "positive") is None
    assert column_prompt(by_dataset, "nli", "positive") == "query: "
    assert column_prompt(by_dataset, "sts", "positive") == "document: "
    assert column_prompt(by_dataset, "sts", "anchor") is None
    assert column_prompt(by_dataset, "other", "anchor") is None
    with pytest.raises(TypeError, match="prompts must be a str or a dict"):
        column_prompt(["query: "], None, "anchor")


def test_collated_prompt_is_left_out_by_pooling_as_in_encode(tiny_bert_dir):
    model = fresh(tiny_bert_dir)
    model.set_pooling_include_prompt(False)
    model.eval()
    rows = [{"anchor": "a cat sleeps", "positive": "the street", "dataset_name": "nli"}] * 2
    batch = SentenceTransformerDataCollator(model.tokenize, prompts={"nli": {"anchor": "query: "}})(rows)
    (anchor, positive), _ = split_features(batch)
    assert anchor["prompt_length"] == model.tokenize(["query: "])["input_ids"].shape[-1] - 1
    assert "prompt_length" not in positive
    with torch.no_grad():
        trained_view = model(anchor)["sentence_embedding"][0]
    at_inference = model.encode("a cat sleeps", prompt="query: ", convert_to_tensor=True)
    torch.testing.assert_close(trained_view, at_inference, atol=1e-5, rtol=1e-5)
    model.set_pooling_include_prompt(True)
    with_prompt = model.encode("a cat sleeps", prompt="query: ", convert_to_tensor=True)
    assert not torch.allclose(trained_view, with_prompt, atol=1e-4)
    assert isinstance(model[1], Pooling)


def test_dataset_name_prompts_reach_the_loss_in_training(tiny_bert_dir, tmp_path):
    model = fresh(tiny_bert_dir)
    loss = Recording(model)
    prompts = {"one": "query: ", "two": {"positive": "document: "}}
    trainer = SentenceTransformerTrainer(
        model=model,
        args=make_args(tmp_path, prompts=prompts, multi_dataset_batch_sampler="round_robin"),
        train_dataset=DatasetDict({"one": texts_only(4), "two": texts_only(4, offset=50)}),
        loss=loss,
    )
    trainer.train()
    query = model.tokenize(["query: "])["input_ids"].shape[-1] - 1
    document = model.tokenize(["document: "])["input_ids"].shape[-1] - 1
    lengths = [[f.get("prompt_length") for f in features] for features in loss.features]
    assert lengths == [[query, query], [None, document]]


# ---------------------------------------------------------------- 5. loss factories and model_init


def test_loss_factories_and_model_init(tiny_bert_dir, tmp_path):
    model = fresh(tiny_bert_dir)
    trainer = SentenceTransformerTrainer(
        model=model,
        args=make_args(tmp_path),
        train_dataset=DatasetDict({"a": scored_pairs(8), "b": scored_pairs(8)}),
        loss={"a": CosineMSE, "b": lambda m: CosineMSE(m)},
    )
    assert all(isinstance(loss, CosineMSE) and loss.model is model for loss in trainer.loss.values())
    trainer.train()

    built = []

    def model_init() -> SentenceTransformer:
        built.append(fresh(tiny_bert_dir))
        return built[-1]

    before = fresh(tiny_bert_dir).encode(["a cat"])
    trainer = SentenceTransformerTrainer(
        model_init=model_init, args=make_args(tmp_path), train_dataset=scored_pairs(8), loss=CosineMSE
    )
    assert trainer.model is built[0] and trainer.loss.model is built[0]
    trainer.train()  # transformers calls model_init again: the loss must train that new model
    assert len(built) == 2 and trainer.model is built[1] and trainer.loss.model is built[1]
    assert not torch.allclose(torch.tensor(trainer.model.encode(["a cat"])), torch.tensor(before))

    module_loss = CosineMSE(built[1])
    trainer = SentenceTransformerTrainer(
        model_init=model_init, args=make_args(tmp_path), train_dataset=scored_pairs(8), loss=module_loss
    )
    trainer.train()
    assert trainer.loss is module_loss and module_loss.model is trainer.model is built[-1]
    with pytest.raises(RuntimeError, match="requires either a `model` or `model_init` argument"):
        SentenceTransformerTrainer(args=make_args(tmp_path), train_dataset=scored_pairs(8))
    with pytest.raises(TypeError, match="returned str"):
        SentenceTransformerTrainer(model=model, args=make_args(tmp_path), train_dataset=scored_pairs(8), loss=str)


# ---------------------------------------------------------------- 6. several eval datasets


def test_eval_dataset_dict_reports_a_loss_per_dataset(tiny_bert_dir, tmp_path):
    model = fresh(tiny_bert_dir)
    calls = []

    def evaluator(model, output_path=None, epoch=-1, steps=-1):
        calls.append(steps)
        return {"score": 0.5}

    sts, cls = scored_pairs(8), scored_pairs(4).map(lambda row: {"score": 1.0 - row["score"]})
    trainer = SentenceTransformerTrainer(
        model=model,
        args=make_args(tmp_path),
        train_dataset=scored_pairs(8),
        eval_dataset=DatasetDict({"sts": sts, "cls": cls}),
        loss=CosineMSE(model),
        evaluator=evaluator,
    )
    metrics = trainer.evaluate()
    assert {"eval_sts_loss", "eval_cls_loss", "eval_score"} <= set(metrics) and "eval_loss" not in metrics
    assert metrics["eval_sts_loss"] != metrics["eval_cls_loss"]
    assert metrics["eval_sts_loss"] == pytest.approx(trainer.evaluate(sts)["eval_loss"], rel=1e-5)
    assert calls == [0, 0]  # once per evaluate() call, not once per dataset
    per_dataset_losses = SentenceTransformerTrainer(
        model=model,
        args=make_args(tmp_path),
        train_dataset=DatasetDict({"sts": sts, "cls": cls}),
        loss={"sts": CosineMSE(model), "cls": CosineMSE(model)},
    )
    metrics = per_dataset_losses.evaluate(DatasetDict({"sts": sts, "cls": cls}))
    assert {"eval_sts_loss", "eval_cls_loss"} <= set(metrics)


def test_training_arguments_parse_from_a_command_line(tmp_path):
    from transformers import HfArgumentParser

    from sentence_transformers.training_args import BatchSamplers, MultiDatasetBatchSamplers

    parser = HfArgumentParser(SentenceTransformerTrainingArguments)
    common = ["--output_dir", str(tmp_path), "--batch_sampler", "no_duplicates"]
    (args,) = parser.parse_args_into_dataclasses([*common, "--prompts", '{"anchor": "query: "}'])
    assert args.batch_sampler is BatchSamplers.NO_DUPLICATES
    assert args.multi_dataset_batch_sampler is MultiDatasetBatchSamplers.PROPORTIONAL
    assert args.prompts == {"anchor": "query: "}
    (args,) = parser.parse_args_into_dataclasses([*common, "--prompts", "query: "])
    assert args.prompts == "query: "
    with pytest.raises(ValueError, match="does not parse"):
        parser.parse_args_into_dataclasses([*common, "--prompts", '{"anchor": '])


def test_training_arguments_parse_mappings_from_a_command_line(tmp_path):
    from transformers import HfArgumentParser

    parser = HfArgumentParser(SentenceTransformerTrainingArguments)
    common = ["--output_dir", str(tmp_path), "--report_to", "none"]
    (args,) = parser.parse_args_into_dataclasses(
        [*common, "--router_mapping", '{"a":"query"}', "--learning_rate_mapping", '{"dense": 1e-3}']
    )
    assert args.router_mapping == {"a": "query"}
    assert args.learning_rate_mapping == {"dense": 0.001}
    (args,) = parser.parse_args_into_dataclasses(
        [*common, "--router_mapping", '{"nli": {"premise": "query", "hypothesis": "document"}}']
    )
    assert args.router_mapping == {"nli": {"premise": "query", "hypothesis": "document"}}
    (args,) = parser.parse_args_into_dataclasses(common)
    assert args.router_mapping == {} and args.learning_rate_mapping == {}
    with pytest.raises(ValueError, match="The `router_mapping` argument must be a dictionary"):
        parser.parse_args_into_dataclasses([*common, "--router_mapping", "query"])
    with pytest.raises(ValueError, match="The `router_mapping` argument must be a dictionary.* Got list"):
        parser.parse_args_into_dataclasses([*common, "--router_mapping", '["query"]'])
    with pytest.raises(ValueError, match=r"router_mapping\['a'\] must be a route name"):
        SentenceTransformerTrainingArguments(output_dir=str(tmp_path), router_mapping={"a": 1})
    with pytest.raises(ValueError, match="The `learning_rate_mapping` argument must be a dictionary"):
        parser.parse_args_into_dataclasses([*common, "--learning_rate_mapping", "{dense: 1e-3}"])
    with pytest.raises(ValueError, match=r"learning_rate_mapping\['dense'\] must be a number"):
        SentenceTransformerTrainingArguments(output_dir=str(tmp_path), learning_rate_mapping={"dense": "fast"})
    with pytest.raises(ValueError, match="not a valid regular expression"):
        SentenceTransformerTrainingArguments(output_dir=str(tmp_path), learning_rate_mapping={"dense(": 1e-3})


# ---------------------------------------------------------------- multi-dataset batch samplers
def test_sampler_module_re_exports_the_sampler_names():
    from sentence_transformers.base import sampler
    from sentence_transformers.sentence_transformer import training_args as arguments

    assert sampler.BatchSamplers is arguments.BatchSamplers
    assert sampler.MultiDatasetBatchSamplers is arguments.MultiDatasetBatchSamplers


def test_round_robin_and_proportional_samplers():
    from torch.utils.data import BatchSampler, ConcatDataset, SequentialSampler

    from sentence_transformers.base.sampler import (
        MultiDatasetDefaultBatchSampler,
        ProportionalBatchSampler,
        RoundRobinBatchSampler,
    )

    concat = ConcatDataset([list(range(6)), list(range(2))])  # rows 0-5, then rows 6-7

    def in_order() -> list[BatchSampler]:
        return [
            BatchSampler(SequentialSampler(range(6)), 2, False),
            BatchSampler(SequentialSampler(range(2)), 2, False),
        ]

    round_robin = RoundRobinBatchSampler(concat, in_order())
    assert list(round_robin) == [[0, 1], [6, 7]] and len(round_robin) == 2  # stops when the second runs out
    proportional = ProportionalBatchSampler(concat, in_order(), seed=5)
    batches = list(proportional)
    assert len(proportional) == 4 and sorted(batches) == [[0, 1], [2, 3], [4, 5], [6, 7]]
    assert [batch for batch in batches if batch[0] < 6] == [[0, 1], [2, 3], [4, 5]]  # each dataset keeps its order
    assert list(ProportionalBatchSampler(concat, in_order(), seed=5)) == batches  # reproducible
    with_generator = ProportionalBatchSampler(concat, in_order(), generator=torch.Generator(), seed=5)
    assert list(with_generator) == batches
    proportional.set_epoch(1)  # the order comes from seed + epoch
    assert list(proportional) == list(ProportionalBatchSampler(concat, in_order(), seed=6))
    orders = set()
    for epoch in range(8):
        proportional.set_epoch(epoch)
        orders.add(tuple(batch[0] for batch in proportional))
    assert len(orders) > 1
    with pytest.raises(ValueError, match="2 batch samplers for 1 datasets"):
        RoundRobinBatchSampler(ConcatDataset([list(range(6))]), in_order())
    with pytest.raises(TypeError, match="abstract"):
        MultiDatasetDefaultBatchSampler(concat, in_order())


def test_set_epoch_reaches_every_dataset_sampler():
    from torch.utils.data import BatchSampler, ConcatDataset

    from sentence_transformers.base.sampler import DefaultBatchSampler, RoundRobinBatchSampler, SetEpochMixin

    class Counting(SetEpochMixin, BatchSampler):
        pass

    counting = Counting(range(4), batch_size=2, drop_last=False)
    assert counting.epoch == 0 and list(counting) == [[0, 1], [2, 3]]
    children = [DefaultBatchSampler(range(4), 2, seed=1), DefaultBatchSampler(range(4), 2, seed=2)]
    sampler = RoundRobinBatchSampler(ConcatDataset([range(4), range(4)]), children)
    sampler.set_epoch(3)
    assert sampler.epoch == 3 and [child.epoch for child in children] == [3, 3]
    first, second = list(DefaultBatchSampler(range(4), 2, seed=4)), list(DefaultBatchSampler(range(4), 2, seed=5))
    assert list(sampler) == [first[0], [i + 4 for i in second[0]], first[1], [i + 4 for i in second[1]]]


def test_trainer_builds_the_configured_multi_dataset_sampler(tiny_bert_dir, tmp_path):
    from sentence_transformers.base.sampler import DefaultBatchSampler, RoundRobinBatchSampler

    model = fresh(tiny_bert_dir)
    data = DatasetDict({"big": scored_pairs(16), "small": scored_pairs(8)})
    lengths = {}
    for kind in ("round_robin", "proportional", RoundRobinBatchSampler):
        args = make_args(tmp_path, per_device_train_batch_size=4, multi_dataset_batch_sampler=kind)
        trainer = SentenceTransformerTrainer(model=model, args=args, train_dataset=data, loss=CosineMSE(model))
        lengths[str(kind)] = len(trainer.get_train_dataloader())
    assert list(lengths.values()) == [4, 6, 4]  # 2 rounds of 2 batches; 4 + 2 batches; the class = round robin
    made = []

    def factory(dataset, **kwargs):
        made.append(sorted(kwargs))
        return DefaultBatchSampler(dataset, **kwargs)

    args = make_args(tmp_path, per_device_train_batch_size=4, batch_sampler=factory)
    trainer = SentenceTransformerTrainer(model=model, args=args, train_dataset=scored_pairs(8), loss=CosineMSE(model))
    assert len(trainer.get_train_dataloader()) == 2
    assert made == [["batch_size", "drop_last", "generator", "seed", "valid_label_columns"]]
