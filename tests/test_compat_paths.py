"""Upstream import paths (2.x per-class modules, 3.x module names) and the 2.x datasets and model card data."""

from __future__ import annotations

import gzip
import importlib
import sys

import numpy as np
import pytest
from torch.utils.data import DataLoader

import sentence_transformers
from sentence_transformers import InputExample, SentenceTransformer
from sentence_transformers.base import sampler as samplers
from sentence_transformers.sentence_transformer import data_collator, readers, trainer
from sentence_transformers.sentence_transformer import datasets as st_datasets
from sentence_transformers.sentence_transformer import training_args as arguments

LEGACY_MODULES = {
    "sentence_transformers.training_args": (
        arguments,
        ["SentenceTransformerTrainingArguments", "BatchSamplers", "MultiDatasetBatchSamplers"],
    ),
    "sentence_transformers.trainer": (trainer, ["SentenceTransformerTrainer"]),
    "sentence_transformers.data_collator": (data_collator, ["SentenceTransformerDataCollator"]),
    "sentence_transformers.sampler": (
        samplers,
        [
            "DefaultBatchSampler",
            "NoDuplicatesBatchSampler",
            "GroupByLabelBatchSampler",
            "MultiDatasetDefaultBatchSampler",
            "RoundRobinBatchSampler",
            "ProportionalBatchSampler",
        ],
    ),
    "sentence_transformers.datasets": (
        st_datasets,
        ["NoDuplicatesDataLoader", "SentenceLabelDataset", "ParallelSentencesDataset", "SentencesDataset"],
    ),
    "sentence_transformers.readers": (
        readers,
        ["InputExample", "STSDataReader", "STSBenchmarkDataReader", "TripletReader", "LabelSentenceReader"],
    ),
}
PER_CLASS_PACKAGES = [
    "sentence_transformers.losses",
    "sentence_transformers.evaluation",
    "sentence_transformers.readers",
    "sentence_transformers.datasets",
]


@pytest.mark.parametrize("path", list(LEGACY_MODULES))
def test_legacy_module_paths_re_export_the_home_objects(path):
    module = importlib.import_module(path)
    home, names = LEGACY_MODULES[path]
    for name in names:
        assert getattr(module, name) is getattr(home, name), f"{path}.{name}"


def test_model_card_module_and_top_level_names():
    from sentence_transformers.model_card import SentenceTransformerModelCardData
    from sentence_transformers.sentence_transformer import model_card

    assert SentenceTransformerModelCardData is model_card.SentenceTransformerModelCardData
    assert sentence_transformers.SentenceTransformerModelCardData is SentenceTransformerModelCardData
    assert sentence_transformers.ParallelSentencesDataset is st_datasets.ParallelSentencesDataset
    assert {"SentenceTransformerModelCardData", "ParallelSentencesDataset"} <= set(sentence_transformers.__all__)


def _per_class_paths() -> list[tuple[str, str]]:
    return [(package, name) for package in PER_CLASS_PACKAGES for name in importlib.import_module(package).__all__]


@pytest.mark.parametrize(("package", "name"), _per_class_paths(), ids=lambda value: value.rsplit(".", 1)[-1])
def test_2x_per_class_module_paths(package, name):
    legacy = importlib.import_module(package)
    module = importlib.import_module(f"{package}.{name}")
    assert getattr(module, name) is getattr(legacy, name)


def test_per_class_path_imported_before_its_package(monkeypatch):
    """``from sentence_transformers.losses.X import X`` as the very first import of the legacy package."""
    for key in [
        k for k in sys.modules if k == "sentence_transformers.losses" or k.startswith("sentence_transformers.losses.")
    ]:
        monkeypatch.delitem(sys.modules, key)
    monkeypatch.setattr(sentence_transformers, "losses", sentence_transformers.losses)
    from sentence_transformers.losses.ContrastiveLoss import ContrastiveLoss, SiameseDistanceMetric
    from sentence_transformers.losses.CosineSimilarityLoss import CosineSimilarityLoss
    from sentence_transformers.sentence_transformer import losses

    assert CosineSimilarityLoss is losses.CosineSimilarityLoss and ContrastiveLoss is losses.ContrastiveLoss
    assert SiameseDistanceMetric is losses.SiameseDistanceMetric
    with pytest.raises(ModuleNotFoundError):
        importlib.import_module("sentence_transformers.losses.NoSuchLoss")


def test_2x_helper_paths():
    from sentence_transformers.evaluation.SentenceEvaluator import SentenceEvaluator
    from sentence_transformers.evaluation.SimilarityFunction import SimilarityFunction
    from sentence_transformers.readers.InputExample import InputExample as LegacyInputExample

    assert SimilarityFunction is sentence_transformers.SimilarityFunction and LegacyInputExample is InputExample
    assert SentenceEvaluator is sentence_transformers.evaluation.SentenceEvaluator


# --------------------------------------------------------------------------- NoDuplicatesDataLoader
def _texts(batch):
    return [text.strip().lower() for example in batch for text in example.texts]


def test_no_duplicates_data_loader_batches_never_repeat_a_text():
    examples = [InputExample(texts=[f"q{i % 3}", f"a{i}"]) for i in range(12)]
    examples.append(InputExample(texts=["Q0 ", "other"]))  # same text as q0, compared without case and space
    loader = sentence_transformers.datasets.NoDuplicatesDataLoader(examples, batch_size=3)
    assert loader.batch_size == 3 and len(loader) == 13 // 3 and loader.collate_fn is None
    assert sorted(map(repr, loader.train_examples)) == sorted(map(repr, examples))
    for _ in range(2):
        batches = list(loader)
        assert len(batches) == 4
        for batch in batches:
            assert len(batch) == 3 and len(set(_texts(batch))) == 6
    loader.collate_fn = len
    assert list(loader) == [3, 3, 3, 3]


def test_no_duplicates_data_loader_ends_a_batch_it_cannot_fill():
    examples = [InputExample(texts=["same", f"b{i}"]) for i in range(4)]
    loader = sentence_transformers.datasets.NoDuplicatesDataLoader(examples, batch_size=2)
    assert [len(batch) for batch in loader] == [1, 1]
    with pytest.raises(ValueError, match="batch_size"):
        sentence_transformers.datasets.NoDuplicatesDataLoader(examples, batch_size=0)


def test_no_duplicates_data_loader_keeps_an_example_whose_own_texts_match():
    examples = [InputExample(texts=["Hello", "hello"]), InputExample(texts=["a", "b"])]
    loader = sentence_transformers.datasets.NoDuplicatesDataLoader(examples, batch_size=2)
    assert sorted(e.texts[0] for e in next(iter(loader))) == ["Hello", "a"]


# --------------------------------------------------------------------------- SentenceLabelDataset
def _label_examples():
    counts = {0: 4, 1: 4, 2: 2, 3: 1}  # label 3 has too few examples for samples_per_label=2
    return [InputExample(texts=[f"l{label}-{i}"], label=label) for label, n in counts.items() for i in range(n)]


def test_sentence_label_dataset_groups_labels_without_replacement():
    dataset = sentence_transformers.datasets.SentenceLabelDataset(_label_examples(), samples_per_label=2)
    assert len(dataset) == 10
    for _ in range(3):
        stream = list(dataset)
        assert len(stream) == 10
        assert sorted(e.texts[0] for e in stream) == sorted(e.texts[0] for e in _label_examples() if e.label != 3)
        pairs = [stream[i : i + 2] for i in range(0, 10, 2)]
        assert all(a.label == b.label and a.texts != b.texts for a, b in pairs)
    batches = list(DataLoader(dataset, batch_size=4, collate_fn=list))
    assert [len(batch) for batch in batches] == [4, 4, 2]


def test_sentence_label_dataset_with_replacement():
    dataset = sentence_transformers.datasets.SentenceLabelDataset(
        _label_examples(), samples_per_label=3, with_replacement=True
    )
    stream = list(dataset)
    assert len(dataset) == len(stream) == 8  # labels 0 and 1 only
    groups = [stream[i : i + 3] for i in range(0, 6, 3)]
    assert all(len({e.label for e in group}) == 1 and len({e.texts[0] for e in group}) == 3 for group in groups)
    assert list(sentence_transformers.datasets.SentenceLabelDataset(_label_examples(), samples_per_label=5)) == []


# --------------------------------------------------------------------------- ParallelSentencesDataset
class FakeTeacher:
    """Embeds a sentence as [its length, its first character code]; counts what it was asked to embed."""

    def __init__(self):
        self.seen: list[str] = []

    def encode(self, sentences, batch_size=32, show_progress_bar=None, convert_to_numpy=True):
        self.seen += sentences
        return np.array([[len(s), ord(s[0])] for s in sentences], dtype=np.float32)


def test_parallel_sentences_dataset_labels_every_translation_with_the_source_embedding(tmp_path):
    with gzip.open(tmp_path / "en-de.tsv.gz", "wt", encoding="utf-8") as f:
        f.write("hello\thallo\nthank you\tdanke\n" + "long " * 40 + "\tlang\nyes\tja\n")
    teacher = FakeTeacher()
    dataset = sentence_transformers.ParallelSentencesDataset(None, teacher, batch_size=4)
    dataset.load_data(str(tmp_path / "en-de.tsv.gz"), weight=1, max_sentences=2)
    dataset.add_dataset([["cat", "Katze", "chat"], ["cat", "Mieze"], ["x" * 200, "y"]], weight=1)
    assert len(dataset) == 4 + 4  # (hello, hallo), (thank you, danke); cat: cat, Katze, chat, Mieze
    examples = list(dataset)
    assert len(examples) == 8 and all(len(e.texts) == 1 for e in examples)
    source = {"hello": "hello", "hallo": "hello", "thank you": "thank you", "danke": "thank you"}
    source |= dict.fromkeys(["cat", "Katze", "chat", "Mieze"], "cat")
    for example in examples:
        expected = source[example.texts[0]]
        np.testing.assert_array_equal(example.label, [len(expected), ord(expected[0])])
    # Two rounds of one row per dataset (6 examples each) give the 8; "cat" comes from the cache the second time.
    assert teacher.seen == ["hello", "cat", "thank you"]


def test_parallel_sentences_dataset_without_cache_and_in_a_data_loader():
    teacher = FakeTeacher()
    dataset = sentence_transformers.ParallelSentencesDataset(None, teacher, use_embedding_cache=False)
    dataset.add_dataset([["a", "b"]], weight=3)
    assert len(dataset) == 2
    batches = list(DataLoader(dataset, batch_size=2, collate_fn=list))
    # One round holds the row three times (a, b, a, b, a, b, shuffled); an epoch takes len(dataset) of them.
    assert len(batches) == 1 and len(batches[0]) == 2 and {e.texts[0] for e in batches[0]} <= {"a", "b"}
    assert teacher.seen == ["a", "a", "a"]  # three rows per round (weight), each embedded again


# --------------------------------------------------------------------------- SentenceTransformerModelCardData
def test_model_card_data_fields_and_dict_access():
    from sentence_transformers import SentenceTransformerModelCardData

    card = SentenceTransformerModelCardData(
        language="en",
        license="apache-2.0",
        model_name="Tiny",
        model_id="me/tiny",
        train_datasets=[{"name": "STSB", "id": "sentence-transformers/stsb"}],
        eval_datasets=[{"name": "SICK"}],
        task_name="semantic search",
        tags=["tiny"],
        local_files_only=True,
        generate_widget_examples=False,
    )
    assert card["language"] == ["en"] and card.get("training") is None and card.get("missing", 7) == 7
    card["training"] = {"global_step": 3}
    card["custom"] = 1
    assert card.training == {"global_step": 3} and card["custom"] == 1 and "custom" in card
    assert card.setdefault("eval_results", {}) is card.eval_results
    with pytest.raises(KeyError):
        card["missing"]
    from_dict = SentenceTransformerModelCardData.from_value({"language": "de", "extra_key": "x"})
    assert from_dict.language == "de" and from_dict["extra_key"] == "x"
    assert SentenceTransformerModelCardData.from_value(card) is card
    with pytest.raises(TypeError, match="model_card_data"):
        SentenceTransformerModelCardData.from_value(["en"])


def test_model_card_data_reaches_the_readme(tiny_bert_dir, tmp_path):
    from sentence_transformers import SentenceTransformerModelCardData
    from sentence_transformers.evaluation import SentenceEvaluator

    card = SentenceTransformerModelCardData(
        language=["en", "de"],
        license="apache-2.0",
        model_name="Tiny STS model",
        model_id="me/tiny-sts",
        train_datasets=[{"name": "STSB", "id": "sentence-transformers/stsb"}],
        eval_datasets=[{"name": "SICK"}],
        task_name="testing model cards",
        tags=["tiny"],
    )
    model = SentenceTransformer(str(tiny_bert_dir), device="cpu", model_card_data=card)
    assert model.model_card_data is card
    SentenceEvaluator().store_metrics_in_model_card_data(model, {"accuracy": 0.5}, epoch=1, step=2)
    assert card.eval_results == {"Base": {"epoch": 1, "step": 2, "accuracy": 0.5}}
    model.save(str(tmp_path / "model"))
    readme = (tmp_path / "model" / "README.md").read_text()
    front = readme.split("---")[1]
    for line in ("language:\n- en\n- de", "license: apache-2.0", "- tiny", "- sentence-transformers"):
        assert line in front
    assert "datasets:\n- sentence-transformers/stsb" in front
    assert "# Tiny STS model" in readme and 'SentenceTransformer("me/tiny-sts")' in readme
    assert "for testing model cards" in readme and "SICK" in readme and "- accuracy: 0.5000" in readme


def test_plain_dict_model_card_data_still_works(tiny_bert_dir, tmp_path):
    model = SentenceTransformer(str(tiny_bert_dir), device="cpu", model_card_data={"language": "fr"})
    model.model_card_data["training"] = None
    model.save(str(tmp_path / "model"), train_datasets=["my/data"])
    front = (tmp_path / "model" / "README.md").read_text().split("---")[1]
    assert "language:\n- fr" in front and "datasets:\n- my/data" in front
