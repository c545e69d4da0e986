"""The model card of a MultiVectorEncoder: the shared card with late-interaction defaults and a usage snippet that
encodes queries and documents and scores them with MaxSim."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch

from sentence_transformers.base.model_card import BaseModelCardData

if TYPE_CHECKING:
    from sentence_transformers.multi_vector_encoder.model import MultiVectorEncoder

DEFAULT_TAGS = ["sentence-transformers", "multi-vector", "colbert", "late-interaction"]
DEFAULT_TASK = "semantic search with late interaction"
DEFAULT_EXAMPLES = [
    "Which planet is known as the Red Planet?",
    "Venus is often called Earth's twin because of its similar size and proximity.",
    "Mars, known for its reddish appearance, is often referred to as the Red Planet.",
    "Saturn, famous for its rings, is sometimes mistaken for the Red Planet.",
]
#: How the card writes each similarity's name.
SIMILARITY_LABELS = {"maxsim": "MaxSim", "meanmaxsim": "MeanMaxSim", "xtr": "XTR"}


@dataclass
class MultiVectorEncoderModelCardData(BaseModelCardData):
    """Fields of a MultiVectorEncoder's model card (README.md); see BaseModelCardData for the arguments."""

    _snippet_model_class = "MultiVectorEncoder"
    _snippet_default_model_id = "multi_vector_encoder_model_id"

    task_name: str | None = None
    tags: list[str] | None = field(default_factory=lambda: list(DEFAULT_TAGS))
    usage_query_shape: tuple[int, ...] | None = field(default=None, init=False, repr=False)
    usage_document_shape: tuple[int, ...] | None = field(default=None, init=False, repr=False)
    pipeline_tag: str | None = field(default=None, init=False)
    template_path: Path = field(
        default=Path(__file__).parent.parent / "base" / "model_card_template.md", init=False, repr=False
    )
    model_type: str = field(default="Multi-Vector Encoder", init=False, repr=False)
    model: MultiVectorEncoder | None = field(default=None, init=False, repr=False)

    def register_model(self, model: Any) -> None:
        """As the base class does; then the late-interaction task, and retrieval (queries against documents)."""
        super().register_model(model)
        if self.task_name is None:
            self.task_name = DEFAULT_TASK
        if self.pipeline_tag is None:
            self.pipeline_tag = "feature-extraction"
        if self.ir_model is None:
            self.ir_model = True

    def run_usage_snippet(self) -> None:
        """Pick the snippet's examples (the first is the query); with ``generate_widget_examples`` run them, to
        print their shapes and MaxSim scores in the snippet."""
        if self.usage_examples is None:
            self.usage_examples = list(DEFAULT_EXAMPLES)
        if not self.generate_widget_examples or self.model is None:
            return
        examples = self.usage_examples[:4]
        self.usage_examples = examples
        queries, documents = (examples[:1], examples[1:]) if len(examples) >= 2 else (examples, examples)
        query_embeddings = self.model.encode_query(queries, show_progress_bar=False)
        document_embeddings = self.model.encode_document(documents, show_progress_bar=False)
        self.usage_query_shape = tuple(query_embeddings[0].shape)
        self.usage_document_shape = tuple(document_embeddings[0].shape)
        scores = self.model.similarity(query_embeddings, document_embeddings)
        with torch._tensor_str.printoptions(precision=4, sci_mode=False):
            self.similarities = "\n".join(f"# {line}" for line in str(scores.cpu()).splitlines())

    def generate_usage_snippet(self) -> str:
        """encode_query / encode_document (a [tokens, dim] tensor per input) and their MaxSim scores."""
        examples = self.usage_examples_display or self.usage_examples or list(DEFAULT_EXAMPLES)
        queries, documents = (examples[:1], examples[1:]) if len(examples) >= 2 else (examples, examples)
        model_id = self.model_id or self._snippet_default_model_id
        dimension = self._snippet_dimension()
        query_shape = self.usage_query_shape or f"(num_query_tokens, {dimension})"
        document_shape = self.usage_document_shape or f"(num_document_tokens, {dimension})"
        lines = [
            f"from sentence_transformers import {self._snippet_model_class}",
            "",
            "# Download from the 🤗 Hub",
            f'model = {self._snippet_model_class}("{model_id}")',
            "# Run inference: each input becomes a sequence of per-token vectors (variable length).",
            "queries = [",
            *(f"    {self._snippet_value(item)}," for item in queries),
            "]",
            "documents = [",
            *(f"    {self._snippet_value(item)}," for item in documents),
            "]",
            "query_embeddings = model.encode_query(queries)",
            "document_embeddings = model.encode_document(documents)",
            "print(query_embeddings[0].shape, document_embeddings[0].shape)",
            f"# {query_shape} {document_shape}",
            "",
            "# Get the MaxSim similarity scores",
            "similarities = model.similarity(query_embeddings, document_embeddings)",
        ]
        if self.similarities:
            lines += ["print(similarities)", self.similarities]
        else:
            lines += ["print(similarities.shape)", f"# [{len(queries)}, {len(documents)}]"]
        return "```python\n" + "\n".join(lines) + "\n```"

    def get_model_specific_metadata(self) -> dict[str, Any]:
        """The shared metadata plus the token vector size, the similarity's name and a fixed query length."""
        metadata = super().get_model_specific_metadata()
        if self.model is None:
            return metadata
        name = self.model.similarity_fn_name
        metadata |= {
            "output_dimensionality": self.model.get_embedding_dimension(),
            "similarity_fn_name": SIMILARITY_LABELS.get(name, name.replace("_", " ").title()),
        }
        from sentence_transformers.base.modules.transformer import Transformer

        transformer = next((module for module in self.model.modules() if isinstance(module, Transformer)), None)
        expansion = getattr(transformer, "query_expansion", None) or {}
        if expansion.get("strategy") == "fixed":
            metadata["query_length"] = expansion["length"]
        return metadata

    def get_default_model_name(self) -> str:
        """The card's title without a model name: the model type."""
        return self.model_type

    def card_description(self, data: dict[str, Any]) -> str:
        """What the model is: a late-interaction encoder mapping each token to a vector."""
        finetuned = f", finetuned from [{self.base_model}](https://huggingface.co/{self.base_model})"
        dimension = data.get("output_dimensionality")
        return (
            f"A Multi-Vector Encoder model{finetuned if self.base_model else ''}: it maps each token of a text to a "
            f"{dimension}-dimensional vector, scored with late interaction (MaxSim), and can be used for "
            f"{self.task_name or DEFAULT_TASK}."
        )

    def card_details(self, data: dict[str, Any]) -> list[str]:
        """The shared details plus the token vector size, the similarity and a fixed query length."""
        lines = super().card_details(data)
        lines.insert(1, f"- Output Dimensionality: {data.get('output_dimensionality')} dimensions per token")
        lines.insert(2, f"- Similarity Function: {data.get('similarity_fn_name')}")
        if data.get("query_length") is not None:
            lines.insert(3, f"- Query Length: {data['query_length']} tokens (expanded)")
        return lines


def __getattr__(name: str) -> Any:
    """The training callback (upstream's ``MultiVectorEncoderModelCardCallback``), built on first use: it needs
    transformers' slow callback module."""
    if name != "MultiVectorEncoderModelCardCallback":
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    from sentence_transformers.base.model_card_callback import BaseModelCardCallback

    callback = type(name, (BaseModelCardCallback,), {"__module__": __name__, "__doc__": "Fills the card in training."})
    globals()[name] = callback
    return callback


__all__ = ["MultiVectorEncoderModelCardData"]
