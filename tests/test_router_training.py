"""Training a Router model: router_mapping (columns → routes) and learning_rate_mapping (patterns → rates)."""

from __future__ import annotations

import pytest
import torch
from datasets import Dataset, DatasetDict

from conftest import CosineMSE, training_args
from sentence_transformers import SentenceTransformer, SentenceTransformerTrainer
from sentence_transformers.models import Dense, Pooling, Router, Transformer
from sentence_transformers.sentence_transformer.data_collator import SentenceTransformerDataCollator, split_features

QUESTIONS = ["what is the capital", "a cat sleeps", "the dog runs", "two women sit"]
ANSWERS = ["paris is the capital", "a cat is sleeping", "a man plays guitar", "two women are sitting at a table"]


def qa_dataset() -> Dataset:
    return Dataset.from_dict({"question": QUESTIONS, "answer": ANSWERS, "score": [0.9, 0.8, 0.1, 0.7]})


def router_model(tiny_bert_dir) -> SentenceTransformer:
    torch.manual_seed(0)
    router = Router.for_query_document(query_modules=[Dense(32, 8)], document_modules=[Dense(32, 8)])
    return SentenceTransformer(modules=[Transformer(str(tiny_bert_dir)), Pooling(32), router], device="cpu")


def token_rows(features: dict) -> set[tuple[int, ...]]:
    """Each row's token ids without padding."""
    return {
        tuple(ids[mask.bool()].tolist())
        for ids, mask in zip(features["input_ids"], features["attention_mask"], strict=True)
    }


def test_collator_stamps_each_column_with_its_route(tiny_model):
    rows = [{"question": q, "answer": a} for q, a in zip(QUESTIONS[:2], ANSWERS[:2], strict=True)]
    collator = SentenceTransformerDataCollator(tiny_model.tokenize, router_mapping={"question": "query"})
    batch = collator(rows)
    assert batch["question_task"] == "query" and "answer_task" not in batch
    question, answer = split_features(batch)[0]
    assert question["task"] == "query" and "task" not in answer
    nested = SentenceTransformerDataCollator(
        tiny_model.tokenize, router_mapping={"qa": {"question": "query", "answer": "document"}, "other": {}}
    )
    batch = nested([{**row, "dataset_name": "qa"} for row in rows])
    assert (batch["question_task"], batch["answer_task"]) == ("query", "document")
    batch = nested([{**row, "dataset_name": "other"} for row in rows])
    assert "question_task" not in batch and "answer_task" not in batch


def test_router_mapping_sends_each_column_through_its_route(tiny_bert_dir, tmp_path):
    model = router_model(tiny_bert_dir)
    router = model[2]
    seen: dict[str, list[set]] = {"query": [], "document": []}
    for route in seen:
        router.sub_modules[route][0].register_forward_pre_hook(
            lambda module, args, route=route: seen[route].append(token_rows(args[0]))
        )
    before = {route: router.sub_modules[route][0].linear.weight.detach().clone() for route in seen}
    args = training_args(
        tmp_path,
        num_train_epochs=1,
        per_device_train_batch_size=4,
        router_mapping={"question": "query", "answer": "document"},
    )
    trainer = SentenceTransformerTrainer(model=model, args=args, train_dataset=qa_dataset(), loss=CosineMSE(model))
    trainer.train()
    assert seen["query"] == [token_rows(model.tokenize(QUESTIONS))]
    assert seen["document"] == [token_rows(model.tokenize(ANSWERS))]
    for route, weight in before.items():
        assert not torch.equal(weight, router.sub_modules[route][0].linear.weight), route


def test_router_mapping_per_dataset(tiny_bert_dir, tmp_path):
    model = router_model(tiny_bert_dir)
    calls: list[str] = []
    model[2].sub_modules["query"][0].register_forward_pre_hook(lambda module, args: calls.append("query"))
    model[2].sub_modules["document"][0].register_forward_pre_hook(lambda module, args: calls.append("document"))
    mapping = {"qa": {"question": "query", "answer": "document"}, "dd": {"question": "document", "answer": "document"}}
    args = training_args(tmp_path, num_train_epochs=1, per_device_train_batch_size=4, router_mapping=mapping)
    data = DatasetDict({"qa": qa_dataset(), "dd": qa_dataset()})
    SentenceTransformerTrainer(model=model, args=args, train_dataset=data, loss=CosineMSE(model)).train()
    # One batch per dataset: qa sends its question column to "query", dd sends everything to "document".
    assert sorted(calls) == ["document"] * 3 + ["query"]


def test_a_router_model_needs_a_router_mapping(tiny_bert_dir, tmp_path):
    model = router_model(tiny_bert_dir)
    with pytest.raises(ValueError, match="did not provide a `router_mapping`"):
        SentenceTransformerTrainer(model=model, args=training_args(tmp_path), train_dataset=qa_dataset())


def group_of(optimizer: torch.optim.Optimizer, param: torch.nn.Parameter) -> dict:
    (group,) = [group for group in optimizer.param_groups if any(p is param for p in group["params"])]
    return group


def test_learning_rate_mapping_gives_matching_parameters_their_rate(tiny_bert_dir, tmp_path):
    model = router_model(tiny_bert_dir)
    query, document = model[2].sub_modules["query"][0].linear, model[2].sub_modules["document"][0].linear
    args = training_args(
        tmp_path,
        learning_rate=1e-3,
        weight_decay=0.1,
        router_mapping={"question": "query", "answer": "document"},
        learning_rate_mapping={r"sub_modules\.(query|document)": 5e-3, r"sub_modules\.query\.": 1e-2},
    )
    trainer = SentenceTransformerTrainer(model=model, args=args, train_dataset=qa_dataset(), loss=CosineMSE(model))
    optimizer = trainer.create_optimizer()
    # The last matching pattern wins; a weight keeps its weight decay, a bias keeps none.
    assert (group_of(optimizer, query.weight)["lr"], group_of(optimizer, query.weight)["weight_decay"]) == (1e-2, 0.1)
    assert (group_of(optimizer, query.bias)["lr"], group_of(optimizer, query.bias)["weight_decay"]) == (1e-2, 0.0)
    assert group_of(optimizer, document.weight)["lr"] == 5e-3
    embeddings = model[0].auto_model.embeddings.word_embeddings.weight
    assert group_of(optimizer, embeddings)["lr"] == 1e-3
    # Every parameter is in exactly one group (moved, not copied).
    assert sum(len(group["params"]) for group in optimizer.param_groups) == len(list(model.parameters()))


def test_learning_rate_mapping_survives_the_scheduler_and_rejects_unmatched_patterns(tiny_bert_dir, tmp_path):
    model = router_model(tiny_bert_dir)
    mapping = {"question": "query", "answer": "document"}
    args = training_args(
        tmp_path,
        num_train_epochs=1,
        lr_scheduler_type="constant",
        learning_rate=1e-3,
        router_mapping=mapping,
        learning_rate_mapping={r"2\.sub_modules\.document": 2e-2},
    )
    trainer = SentenceTransformerTrainer(model=model, args=args, train_dataset=qa_dataset(), loss=CosineMSE(model))
    trainer.train()
    document = model[2].sub_modules["document"][0].linear.weight
    assert group_of(trainer.optimizer, document)["lr"] == 2e-2
    assert trainer.lr_scheduler.get_last_lr().count(2e-2) == 1
    bad = training_args(tmp_path, router_mapping=mapping, learning_rate_mapping={"no_such_parameter": 1e-2})
    trainer = SentenceTransformerTrainer(model=model, args=bad, train_dataset=qa_dataset(), loss=CosineMSE(model))
    with pytest.raises(ValueError, match="No parameters found matching the pattern 'no_such_parameter'"):
        trainer.create_optimizer()
