"""The model card shared by model types: BaseModelCardData (what the user, the trainer and evaluators record), the
README.md it becomes, and the helpers that format what the card shows.

A model type subclasses the data class for its defaults, its usage snippet and its description; this module knows
no model type by name. The training callback lives in ``model_card_callback`` (transformers' callbacks import slowly).
"""

from __future__ import annotations

import importlib.metadata
import json
import logging
import os
import random
import re
import time
from collections import Counter, defaultdict
from collections.abc import Mapping
from copy import copy
from dataclasses import dataclass, field, fields
from pathlib import Path
from pprint import pformat
from textwrap import indent
from typing import TYPE_CHECKING, Any, Literal

from sentence_transformers import __sbert_version__
from sentence_transformers.base import model_card_assets as assets

if TYPE_CHECKING:
    from torch import nn

logger = logging.getLogger(__name__)

BASE_TAGS = ["sentence-transformers", "sentence-similarity", "feature-extraction"]
# Keys of to_dict() that form the card's YAML front matter, in the order the Hub shows them.
YAML_FIELDS = [
    "language",
    "license",
    "library_name",
    "tags",
    "datasets",
    "metrics",
    "pipeline_tag",
    "widget",
    "model-index",
    "co2_eq_emissions",
    "base_model",
]
IGNORED_FIELDS = [
    "model",
    "trainer",
    "eval_results_dict",
    "save_dir",
    "usage_examples_display",
    "_asset_cache",
    "_cached_dict",
    "_training_start_time",
    "evaluation_duration",
    "extra",
]
SBERT_CITATION = """
@inproceedings{reimers-2019-sentence-bert,
    title = "Sentence-BERT: Sentence Embeddings using Siamese BERT-Networks",
    author = "Reimers, Nils and Gurevych, Iryna",
    booktitle = "Proceedings of the 2019 Conference on Empirical Methods in Natural Language Processing",
    month = "11",
    year = "2019",
    publisher = "Association for Computational Linguistics",
    url = "https://arxiv.org/abs/1908.10084",
}
"""
DEFAULT_EXAMPLES = ["The weather is lovely today.", "It's so sunny outside!", "He drove to the stadium."]
IR_EVALUATORS = ("InformationRetrievalEvaluator", "NanoBEIREvaluator")


# ----------------------------------------------------------------------------------------------- helpers
def get_versions() -> dict[str, str]:
    """The versions of Python and of the libraries a trained model depends on, for the card's reproducibility."""
    import platform

    from sentence_transformers.base.persistence import FORMAT_VERSION

    versions = {
        "python": platform.python_version(),
        "sentence_transformers": FORMAT_VERSION,
        "sbert": __sbert_version__,
    }
    for package in ("transformers", "torch", "accelerate", "datasets", "tokenizers"):
        try:
            versions[package] = importlib.metadata.version(package)
        except importlib.metadata.PackageNotFoundError:
            continue
    return versions


def _framework_versions() -> dict[str, str]:
    """The ``version`` field: the library versions under upstream's keys (sbert's own is in the card's footer)."""
    return {key: value for key, value in get_versions().items() if key != "sbert"}


def format_duration(seconds: float) -> str:
    """A duration in words with one decimal, in the largest unit under which it stays ≥ 1: "12.5 minutes"."""
    for unit, size in (("days", 86400), ("hours", 3600), ("minutes", 60)):
        if seconds >= size:
            return f"{seconds / size:.1f} {unit}"
    return f"{seconds:.1f} seconds"


def format_log(value: float | int | str) -> float | int | str:
    """A logged value as the card shows it: floats rounded to 4 decimals, anything else unchanged."""
    return round(value, 4) if isinstance(value, float) else value


def get_losses(loss: Any) -> list[Any]:
    """Every loss taking part in training: the given one(s) and the losses they wrap (``MatryoshkaLoss.loss`` …)."""
    losses = list(loss.values()) if isinstance(loss, Mapping) else [loss]
    for found in losses:  # grows while it runs: wrapped losses are visited too
        for attribute in ("loss", "document_regularizer", "query_regularizer"):
            inner = getattr(found, attribute, None)
            if inner is not None and not isinstance(inner, (int, float)) and all(inner is not x for x in losses):
                losses.append(inner)
    return losses


def fullname(obj: Any) -> str:
    """``module.Class`` of an object (just ``Class`` for builtins), as the card names losses and evaluators."""
    cls = obj if isinstance(obj, type) else type(obj)
    return cls.__name__ if cls.__module__ == "builtins" else f"{cls.__module__}.{cls.__name__}"


def markdown_table(rows: list[dict[str, Any]]) -> str:
    """Rows of equal keys as a Markdown table, left-aligned, columns as wide as their widest cell."""
    if not rows:
        return ""
    columns = list(rows[0])
    cells = [[str(row.get(column, "")) for column in columns] for row in rows]
    widths = [max(len(column), *(len(line[i]) for line in cells)) for i, column in enumerate(columns)]
    lines = ["| " + " | ".join(column.ljust(width) for column, width in zip(columns, widths, strict=True)) + " |"]
    lines.append("|" + "|".join(":" + "-" * (width + 1) for width in widths) + "|")
    lines += [
        "| " + " | ".join(cell.ljust(width) for cell, width in zip(line, widths, strict=True)) + " |" for line in cells
    ]
    return "\n".join(lines) + "\n"


def _join_names(names: list[str]) -> str:
    """ "A", "A and B", "A, B and C"."""
    return names[0] if len(names) == 1 else ", ".join(names[:-1]) + " and " + names[-1]


def _as_list(value: str | list[str] | None) -> list[str]:
    return [value] if isinstance(value, str) else list(value or [])


def _plain(value: Any) -> Any:
    """A numpy or torch scalar as a plain Python number; anything else unchanged."""
    try:
        return value.item() if hasattr(value, "dtype") else value
    except Exception:  # noqa: BLE001 - an array with several values stays as it is
        return value


def _to_float(value: Any) -> float | None:
    """A metric as a number for the model index, also from text such as "0.5 (64 dims)"; None when none."""
    try:
        return float(value)
    except (TypeError, ValueError):
        return _to_float(value.split()[0]) if isinstance(value, str) and " " in value else None


def _is_not_found(error: Exception) -> bool:
    """Whether the Hub answered that a repository does not exist (as opposed to being out of reach)."""
    from huggingface_hub.errors import RepositoryNotFoundError

    return isinstance(error, RepositoryNotFoundError) or getattr(
        getattr(error, "response", None), "status_code", 0
    ) in (
        401,
        404,
    )


# ----------------------------------------------------------------------------------------------- the data
@dataclass
class BaseModelCardData:
    """Fields of the generated model card (README.md), set by the user and filled in by training and evaluation.

    It also answers dict-style access (``card["training"]``, ``card.get(...)``, ``card.setdefault(...)``) because
    sbert once kept this data in a plain dict, and code written for that keeps working.

    Args:
        language: Language code(s) of the model, e.g. "en" or ["en", "de"]; kept as a list.
        license: License identifier, e.g. "apache-2.0".
        model_name: Human-readable name, the card's title.
        model_id: Hub id the model will have ("user/model"), used in the usage example.
        train_datasets: Training datasets, as {"name": ..., "id": hub id} dicts (or plain names).
        eval_datasets: Evaluation datasets, in the same form.
        task_name: What the model is for, in the card's description.
        tags: Hub tags.
        local_files_only: Never contact the Hub for dataset or base model information.
        generate_widget_examples: Pick widget examples from the training data and compute their similarities.
    """

    language: str | list[str] | None = field(default_factory=list)
    license: str | None = None
    model_name: str | None = None
    model_id: str | None = None
    train_datasets: list[dict[str, Any] | str] = field(default_factory=list)
    eval_datasets: list[dict[str, Any] | str] = field(default_factory=list)
    task_name: str | None = "retrieval"
    tags: list[str] | None = field(default_factory=lambda: list(BASE_TAGS))
    local_files_only: bool = False
    generate_widget_examples: bool = True

    # Filled by the training callback, the trainer and the evaluators
    base_model: str | None = field(default=None, init=False)
    base_model_revision: str | None = field(default=None, init=False)
    non_default_hyperparameters: dict[str, Any] = field(default_factory=dict, init=False)
    all_hyperparameters: dict[str, Any] = field(default_factory=dict, init=False)
    eval_results_dict: dict[Any, dict[str, Any]] | None = field(default_factory=dict, init=False)
    training_logs: list[dict[str, Any]] = field(default_factory=list, init=False)
    widget: list[dict[str, Any]] = field(default_factory=list, init=False)
    usage_examples: list | None = field(default=None, init=False)
    usage_examples_display: list | None = field(default=None, init=False, repr=False)
    label_example_list: list[dict[str, str]] = field(default_factory=list, init=False)
    code_carbon_callback: Any = field(default=None, init=False)
    _training_start_time: float | None = field(default=None, init=False, repr=False)
    evaluation_duration: float = field(default=0.0, init=False)
    citations: dict[str, str] = field(default_factory=dict, init=False)
    best_model_step: int | None = field(default=None, init=False)
    ir_model: bool | None = field(default=None, init=False, repr=False)
    datasets: list[str] = field(default_factory=list, init=False, repr=False)
    similarities: str | None = field(default=None, init=False, repr=False)

    # Bookkeeping
    first_save: bool = field(default=True, init=False)
    widget_step: int = field(default=-1, init=False)
    save_dir: str | None = field(default=None, init=False, repr=False)
    _asset_cache: dict = field(default_factory=dict, init=False, repr=False)
    _cached_dict: dict | None = field(default=None, init=False, repr=False)

    # Fixed for the library
    pipeline_tag: str = field(default="sentence-similarity", init=False)
    library_name: str = field(default="sentence-transformers", init=False)
    version: dict[str, str] = field(default_factory=_framework_versions, init=False)
    template_path: Path = field(default=Path(__file__).parent / "model_card_template.md", init=False, repr=False)

    # Set by register_model only
    model: Any = field(default=None, init=False, repr=False)

    # sbert's own record: the training run summary, metrics by evaluator description, unknown dict keys
    training: dict[str, Any] | None = field(default=None, init=False, repr=False)
    eval_results: dict[str, dict[str, Any]] = field(default_factory=dict, init=False, repr=False)
    extra: dict[str, Any] = field(default_factory=dict, init=False, repr=False)

    def __post_init__(self) -> None:
        if isinstance(self.language, str):
            self.language = [self.language]
        self.train_datasets = self.validate_datasets(self.train_datasets)
        self.eval_datasets = self.validate_datasets(self.eval_datasets)
        if self.model_id and self.model_id.count("/") != 1:
            logger.warning(
                f"The provided {self.model_id!r} model ID should include the organization or user,"
                ' such as "tomaarsen/mpnet-base-nli-matryoshka". Setting `model_id` to None.'
            )
            self.model_id = None

    # ------------------------------------------------------------------- dict-style access (sbert's older API)
    @classmethod
    def from_value(cls, value: BaseModelCardData | Mapping[str, Any] | None) -> BaseModelCardData:
        """The card data for ``value``: itself, a new empty one for None, or one holding a dict's entries."""
        if isinstance(value, BaseModelCardData):
            return value
        if value is not None and not isinstance(value, Mapping):
            raise TypeError(f"model_card_data must be a {cls.__name__} or a dict, got {type(value)}")
        card = cls()
        for key, item in (value or {}).items():
            card[key] = item
        return card

    def _is_field(self, key: str) -> bool:
        return key != "extra" and key in {f.name for f in fields(self)}

    def __getitem__(self, key: str) -> Any:
        return getattr(self, key) if self._is_field(key) else self.extra[key]

    def __setitem__(self, key: str, value: Any) -> None:
        if self._is_field(key):
            setattr(self, key, value)
        else:
            self.extra[key] = value

    def __contains__(self, key: object) -> bool:
        return isinstance(key, str) and (self._is_field(key) or key in self.extra)

    def get(self, key: str, default: Any = None) -> Any:
        """Dict-style read: the value of ``key``, or ``default`` when it is unset."""
        value = self[key] if key in self else None
        return default if value is None else value

    def setdefault(self, key: str, default: Any = None) -> Any:
        """Dict-style: the value of ``key``, first setting it to ``default`` when it is unset."""
        if self.get(key) is None:
            self[key] = default
        return self[key]

    # ------------------------------------------------------------------- simple setters
    def set_model_id(self, model_id: str) -> None:
        """The Hub id the model is pushed to."""
        self.model_id = model_id

    def set_language(self, language: str | list[str]) -> None:
        """The model's language(s), kept as a list."""
        self.language = _as_list(language)

    def set_license(self, license: str) -> None:  # noqa: A002 - upstream's parameter name
        """The model's license identifier."""
        self.license = license

    def set_best_model_step(self, step: int) -> None:
        """The step of the checkpoint kept as best; its row is bold in the training logs."""
        self.best_model_step = step

    def add_tags(self, tags: str | list[str]) -> None:
        """Add tag(s) that are not there yet, keeping the order."""
        if self.tags is None:
            self.tags = []
        for tag in _as_list(tags):
            if tag not in self.tags:
                self.tags.append(tag)

    def register_model(self, model: Any) -> None:
        """Attach the model the card describes; a Router or query/document prompts mark it as a retrieval model."""
        self.model = model
        if self.ir_model is not None:
            return
        if any(type(module).__name__ == "Router" for module in model.children()):
            self.ir_model = True
            return
        prompts = getattr(model, "prompts", None) or {}
        if any(prompts.get(name) for name in ("query", "document", "passage", "corpus")):
            self.ir_model = True

    def set_losses(self, losses: list[nn.Module]) -> None:
        """The citations of the losses (with Sentence-BERT's) and a ``loss:<Name>`` tag for each loss."""
        citations = {"Sentence Transformers": SBERT_CITATION}
        for loss in losses:
            try:
                citations[type(loss).__name__] = loss.citation
            except Exception:  # noqa: BLE001 - a loss without a citation is simply not cited
                continue
        by_citation: dict[str, list[str]] = defaultdict(list)
        for name, citation in citations.items():
            by_citation[citation].append(name)
        self.citations = {_join_names(names): citation for citation, names in by_citation.items()}
        self.add_tags([f"loss:{name}" for name in dict.fromkeys(type(loss).__name__ for loss in losses)])

    # ------------------------------------------------------------------- datasets
    def validate_datasets(
        self, dataset_list: list[dict[str, Any] | str], infer_languages: bool | None = None
    ) -> list[dict[str, Any] | str]:
        """Check dataset ids on the Hub: an id the Hub says does not exist is dropped (with a warning); found ones
        add their languages (when the card has none, or ``infer_languages``) and go into ``datasets``. Offline, or
        with ``local_files_only``, ids are kept unchecked."""
        if infer_languages is None:
            infer_languages = not self.language
        for dataset in dataset_list:
            if isinstance(dataset, str):
                continue
            if "name" not in dataset and "id" in dataset:
                dataset["name"] = dataset["id"]
            if "id" in dataset and not self.local_files_only:
                self._check_dataset_id(dataset, infer_languages)
        return dataset_list

    def _check_dataset_id(self, dataset: dict[str, Any], infer_languages: bool) -> None:
        from huggingface_hub import dataset_info

        try:
            info = dataset_info(dataset["id"])
        except Exception as error:  # noqa: BLE001 - offline or an outage: keep the id unchecked
            if _is_not_found(error):
                logger.warning(
                    f"The dataset `id` {dataset['id']!r} does not exist on the Hub. Setting the `id` to None."
                )
                del dataset["id"]
            elif dataset["id"] not in self.datasets:
                self.datasets.append(dataset["id"])
            return
        if infer_languages and info.card_data and info.card_data.get("language") is not None:
            self.language = _as_list(self.language)
            self.language += [lang for lang in _as_list(info.card_data.get("language")) if lang not in self.language]
        if info.id not in self.datasets:
            self.datasets.append(info.id)

    def infer_datasets(self, dataset: Any, dataset_name: str | None = None) -> list[dict[str, Any]]:
        """Name, split, size, and Hub id and revision (from the download checksums) of a dataset or DatasetDict."""
        from datasets import DatasetDict

        if isinstance(dataset, DatasetDict):
            return [info for name, part in dataset.items() for info in self.infer_datasets(part, dataset_name=name)]
        if dataset_name and re.match(r"_dataset_\d+", dataset_name):  # the fit() compatibility names say nothing
            dataset_name = None
        output: dict[str, Any] = {"name": dataset_name or dataset.info.dataset_name, "split": str(dataset.split)}
        if dataset.info.splits and dataset.split in dataset.info.splits:
            output["size"] = dataset.info.splits[dataset.split].num_examples
        source = next(iter(dataset.download_checksums or {}), "")
        if source.startswith("hf://datasets/") and "@" in source:
            dataset_id, revision = source[len("hf://datasets/") :].split("@", 1)
            output["id"] = dataset_id
            if len(revision := revision.split("/")[0]) == 40:
                output["revision"] = revision
        return [output]

    def compute_dataset_metrics(
        self,
        dataset: Any,
        dataset_info: dict[str, Any],
        loss: dict[str, nn.Module] | nn.Module | None,
        router_mapping: dict[str, str] | None = None,
    ) -> dict[str, Any]:
        """Add to ``dataset_info`` the dataset's size, columns, per-column statistics (of up to 100 rows), three
        example rows and the loss with its configuration. ``router_mapping`` gives a column's task for tokenizing."""
        from datasets import Dataset

        if not dataset:
            return {}
        if isinstance(dataset, Dataset):
            dataset_info["size"] = len(dataset)
            columns = [column for column in dataset[0] if column != "dataset_name"]
        else:
            columns = list(dataset.column_names or [])
        dataset_info["columns"] = [f"<code>{column}</code>" for column in columns]
        dataset_info["stats"] = {}
        if isinstance(dataset, Dataset):
            for column in columns:
                task = (router_mapping or {}).get(column)
                dataset_info["stats"][column] = self._column_stats(dataset, column, task)
            dataset_info["stats_table"] = _stats_table(dataset_info["stats"])
            dataset_info["examples"] = dataset[:3]
            dataset_info["_example_columns"] = columns
            dataset_info["examples_table"] = self._examples_table(dataset_info)
        dataset_info["loss"] = {"fullname": fullname(loss)}
        if hasattr(loss, "get_config_dict"):
            config = {key: _describe_config_value(value) for key, value in loss.get_config_dict().items()}
            try:
                text = json.dumps(config, indent=4)
            except TypeError:
                text = pformat(config, indent=4)
            dataset_info["loss"]["config_code"] = indent(f"```json\n{text}\n```", "  ")
        return dataset_info

    def _column_stats(self, dataset: Any, column: str, task: str | None) -> dict[str, Any]:
        """Type and min/mean/max (lengths, values, sizes) or value shares of one column, over up to 100 rows."""
        values = dataset[: min(len(dataset), 100)][column]
        first = values[0]
        found = _column_modality(first, getattr(self.model, "modalities", None))
        if isinstance(first, str):
            if found in ("image", "audio", "video"):  # a path or URL: not read just for statistics
                return {"dtype": "string", "modality": found, "data": {}}
            return {"dtype": "string", "modality": "text", "data": self._text_length_stats(values, task)}
        if found == "image" and hasattr(first, "width") and hasattr(first, "height"):
            sizes = [(image.width, image.height) for image in values if hasattr(image, "width")]
            widths, heights = [size[0] for size in sizes], [size[1] for size in sizes]

            def shown(width: float, height: float) -> str:
                return f"{int(width)}x{int(height)} px"

            data = {"min": shown(min(widths), min(heights)), "max": shown(max(widths), max(heights))}
            data["mean"] = shown(sum(widths) / len(widths), sum(heights) / len(heights))
            return {"dtype": "image", "modality": "image", "data": {k: data[k] for k in ("min", "mean", "max")}}
        if found == "audio" and isinstance(first, dict) and "array" in first:
            seconds = [len(d["array"]) / d["sampling_rate"] for d in values if "array" in d and "sampling_rate" in d]
            data = {}
            if seconds:
                data = {"min": f"{min(seconds):.2f}s", "mean": f"{sum(seconds) / len(seconds):.2f}s"}
                data["max"] = f"{max(seconds):.2f}s"
            if "sampling_rate" in first:
                data["sampling_rate"] = f"{first['sampling_rate']} Hz"
            return {"dtype": "audio", "modality": "audio", "data": data}
        if isinstance(first, (bool, int)):
            counts = Counter(values)
            share = {key: f"{'~' if len(counts) > 1 else ''}{counts[key] / len(values):.2%}" for key in sorted(counts)}
            return {"dtype": type(first).__name__, "modality": "", "data": share}
        if isinstance(first, float):
            data = {"min": round(min(values), 2), "mean": round(sum(values) / len(values), 2)}
            return {"dtype": "float", "modality": "", "data": data | {"max": round(max(values), 2)}}
        if isinstance(first, list):
            sizes = [len(value) for value in values]
            if min(sizes) == max(sizes):
                return {"dtype": "list", "modality": "", "data": {"size": f"{sizes[0]} elements"}}
            data = {"min": f"{min(sizes)} elements", "mean": f"{sum(sizes) / len(sizes):.2f} elements"}
            return {"dtype": "list", "modality": "", "data": data | {"max": f"{max(sizes)} elements"}}
        return {"dtype": fullname(first), "modality": "", "data": {}}

    def _text_length_stats(self, texts: list[str], task: str | None) -> dict[str, str]:
        """Min, mean and max length in tokens (with the model's tokenizer) or, without one, in characters."""
        lengths, unit = [len(text) for text in texts], "characters"
        tokenize = getattr(self.model, "preprocess", None) or getattr(self.model, "tokenize", None)
        if tokenize is not None:
            try:
                features = tokenize(texts, task=task) if task else tokenize(texts)
                lengths, unit = features["attention_mask"].sum(dim=1).tolist(), "tokens"
            except Exception:  # noqa: BLE001 - a model that cannot tokenize these texts: count characters
                pass
        mean = round(sum(lengths) / len(lengths), 2)
        return {"min": f"{min(lengths)} {unit}", "mean": f"{mean} {unit}", "max": f"{max(lengths)} {unit}"}

    def _examples_table(self, dataset_info: dict[str, Any]) -> str:
        """The example rows as a Markdown table; media saved under ``assets/`` once ``save_dir`` is known."""
        examples, columns = dataset_info["examples"], dataset_info["_example_columns"]
        count = len(next(iter(examples.values()), []))
        rows = [{column: self._example_cell(examples[column][i]) for column in columns} for i in range(count)]
        return indent(markdown_table(rows), "  ") if rows else ""

    def _example_cell(self, value: Any) -> str:
        if self.save_dir and (assets.is_image(value) or assets.is_media_dict(value)):
            path = assets.save_asset(value, os.path.join(self.save_dir, "assets"), len(self._asset_cache),
                                     self._asset_cache, prefix="example_")  # fmt: skip
            if path:
                return f'<img src="{path}" width="200">' if assets.is_image(value) else f"<code>{path}</code>"
        if isinstance(value, list) and len(value) > 5:
            value = str(value[:5])[:-1] + ", ...]"
        text = str(value)
        text = text[:1000] + "..." if len(text) > 1000 else text
        return "<code>" + text.replace("\n", "<br>").replace("|", "\\|") + "</code>"

    def extract_dataset_metadata(
        self,
        dataset: Any,
        dataset_metadata: list[dict[str, Any]],
        loss: nn.Module | dict[str, nn.Module],
        dataset_type: Literal["train", "eval"],
        router_mapping: dict[str, str] | dict[str, dict[str, str]] | None = None,
    ) -> list[dict[str, Any]]:
        """The card's description of the trainer's train or eval dataset(s): the user's entries (dropped, with a
        warning, when their number does not match the datasets) or inferred ones, completed by
        compute_dataset_metrics. Adds a ``dataset_size:N`` tag for training and detects retrieval columns."""
        from datasets import DatasetDict

        router_mapping = router_mapping or {}
        if dataset:
            expected = len(dataset) if isinstance(dataset, (dict, DatasetDict)) else 1
            if dataset_metadata and len(dataset_metadata) != expected:
                logger.warning(
                    f"The number of `{dataset_type}_datasets` in the model card data does not match the number of "
                    f"{dataset_type} datasets in the Trainer. Removing the provided `{dataset_type}_datasets` from "
                    "the model card data."
                )
                dataset_metadata = []
            dataset_metadata = [d if isinstance(d, dict) else {"name": d} for d in dataset_metadata]
            dataset_metadata = dataset_metadata or self.infer_datasets(dataset)
            dataset_metadata = self._dataset_metrics(dataset, dataset_metadata, loss, router_mapping)
        if dataset_type == "train":
            total = sum(info.get("size", 0) for info in dataset_metadata if isinstance(info, dict))
            if total:
                self.add_tags(f"dataset_size:{total}")
            if dataset and self.ir_model is None:
                parts = dataset.values() if isinstance(dataset, dict) else [dataset]
                if {"query", "question"} & {column for part in parts for column in part.column_names}:
                    self.ir_model = True
        return self.validate_datasets(dataset_metadata)

    def _dataset_metrics(
        self, dataset: Any, metadata: list[dict[str, Any]], loss: Any, router_mapping: dict[str, Any]
    ) -> list[dict[str, Any]]:
        if not isinstance(dataset, dict):
            return [self.compute_dataset_metrics(dataset, metadata[0], loss, router_mapping=router_mapping)]
        per_dataset = isinstance(next(iter(router_mapping.values()), None), dict)
        return [
            self.compute_dataset_metrics(
                part,
                info,
                loss[name] if isinstance(loss, dict) else loss,
                router_mapping=router_mapping.get(name, {}) if per_dataset else router_mapping,
            )
            for (name, part), info in zip(dataset.items(), metadata, strict=False)
        ]

    # ------------------------------------------------------------------- examples
    def set_widget_examples(self, dataset: Any) -> None:
        """Pick the Hub widget's examples (and the usage snippet's texts) from short rows of up to five datasets:
        a source sentence and at least three others, topped up from further rows."""
        from datasets import Dataset, DatasetDict, IterableDataset, IterableDatasetDict

        if isinstance(dataset, (IterableDataset, IterableDatasetDict)):
            return  # sampling would consume the stream
        if isinstance(dataset, Dataset):
            dataset = DatasetDict(dataset=dataset)
        self.widget = []
        for name, count in Counter(random.choices(list(dataset.keys()), k=5)).items():
            if not isinstance(dataset[name], IterableDataset):
                self._add_widget_examples(_text_rows(dataset[name]), count)
        if self.model is not None and any(m not in ("text", "message") for m in getattr(self.model, "modalities", [])):
            self._set_multimodal_usage_examples(dataset)

    def _add_widget_examples(self, rows: list[dict[str, Any]], count: int) -> None:
        lengths = {}
        for index, row in enumerate(rows):
            values = [value for key, value in row.items() if key != "dataset_name"]
            if not any(value == "" or (isinstance(value, dict) and "" in value.values()) for value in values):
                lengths[index] = sum(len(value) for value in values)
        order = [index for index, _ in sorted(lengths.items(), key=lambda item: item[1])]
        targets, backups = order[:count], order[count:][::-1]
        for index in targets:
            sentences = [value for key, value in rows[index].items() if key != "dataset_name"]
            while len(sentences) < 4 and backups:
                backup = [value for key, value in rows[backups.pop()].items() if key != "dataset_name"]
                sentences.append(backup[0] if len(backup) == 1 else backup[1])  # the 2nd: the 1st may be a query
            if len(sentences) < 4:
                continue
            sentences = [next(iter(s.values())) if isinstance(s, dict) else s for s in sentences]
            if self.pipeline_tag == "sentence-similarity":
                others = random.sample(sentences[1:], k=len(sentences) - 1)
                self.widget.append({"source_sentence": sentences[0], "sentences": others})
            else:
                self.widget.append({"text": random.choice(sentences)})
            self.usage_examples = sentences[:4]

    def _set_multimodal_usage_examples(self, dataset: Any) -> None:
        """Usage examples from the first column of a non-text modality the model reads (up to three distinct)."""
        part = next(iter(dataset.values()))
        if len(part) == 0:
            return
        for column in part.column_names:
            first = part[0][column]
            if column != "dataset_name" and (assets.is_image(first) or assets.is_media_dict(first)):
                values, seen = [], set()
                for value in part[: min(100, len(part))][column]:
                    key = assets.asset_key(value)
                    if key not in seen or key is None:
                        seen.add(key)
                        values.append(value)
                self.usage_examples = values[:3]
                return

    def set_label_examples(self, dataset: Any) -> None:
        """Up to three example texts per label (``text`` and ``label`` columns), as rows of the card's label table."""
        num_classes = getattr(self, "num_classes", None)
        examples: dict[Any, list[str]] = defaultdict(list)
        finished = set()
        for sample in dataset:
            label = sample["label"]
            if label not in finished:
                examples[label].append(f"<li>{sample['text']!r}</li>")
                if len(examples[label]) >= 3:
                    finished.add(label)
            if num_classes is not None and len(finished) == num_classes:
                break
        labels = getattr(self.model, "labels", None)
        self.label_example_list = [
            {
                "Label": labels[label] if labels and isinstance(label, int) else label,
                "Examples": "<ul>" + "".join(texts) + "</ul>",
            }
            for label, texts in examples.items()
        ]

    def save_usage_example_assets(self) -> None:
        """Write non-text usage examples (images, audio, video) under ``<save_dir>/assets/`` and set
        ``usage_examples_display``: the same examples with those replaced by their relative paths."""
        if not self.save_dir or not self.usage_examples:
            return
        if all(isinstance(item, str) or _all_text(item) for item in self.usage_examples):
            return
        folder = os.path.join(self.save_dir, "assets")
        self.usage_examples_display = [self._display(item, folder) for item in self.usage_examples]

    def _display(self, item: Any, folder: str) -> Any:
        if isinstance(item, str) or _all_text(item):
            return item
        if isinstance(item, list):
            return [self._display(element, folder) for element in item]
        if isinstance(item, dict) and not assets.is_media_dict(item):
            return {key: self._display(value, folder) for key, value in item.items()}
        path = assets.save_asset(item, folder, len(set(self._asset_cache.values())), self._asset_cache)
        return path or f"<{type(item).__name__}>"

    # ------------------------------------------------------------------- evaluation and logs
    def set_evaluation_metrics(self, evaluator: Any, metrics: dict[str, Any], epoch: int = 0, step: int = 0) -> None:
        """Keep the latest metrics of ``evaluator`` for the card's evaluation section and model index, and add its
        primary metric(s) to the training logs row of ``step``.

        ``eval_results`` (sbert's older view) groups the metrics by evaluator description: evaluators of one kind
        (e.g. per-dataset retrieval evaluators) add to the group instead of replacing it.
        """
        self.eval_results_dict[evaluator] = copy(metrics)
        self.eval_results.setdefault(evaluator.description, {}).update({"epoch": epoch, "step": step, **metrics})
        primary = getattr(evaluator, "primary_metric", None)
        if not primary:
            return
        if hasattr(evaluator, "evaluators"):  # a SequentialEvaluator: its parts' primary metrics
            primary = [part.primary_metric for part in evaluator.evaluators]
        primary = _as_list(primary)
        self._log_row(epoch, step).update({key: value for key, value in metrics.items() if key in primary})

    def _log_row(self, epoch: float | None, step: int) -> dict[str, Any]:
        """The training logs row of ``step``: the last one when it has that step, else a new one."""
        if not self.training_logs or self.training_logs[-1]["Step"] != step:
            self.training_logs.append({"Epoch": epoch, "Step": step})
        return self.training_logs[-1]

    def format_eval_metrics(self) -> dict[str, Any]:
        """The evaluation results as the card shows them: ``eval_metrics`` (one Markdown table per evaluator kind,
        datasets side by side), ``metrics`` (every metric name) and ``model-index`` (the Hub's results metadata)."""
        from huggingface_hub.repocard_data import EvalResult, eval_results_to_model_index

        entries, all_metrics, results = [], {}, []
        for evaluator, metrics in self.eval_results_dict.items():
            entry, metrics = _eval_entry(evaluator, metrics)
            entries.append(entry)
            all_metrics.update(metrics)
            name = entry["dataset_name"]
            results += [
                EvalResult(
                    task_name=entry["description"],
                    task_type=entry["description"].lower().replace(" ", "-"),
                    dataset_type=name or "unknown",
                    dataset_name=name.replace("_", " ").replace("-", " ") if name else "Unknown",
                    metric_name=key.replace("_", " ").title(),
                    metric_type=key,
                    metric_value=number,
                )
                for key, value in metrics.items()
                if (number := _to_float(value)) is not None
            ]
        grouped = _group_eval_entries(entries)
        for entry in grouped:
            entry["table"] = markdown_table(entry.pop("table_lines"))
        return {
            "eval_metrics": grouped,
            "metrics": list(all_metrics),
            "model-index": eval_results_to_model_index(self.model_name, results),
        }

    def format_training_logs(self) -> dict[str, Any]:
        """The training logs as a Markdown table (Epoch, Step, losses, then metrics), the best step in bold."""
        keys = list(dict.fromkeys(key for row in self.training_logs for key in row))
        fixed = {"Epoch": 0, "Step": 1, "Training Loss": 2, "Validation Loss": 3}

        def rank(key: str) -> int:
            return fixed.get(key, 4 if key.endswith("loss") else keys.index(key) + 5)

        columns = sorted(keys, key=rank)
        rows = [
            {
                key: f"**{format_log(row[key]) if key in row else '-'}**"
                if row["Step"] == self.best_model_step
                else row.get(key, "-")
                for key in columns
            }
            for row in self.training_logs
        ]
        table = markdown_table(rows)
        return {"eval_lines": table, "explain_bold_in_eval": "**" in table}

    def try_to_set_ir_model_from_evaluators(self) -> None:
        """Mark the model as a retrieval model when it was evaluated with a retrieval evaluator."""
        for evaluator in self.eval_results_dict or {}:
            for part in getattr(evaluator, "evaluators", None) or [evaluator]:
                if any(cls.__name__ in IR_EVALUATORS for cls in type(part).__mro__):
                    self.ir_model = True
                    return

    # ------------------------------------------------------------------- base model
    def set_base_model(self, model_id: str, revision: Any = None) -> bool:
        """Record the Hub model this one starts from, once the Hub confirms it exists; False when it cannot
        (``local_files_only``, offline, or no such model). A revision already resolved (with ``resolved`` and
        ``initial`` attributes) is taken without asking the Hub."""
        if self.local_files_only:
            return False
        if resolved := getattr(revision, "resolved", None):
            self.base_model = model_id
            self.base_model_revision = resolved if revision.initial in (None, "main") else revision.initial
            return True
        from huggingface_hub import model_info

        try:
            info = model_info(model_id, revision=revision)
        except Exception:  # noqa: BLE001 - offline, unknown model, outage: the card just says less
            return False
        self.base_model = info.id
        self.base_model_revision = revision if revision not in (None, "main") else info.sha
        return True

    def try_to_set_base_model(self) -> None:
        """Find the Hub id of the underlying transformers model from its ``name_or_path`` (a Hub id, or a cache
        folder such as ``.../sentence-transformers_all-mpnet-base-v2``) and record the first one the Hub knows."""
        transformers_model = getattr(self.model, "transformers_model", None)
        if transformers_model is None:
            return
        path = Path(transformers_model.config._name_or_path)
        splits = path.name.split("_")
        candidates = ["/".join(path.parts[-2:])]
        candidates += ["_".join(splits[:i]) + "/" + "_".join(splits[i:]) for i in range(1, len(splits))]
        for candidate in candidates:
            if self.set_base_model(candidate):
                return

    # ------------------------------------------------------------------- usage snippet
    def run_usage_snippet(self) -> None:
        """Choose the usage snippet's examples (default texts when training gave none); subclasses also run them."""
        if self.usage_examples is None:
            self.usage_examples = list(DEFAULT_EXAMPLES)

    def generate_usage_snippet(self) -> str:
        """The Python code block of the card's usage section, with saved asset paths in place of media."""
        display = self.usage_examples_display or self.usage_examples
        source = self.usage_examples or display or []
        model_class = getattr(self, "_snippet_model_class", "SentenceTransformer")
        model_id = self.model_id or getattr(self, "_snippet_default_model_id", "sentence_transformers_model_id")
        items = display or list(DEFAULT_EXAMPLES)
        variable = "inputs" if any(not isinstance(item, (str, list)) for item in source) else "sentences"
        size = len(items)
        lines = [
            f"from sentence_transformers import {model_class}",
            "",
            "# Download from the 🤗 Hub",
            f'model = {model_class}("{model_id}")',
            "# Run inference",
            f"{variable} = [",
            *(f"    {self._snippet_value(item)}," for item in items),
            "]",
            f"embeddings = model.encode({variable})",
            "print(embeddings.shape)",
            f"# [{size}, {self._snippet_dimension()}]",
            "",
            "# Get the similarity scores for the embeddings",
            "similarities = model.similarity(embeddings, embeddings)",
        ]
        lines += ["print(similarities)", self.similarities] if self.similarities else [
            "print(similarities.shape)", f"# [{size}, {size}]"]  # fmt: skip
        return "```python\n" + "\n".join(lines) + "\n```"

    def _snippet_value(self, value: Any) -> str:
        """A value as Python source: asset paths become Hub URLs once the model id is known."""
        if isinstance(value, str) and value.startswith("assets/") and self.model_id:
            return repr(f"https://huggingface.co/{self.model_id}/resolve/main/{value}")
        if isinstance(value, dict):
            return "{" + ", ".join(f"{k!r}: {self._snippet_value(v)}" for k, v in value.items()) + "}"
        if isinstance(value, list):
            return "[" + ", ".join(self._snippet_value(v) for v in value) + "]"
        return repr(value)

    def _snippet_dimension(self) -> int | str:
        try:
            return self.model.get_embedding_dimension()
        except Exception:  # noqa: BLE001 - no model or no fixed dimension
            return "?"

    # ------------------------------------------------------------------- metadata
    def get_codecarbon_data(self) -> dict[str, Any]:
        """The carbon emissions measured by codecarbon during training, as the Hub's ``co2_eq_emissions``."""
        data = self.code_carbon_callback.tracker._prepare_emissions_data()
        emissions: dict[str, Any] = {
            "emissions": float(data.emissions) * 1000,  # kg → g
            "energy_consumed": float(data.energy_consumed),
            "source": "codecarbon",
            "training_type": "fine-tuning",
            "on_cloud": data.on_cloud == "Y",
            "cpu_model": data.cpu_model,
            "ram_total_size": data.ram_total_size,
        }
        if data.gpu_model:
            emissions["hardware_used"] = data.gpu_model
        return {"co2_eq_emissions": emissions}

    def get_training_duration_data(self) -> dict[str, str | None]:
        """Training, evaluation and total time in words since training began; evaluation and total only when
        evaluation took time, all None before training."""
        if self._training_start_time is None:
            return {"training_time": None, "evaluation_time": None, "total_time": None}
        total = time.time() - self._training_start_time
        evaluated = self.evaluation_duration
        return {
            "training_time": format_duration(total - evaluated),
            "evaluation_time": format_duration(evaluated) if evaluated else None,
            "total_time": format_duration(total) if evaluated else None,
        }

    def get_model_specific_metadata(self) -> dict[str, Any]:
        """What the card reads from the model itself: sequence length, architecture, modalities."""
        if self.model is None:
            return {}
        transformer = next((m for m in self.model.modules() if type(m).__name__ == "Transformer"), None)
        return {
            "model_max_length": self.model.max_seq_length,
            "model_string": str(self.model),
            "supported_modalities": [str(m).title() for m in getattr(self.model, "modalities", ["text"])],
            "query_length": getattr(transformer, "query_length", None),
            "document_length": getattr(transformer, "document_length", None),
        }

    def get_default_model_name(self) -> str:
        """The title when none was given: the model class, and the base model when known."""
        name = type(self.model).__name__
        return f"{name} based on {self.base_model}" if self.base_model else name

    def to_dict(self) -> dict[str, Any]:
        """Everything the card shows: the fields plus the usage snippet, evaluation tables, training logs,
        durations and model metadata. The first call also looks up the base model and computes the snippet's
        similarities; any part that fails is left out with a warning."""
        if self.first_save and not self.base_model and self.model is not None:
            _softly(self.try_to_set_base_model, "setting the base model")
        if not self.model_name and self.model is not None:
            self.model_name = self.get_default_model_name()
        if self.ir_model is None and self.eval_results_dict:
            _softly(self.try_to_set_ir_model_from_evaluators, "inferring ir_model from evaluators")
        _softly(self.run_usage_snippet, "computing usage snippet output")
        self._asset_cache = {}
        _softly(self.save_usage_example_assets, "saving usage example assets")
        if self.save_dir:
            self._rerender_example_tables()
        data = {f.name: getattr(self, f.name) for f in fields(self)}
        data["usage_snippet"] = _softly(self.generate_usage_snippet, "generating usage snippet") or ""
        if self.eval_results_dict:
            data.update(_softly(self.format_eval_metrics, "formatting evaluation metrics") or {})
        if self.training_logs:
            data.update(_softly(self.format_training_logs, "formatting training logs") or {})
        data["hide_eval_lines"] = len(self.training_logs) > 100
        tracker = getattr(self.code_carbon_callback, "tracker", None)
        if tracker is not None and getattr(tracker, "_start_time", None) is not None:
            data.update(self.get_codecarbon_data())
        data.update(self.get_training_duration_data())
        data.update(self.get_model_specific_metadata())
        data["language"] = _as_list(self.language)  # also when set as a string after construction
        data["tags"] = list(dict.fromkeys([*self._default_tags(), *(self.tags or [])]))
        data["datasets"] = self._dataset_ids()
        data["card_text"] = "\n".join(_card_body(self, data)) + "\n"
        self.first_save = False
        for key in IGNORED_FIELDS:
            data.pop(key, None)
        self._cached_dict = data
        return data

    def to_yaml(self, line_break: str | None = None) -> str:
        """The card's YAML front matter (language, license, tags, datasets, widget, model index …)."""
        from huggingface_hub.utils import yaml_dump

        data = self._cached_dict if self._cached_dict is not None else self.to_dict()
        self._cached_dict = None
        front = {key: data[key] for key in YAML_FIELDS if data.get(key) not in (None, [])}
        return yaml_dump(front, sort_keys=False, line_break=line_break).strip()

    def _default_tags(self) -> list[str]:
        """Tags every card of this model type carries, whatever the user's ``tags`` say."""
        return [f.default_factory() for f in fields(self) if f.name == "tags"][0]

    def _dataset_ids(self) -> list[str]:
        """Hub ids of the datasets: those checked on the Hub, then those given (plain names count as ids)."""
        given = [d if isinstance(d, str) else d.get("id") for d in [*self.train_datasets, *self.eval_datasets]]
        return [dataset_id for dataset_id in dict.fromkeys([*self.datasets, *given]) if dataset_id]

    def _rerender_example_tables(self) -> None:
        """Render the dataset example tables again now that media can be saved next to the card."""
        for info in [*self.train_datasets, *self.eval_datasets]:
            if isinstance(info, dict) and "examples" in info and "_example_columns" in info:
                info["examples_table"] = _softly(lambda info=info: self._examples_table(info), "rendering examples")

    # ------------------------------------------------------------------- the card text
    def card_description(self, data: dict[str, Any]) -> str:
        """The card's opening paragraph; model types say what their output is."""
        finetuned = f", finetuned from [{self.base_model}](https://huggingface.co/{self.base_model})"
        return f"This is a {type(self.model).__name__} model{finetuned if self.base_model else ''}."

    def card_details(self, data: dict[str, Any]) -> list[str]:
        """The "Model details" bullet lines; model types add their own (dimension, similarity …)."""
        lines = [f"- Maximum sequence length: {data.get('model_max_length')} tokens"]
        if self.base_model:
            revision = f" (revision {self.base_model_revision})" if self.base_model_revision else ""
            lines.append(f"- Base model: [{self.base_model}](https://huggingface.co/{self.base_model}){revision}")
        if self.language:
            lines.append(f"- Language: {', '.join(_as_list(self.language))}")
        if self.license:
            lines.append(f"- License: {self.license}")
        lines += _dataset_line("Training datasets", self.train_datasets)
        return lines + _dataset_line("Evaluation datasets", self.eval_datasets)


# ----------------------------------------------------------------------------------------------- card text
def generate_model_card(model: Any, model_name: str | None = None, train_datasets: list[str] | None = None) -> str:
    """The README.md: YAML front matter from ``to_yaml`` and the Markdown body (``to_dict()["card_text"]``, which
    ``template_path`` also renders through ``huggingface_hub.ModelCard.from_template``).

    ``model_name`` titles the card when the card data has no name; ``train_datasets`` adds dataset names (sbert's
    older ``save`` parameter). Relative asset paths become Hub URLs once the model id is known.
    """
    card = type(model).model_card_data_class.from_value(model.model_card_data)
    if card.model is not model:
        card.register_model(model)
    if train_datasets:
        card.train_datasets = [*card.train_datasets, *(d for d in train_datasets if d)]
    if model_name and not card.model_name:
        card.model_name = model_name
    data = card.to_dict()
    text = "---\n" + card.to_yaml() + "\n---\n\n" + data["card_text"]
    if card.model_id:
        text = text.replace('src="assets/', f'src="https://huggingface.co/{card.model_id}/resolve/main/assets/')
    return text


def _card_body(card: BaseModelCardData, data: dict[str, Any]) -> list[str]:
    body = [f"# {data.get('model_name') or 'sentence-transformers-model'}", "", card.card_description(data), ""]
    body += ["## Model details", *card.card_details(data)]
    body += ["", "### Architecture", "", "```", str(data.get("model_string", "")), "```"]
    body += ["", "## Usage", "", data.get("usage_snippet", "")]
    body += _training_section(card.training, card.eval_results)
    body += _dataset_sections(card.train_datasets, "Training")
    body += _dataset_sections(card.eval_datasets, "Evaluation")
    if data.get("eval_lines") and not (card.training or {}).get("logs"):
        body += ["", "### Training Logs", "", data["eval_lines"]]
    if data.get("training_time"):
        body += ["", f"Training time: {data['training_time']}"]
    if card.citations:
        body += ["", "## Citation"]
        body += [f"\n#### {names}\n```bibtex{citation}```" for names, citation in card.citations.items()]
    return body + ["", f"Saved with sbert {__sbert_version__}.", ""]


def _dataset_line(title: str, datasets: list[dict[str, Any] | str]) -> list[str]:
    names = [d if isinstance(d, str) else d.get("name") or d.get("id") or "?" for d in datasets]
    return [f"- {title}: {', '.join(names)}"] if names else []


def _dataset_sections(datasets: list[dict[str, Any] | str], kind: str) -> list[str]:
    """Per dataset with computed statistics: size, columns, statistics and example tables, the loss."""
    lines: list[str] = []
    for info in datasets:
        if not isinstance(info, dict) or "stats_table" not in info:
            continue
        lines += ["", f"### {kind} dataset: {info.get('name') or 'Unnamed Dataset'}", ""]
        lines += [f"- Size: {info.get('size')} {kind.lower()} samples", f"- Columns: {', '.join(info['columns'])}"]
        lines += ["- Approximate statistics based on the first samples:", info["stats_table"]]
        lines += ["- Samples:", info.get("examples_table", "")]
        if info.get("loss"):
            config = info["loss"].get("config_code")
            lines.append(f"- Loss: `{info['loss']['fullname']}`" + (" with these parameters:" if config else ""))
            lines += [config] if config else []
    return lines


def _training_section(training: dict[str, Any] | None, evaluations: dict[str, Any] | None) -> list[str]:
    """Markdown lines about the training run (sbert's record) and the latest evaluation results, if any."""
    lines: list[str] = []
    if training:
        lines += ["", "## Training", ""]
        for name, info in training.get("datasets", {}).items():
            loss = training.get("losses", {}).get(name, "?")
            lines.append(f"- Dataset `{name}`: {info['rows']} rows, columns {info['columns']}; loss `{loss}`")
        lines += [f"- {key}: {value}" for key, value in training.get("hyperparameters", {}).items()]
        lines.append(f"- Training steps: {training.get('global_step', 0)}")
        if training.get("duration"):
            lines.append(f"- Training time: {training['duration']}")
        lines += _log_table(training.get("logs") or [])
        if training.get("versions"):
            lines += ["", "### Framework versions", ""]
            lines += [f"- {package}: {version}" for package, version in training["versions"].items()]
    for description, metrics in (evaluations or {}).items():
        lines += ["", f"### Evaluation: {description}", ""]
        lines += [f"- {key}: {value:.4f}" if isinstance(value, float) else f"- {key}: {value}"
                  for key, value in metrics.items()]  # fmt: skip
    return lines


def _log_table(logs: list[dict[str, Any]]) -> list[str]:
    """sbert's training logs as a Markdown table, one row per logging step, a column per logged value."""
    if not logs:
        return []
    columns = list(dict.fromkeys(key for entry in logs for key in entry))
    lines = ["", "### Training logs", "", "| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    lines += ["| " + " | ".join(str(entry.get(key, "")) for key in columns) + " |" for entry in logs]
    return lines


def _text_rows(dataset: Any) -> list[dict[str, Any]]:
    """Up to 1000 random rows of a dataset's text columns (rows through a custom transform: their text values)."""
    size = len(dataset)
    if size == 0:
        return []
    picks = random.sample(range(size), k=min(1000, size))
    if dataset.format["type"] == "custom":
        try:
            rows = [{k: v for k, v in row.items() if isinstance(v, str)} for row in dataset.select(picks)]
        except Exception:  # noqa: BLE001 - a transform that fails on plain row access gives no examples
            return []
        return [row for row in rows if row]
    columns = [name for name, feature in dataset.features.items() if _is_text_feature(feature)]
    return list(dataset.select_columns(columns).select(picks))


def _is_text_feature(feature: Any) -> bool:
    return isinstance(feature, dict) or getattr(feature, "dtype", None) in ("string", "large_string")


def _all_text(item: Any) -> bool:
    return isinstance(item, list) and all(isinstance(element, str) for element in item)


def _stats_table(stats: dict[str, dict[str, Any]]) -> str:
    def html_list(data: dict[str, Any]) -> str:
        return "<ul><li>" + "</li><li>".join(f"{k}: {v}" for k, v in data.items()) + "</li></ul>" if data else ""

    rows = [
        {"": "type", **{column: value["dtype"] for column, value in stats.items()}},
        {"": "modality", **{column: value.get("modality", "") for column, value in stats.items()}},
        {"": "details", **{column: html_list(value["data"]) for column, value in stats.items()}},
    ]
    return indent(markdown_table(rows), "  ")


def _describe_config_value(value: Any) -> Any:
    """A loss setting as the card shows it: modules by class name and their own settings."""
    from torch import nn

    if not isinstance(value, nn.Module):
        return value
    arguments = []
    base_model = getattr(getattr(value, "model_card_data", None), "base_model", None)
    if base_model:
        arguments.append(repr(base_model))
    if getattr(value, "trust_remote_code", False):
        arguments.append("trust_remote_code=True")
    if hasattr(value, "get_config_dict"):
        arguments += [f"{key}={val!r}" for key, val in value.get_config_dict().items()]
    return f"{type(value).__name__}({', '.join(arguments)})" if arguments else type(value).__name__


def _eval_entry(evaluator: Any, metrics: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """One evaluator's table lines (primary metric in bold), description, dataset and config, and its metrics
    without the evaluator's name prefix."""
    name = getattr(evaluator, "name", None)
    primary = getattr(evaluator, "primary_metric", None)
    if name and all(key.startswith(name + "_") for key in metrics):
        metrics = {key[len(name) + 1 :]: value for key, value in metrics.items()}
        if primary and primary.startswith(name + "_"):
            primary = primary[len(name) + 1 :]
    metrics = {key: _plain(value) for key, value in metrics.items()}
    lines = [
        {"Metric": f"**{key}**", "Value": f"**{format_log(value)}**"}
        if key == primary
        else {"Metric": key, "Value": format_log(value)}
        for key, value in metrics.items()
    ]
    config_code = ""
    if hasattr(evaluator, "get_config_dict") and (config := evaluator.get_config_dict()):
        try:
            text = json.dumps(config, indent=4)
        except TypeError:
            text = str(config)
        config_code = indent(f"```json\n{text}\n```", "  ")
    entry = {"class_name": fullname(evaluator), "description": evaluator.description, "dataset_name": name}
    return entry | {"table_lines": lines, "config_code": config_code}, metrics


def _group_eval_entries(entries: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Merge entries of one evaluator class, metric set and config on different datasets into one table with a
    column per dataset."""
    grouped: list[dict[str, Any]] = []
    for entry in entries:
        values = {line["Metric"]: line["Value"] for line in entry["table_lines"]}
        for group in grouped:
            if (
                entry["class_name"] == group["class_name"]
                and set(values) == {line["Metric"] for line in group["table_lines"]}
                and entry["dataset_name"] != group["dataset_name"]
                and entry["config_code"] == group["config_code"]
            ):
                for line in group["table_lines"]:
                    if "Value" in line:
                        line[group["dataset_name"]] = line.pop("Value")
                    line[entry["dataset_name"]] = values[line["Metric"]]
                group["dataset_name"] = _as_list(group["dataset_name"]) + [entry["dataset_name"]]
                break
        else:
            grouped.append(entry)
    return grouped


def _column_modality(value: Any, supported: list[str] | None) -> str:
    """The modality of a column's first value as upstream's card names it ("" for labels and scores)."""
    from sentence_transformers.base import modality

    try:
        return modality.format_modality(modality.infer_modality(value, supported_modalities=supported))
    except ValueError:
        return ""


def _softly(step: Any, what: str) -> Any:
    """Run one step of building the card; a failure is logged as a warning and the card goes on without it."""
    try:
        return step()
    except Exception as error:  # noqa: BLE001 - the card is a courtesy: it must never break a save
        logger.warning(f"Error while {what}: {error}")
        return None


def __getattr__(name: str) -> Any:
    """``BaseModelCardCallback``, from its own module on first use (it imports transformers' callbacks)."""
    if name == "BaseModelCardCallback":
        from sentence_transformers.base.model_card_callback import BaseModelCardCallback

        return BaseModelCardCallback
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = [
    "BaseModelCardCallback",  # noqa: F822 - provided by __getattr__
    "BaseModelCardData",
    "format_duration",
    "format_log",
    "generate_model_card",
    "get_losses",
    "get_versions",
]
