"""CLIPModel: the legacy input module of CLIP pipelines (e.g. clip-ViT-B-32), embedding texts and images in one space.

Folders saved by sentence-transformers 2.x–5.x (modules.json with one ``sentence_transformers.models.CLIPModel``
module in the root, the Hugging Face ``CLIPModel`` weights and ``CLIPProcessor`` files beside it) and by 6.x (the
same, with a sentence_bert_config.json naming the two towers in ``modality_config``) load here; a save writes the
6.x layout, which every release since 2.x reads.

It is the multimodal ``Transformer`` with CLIP's towers fixed, as upstream 6.x has it: a text goes through the
tokenizer and ``get_text_features``, an image (a PIL image, an [H, W, C] or [C, H, W] array or tensor, the path or URL
of an image file, or a ``data:image/...`` URI) through the image processor and ``get_image_features``; both give
``sentence_embedding`` in the shared projection space. One batch may mix both; each row keeps its place.
"""

from __future__ import annotations

import logging
from typing import Any

from sentence_transformers.base.images import PILLOW_HINT, load_image, require_pillow
from sentence_transformers.base.modules.transformer import Transformer

logger = logging.getLogger(__name__)

__all__ = ["CLIPModel", "PILLOW_HINT", "load_image", "require_pillow"]

MODALITIES = ["text", "image"]
#: What upstream 6.x writes for a CLIPModel: each tower's method and the output read from it.
CLIP_MODALITY_CONFIG: dict[str, dict[str, Any]] = {
    "text": {"method": "get_text_features", "method_output_name": "pooler_output"},
    "image": {"method": "get_image_features", "method_output_name": "pooler_output"},
}


class CLIPModel(Transformer):
    """A Hugging Face CLIP model with its processor: texts and images to embeddings in one space.

    Args:
        model_name_or_path: Hugging Face model name or local folder (``model_name`` is the 2.x name of it).
            ``_from_auto_load`` (upstream 6.x's flag that silences its deprecation warning) is accepted and ignored:
            sbert keeps this module without deprecating it.
        processor_name: Load the processor from elsewhere than the model (``tokenizer_name_or_path`` in 6.x).
        max_seq_length: Texts longer than this many tokens are truncated; by default the tokenizer's limit, at
            most the text tower's position embeddings.
        model_kwargs / processor_kwargs / config_kwargs: Keyword arguments for the model, the processor and the
            model config (``model_args`` / ``tokenizer_args`` / ``config_args`` are the older names).
        cache_dir: Cache folder for downloads.
        processing_kwargs: Arguments for the processor calls, as ``{"text": {...}, "image": {...}, "common": {...}}``.
        transformer_task / modality_config / module_output_name: What 6.x saves for this module; only CLIP's own
            values (feature extraction, ``get_text_features`` and ``get_image_features``, ``sentence_embedding``)
            are accepted.
        backend: Only "torch".
    """

    def __init__(
        self,
        model_name_or_path: str = "openai/clip-vit-base-patch32",
        processor_name: str | None = None,
        max_seq_length: int | None = None,
        model_kwargs: dict[str, Any] | None = None,
        processor_kwargs: dict[str, Any] | None = None,
        config_kwargs: dict[str, Any] | None = None,
        cache_dir: str | None = None,
        processing_kwargs: dict[str, dict[str, Any]] | None = None,
        transformer_task: str = "feature-extraction",
        modality_config: dict[str, dict[str, Any]] | None = None,
        module_output_name: str = "sentence_embedding",
        backend: str = "torch",
        model_name: str | None = None,
        tokenizer_name_or_path: str | None = None,
        model_args: dict[str, Any] | None = None,
        tokenizer_args: dict[str, Any] | None = None,
        config_args: dict[str, Any] | None = None,
        _from_auto_load: bool = False,
        **kwargs: Any,
    ) -> None:
        if kwargs:
            logger.warning("CLIPModel ignores unknown argument(s) %s", ", ".join(sorted(kwargs)))
        if backend != "torch":
            raise NotImplementedError(f"CLIPModel runs on torch only, not backend={backend!r}")
        _check_clip_config(transformer_task, modality_config, module_output_name)
        unknown = set(processing_kwargs or {}) - {"common", "text", "image"}
        if unknown:
            raise ValueError(
                "processing_kwargs for CLIPModel must map ['common', 'image', 'text'] to dicts of processor "
                f"arguments, got {processing_kwargs!r}"
            )
        require_pillow()  # the CLIP image processor reads and resizes images with it
        model_kwargs = {**(model_args or {}), **(model_kwargs or {})}
        model_kwargs.pop("trust_remote_code", None)  # a CLIP model is transformers' own code
        super().__init__(
            model_name or model_name_or_path,
            max_seq_length=max_seq_length,
            model_kwargs=model_kwargs,
            processor_kwargs={**(tokenizer_args or {}), **(processor_kwargs or {})},
            config_kwargs={**(config_args or {}), **(config_kwargs or {})},
            cache_dir=cache_dir,
            processing_kwargs=processing_kwargs,
            modality_config=CLIP_MODALITY_CONFIG,
            module_output_name="sentence_embedding",
            tokenizer_name_or_path=processor_name or tokenizer_name_or_path,
        )
        self._default_max_seq_length = _default_max_length(self.model.config, self.tokenizer)
        if max_seq_length is None:
            self.max_seq_length = self._default_max_seq_length

    @property
    def image_processor(self) -> Any:
        """The processor's image processor (resize, crop, normalise)."""
        return self.processor.image_processor

    def get_config_dict(self) -> dict[str, Any]:
        """What upstream 6.x writes to sentence_bert_config.json for a CLIPModel; a max_seq_length or
        processing_kwargs only when set."""
        config: dict[str, Any] = {
            "transformer_task": "feature-extraction",
            "modality_config": self.modality_config,
            "module_output_name": "sentence_embedding",
        }
        if self.max_seq_length != self._default_max_seq_length:
            config["max_seq_length"] = self.max_seq_length
        if self.processing_kwargs:
            config["processing_kwargs"] = self.processing_kwargs
        return config

    def __repr__(self) -> str:
        return f"CLIPModel({dict(self.get_config_dict(), architecture=type(self.model).__name__)})"


def _check_clip_config(task: str, modality_config: dict[str, Any] | None, module_output_name: str | None) -> None:
    """Reject saved settings other than CLIP's own: they would need a general multimodal Transformer."""
    if task != "feature-extraction":
        raise NotImplementedError(f"CLIPModel supports transformer_task='feature-extraction' only, not {task!r}")
    if modality_config is not None:
        methods = {
            key: params.get("method") if isinstance(params, dict) else None for key, params in modality_config.items()
        }
        expected = {key: CLIP_MODALITY_CONFIG[key]["method"] for key in methods if key in CLIP_MODALITY_CONFIG}
        if not methods or methods != expected:
            raise NotImplementedError(
                "CLIPModel takes text through get_text_features and images through get_image_features; "
                f"modality_config={modality_config!r} is not supported"
            )
    if module_output_name not in (None, "sentence_embedding"):
        raise NotImplementedError(f"CLIPModel writes 'sentence_embedding', not {module_output_name!r}")


def _default_max_length(config: Any, tokenizer: Any) -> int | None:
    """The tokenizer's limit, capped by the text tower's position embeddings (longer texts would fail there)."""
    limits = [
        getattr(tokenizer, "model_max_length", None),
        getattr(config.text_config, "max_position_embeddings", None),
    ]
    limits = [int(limit) for limit in limits if isinstance(limit, int) and 0 < limit < 1_000_000]
    return min(limits) if limits else None
