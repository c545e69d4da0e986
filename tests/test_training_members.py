"""The trainer's, training arguments', collator's and samplers' upstream 6.2 members: warmup_ratio, preprocess_fn,
max_length, column-order warnings, hashed no-duplicates batches, the trainer's hooks and upstream's error texts."""

from __future__ import annotations

import inspect
import logging

import pytest
import torch
from datasets import Dataset, DatasetDict

from conftest import CosineMSE, training_args
from sentence_transformers import SentenceTransformer, SentenceTransformerTrainer, SentenceTransformerTrainingArguments
from sentence_transformers.base import sampler as sampler_module
from sentence_transformers.base.data_collator import BaseDataCollator
from sentence_transformers.base.sampler import BatchSamplers, NoDuplicatesBatchSampler
from sentence_transformers.base.trainer import BaseTrainer
from sentence_transformers.sentence_transformer.data_collator import SentenceTransformerDataCollator
from sentence_transformers.sentence_transformer.losses import CoSENTLoss
from sentence_transformers.sentence_transformer.model_card import SentenceTransformerModelCardData
from sentence_transformers.sentence_transformer.model_card_callback import SentenceTransformerModelCardCallback

ARGS_LOGGER = "sentence_transformers.sentence_transformer.training_args"
COLLATOR_LOGGER = "sentence_transformers.sentence_transformer.data_collator"


def scored_pairs(size: int = 16) -> Dataset:
    return Dataset.from_dict(
        {
            "sentence1": [f"a cat number {i}" for i in range(size)],
            "sentence2": [f"the dog {i} runs" for i in range(size)],
            "score": [float(i % 2) for i in range(size)],
        }
    )


@pytest.fixture()
def model(tiny_bert_dir) -> SentenceTransformer:
    return SentenceTransformer(str(tiny_bert_dir), device="cpu")


# ---------------------------------------------------------------- warmup_ratio


def test_warmup_ratio_moves_into_warmup_steps_with_upstreams_warning(tmp_path, caplog):
    with caplog.at_level(logging.WARNING, logger=ARGS_LOGGER):
        args = SentenceTransformerTrainingArguments(output_dir=str(tmp_path), warmup_ratio=0.1)
    assert args.warmup_steps == 0.1 and args.warmup_ratio is None
    assert "The `warmup_ratio` argument is deprecated in Transformers v5+" in caplog.text
    both = SentenceTransformerTrainingArguments(output_dir=str(tmp_path), warmup_ratio=0.1, warmup_steps=3)
    assert both.warmup_steps == 3 and both.get_warmup_steps(100) == 3
    assert SentenceTransformerTrainingArguments(output_dir=str(tmp_path)).warmup_ratio is None


def test_warmup_ratio_shapes_the_learning_rates_of_training(model, tmp_path):
    """16 rows, batches of 4, 2 epochs: 8 steps; a ratio of 0.25 warms up over ceil(8 * 0.25) = 2 of them."""
    args = training_args(tmp_path, warmup_ratio=0.25, lr_scheduler_type="linear", learning_rate=1e-3)
    trainer = SentenceTransformerTrainer(model=model, args=args, train_dataset=scored_pairs(), loss=CosineMSE(model))
    trainer.train()
    logged = [entry["learning_rate"] for entry in trainer.state.log_history if "learning_rate" in entry]
    # Linear warm-up to 1e-3 over steps 1-2, then linear decay to 0 over the 6 remaining steps.
    # transformers logs the rate each step ran with, before the scheduler steps: the rates of steps 0-7.
    expected = [1e-3 * step / 2 if step < 2 else 1e-3 * (8 - step) / 6 for step in range(8)]
    assert logged == pytest.approx(expected, abs=1e-12)


# ---------------------------------------------------------------- the data collator


def test_collator_preprocesses_with_the_model_and_truncates_to_max_length(model):
    rows = [{"anchor": "a b c d e f g h", "positive": "x"}, {"anchor": "a", "positive": "y z"}]
    plain = SentenceTransformerDataCollator(preprocess_fn=model.preprocess)(rows)
    assert plain["anchor_input_ids"].shape[1] > 4
    short = SentenceTransformerDataCollator(preprocess_fn=model.preprocess, max_length=4)(rows)
    assert short["anchor_input_ids"].shape[1] == 4
    assert short["anchor_input_ids"][0].tolist() == plain["anchor_input_ids"][0, :3].tolist() + [
        model.tokenizer.sep_token_id
    ]
    # A dict reads the limit by route: columns without one keep the model's own length.
    per_route = SentenceTransformerDataCollator(preprocess_fn=model.preprocess, max_length={"query": 4})(rows)
    assert per_route["anchor_input_ids"].shape[1] == plain["anchor_input_ids"].shape[1]
    prompted = SentenceTransformerDataCollator(preprocess_fn=model.preprocess, prompts="query: ")(rows)
    expected = model.preprocess(["a", "a"], prompt="query: ")
    assert prompted["anchor_prompt_length"] == expected["prompt_length"]


def test_collator_label_columns_default_as_upstreams(model):
    collator = BaseDataCollator(preprocess_fn=model.preprocess)
    assert collator.valid_label_columns == ["label", "labels", "score", "scores"]
    batch = collator([{"text": "a", "scores": 0.5}, {"text": "b", "scores": 1.0}])
    assert batch["label"].tolist() == [0.5, 1.0] and "text_input_ids" in batch and "scores_input_ids" not in batch
    stacked = collator([{"text": "a", "labels": torch.tensor([1, 2])}, {"text": "b", "labels": torch.tensor([3, 4])}])
    assert stacked["label"].tolist() == [[1, 2], [3, 4]]


def test_collator_warns_once_about_a_column_out_of_its_usual_place(model, caplog):
    collator = SentenceTransformerDataCollator(preprocess_fn=model.preprocess)
    with caplog.at_level(logging.WARNING, logger=COLLATOR_LOGGER):
        collator([{"answer": "x", "question": "y"}])
        collator([{"answer": "z", "question": "w"}])
        collator([{"question": "y", "answer": "x"}])
    warnings = [record.getMessage() for record in caplog.records if "usually expected" in record.getMessage()]
    assert len(warnings) == 1
    assert warnings[0].startswith("Column 'question' is at index 1, whereas a column with this name is usually")
    assert "dataset = dataset.select_columns(['question', 'answer'])" in warnings[0]


def test_collator_refuses_per_dataset_prompts_for_a_single_dataset(model):
    collator = SentenceTransformerDataCollator(preprocess_fn=model.preprocess, prompts={"nli": {"anchor": "q: "}})
    with pytest.raises(ValueError, match="The prompts provided to the trainer are a nested dictionary"):
        collator([{"anchor": "a"}])
    assert collator([{"anchor": "a", "dataset_name": "nli"}])["anchor_prompt_length"] > 0


def test_collator_keeps_the_5x_tokenize_fn(model):
    rows = [{"anchor": "a cat"}, {"anchor": "a dog"}]
    legacy = SentenceTransformerDataCollator(tokenize_fn=model.tokenize, prompts="query: ")(rows)
    current = SentenceTransformerDataCollator(preprocess_fn=model.preprocess, prompts="query: ")(rows)
    assert torch.equal(legacy["anchor_input_ids"], current["anchor_input_ids"])
    assert legacy["anchor_prompt_length"] == current["anchor_prompt_length"]
    with pytest.raises(TypeError, match="needs a preprocess_fn"):
        SentenceTransformerDataCollator()


# ---------------------------------------------------------------- the no-duplicates sampler, hashed


def duplicated_texts() -> Dataset:
    anchors = ["a", "b", "a", "c", "d", "b", "e", "a", "f", "g"]
    return Dataset.from_dict(
        {"anchor": anchors, "positive": [f"p{i}" for i in range(10)], "label": [1] * 10, "dataset_name": ["x"] * 10}
    )


def test_hashed_no_duplicates_batches_equal_the_plain_ones():
    data = duplicated_texts()
    plain = NoDuplicatesBatchSampler(data, 3, seed=5)
    hashed = NoDuplicatesBatchSampler(data, 3, seed=5, precompute_hashes=True, precompute_num_proc=2)
    for epoch in range(2):
        plain.set_epoch(epoch)
        hashed.set_epoch(epoch)
        batches = list(hashed)
        assert batches == list(plain)
        for batch in batches:
            anchors = [data[i]["anchor"] for i in batch]
            assert len(anchors) == len(set(anchors))
    # Four rows hold "a" or "b" twice or more: hashes of the label and dataset_name columns would merge every row.
    assert len(hashed._row_hashes) == 10 and all(len(row) == 2 for row in hashed._row_hashes)
    assert hashed.precompute_batch_size == 1000


def test_hashed_sampler_needs_xxhash_and_defaults_its_processes(monkeypatch):
    monkeypatch.setattr(sampler_module.os, "cpu_count", lambda: 4)
    assert NoDuplicatesBatchSampler(duplicated_texts(), 2, precompute_hashes=True).precompute_num_proc == 3
    monkeypatch.setattr(sampler_module.os, "cpu_count", lambda: 32)
    assert NoDuplicatesBatchSampler(duplicated_texts(), 2, precompute_hashes=True).precompute_num_proc == 8
    assert NoDuplicatesBatchSampler(duplicated_texts(), 2).precompute_num_proc is None
    monkeypatch.setattr(sampler_module, "xxhash", None)
    with pytest.raises(ImportError, match="precompute_hashes=True requires `xxhash`"):
        NoDuplicatesBatchSampler(duplicated_texts(), 2, precompute_hashes=True)


def test_no_duplicates_hashed_through_the_training_arguments(model, tmp_path):
    args = training_args(tmp_path, batch_sampler="no_duplicates_hashed")
    assert args.batch_sampler is BatchSamplers.NO_DUPLICATES_HASHED
    trainer = SentenceTransformerTrainer(model=model, args=args, train_dataset=scored_pairs(8), loss=CosineMSE(model))
    sampler = trainer.get_batch_sampler(trainer.train_dataset, batch_size=4, drop_last=False)
    assert isinstance(sampler, NoDuplicatesBatchSampler) and sampler.precompute_hashes
    plain = training_args(tmp_path, batch_sampler="no_duplicates")
    trainer = SentenceTransformerTrainer(model=model, args=plain, train_dataset=scored_pairs(8), loss=CosineMSE(model))
    assert not trainer.get_batch_sampler(trainer.train_dataset, batch_size=4, drop_last=False).precompute_hashes
    with pytest.raises(
        ValueError, match=r"hashed is not a valid BatchSamplers, please select one of \['batch_sampler'"
    ):
        training_args(tmp_path, batch_sampler="hashed")


# ---------------------------------------------------------------- the trainer's members


def test_trainer_class_attributes_name_its_parts():
    assert issubclass(SentenceTransformerTrainer, BaseTrainer) and SentenceTransformerTrainer is not BaseTrainer
    assert SentenceTransformerTrainer.model_class is SentenceTransformer
    assert SentenceTransformerTrainer.training_args_class is SentenceTransformerTrainingArguments
    assert SentenceTransformerTrainer.data_collator_class is SentenceTransformerDataCollator
    assert SentenceTransformerTrainer.model_card_data_class is SentenceTransformerModelCardData
    assert SentenceTransformerTrainer.model_card_callback_class is SentenceTransformerModelCardCallback
    assert list(inspect.signature(BaseTrainer.evaluation_loop).parameters)[1:] == [
        "dataloader",
        "description",
        "prediction_loss_only",
        "ignore_keys",
        "metric_key_prefix",
    ]


def test_trainer_passes_transformers_options_through(model, tmp_path, caplog):
    def metrics(prediction):
        return {}

    def logits(logits, labels):
        return logits

    with caplog.at_level(logging.WARNING):
        trainer = SentenceTransformerTrainer(
            model=model,
            args=training_args(tmp_path),
            train_dataset=scored_pairs(8),
            loss=CosineMSE(model),
            compute_metrics=metrics,
            optimizer_cls_and_kwargs=(torch.optim.SGD, {"lr": 0.5, "momentum": 0.9}),
            preprocess_logits_for_metrics=logits,
        )
    assert "`compute_metrics` is currently not compatible with the SentenceTransformerTrainer" in caplog.text
    assert trainer.compute_metrics is metrics and trainer.preprocess_logits_for_metrics is logits
    assert trainer.processing_class is model.tokenizer
    optimizer = trainer.create_optimizer()
    assert isinstance(optimizer, torch.optim.SGD) and optimizer.defaults["momentum"] == 0.9


def test_tokenizer_is_the_deprecated_name_of_processing_class(model, tmp_path, caplog):
    tokenizer = model.tokenizer
    with caplog.at_level(logging.WARNING):
        trainer = SentenceTransformerTrainer(
            model=model, args=training_args(tmp_path), train_dataset=scored_pairs(8), tokenizer=tokenizer
        )
    assert trainer.processing_class is tokenizer
    assert "The `tokenizer` argument was renamed and is now deprecated. Please use `processing_class`" in caplog.text


def test_default_loss_is_cosent_and_losses_are_prepared_for_the_model(model, tmp_path, tiny_bert_dir):
    trainer = SentenceTransformerTrainer(model=model, args=training_args(tmp_path), train_dataset=scored_pairs(8))
    assert isinstance(trainer.loss, CoSENTLoss) and trainer.loss.model is model
    assert isinstance(trainer.get_default_loss(model), CoSENTLoss)
    built = trainer.prepare_loss(CosineMSE, model)
    assert isinstance(built, CosineMSE) and built.model is model
    other = SentenceTransformer(str(tiny_bert_dir), device="cpu")
    wrapper = torch.nn.ModuleDict({"inner": CosineMSE(model)})
    assert trainer.override_model_in_loss(wrapper, other) is wrapper and wrapper["inner"].model is other


def test_get_data_collator_preprocesses_with_the_model(model, tmp_path):
    args = training_args(tmp_path, prompts={"sentence1": "q: "})
    trainer = SentenceTransformerTrainer(model=model, args=args, train_dataset=scored_pairs(8), loss=CosineMSE(model))
    collator = trainer.get_data_collator(model, args, processing_class=model.tokenizer)
    assert collator.preprocess_fn == model.preprocess and collator.prompts == {"sentence1": "q: "}
    assert isinstance(trainer.data_collator, SentenceTransformerDataCollator)


def test_collect_features_splits_batches_of_any_collator(model, tmp_path):
    trainer = SentenceTransformerTrainer(
        model=model, args=training_args(tmp_path), train_dataset=scored_pairs(8), loss=CosineMSE(model)
    )
    ours = trainer.data_collator([{"sentence1": "a", "sentence2": "b", "score": 1.0}])
    features, labels = trainer.collect_features(ours)
    assert [list(f)[:1] for f in features] == [["input_ids"], ["input_ids"]] and labels.tolist() == [1.0]
    foreign = {
        "return_loss": True,
        "label": torch.tensor([0.0]),
        "query_input_ids": torch.tensor([[1, 2]]),
        "query_attention_mask": torch.tensor([[1, 1]]),
        "doc_pixel_values": torch.zeros(1, 3),
    }
    features, labels = trainer.collect_features(foreign)
    assert [sorted(f) for f in features] == [["attention_mask", "input_ids"], ["pixel_values"]]
    assert labels is foreign["label"]


def test_dataset_name_column_only_where_batches_need_it(model, tmp_path):
    datasets = DatasetDict({"one": scored_pairs(4), "two": scored_pairs(4)})
    trainer = SentenceTransformerTrainer(
        model=model, args=training_args(tmp_path), train_dataset=datasets, loss=CosineMSE(model)
    )
    assert not trainer.should_dataset_name_column_be_added(datasets, trainer.args, trainer.loss)
    assert "dataset_name" not in trainer.train_dataset["one"][0]
    assert trainer.should_dataset_name_column_be_added(datasets, trainer.args, {"one": trainer.loss})
    assert not trainer.should_dataset_name_column_be_added(scored_pairs(4), trainer.args, {"one": trainer.loss})
    routed = training_args(tmp_path, router_mapping={"one": {"sentence1": "query"}})
    assert trainer.should_dataset_name_column_be_added(datasets, routed, trainer.loss)

    losses = {"one": CosineMSE(model), "two": CosineMSE(model)}
    trainer = SentenceTransformerTrainer(model=model, args=training_args(tmp_path), train_dataset=datasets, loss=losses)
    assert trainer.train_dataset["two"][0]["dataset_name"] == "two"
    assert trainer.train_dataset["two"].column_names == ["sentence1", "sentence2", "score"]  # computed, not stored
    assert trainer.preprocess_dataset(trainer.train_dataset) is trainer.train_dataset  # once only


def test_add_dataset_name_transform_runs_the_previous_transform_first():
    def upper(batch):
        return {key: [value.upper() for value in values] for key, values in batch.items()}

    batch = BaseTrainer.add_dataset_name_transform({"a": ["x", "y"]}, dataset_name="nli", transform=upper)
    assert batch == {"a": ["X", "Y"], "dataset_name": ["nli", "nli"]}
    assert BaseTrainer.add_dataset_name_transform({"a": []}, dataset_name="nli") == {"a": []}
    assert BaseTrainer.add_dataset_name_transform({"a": ["x"]}) == {"a": ["x"]}


def test_reserved_column_names_are_refused(model, tmp_path):
    data = scored_pairs(4).add_column("return_loss", [True] * 4)
    with pytest.raises(ValueError, match=r"column names are invalid in your train dataset: \['return_loss'\]"):
        SentenceTransformerTrainer(model=model, args=training_args(tmp_path), train_dataset=data, loss=CosineMSE(model))


class TwoTerms(torch.nn.Module):
    """A loss of two named terms, 1 and 2 whatever the batch, made to depend on the model."""

    def __init__(self, model: SentenceTransformer) -> None:
        super().__init__()
        self.model = model

    def forward(self, features, labels):
        zero = self.model(features[0])["sentence_embedding"].sum() * 0
        return {"first": zero + 1.0, "second": zero + 2.0}


def test_loss_terms_are_logged_beside_the_loss(model, tmp_path):
    trainer = SentenceTransformerTrainer(
        model=model, args=training_args(tmp_path, logging_steps=2), train_dataset=scored_pairs(), loss=TwoTerms(model)
    )
    trainer.train()
    logs = [entry for entry in trainer.state.log_history if "loss" in entry]
    assert len(logs) == 4
    for entry in logs:
        assert entry["loss"] == pytest.approx(3.0) and entry["first"] == 1.0 and entry["second"] == 2.0
    # A NaN term counts as the running average: 4, then NaN → 4 + 4 / 1 over 2 steps.
    model.train()
    trainer.accum_loss_components["train"] = {}
    trainer.track_loss_components({"first": torch.tensor(4.0)})
    trainer.track_loss_components({"first": torch.tensor(float("nan"))})
    sums = trainer.accum_loss_components["train"]
    assert sums["first"].item() == 8.0 and sums["steps"].item() == 2
    assert trainer._loss_component_logs("train") == {"first": 4.0}


# ---------------------------------------------------------------- upstream's error texts


def test_trainer_errors_read_as_upstreams(model, tmp_path):
    data = scored_pairs(4)
    with pytest.raises(ValueError, match="Please pass an instance of `sentence_transformers.sentence_transformer"):
        SentenceTransformerTrainer(model=model, args=object(), train_dataset=data)
    with pytest.raises(RuntimeError, match="`SentenceTransformerTrainer` requires either a `model` or `model_init`"):
        SentenceTransformerTrainer(args=training_args(tmp_path), train_dataset=data)
    with pytest.raises(
        ValueError,
        match="You have set `args.eval_strategy` to .*, but you didn't provide an `eval_dataset` or an `evaluator`",
    ):
        SentenceTransformerTrainer(model=model, args=training_args(tmp_path, eval_strategy="steps"), train_dataset=data)
    with pytest.raises(ValueError, match="If the provided `loss` is a dict, then the `train_dataset` must be a"):
        SentenceTransformerTrainer(
            model=model, args=training_args(tmp_path), train_dataset=data, loss={"a": CosineMSE(model)}
        )
    with pytest.raises(ValueError, match=r"Currently, \['b', 'c'\] occur in `eval_dataset` but not in `loss`"):
        SentenceTransformerTrainer(
            model=model,
            args=training_args(tmp_path),
            eval_dataset={"a": data, "b": data, "c": data},
            loss={"a": CosineMSE(model)},
        )


def test_training_argument_errors_read_as_upstreams(tmp_path):
    with pytest.raises(ValueError, match="The `router_mapping` argument must be a dictionary mapping dataset column"):
        SentenceTransformerTrainingArguments(output_dir=str(tmp_path), router_mapping="query")
    with pytest.raises(ValueError, match="The `learning_rate_mapping` argument must be a dictionary mapping param"):
        SentenceTransformerTrainingArguments(output_dir=str(tmp_path), learning_rate_mapping="{fast}")


def test_a_streamed_dataset_trains_in_its_own_order(model, tmp_path):
    stream = scored_pairs(8).to_iterable_dataset()
    args = training_args(tmp_path, max_steps=2, batch_sampler="no_duplicates")
    trainer = SentenceTransformerTrainer(model=model, args=args, train_dataset=stream, loss=CosineMSE(model))
    batches = list(trainer.get_train_dataloader())
    assert [len(batch["label"]) for batch in batches] == [4, 4]
    assert batches[0]["label"].tolist() == [0.0, 1.0, 0.0, 1.0]
    assert batches[0]["sentence1_input_ids"].shape[0] == 4


def test_a_streamed_dataset_trains_and_the_card_records_it(model, tmp_path):
    stream = scored_pairs(8).to_iterable_dataset()
    args = training_args(tmp_path, max_steps=2)
    trainer = SentenceTransformerTrainer(model=model, args=args, train_dataset=stream, loss=CosineMSE(model))
    before = [parameter.detach().clone() for parameter in model.parameters()]
    assert trainer.train().global_step == 2
    assert any(not torch.equal(a, b) for a, b in zip(before, model.parameters(), strict=True))
    model.save(str(tmp_path / "saved"))
    assert (tmp_path / "saved" / "README.md").read_text().strip()
