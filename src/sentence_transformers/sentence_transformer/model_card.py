"""A README.md model card for saved models: what the model is, how to use it, how it was trained."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from sentence_transformers import __version__

if TYPE_CHECKING:
    from sentence_transformers.sentence_transformer.model import SentenceTransformer


def generate_model_card(
    model: SentenceTransformer, model_name: str | None = None, train_datasets: list[str] | None = None
) -> str:
    """Markdown with Hugging Face front matter, the architecture, and a usage example."""
    name = model_name or "sentence-transformers-model"
    datasets = [d for d in (train_datasets or []) if d] + list(model.model_card_data.get("train_datasets", []))
    front = ["---", "library_name: sentence-transformers", "pipeline_tag: sentence-similarity", "tags:"]
    front += ["- sentence-transformers", "- sentence-similarity", "- feature-extraction"]
    if datasets:
        front += ["datasets:"] + [f"- {dataset}" for dataset in datasets]
    language = model.model_card_data.get("language")
    if language:
        front.append(f"language: {language}")
    front.append("---")
    body = [
        f"# {name}",
        "",
        "A Sentence Transformers model: it maps sentences and paragraphs to a "
        f"{model.get_sentence_embedding_dimension()}-dimensional dense vector space, for semantic search, "
        "clustering and similarity.",
        "",
        "## Model details",
        f"- Maximum sequence length: {model.max_seq_length} tokens",
        f"- Output dimensionality: {model.get_sentence_embedding_dimension()}",
        f"- Similarity function: {model.similarity_fn_name}",
    ]
    if model.prompts:
        body.append(f"- Prompts: {model.prompts}")
    body += ["", "### Architecture", "", "```", repr(model), "```"]
    body += _training_section(model.model_card_data.get("training"), model.model_card_data.get("eval_results"))
    body += ["", "## Usage", "", "```python"]
    body += [
        "from sentence_transformers import SentenceTransformer",
        "",
        f'model = SentenceTransformer("{name}")',
        'embeddings = model.encode(["The weather is lovely today.", "It is sunny outside!"])',
        "similarities = model.similarity(embeddings, embeddings)",
        "```",
        "",
        f"Saved with sbert {__version__}.",
        "",
    ]
    return "\n".join(front + [""] + body)


def _training_section(training: dict[str, Any] | None, evaluations: dict[str, Any] | None) -> list[str]:
    """Markdown lines about the training run and the latest evaluation results, if any."""
    lines: list[str] = []
    if training:
        lines += ["", "## Training", ""]
        for name, info in training["datasets"].items():
            loss = training["losses"].get(name, "?")
            lines.append(f"- Dataset `{name}`: {info['rows']} rows, columns {info['columns']}; loss `{loss}`")
        lines += [f"- {key}: {value}" for key, value in training["hyperparameters"].items()]
        lines.append(f"- Training steps: {training['global_step']}")
    for description, metrics in (evaluations or {}).items():
        lines += ["", f"### Evaluation: {description}", ""]
        lines += [
            f"- {key}: {value:.4f}" if isinstance(value, float) else f"- {key}: {value}"
            for key, value in metrics.items()
        ]
    return lines
