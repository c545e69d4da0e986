"""The model card data's upstream members: fields and defaults, setters, datasets, widget and usage examples,
evaluation and training logs, YAML metadata, assets, and the training callback filling them."""

from __future__ import annotations

import logging
import time
import wave
from types import SimpleNamespace

import numpy as np
import pytest
import torch
from datasets import Dataset, DatasetDict

from conftest import CosineMSE, training_args
from sentence_transformers import SentenceTransformerTrainer
from sentence_transformers.base.model_card import SBERT_CITATION, BaseModelCardData
from sentence_transformers.sentence_transformer.model_card import SentenceTransformerModelCardData


class Evaluator:
    """A stand-in evaluator: a name, a description and a primary metric, as the card reads them."""

    def __init__(self, name: str, primary: str = "spearman", description: str = "Semantic Similarity") -> None:
        self.name, self.primary_metric, self.description = name, f"{name}_{primary}", description

    def get_config_dict(self) -> dict:
        return {}


def card(**kwargs) -> SentenceTransformerModelCardData:
    return SentenceTransformerModelCardData(local_files_only=True, **kwargs)


# ------------------------------------------------------------------------------------------- fields and setters
def test_defaults_of_the_base_and_the_sentence_transformer_card():
    base, st = BaseModelCardData(local_files_only=True), card()
    assert base.task_name == "retrieval" and base.tags == ["sentence-transformers", "sentence-similarity",
                                                           "feature-extraction"]  # fmt: skip
    assert st.tags[-1] == "dense" and st.task_name.startswith("semantic textual similarity")
    assert (st.pipeline_tag, st.library_name, st.widget_step, st.first_save) == (
        "sentence-similarity", "sentence-transformers", -1, True)  # fmt: skip
    assert st.training_logs == [] and st.eval_results_dict == {} and st.evaluation_duration == 0.0
    assert "sbert" not in st.version and st.version["sentence_transformers"]
    assert st.template_path.is_file()


def test_language_becomes_a_list_and_a_model_id_needs_an_owner(caplog):
    assert card(language="en").language == ["en"]
    with caplog.at_level(logging.WARNING):
        data = card(model_id="no-owner")
    assert data.model_id is None and "should include the organization or user" in caplog.text


def test_setters_and_tags():
    data = card(tags=["a"])
    data.add_tags("b")
    data.add_tags(["a", "c"])
    data.set_language("nl")
    data.set_license("mit")
    data.set_model_id("me/model")
    data.set_best_model_step(7)
    assert data.tags == ["a", "b", "c"] and data.language == ["nl"] and data.license == "mit"
    assert data.model_id == "me/model" and data.best_model_step == 7


def test_set_losses_groups_citations_and_tags_each_loss():
    class A(torch.nn.Module):
        citation = "@a"

    class C(torch.nn.Module):
        citation = "@a"

    class B(torch.nn.Module):
        pass

    data = card()
    data.set_losses([A(), B(), C()])
    assert data.citations == {"Sentence Transformers": SBERT_CITATION, "A and C": "@a"}
    assert data.tags[-3:] == ["loss:A", "loss:B", "loss:C"]


# ------------------------------------------------------------------------------------------- datasets
def test_validate_datasets_offline_not_found_and_found(monkeypatch, caplog):
    from huggingface_hub.errors import RepositoryNotFoundError

    local = card(train_datasets=[{"id": "org/data"}])
    assert local.train_datasets == [{"id": "org/data", "name": "org/data"}] and local.datasets == []

    def lookup(dataset_id):
        if dataset_id == "org/missing":
            raise RepositoryNotFoundError.__new__(RepositoryNotFoundError)  # as the Hub's 404 answer
        if dataset_id == "org/offline":
            raise ConnectionError("no network")
        return SimpleNamespace(id=dataset_id, card_data={"language": ["en", "de"]})

    monkeypatch.setattr("huggingface_hub.dataset_info", lookup)
    with caplog.at_level(logging.WARNING):
        data = SentenceTransformerModelCardData(
            train_datasets=[{"id": "org/missing"}, {"id": "org/offline"}], eval_datasets=[{"id": "org/found"}]
        )
    assert data.train_datasets == [{"name": "org/missing"}, {"name": "org/offline", "id": "org/offline"}]
    assert "'org/missing' does not exist on the Hub" in caplog.text
    assert data.datasets == ["org/offline", "org/found"] and data.language == ["en", "de"]
    fixed = SentenceTransformerModelCardData(language="fr", eval_datasets=[{"id": "org/found"}])
    assert fixed.language == ["fr"]  # languages are inferred only when the card has none


def test_infer_datasets_names_and_splits():
    data = card()
    parts = DatasetDict(nli=Dataset.from_dict({"a": ["x"]}), _dataset_0=Dataset.from_dict({"a": ["y"]}))
    assert data.infer_datasets(parts) == [{"name": "nli", "split": "None"}, {"name": None, "split": "None"}]


def test_compute_dataset_metrics_counts_and_ranges():
    data = card()
    dataset = Dataset.from_dict({"text": ["ab", "abcd"], "score": [0.5, 1.0], "label": [1, 1], "ids": [[1], [2, 3]]})
    loss = torch.nn.MSELoss()
    info = data.compute_dataset_metrics(dataset, {"name": "d"}, loss)
    assert info["size"] == 2 and info["columns"] == ["<code>text</code>", "<code>score</code>", "<code>label</code>",
                                                     "<code>ids</code>"]  # fmt: skip
    stats = info["stats"]
    assert stats["text"]["data"] == {"min": "2 characters", "mean": "3.0 characters", "max": "4 characters"}
    assert stats["score"]["data"] == {"min": 0.5, "mean": 0.75, "max": 1.0}
    assert stats["label"] == {"dtype": "int", "modality": "", "data": {1: "100.00%"}}
    assert stats["ids"]["data"] == {"min": "1 elements", "mean": "1.50 elements", "max": "2 elements"}
    assert info["loss"] == {"fullname": "torch.nn.modules.loss.MSELoss"}
    assert "<code>abcd</code>" in info["examples_table"] and "| details" in info["stats_table"]


def test_extract_dataset_metadata_drops_mismatched_entries_and_tags_the_size(caplog):
    data = card(train_datasets=[{"name": "a"}, {"name": "b"}])
    dataset = Dataset.from_dict({"query": ["q1", "q2", "q3"], "answer": ["a1", "a2", "a3"]})
    with caplog.at_level(logging.WARNING):
        out = data.extract_dataset_metadata(dataset, data.train_datasets, torch.nn.MSELoss(), "train")
    assert "does not match the number of train datasets" in caplog.text
    assert len(out) == 1 and out[0]["size"] == 3 and "dataset_size:3" in data.tags and data.ir_model is True


# ------------------------------------------------------------------------------------------- examples
def test_set_widget_examples_takes_the_shortest_rows_and_tops_up_from_the_next():
    anchors = [f"q{'x' * i}" for i in range(10)]
    positives = [f"p{'y' * i}" for i in range(10)]
    data = card()
    data.set_widget_examples(Dataset.from_dict({"anchor": anchors, "positive": positives}))
    # 5 targets (rows 0-4, shortest first); backups from row 5 on, their 2nd text: rows 0 and 1 get 4 texts each.
    assert [entry["source_sentence"] for entry in data.widget] == ["q", "qx"]
    assert sorted(data.widget[0]["sentences"]) == sorted(["p", positives[5], positives[6]])
    assert sorted(data.widget[1]["sentences"]) == sorted(["py", positives[7], positives[8]])
    assert data.usage_examples == ["qx", "py", positives[7], positives[8]]


def test_set_label_examples_keeps_three_per_label():
    data = card()
    rows = Dataset.from_dict({"text": ["a", "b", "c", "d", "e"], "label": [0, 0, 0, 0, 1]})
    data.set_label_examples(rows)
    assert data.label_example_list == [
        {"Label": 0, "Examples": "<ul><li>'a'</li><li>'b'</li><li>'c'</li></ul>"},
        {"Label": 1, "Examples": "<ul><li>'e'</li></ul>"},
    ]


def test_save_usage_example_assets_writes_audio_and_keeps_text(tmp_path):
    data = card()
    data.usage_examples = ["text only"]
    data.save_dir = str(tmp_path)
    data.save_usage_example_assets()
    assert data.usage_examples_display is None and not (tmp_path / "assets").exists()
    audio = {"array": np.array([0.0, 0.5, -0.5, 1.0], dtype=np.float32), "sampling_rate": 8000}
    data.usage_examples = ["a sentence", audio, dict(audio)]  # the same clip twice: one file
    data.save_usage_example_assets()
    assert data.usage_examples_display == ["a sentence", "assets/audio_0.wav", "assets/audio_0.wav"]
    with wave.open(str(tmp_path / "assets" / "audio_0.wav")) as clip:
        frames = np.frombuffer(clip.readframes(4), dtype="<i2")
        assert clip.getframerate() == 8000 and clip.getnchannels() == 1
    assert frames.tolist() == [0, 16383, -16383, 32767]


# ------------------------------------------------------------------------------------------- evaluation and logs
def test_set_evaluation_metrics_fills_results_and_training_logs():
    data, evaluator = card(), Evaluator("sts")
    data.set_evaluation_metrics(evaluator, {"sts_spearman": 0.5, "sts_pearson": 0.4}, epoch=1, step=4)
    data.training_logs[-1]["Training Loss"] = 0.9
    data.set_evaluation_metrics(evaluator, {"sts_spearman": 0.6, "sts_pearson": 0.4}, epoch=1, step=4)
    data.set_evaluation_metrics(evaluator, {"sts_spearman": 0.7, "sts_pearson": 0.4}, epoch=2, step=8)
    assert data.eval_results_dict == {evaluator: {"sts_spearman": 0.7, "sts_pearson": 0.4}}
    assert data.training_logs == [
        {"Epoch": 1, "Step": 4, "sts_spearman": 0.6, "Training Loss": 0.9},
        {"Epoch": 2, "Step": 8, "sts_spearman": 0.7},
    ]
    data.set_best_model_step(4)
    table = data.format_training_logs()
    lines = table["eval_lines"].splitlines()
    assert [cell.strip() for cell in lines[0].strip("|").split("|")] == ["Epoch", "Step", "Training Loss",
                                                                         "sts_spearman"]  # fmt: skip
    assert [cell.strip() for cell in lines[2].strip("|").split("|")] == ["**1**", "**4**", "**0.9**", "**0.6**"]
    assert [cell.strip() for cell in lines[3].strip("|").split("|")] == ["2", "8", "-", "0.7"]
    assert table["explain_bold_in_eval"] is True


def test_format_eval_metrics_groups_datasets_and_builds_the_model_index():
    data = card(model_name="Tiny")
    a, b = Evaluator("sts-dev"), Evaluator("sts-test")
    data.set_evaluation_metrics(a, {"sts-dev_spearman": 0.5, "sts-dev_pearson": 0.25})
    data.set_evaluation_metrics(b, {"sts-test_spearman": 0.75, "sts-test_pearson": np.float32(0.5)})
    out = data.format_eval_metrics()
    assert out["metrics"] == ["spearman", "pearson"] and len(out["eval_metrics"]) == 1
    group = out["eval_metrics"][0]
    assert group["dataset_name"] == ["sts-dev", "sts-test"] and group["description"] == "Semantic Similarity"
    rows = [[cell.strip() for cell in line.strip("|").split("|")] for line in group["table"].splitlines()]
    assert rows[0] == ["Metric", "sts-dev", "sts-test"]
    assert rows[2] == ["**spearman**", "**0.5**", "**0.75**"] and rows[3] == ["pearson", "0.25", "0.5"]
    results = out["model-index"][0]["results"]
    assert out["model-index"][0]["name"] == "Tiny" and len(results) == 2
    assert results[1]["dataset"] == {"name": "sts test", "type": "sts-test"}
    assert results[1]["metrics"][0] == {"type": "spearman", "value": 0.75, "name": "Spearman"}


def test_ir_model_from_evaluators_by_class_name():
    class InformationRetrievalEvaluator(Evaluator):
        pass

    class SequentialEvaluator(Evaluator):
        evaluators = [InformationRetrievalEvaluator("ir")]

    data = card()
    data.set_evaluation_metrics(SequentialEvaluator("seq"), {})
    assert data.ir_model is None
    data.try_to_set_ir_model_from_evaluators()
    assert data.ir_model is True


def test_training_duration_and_codecarbon_data():
    data = card()
    assert data.get_training_duration_data() == {"training_time": None, "evaluation_time": None, "total_time": None}
    data._training_start_time, data.evaluation_duration = time.time() - 120, 30.0
    assert data.get_training_duration_data() == {
        "training_time": "1.5 minutes", "evaluation_time": "30.0 seconds", "total_time": "2.0 minutes"}  # fmt: skip
    emissions = SimpleNamespace(emissions=0.002, energy_consumed=0.1, on_cloud="N", cpu_model="cpu",
                                ram_total_size=16, gpu_model="")  # fmt: skip
    data.code_carbon_callback = SimpleNamespace(tracker=SimpleNamespace(_prepare_emissions_data=lambda: emissions))
    co2 = data.get_codecarbon_data()["co2_eq_emissions"]
    assert co2["emissions"] == pytest.approx(2.0) and co2["on_cloud"] is False and "hardware_used" not in co2


# ------------------------------------------------------------------------------------------- base model
def test_set_base_model_fails_softly_and_takes_resolved_revisions(monkeypatch):
    def offline(*args, **kwargs):
        raise ConnectionError("offline")

    monkeypatch.setattr("huggingface_hub.model_info", offline)
    data = SentenceTransformerModelCardData()
    assert data.set_base_model("org/model") is False and data.base_model is None
    revision = SimpleNamespace(resolved="abc123", initial=None)
    assert data.set_base_model("org/model", revision) is True
    assert (data.base_model, data.base_model_revision) == ("org/model", "abc123")


def test_try_to_set_base_model_tries_cache_folder_names(monkeypatch):
    tried = []
    data = SentenceTransformerModelCardData()
    monkeypatch.setattr(data, "set_base_model", lambda model_id: tried.append(model_id) or model_id.count("/") == 1
                        and model_id.startswith("sentence-transformers/"))  # fmt: skip
    config = SimpleNamespace(_name_or_path="/cache/sentence-transformers_all-mpnet-base-v2")
    data.model = type("M", (list,), {"transformers_model": SimpleNamespace(config=config)})([object()])
    data.try_to_set_base_model()
    assert tried == ["cache/sentence-transformers_all-mpnet-base-v2", "sentence-transformers/all-mpnet-base-v2"]


# ------------------------------------------------------------------------------------------- with a model
def test_register_model_detects_retrieval_prompts(tiny_model):
    data = card()
    data.register_model(tiny_model)
    assert data.model is tiny_model and data.ir_model is None
    tiny_model.prompts = {"query": "query: "}
    prompted = card()
    prompted.register_model(tiny_model)
    assert prompted.ir_model is True


def test_usage_snippet_prints_the_computed_similarities(tiny_model):
    data = card(model_id="me/tiny")
    data.register_model(tiny_model)
    data.usage_examples = ["a cat", "a dog", "the sun", "a man"]
    data.run_usage_snippet()
    embeddings = tiny_model.encode(["a cat", "a dog", "the sun"], convert_to_tensor=True)
    expected = torch.nn.functional.cosine_similarity(embeddings[:, None], embeddings[None], dim=-1)
    assert data.usage_examples == ["a cat", "a dog", "the sun"]
    assert data.similarities.splitlines()[0].startswith("# tensor([[1.0000,")
    assert f"{expected[0, 1].item():.4f}" in data.similarities
    snippet = data.generate_usage_snippet()
    assert 'model = SentenceTransformer("me/tiny")' in snippet and "    'the sun'," in snippet
    assert f"# [3, {tiny_model.get_embedding_dimension()}]" in snippet
    data.ir_model, data.usage_examples = True, ["which?", "doc one", "doc two"]
    snippet = data.generate_usage_snippet()
    assert "queries = [\n    'which?',\n]" in snippet and "model.encode_document(documents)" in snippet


def test_to_dict_and_to_yaml_describe_the_card(tiny_model):
    data = card(language="en", license="mit", tags=["extra"], train_datasets=[{"name": "D", "id": "org/d"}])
    data.register_model(tiny_model)
    data.widget = [{"source_sentence": "a", "sentences": ["b", "c", "d"]}]
    out = data.to_dict()
    assert out["model_name"] == "SentenceTransformer" and out["output_dimensionality"] == 32
    assert out["similarity_fn_name"] == "Cosine Similarity" and "usage_snippet" in out and "model" not in out
    assert data.first_save is False
    yaml_text = data.to_yaml()
    assert yaml_text.startswith("language:\n- en\nlicense: mit\nlibrary_name: sentence-transformers\ntags:\n")
    assert "- dense\n- extra\ndatasets:\n- org/d\npipeline_tag: sentence-similarity\nwidget:" in yaml_text
    assert "base_model" not in yaml_text


def test_template_path_renders_the_same_card(tiny_model):
    from huggingface_hub import ModelCard

    data = card(model_id="me/tiny")
    data.register_model(tiny_model)
    rendered = ModelCard.from_template(card_data=data, template_path=data.template_path).content
    assert "library_name: sentence-transformers" in rendered and "# SentenceTransformer" in rendered
    assert 'model = SentenceTransformer("me/tiny")' in rendered


def test_training_fills_the_card_data_and_the_readme(tiny_model, tmp_path):
    rows = {"anchor": [f"a {'cat ' * i}" for i in range(10)], "positive": [f"a {'dog ' * i}" for i in range(10)]}
    data = Dataset.from_dict(rows | {"score": [0.1 * i for i in range(10)]})
    tiny_model.model_card_data = card()
    trainer = SentenceTransformerTrainer(
        model=tiny_model, args=training_args(tmp_path, per_device_train_batch_size=5, num_train_epochs=1),
        train_dataset=data, loss=CosineMSE(tiny_model),
    )  # fmt: skip
    trainer.train()
    record = tiny_model.model_card_data
    assert {"generated_from_trainer", "loss:CosineMSE", "dataset_size:10"} <= set(record.tags)
    assert record.train_datasets[0]["size"] == 10 and record.train_datasets[0]["loss"]["fullname"].endswith("CosineMSE")
    assert [row["Step"] for row in record.training_logs] == [1, 2]
    assert all("Training Loss" in row for row in record.training_logs)
    assert record.non_default_hyperparameters["per_device_train_batch_size"] == 5
    assert "output_dir" not in record.all_hyperparameters and record._training_start_time is not None
    assert len(record.widget) == 2 and record.widget[0]["source_sentence"] == "a "
    tiny_model.save(str(tmp_path / "model"))
    readme = (tmp_path / "model" / "README.md").read_text()
    assert "- loss:CosineMSE" in readme and "### Training dataset: " in readme and "## Citation" in readme
    assert "widget:\n- source_sentence: 'a '" in readme
