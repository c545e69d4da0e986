"""The model card of a CrossEncoder: the shared card with reranker defaults and a predict/rank usage snippet."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sentence_transformers.base.model_card import BaseModelCardData

if TYPE_CHECKING:
    from sentence_transformers.cross_encoder.model import CrossEncoder

DEFAULT_TAGS = ["sentence-transformers", "cross-encoder", "reranker"]
DEFAULT_TASK = "text reranking and semantic search"
EXAMPLE_QUERY = "Which planet is known as the Red Planet?"
EXAMPLE_DOCUMENTS = [
    "Mars, known for its reddish appearance, is often referred to as the Red Planet.",
    "Venus is often called Earth's twin because of its similar size and proximity.",
    "Jupiter, the largest planet in our solar system, has a prominent red spot.",
]


@dataclass
class CrossEncoderModelCardData(BaseModelCardData):
    """Fields of a CrossEncoder's model card (README.md); see BaseModelCardData for the arguments."""

    task_name: str | None = None
    tags: list[str] | None = field(default_factory=lambda: list(DEFAULT_TAGS))
    ir_model: bool | None = field(default=True, init=False, repr=False)
    pipeline_tag: str | None = field(default=None, init=False)
    template_path: Path = field(
        default=Path(__file__).parent.parent / "base" / "model_card_template.md", init=False, repr=False
    )
    model: CrossEncoder | None = field(default=None, init=False, repr=False)

    def register_model(self, model: Any) -> None:
        """As the base class does; then the task and pipeline tag follow the head: one label ranks, several
        classify pairs."""
        super().register_model(model)
        ranks = getattr(model, "num_labels", 1) == 1
        if self.task_name is None:
            self.task_name = DEFAULT_TASK if ranks else "text pair classification"
        if self.pipeline_tag is None:
            self.pipeline_tag = "text-ranking" if ranks else "text-classification"

    def run_usage_snippet(self) -> None:
        """The snippet ranks a query's documents; with ``generate_widget_examples`` its scores are computed."""
        if self.usage_examples is None:
            self.usage_examples = [EXAMPLE_QUERY, *EXAMPLE_DOCUMENTS]

    def generate_usage_snippet(self) -> str:
        """predict() on pairs and rank() of a query's documents."""
        query, *documents = self.usage_examples or [EXAMPLE_QUERY, *EXAMPLE_DOCUMENTS]
        model_id = self.model_id or "cross_encoder_model_id"
        labels = self.model.num_labels if self.model is not None else 1
        shape = f"# ({len(documents)},)" if labels == 1 else f"# ({len(documents)}, {labels})"
        lines = [
            "from sentence_transformers import CrossEncoder",
            "",
            "# Download from the 🤗 Hub",
            f'model = CrossEncoder("{model_id}")',
            "# Get scores for pairs of texts",
            "pairs = [",
            *(f"    [{query!r}, {document!r}]," for document in documents),
            "]",
            "scores = model.predict(pairs)",
            "print(scores.shape)",
            shape,
        ]
        if labels == 1:
            lines += [
                "",
                "# Or rank different texts based on similarity to a single text",
                "ranks = model.rank(",
                f"    {query!r},",
                "    [",
                *(f"        {document!r}," for document in documents),
                "    ]",
                ")",
                "# [{'corpus_id': ..., 'score': ...}, {'corpus_id': ..., 'score': ...}, ...]",
            ]
        return "```python\n" + "\n".join(lines) + "\n```"

    def get_model_specific_metadata(self) -> dict[str, Any]:
        """The shared metadata plus the number of labels and the activation."""
        metadata = super().get_model_specific_metadata()
        if self.model is None:
            return metadata
        return metadata | {
            "num_labels": self.model.num_labels,
            "activation_fn": type(self.model.activation_fn).__name__,
        }

    def card_description(self, data: dict[str, Any]) -> str:
        """What the model is: a reranker scoring pairs of texts."""
        finetuned = f", finetuned from [{self.base_model}](https://huggingface.co/{self.base_model})"
        return (
            f"A Cross Encoder model{finetuned if self.base_model else ''}: it computes scores for pairs of texts, "
            f"for {self.task_name or DEFAULT_TASK}."
        )

    def card_details(self, data: dict[str, Any]) -> list[str]:
        """The shared details plus the number of output labels."""
        lines = super().card_details(data)
        lines.insert(1, f"- Number of output labels: {data.get('num_labels')} label(s)")
        return lines


def __getattr__(name: str) -> Any:
    """The training callback, from its own module on first use (it needs transformers' slow callback module)."""
    if name == "CrossEncoderModelCardCallback":
        from sentence_transformers.cross_encoder import model_card_callback

        return model_card_callback.CrossEncoderModelCardCallback
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = ["CrossEncoderModelCardData"]
