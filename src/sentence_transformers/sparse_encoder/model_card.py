"""The model card of a SparseEncoder: the shared card with sparse-retrieval defaults and an encode usage snippet."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sentence_transformers.base.model_card import BaseModelCardData

if TYPE_CHECKING:
    from sentence_transformers.sparse_encoder.model import SparseEncoder

DEFAULT_TAGS = ["sentence-transformers", "sparse-encoder", "sparse"]
DEFAULT_TASK = "semantic search and sparse retrieval"
EXAMPLE_QUERY = "Which planet is known as the Red Planet?"
EXAMPLE_DOCUMENTS = [
    "Mars, known for its reddish appearance, is often referred to as the Red Planet.",
    "Venus is often called Earth's twin because of its similar size and proximity.",
    "Jupiter, the largest planet in our solar system, has a prominent red spot.",
]


@dataclass
class SparseEncoderModelCardData(BaseModelCardData):
    """Fields of a SparseEncoder's model card (README.md); see BaseModelCardData for the arguments."""

    task_name: str | None = None
    tags: list[str] | None = field(default_factory=lambda: list(DEFAULT_TAGS))
    ir_model: bool | None = field(default=None, init=False, repr=False)
    pipeline_tag: str | None = field(default=None, init=False)
    template_path: Path = field(
        default=Path(__file__).parent.parent / "base" / "model_card_template.md", init=False, repr=False
    )
    model_type: str = field(default="Sparse Encoder", init=False, repr=False)
    model: SparseEncoder | None = field(default=None, init=False, repr=False)

    def register_model(self, model: Any) -> None:
        """As the base class does; then the default task, and the architecture in ``model_type`` and the tags
        (e.g. "Asymmetric Inference-free SPLADE Sparse Encoder")."""
        super().register_model(model)
        if self.task_name is None:
            self.task_name = DEFAULT_TASK
        if self.pipeline_tag is None:
            self.pipeline_tag = "feature-extraction"
        names = {type(module).__name__ for module in model.modules()}
        kinds = [
            label
            for label, module_name in (
                ("Asymmetric", "Router"),
                ("Inference-free", "SparseStaticEmbedding"),
                ("SPLADE", "SpladePooling"),
                ("CSR", "SparseAutoEncoder"),
            )
            if module_name in names
        ]
        self.add_tags([kind.lower() for kind in kinds])
        self.model_type = " ".join([*kinds, "Sparse Encoder"])

    def run_usage_snippet(self) -> None:
        """The snippet encodes a query and documents; with ``generate_widget_examples`` its scores are computed."""
        if self.usage_examples is None:
            self.usage_examples = [EXAMPLE_QUERY, *EXAMPLE_DOCUMENTS]

    def generate_usage_snippet(self) -> str:
        """encode_query / encode_document, their similarity, and the sparse shape."""
        query, *documents = self.usage_examples or [EXAMPLE_QUERY, *EXAMPLE_DOCUMENTS]
        model_id = self.model_id or "sparse_encoder_model_id"
        dimension = self.model.get_embedding_dimension() if self.model is not None else None
        lines = [
            "from sentence_transformers import SparseEncoder",
            "",
            "# Download from the 🤗 Hub",
            f'model = SparseEncoder("{model_id}")',
            "# Run inference",
            f"queries = [{query!r}]",
            "documents = [",
            *(f"    {document!r}," for document in documents),
            "]",
            "query_embeddings = model.encode_query(queries)",
            "document_embeddings = model.encode_document(documents)",
            "print(query_embeddings.shape, document_embeddings.shape)",
            f"# [1, {dimension}] [{len(documents)}, {dimension}]",
            "",
            "# Get the similarity scores for the embeddings",
            "similarities = model.similarity(query_embeddings, document_embeddings)",
            "print(similarities.shape)",
            f"# [1, {len(documents)}]",
        ]
        return "```python\n" + "\n".join(lines) + "\n```"

    def get_model_specific_metadata(self) -> dict[str, Any]:
        """The shared metadata plus the output dimension, the similarity and max_active_dims."""
        metadata = super().get_model_specific_metadata()
        if self.model is None:
            return metadata
        return metadata | {
            "output_dimensionality": self.model.get_embedding_dimension(),
            "similarity_fn_name": self.model.similarity_fn_name,
            "max_active_dims": self.model.max_active_dims,
        }

    def card_description(self, data: dict[str, Any]) -> str:
        """What the model is: a sparse encoder mapping texts to vocabulary-sized sparse vectors."""
        finetuned = f", finetuned from [{self.base_model}](https://huggingface.co/{self.base_model})"
        dimension = data.get("output_dimensionality")
        return (
            f"A Sparse Encoder model{finetuned if self.base_model else ''}: it maps sentences and paragraphs to a "
            f"{dimension}-dimensional sparse vector space and can be used for {self.task_name or DEFAULT_TASK}."
        )

    def card_details(self, data: dict[str, Any]) -> list[str]:
        """The shared details plus the output dimension and the similarity."""
        lines = super().card_details(data)
        lines.insert(1, f"- Output Dimensionality: {data.get('output_dimensionality')} dimensions")
        lines.insert(2, f"- Similarity Function: {data.get('similarity_fn_name')}")
        return lines


def __getattr__(name: str) -> Any:
    """The training callback, from its own module on first use (it needs transformers' slow callback module)."""
    if name == "SparseEncoderModelCardCallback":
        from sentence_transformers.sparse_encoder import model_card_callback

        return model_card_callback.SparseEncoderModelCardCallback
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = ["SparseEncoderModelCardData"]
