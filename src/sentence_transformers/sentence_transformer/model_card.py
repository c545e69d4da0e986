"""SentenceTransformer's model card: SentenceTransformerModelCardData (its defaults, usage snippet with computed
similarities, and description) over the shared BaseModelCardData, and the README.md it becomes."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sentence_transformers.base.model_card import (
    DEFAULT_EXAMPLES,
    BaseModelCardData,
    format_duration,
    format_log,
    generate_model_card,
    get_losses,
    get_versions,
)

if TYPE_CHECKING:
    from sentence_transformers.sentence_transformer.model import SentenceTransformer

_IMPORTED_IN = os.getpid()


@contextlib.contextmanager
def one_thread_in_forked_child() -> Iterator[None]:
    """In a process forked after this module was imported (a fork-started worker, a test's child), run torch on one
    thread: the parent's OpenMP thread pool does not exist in the child, and a parallel kernel there can hang for
    ever. Saving such a child's model computes the card's example similarities; elsewhere nothing changes."""
    import torch

    if os.getpid() == _IMPORTED_IN:
        yield
        return
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(previous)


DEFAULT_TAGS = ["sentence-transformers", "sentence-similarity", "feature-extraction", "dense"]
DEFAULT_TASK = "semantic textual similarity, semantic search, paraphrase mining, classification, clustering, and more"
IR_EXAMPLES = [
    "Which planet is known as the Red Planet?",
    "Venus is often called Earth's twin because of its similar size and proximity.",
    "Mars, known for its reddish appearance, is often referred to as the Red Planet.",
    "Saturn, famous for its rings, is sometimes mistaken for the Red Planet.",
]
SIMILARITY_NAMES = {
    "cosine": "Cosine Similarity",
    "dot": "Dot Product",
    "euclidean": "Euclidean Distance",
    "manhattan": "Manhattan Distance",
}


@dataclass
class SentenceTransformerModelCardData(BaseModelCardData):
    """Fields of a SentenceTransformer's model card (README.md), set by the user and filled in by training and
    evaluation; see BaseModelCardData for the arguments.

    Example::

        >>> model = SentenceTransformer(
        ...     "microsoft/mpnet-base",
        ...     model_card_data=SentenceTransformerModelCardData(
        ...         model_id="me/mpnet-base-allnli", train_datasets=[{"name": "SNLI", "id": "stanfordnlp/snli"}],
        ...         license="apache-2.0", language="en",
        ...     ),
        ... )
    """

    task_name: str | None = DEFAULT_TASK
    tags: list[str] | None = field(default_factory=lambda: list(DEFAULT_TAGS))
    template_path: Path = field(
        default=Path(__file__).parent.parent / "base" / "model_card_template.md", init=False, repr=False
    )
    model: SentenceTransformer | None = field(default=None, init=False, repr=False)

    def try_to_set_base_model(self) -> None:
        """As the base class does, then a StaticEmbedding's own ``base_model`` (e.g. distilled from one)."""
        super().try_to_set_base_model()
        first = self.model[0] if self.model is not None and len(self.model) else None
        if self.base_model is None and getattr(first, "base_model", None) and type(first).__name__ == "StaticEmbedding":
            self.set_base_model(first.base_model)

    def run_usage_snippet(self) -> None:
        """Choose the snippet's texts (a query and documents for retrieval models) and, with
        ``generate_widget_examples``, compute their similarity matrix as the snippet prints it."""
        if self.usage_examples is None:
            self.usage_examples = list(IR_EXAMPLES if self.ir_model else DEFAULT_EXAMPLES)
        if not self.generate_widget_examples or self.model is None:
            return
        import torch

        with one_thread_in_forked_child():
            similarity = self._usage_similarity()
        with torch._tensor_str.printoptions(precision=4, sci_mode=False):
            self.similarities = "\n".join(f"# {line}" for line in str(similarity.cpu()).splitlines())

    def _usage_similarity(self) -> Any:
        if self.ir_model:
            queries = self.model.encode_query(self.usage_examples[0], convert_to_tensor=True, show_progress_bar=False)
            documents = self.model.encode_document(
                self.usage_examples[1:], convert_to_tensor=True, show_progress_bar=False
            )
            similarity = self.model.similarity(queries, documents)
        else:
            self.usage_examples = self.usage_examples[:3]
            embeddings = self.model.encode(self.usage_examples, convert_to_tensor=True, show_progress_bar=False)
            similarity = self.model.similarity(embeddings, embeddings)
        return similarity

    def get_model_specific_metadata(self) -> dict[str, Any]:
        """The base metadata plus the output dimensionality and the similarity function's readable name."""
        metadata = super().get_model_specific_metadata()
        if self.model is None:
            return metadata
        name = self.model.similarity_fn_name
        readable = SIMILARITY_NAMES.get(name, name.replace("_", " ").title()) if name else "Cosine Similarity"
        return metadata | {
            "output_dimensionality": self.model.get_embedding_dimension(),
            "similarity_fn_name": readable,
        }

    def generate_usage_snippet(self) -> str:
        """The usage code block: ``encode_query``/``encode_document`` for retrieval models, else ``encode``."""
        if not self.ir_model:
            return super().generate_usage_snippet()
        examples = self.usage_examples_display or self.usage_examples or list(IR_EXAMPLES)
        dimension, count = self._snippet_dimension(), len(examples) - 1
        lines = [
            "from sentence_transformers import SentenceTransformer",
            "",
            "# Download from the 🤗 Hub",
            f'model = SentenceTransformer("{self.model_id or "sentence_transformers_model_id"}")',
            "# Run inference",
            "queries = [",
            f"    {self._snippet_value(examples[0])},",
            "]",
            "documents = [",
            *(f"    {self._snippet_value(item)}," for item in examples[1:]),
            "]",
            "query_embeddings = model.encode_query(queries)",
            "document_embeddings = model.encode_document(documents)",
            "print(query_embeddings.shape, document_embeddings.shape)",
            f"# [1, {dimension}] [{count}, {dimension}]",
            "",
            "# Get the similarity scores for the embeddings",
            "similarities = model.similarity(query_embeddings, document_embeddings)",
        ]
        lines += ["print(similarities)", self.similarities] if self.similarities else [
            "print(similarities.shape)", f"# [1, {count}]"]  # fmt: skip
        return "```python\n" + "\n".join(lines) + "\n```"

    def card_description(self, data: dict[str, Any]) -> str:
        """What the model is: its base model, its vector space and what it is for."""
        finetuned = f", finetuned from [{self.base_model}](https://huggingface.co/{self.base_model})"
        return (
            f"A Sentence Transformers model{finetuned if self.base_model else ''}: it maps sentences and paragraphs "
            f"to a {data.get('output_dimensionality')}-dimensional dense vector space, for "
            f"{self.task_name or DEFAULT_TASK}."
        )

    def card_details(self, data: dict[str, Any]) -> list[str]:
        """The shared details plus the output dimensionality, similarity function and prompts."""
        lines = super().card_details(data)
        lines[1:1] = [
            f"- Output dimensionality: {data.get('output_dimensionality')}",
            f"- Similarity function: {self.model.similarity_fn_name if self.model is not None else None}",
        ]
        if self.model is not None and self.model.prompts:
            lines.append(f"- Prompts: {self.model.prompts}")
        return lines


def __getattr__(name: str) -> Any:
    """The training callback, from its own module on first use (it needs transformers' slow callback module)."""
    if name in ("SentenceTransformerModelCardCallback", "ModelCardCallback"):
        from sentence_transformers.sentence_transformer import model_card_callback

        return getattr(model_card_callback, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = [
    "SentenceTransformerModelCardData",
    "format_duration",
    "format_log",
    "generate_model_card",
    "get_losses",
    "get_versions",
]
