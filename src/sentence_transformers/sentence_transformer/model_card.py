"""The model card: SentenceTransformerModelCardData (what the user and training record) and the README.md it becomes."""

from __future__ import annotations

import importlib.metadata
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from typing import TYPE_CHECKING, Any

from sentence_transformers import __sbert_version__

if TYPE_CHECKING:
    from sentence_transformers.sentence_transformer.model import SentenceTransformer

DEFAULT_TAGS = ["sentence-transformers", "sentence-similarity", "feature-extraction", "dense"]
DEFAULT_TASK = "semantic textual similarity, semantic search, paraphrase mining, classification, clustering, and more"


@dataclass
class SentenceTransformerModelCardData:
    """Fields of the generated model card (README.md), set by the user and filled in by training and evaluation.

    It also answers dict-style access (``card["training"]``, ``card.get(...)``, ``card.setdefault(...)``) because
    sbert once kept this data in a plain dict, and code written for that keeps working.

    Args:
        language: Language code(s) of the training data, e.g. "en" or ["en", "de"].
        license: License identifier, e.g. "apache-2.0".
        model_name: Human-readable name, the card's title.
        model_id: Hub id the model will have, e.g. "user/model", used in the usage example.
        train_datasets: Training datasets, as {"name": ..., "id": hub id} dicts or plain names.
        eval_datasets: Evaluation datasets, in the same form.
        task_name: What the model is for, in the card's description.
        tags: Hub tags, added to the sentence-transformers ones.
        local_files_only: Kept for upstream compatibility; building sbert's card never contacts the hub.
        generate_widget_examples: Kept for upstream compatibility; sbert's card has no widget.
    """

    language: str | list[str] | None = field(default_factory=list)
    license: str | None = None
    model_name: str | None = None
    model_id: str | None = None
    train_datasets: list[dict[str, str] | str] = field(default_factory=list)
    eval_datasets: list[dict[str, str] | str] = field(default_factory=list)
    task_name: str | None = DEFAULT_TASK
    tags: list[str] | None = field(default_factory=lambda: list(DEFAULT_TAGS))
    local_files_only: bool = False
    generate_widget_examples: bool = True
    base_model: str | None = field(default=None, init=False)
    base_model_revision: str | None = field(default=None, init=False)
    training: dict[str, Any] | None = field(default=None, init=False, repr=False)
    eval_results: dict[str, dict[str, Any]] = field(default_factory=dict, init=False, repr=False)
    extra: dict[str, Any] = field(default_factory=dict, init=False, repr=False)

    @classmethod
    def from_value(
        cls, value: SentenceTransformerModelCardData | Mapping[str, Any] | None
    ) -> SentenceTransformerModelCardData:
        """The card data for ``value``: itself, a new empty one for None, or one holding a dict's entries."""
        if isinstance(value, cls):
            return value
        if value is not None and not isinstance(value, Mapping):
            raise TypeError(f"model_card_data must be a SentenceTransformerModelCardData or a dict, got {type(value)}")
        card = cls()
        for key, item in (value or {}).items():
            card[key] = item
        return card

    def set_base_model(self, model_id: str, revision: str | None = None) -> bool:
        """Record the hub model this one starts from, once the hub confirms it exists; False when it cannot
        (``local_files_only``, offline, or no such model). The card then says what the model was finetuned from."""
        if self.local_files_only:
            return False
        from huggingface_hub import model_info

        try:
            info = model_info(model_id, revision=revision)
        except Exception:  # noqa: BLE001 - offline, unknown model, outage: the card just says less
            return False
        self.base_model = info.id
        self.base_model_revision = revision if revision not in (None, "main") else info.sha
        return True

    def set_evaluation_metrics(self, evaluator: Any, metrics: dict[str, Any], epoch: int = 0, step: int = 0) -> None:
        """Keep the latest metrics of ``evaluator``, for the card's evaluation section.

        Entries are grouped by the evaluator's description; evaluators of one kind (their metric names carry each
        one's ``name``, e.g. per-dataset retrieval evaluators) add to the group instead of replacing it.
        """
        self.eval_results.setdefault(evaluator.description, {}).update({"epoch": epoch, "step": step, **metrics})

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


def generate_model_card(
    model: SentenceTransformer, model_name: str | None = None, train_datasets: list[str] | None = None
) -> str:
    """Markdown with Hugging Face front matter, the architecture, training and evaluation, and a usage example."""
    card = SentenceTransformerModelCardData.from_value(model.model_card_data)
    name = model_name or card.model_name or card.model_id or "sentence-transformers-model"
    datasets = [d for d in (train_datasets or []) if d] + list(card.train_datasets)
    body = [
        f"# {name}",
        "",
        "A Sentence Transformers model"
        + (f", finetuned from [{card.base_model}](https://huggingface.co/{card.base_model})" if card.base_model else "")
        + ": it maps sentences and paragraphs to a "
        f"{model.get_sentence_embedding_dimension()}-dimensional dense vector space, for "
        f"{card.task_name or DEFAULT_TASK}.",
        "",
        "## Model details",
        f"- Maximum sequence length: {model.max_seq_length} tokens",
        f"- Output dimensionality: {model.get_sentence_embedding_dimension()}",
        f"- Similarity function: {model.similarity_fn_name}",
    ]
    if card.base_model:
        revision = f" (revision {card.base_model_revision})" if card.base_model_revision else ""
        body.append(f"- Base model: [{card.base_model}](https://huggingface.co/{card.base_model}){revision}")
    if card.language:
        body.append(f"- Language: {', '.join(_as_list(card.language))}")
    if card.license:
        body.append(f"- License: {card.license}")
    body += _dataset_lines("Training datasets", datasets) + _dataset_lines("Evaluation datasets", card.eval_datasets)
    if model.prompts:
        body.append(f"- Prompts: {model.prompts}")
    body += ["", "### Architecture", "", "```", repr(model), "```"]
    body += _training_section(card.training, card.eval_results)
    body += ["", "## Usage", "", "```python"]
    body += [
        "from sentence_transformers import SentenceTransformer",
        "",
        f'model = SentenceTransformer("{card.model_id or name}")',
        'embeddings = model.encode(["The weather is lovely today.", "It is sunny outside!"])',
        "similarities = model.similarity(embeddings, embeddings)",
        "```",
        "",
        f"Saved with sbert {__sbert_version__}.",
        "",
    ]
    return "\n".join(_front_matter(card, datasets) + [""] + body)


def get_losses(loss: Any) -> list[Any]:
    """Every loss taking part in training: the given one(s) and the losses they wrap (``MatryoshkaLoss.loss`` …)."""
    losses = list(loss.values()) if isinstance(loss, Mapping) else [loss]
    for found in losses:  # grows while it runs: wrapped losses are visited too
        for attribute in ("loss", "document_regularizer", "query_regularizer"):
            inner = getattr(found, attribute, None)
            if inner is not None and not isinstance(inner, (int, float)) and all(inner is not x for x in losses):
                losses.append(inner)
    return losses


def get_versions() -> dict[str, str]:
    """The versions of Python and of the libraries a trained model depends on, for the card's reproducibility."""
    import platform

    from sentence_transformers.base.persistence import FORMAT_VERSION

    versions = {"python": platform.python_version(), "sentence_transformers": FORMAT_VERSION, "sbert": __sbert_version__}
    for package in ("transformers", "torch", "accelerate", "datasets", "tokenizers"):
        try:
            versions[package] = importlib.metadata.version(package)
        except importlib.metadata.PackageNotFoundError:
            continue
    return versions


def format_duration(seconds: float) -> str:
    """A duration in words with one decimal, in the largest unit under which it stays ≥ 1: "12.5 minutes"."""
    for unit, size in (("days", 86400), ("hours", 3600), ("minutes", 60)):
        if seconds >= size:
            return f"{seconds / size:.1f} {unit}"
    return f"{seconds:.1f} seconds"


def format_log(value: float | int | str) -> float | int | str:
    """A logged value as the card shows it: floats rounded to 4 decimals, anything else unchanged."""
    return round(value, 4) if isinstance(value, float) else value


def _as_list(value: str | list[str] | None) -> list[str]:
    return [value] if isinstance(value, str) else list(value or [])


def _dataset_id(dataset: dict[str, str] | str) -> str | None:
    return dataset if isinstance(dataset, str) else dataset.get("id")


def _dataset_lines(title: str, datasets: list[dict[str, str] | str]) -> list[str]:
    names = [d if isinstance(d, str) else d.get("name") or d.get("id") or "?" for d in datasets]
    return [f"- {title}: {', '.join(names)}"] if names else []


def _front_matter(card: SentenceTransformerModelCardData, datasets: list[dict[str, str] | str]) -> list[str]:
    """The YAML header the Hub reads: language, license, library, tags, datasets."""
    lines = ["---"]
    languages = _as_list(card.language)
    if languages:
        lines += ["language:"] + [f"- {language}" for language in languages]
    if card.license:
        lines.append(f"license: {card.license}")
    if card.base_model:
        lines.append(f"base_model: {card.base_model}")
    lines += ["library_name: sentence-transformers", "pipeline_tag: sentence-similarity", "tags:"]
    lines += [f"- {tag}" for tag in dict.fromkeys(DEFAULT_TAGS + list(card.tags or []))]
    ids = [i for i in dict.fromkeys(_dataset_id(d) for d in datasets) if i]
    if ids:
        lines += ["datasets:"] + [f"- {dataset_id}" for dataset_id in ids]
    lines.append("---")
    return lines


def _training_section(training: dict[str, Any] | None, evaluations: dict[str, Any] | None) -> list[str]:
    """Markdown lines about the training run and the latest evaluation results, if any."""
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
        lines += [
            f"- {key}: {value:.4f}" if isinstance(value, float) else f"- {key}: {value}"
            for key, value in metrics.items()
        ]
    return lines


def _log_table(logs: list[dict[str, Any]]) -> list[str]:
    """The training logs as a Markdown table, one row per logging step, a column per logged value."""
    if not logs:
        return []
    columns = list(dict.fromkeys(key for entry in logs for key in entry))
    lines = ["", "### Training logs", "", "| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    lines += ["| " + " | ".join(str(entry.get(key, "")) for key in columns) + " |" for entry in logs]
    return lines


def __getattr__(name: str) -> Any:
    """The training callback, from its own module on first use (it needs transformers' slow callback module)."""
    if name in ("SentenceTransformerModelCardCallback", "ModelCardCallback"):
        from sentence_transformers.sentence_transformer import model_card_callback

        return getattr(model_card_callback, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
