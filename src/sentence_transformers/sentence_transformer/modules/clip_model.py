"""CLIPModel: the legacy input module of CLIP pipelines (e.g. clip-ViT-B-32), embedding texts and images in one space.

Folders saved by sentence-transformers 2.x–5.x (modules.json with one ``sentence_transformers.models.CLIPModel``
module in the root, the Hugging Face ``CLIPModel`` weights and ``CLIPProcessor`` files beside it) and by 6.x (the
same, with a sentence_bert_config.json naming the two towers in ``modality_config``) load here; a save writes the
6.x layout, which every release since 2.x reads.

A text goes through the tokenizer and ``get_text_features``, an image (a PIL image, an [H, W, C] or [C, H, W] array
or tensor, the path or URL of an image file, or a ``data:image/...`` URI) through the image processor and
``get_image_features``: both give ``sentence_embedding`` in the shared projection space. One batch may mix both;
each row keeps its place.
"""

from __future__ import annotations

import functools
import logging
import os
from collections.abc import Sequence
from typing import Any

import torch

from sentence_transformers.base.encoding import IMAGE_TIMEOUT, input_modality, is_url
from sentence_transformers.base.hub import resolve_folder
from sentence_transformers.base.modules.input_module import InputModule
from sentence_transformers.base.modules.transformer import CONFIG_FILE_NAMES, _read_config
from sentence_transformers.base.token_ids import tokenizer_lock

logger = logging.getLogger(__name__)

MODALITIES = ["text", "image"]
#: What upstream 6.x writes for a CLIPModel: each tower's method and the output read from it.
CLIP_MODALITY_CONFIG: dict[str, dict[str, Any]] = {
    "text": {"method": "get_text_features", "method_output_name": "pooler_output"},
    "image": {"method": "get_image_features", "method_output_name": "pooler_output"},
}
_PROCESSING_KEYS = {"common", "text", "image"}
PILLOW_HINT = 'Reading images needs pillow: pip install "sbert[image]" (or pip install pillow)'


def require_pillow() -> Any:
    """The ``PIL.Image`` module, or an ImportError that names the extra to install."""
    try:
        from PIL import Image
    except ImportError as exc:
        raise ImportError(PILLOW_HINT) from exc
    return Image


class CLIPModel(InputModule):
    """A Hugging Face CLIP model with its processor: texts and images to embeddings in one space.

    Args:
        model_name_or_path: Hugging Face model name or local folder (``model_name`` is the 2.x name of it).
            ``_from_auto_load`` (upstream 6.x's flag that silences its deprecation warning) is accepted and ignored:
            sbert keeps this module without deprecating it.
        processor_name: Load the processor from elsewhere than the model (``tokenizer_name_or_path`` in 6.x).
        max_seq_length: Texts longer than this many tokens are truncated; by default the tokenizer's limit, at
            most the text tower's position embeddings.
        model_kwargs / processor_kwargs / config_kwargs: Keyword arguments for ``CLIPModel.from_pretrained``,
            ``CLIPProcessor.from_pretrained`` and the model config (``model_args`` / ``tokenizer_args`` /
            ``config_args`` are the older names).
        cache_dir: Cache folder for downloads.
        processing_kwargs: Arguments for the processor calls, as ``{"text": {...}, "image": {...}, "common": {...}}``.
        transformer_task / modality_config / module_output_name: What 6.x saves for this module; only CLIP's own
            values (feature extraction, ``get_text_features`` and ``get_image_features``, ``sentence_embedding``)
            are accepted.
        backend: Only "torch".
    """

    config_file_name: str = "sentence_bert_config.json"
    save_in_root: bool = True

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
        super().__init__()
        if kwargs:
            logger.warning("CLIPModel ignores unknown argument(s) %s", ", ".join(sorted(kwargs)))
        if backend != "torch":
            raise NotImplementedError(f"CLIPModel runs on torch only, not backend={backend!r}")
        _check_clip_config(transformer_task, modality_config, module_output_name)
        require_pillow()  # the CLIP image processor reads and resizes images with it
        source = model_name or model_name_or_path
        hub = {"cache_dir": cache_dir} if cache_dir is not None else {}
        model_kwargs = {**hub, **(model_args or {}), **(model_kwargs or {}), **(config_kwargs or config_args or {})}
        processor_kwargs = {**hub, **(tokenizer_args or {}), **(processor_kwargs or {})}
        model_kwargs.pop("trust_remote_code", None)  # a CLIP model is transformers' own code
        from transformers import CLIPModel as HFCLIPModel
        from transformers import CLIPProcessor

        self.model = HFCLIPModel.from_pretrained(source, **model_kwargs)
        self.processor = CLIPProcessor.from_pretrained(
            processor_name or tokenizer_name_or_path or source, **_processor_only(processor_kwargs)
        )
        self.processing_kwargs = _checked_processing_kwargs(processing_kwargs)
        self._default_max_seq_length = _default_max_length(self.model.config, self.processor.tokenizer)
        self.max_seq_length = max_seq_length if max_seq_length is not None else self._default_max_seq_length

    # ----------------------------------------------------------------- what the model sees
    @property
    def auto_model(self) -> torch.nn.Module:
        """The Hugging Face CLIPModel (``model``, by the name the Transformer module uses)."""
        return self.model

    @property
    def tokenizer(self) -> Any:
        """The processor's tokenizer."""
        return self.processor.tokenizer

    @tokenizer.setter
    def tokenizer(self, value: Any) -> None:
        self.processor.tokenizer = value

    @property
    def image_processor(self) -> Any:
        """The processor's image processor (resize, crop, normalise)."""
        return self.processor.image_processor

    @property
    def config(self) -> Any:
        """The Hugging Face model's configuration."""
        return self.model.config

    @property
    def modalities(self) -> list[str]:
        """Texts and images."""
        return list(MODALITIES)

    @property
    def max_seq_length(self) -> int | None:
        """Longest text in tokens; longer texts are truncated."""
        return self._max_seq_length

    @max_seq_length.setter
    def max_seq_length(self, value: int | None) -> None:
        self._max_seq_length = value

    @property
    def unpad_inputs(self) -> None:
        """Upstream's flash-attention unpadding switch: CLIP batches are always padded."""
        return None

    @property
    def query_expansion(self) -> None:
        """ColBERT query expansion: never for CLIP."""
        return None

    def infer_modalities(self, model: torch.nn.Module, processor: Any) -> tuple[dict[str, Any], str]:
        """CLIP's modality_config (text and image towers) and its output feature, whatever the processor."""
        return self.modality_config, "sentence_embedding"

    def infer_modalities_edge_cases(self, model: torch.nn.Module, processor: Any) -> tuple[dict[str, Any], str] | None:
        """CLIP is its own edge case: ``infer_modalities``."""
        return self.infer_modalities(model, processor)

    def infer_modalities_from_processor(self, processor: Any) -> list[str]:
        """The modalities of a processor's parts: text for its tokenizer, image for its image processor."""
        parts = getattr(processor, "get_attributes", None)
        attributes = (parts() if callable(parts) else getattr(processor, "attributes", None)) or []
        found = [name for name, part in (("text", "tokenizer"), ("image", "image_processor")) if part in attributes]
        return found or ["text"]

    @property
    def modality_config(self) -> dict[str, dict[str, Any]]:
        """The towers each modality runs through, as upstream 6.x names them."""
        return {key: dict(value) for key, value in CLIP_MODALITY_CONFIG.items()}

    @property
    def module_output_name(self) -> str:
        return "sentence_embedding"

    @property
    def transformer_task(self) -> str:
        return "feature-extraction"

    @property
    def backend(self) -> str:
        return "torch"

    def get_embedding_dimension(self) -> int:
        """Size of the shared text–image space (the projection size)."""
        return self.model.config.projection_dim

    def __repr__(self) -> str:
        return f"CLIPModel({dict(self.get_config_dict(), architecture=type(self.model).__name__)})"

    # ----------------------------------------------------------------- preprocessing
    def preprocess(
        self,
        inputs: Sequence[Any],
        prompt: str | None = None,
        processing_kwargs: dict[str, dict[str, Any]] | None = None,
        **kwargs: Any,
    ) -> dict[str, Any]:
        """Tokenize the texts (``prompt`` prepended) and load and process the images of a batch, which may mix both.

        Returns ``input_ids``/``attention_mask`` for the texts, ``pixel_values`` for the images, ``image_text_info``
        (per input: 0 an image, 1 a text, as 2.x named it) and ``modality`` ("text", "image", or "message" for a
        mixed batch, as upstream 6.x calls one).
        """
        inputs = list(inputs)
        if not inputs:
            return {}
        merged = self._merged_processing_kwargs(processing_kwargs)
        image_call = {**merged.get("common", {}), **merged.get("image", {})}
        # The fast path reads each image file only when its pixels are written: one decoded image at a time.
        lazy = not image_call and _fast_clip_plan(self.image_processor) is not None
        texts: list[str] = []
        images: list[Any] = []
        info: list[int] = []
        for position, item in enumerate(inputs):
            modality = input_modality(item, MODALITIES)
            if modality == "text" and isinstance(item, str):
                texts.append(prompt + item if prompt else item)
                info.append(1)
            elif modality == "image":
                images.append((item, position) if lazy and isinstance(item, str) else load_image(item, position))
                info.append(0)
            else:
                raise ValueError(
                    f"CLIPModel takes texts and images; input at position {position} is {_describe(item)} "
                    f"(modality {modality or 'unknown'!r})"
                )
        features: dict[str, Any] = {}
        if texts:
            call = {"padding": True, "truncation": True, "max_length": kwargs.get("max_length") or self.max_seq_length}
            call.update({**merged.get("common", {}), **merged.get("text", {})})
            with tokenizer_lock(self.tokenizer):
                features.update(self.tokenizer(texts, return_tensors="pt", **call))
        if images:
            fast = _fast_clip_pixels(self.image_processor, images) if lazy else None
            if fast is None:
                images = [load_image(*image) if isinstance(image, tuple) else image for image in images]
                fast = self.image_processor(images, return_tensors="pt", **image_call)["pixel_values"]
            features["pixel_values"] = fast
        features["image_text_info"] = info
        features["modality"] = "text" if not images else "image" if not texts else "message"
        return features

    def _merged_processing_kwargs(self, given: dict[str, dict[str, Any]] | None) -> dict[str, dict[str, Any]]:
        if not given:
            return self.processing_kwargs
        given = _checked_processing_kwargs(given)
        keys = {*self.processing_kwargs, *given}
        return {key: {**self.processing_kwargs.get(key, {}), **given.get(key, {})} for key in keys}

    # ----------------------------------------------------------------- forward
    def forward(self, features: dict[str, Any], **kwargs: Any) -> dict[str, Any]:
        """``sentence_embedding``: each text through ``get_text_features``, each image through
        ``get_image_features``, in the batch's order."""
        text_embeddings = image_embeddings = None
        if "pixel_values" in features:
            image_embeddings = _pooled(self.model.get_image_features(pixel_values=features["pixel_values"]))
        if "input_ids" in features:
            text_inputs = {key: features[key] for key in ("input_ids", "attention_mask") if key in features}
            text_embeddings = _pooled(self.model.get_text_features(**text_inputs))
        info = features.get("image_text_info")
        if image_embeddings is None or text_embeddings is None:
            embeddings = image_embeddings if text_embeddings is None else text_embeddings
        else:  # a mixed batch: rows back in input order
            is_text = torch.as_tensor(list(info), dtype=torch.bool, device=text_embeddings.device)
            embeddings = text_embeddings.new_empty((len(info), text_embeddings.shape[1]))
            embeddings[is_text] = text_embeddings
            embeddings[~is_text] = image_embeddings.to(text_embeddings.dtype)
        features["sentence_embedding"] = embeddings
        return features

    # ----------------------------------------------------------------- persistence
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

    def save(self, output_path: str, *args: Any, safe_serialization: bool = True, **kwargs: Any) -> None:
        """Write the Hugging Face model, its processor (tokenizer and image processor) and sentence_bert_config.json."""
        os.makedirs(output_path, exist_ok=True)
        self.model.save_pretrained(output_path, safe_serialization=safe_serialization)
        self.processor.save_pretrained(output_path)
        self.save_config(output_path)

    @classmethod
    def load(
        cls,
        model_name_or_path: str,
        subfolder: str = "",
        token: bool | str | None = None,
        cache_folder: str | None = None,
        revision: str | None = None,
        local_files_only: bool = False,
        trust_remote_code: bool = False,
        model_kwargs: dict[str, Any] | None = None,
        tokenizer_kwargs: dict[str, Any] | None = None,
        config_kwargs: dict[str, Any] | None = None,
        processor_kwargs: dict[str, Any] | None = None,
        backend: str = "torch",
        init_defaults: dict[str, Any] | None = None,
        **kwargs: Any,
    ) -> CLIPModel:
        """Rebuild from a saved folder: the Hugging Face files, and sentence_bert_config.json when there is one
        (2.x–5.x saved none)."""
        folder = os.path.join(
            resolve_folder(model_name_or_path, token, cache_folder, revision, local_files_only), subfolder
        )
        config = _read_config(folder) if any(os.path.isfile(os.path.join(folder, n)) for n in CONFIG_FILE_NAMES) else {}
        hub = {"token": token, "revision": revision, "local_files_only": local_files_only}
        for old, new in (("model_args", "model_kwargs"), ("tokenizer_args", "processor_kwargs")):
            if old in config:
                config[new] = {**config.pop(old), **config.get(new, {})}
        config.pop("config_args", None)
        config["model_kwargs"] = {**config.get("model_kwargs", {}), **hub, **(model_kwargs or {})}
        config["model_kwargs"].update(config_kwargs or {})
        given = {**(tokenizer_kwargs or {}), **(processor_kwargs or {})}
        config["processor_kwargs"] = {**config.get("processor_kwargs", {}), **hub, **given}
        config.setdefault("cache_dir", cache_folder)
        config = {**(init_defaults or {}), **config}
        return cls(model_name_or_path=folder, backend=backend, **config)


def load_image(item: Any, position: int | None = None) -> Any:
    """An image input ready for the image processor: a PIL image or an array as given; a path, URL or data URI read
    into an RGB PIL image (URLs with a timeout of ``IMAGE_TIMEOUT`` seconds). Errors name the input."""
    if not isinstance(item, str):
        return item
    require_pillow()
    from transformers.image_utils import load_image as read_image

    where = "" if position is None else f" (input at position {position})"
    if not item.startswith("data:") and not is_url(item) and not os.path.isfile(item):
        raise FileNotFoundError(f"Image file {item!r}{where} does not exist")
    try:
        return read_image(item, timeout=IMAGE_TIMEOUT)
    except Exception as exc:  # noqa: BLE001 - a network, decoding or format error: named with its input
        what = "fetch the image at" if is_url(item) else "read the image"
        shown = item if len(item) <= 200 else item[:200] + "…"
        raise ValueError(f"Could not {what} {shown!r}{where}: {exc}") from exc


#: The image processor methods whose plain CLIP behaviour ``_fast_clip_pixels`` reproduces.
_PIL_BACKEND_METHODS = (
    "preprocess",
    "_preprocess",
    "_preprocess_image_like_inputs",
    "_prepare_image_like_inputs",
    "process_image",
    "convert_to_rgb",
    "resize",
    "center_crop",
    "rescale",
    "normalize",
)


def _fast_clip_plan(processor: Any) -> tuple[int, int, int, int, Any] | None:
    """(shortest edge, crop height, crop width, resample, per-channel lookup table) when ``processor`` is transformers'
    PIL CLIP image processor with the plain CLIP settings (convert to RGB, resize the shortest edge, center crop no
    larger than it, rescale, normalize by 3 means and stds, no padding); None otherwise.

    The table maps each uint8 value of each channel to the float32 the processor computes for it: the value times
    ``rescale_factor`` in float64, cast to float32, then ``(x - mean) / std`` in float32, so a lookup gives its
    pixel values exactly."""
    try:
        from transformers.image_processing_backends import PilBackend
    except ImportError:
        return None
    kind = type(processor)
    if not isinstance(processor, PilBackend) or any(
        getattr(kind, name, None) is not getattr(PilBackend, name, None) for name in _PIL_BACKEND_METHODS
    ):
        return None
    size, crop = getattr(processor, "size", None), getattr(processor, "crop_size", None)
    mean, std = getattr(processor, "image_mean", None), getattr(processor, "image_std", None)
    resample, factor = getattr(processor, "resample", None), getattr(processor, "rescale_factor", None)
    try:
        edge = size.shortest_edge
        others = (size.height, size.width, size.longest_edge, size.max_height, size.max_width)
        others += (getattr(size, "min_pixels", None), getattr(size, "max_pixels", None))
        crop_height, crop_width = crop.height, crop.width
        mean, std = tuple(float(v) for v in mean), tuple(float(v) for v in std)
    except (AttributeError, TypeError):
        return None
    plain = (
        all(getattr(processor, flag, None) is True for flag in ("do_resize", "do_center_crop", "do_rescale"))
        and getattr(processor, "do_normalize", None) is True
        and getattr(processor, "do_convert_rgb", None) is True
        and not getattr(processor, "do_pad", None)
        and isinstance(edge, int)
        and all(value is None for value in others)
        and isinstance(crop_height, int)
        and isinstance(crop_width, int)
        and 0 < crop_height <= edge
        and 0 < crop_width <= edge
        and isinstance(resample, int)
        and isinstance(factor, (int, float))
        and len(mean) == 3
        and len(std) == 3
    )
    if not plain:
        return None
    table = _clip_table(float(factor), mean, std)
    return edge, crop_height, crop_width, int(resample), table


@functools.lru_cache(maxsize=8)
def _clip_table(factor: float, mean: tuple[float, ...], std: tuple[float, ...]) -> Any:
    """[3, 256] float32: each uint8 value of each channel as the PIL CLIP processor rescales and normalises it."""
    import numpy as np

    values = (np.arange(256, dtype=np.float64) * factor).astype(np.float32)
    table = (values[None, :] - np.array(mean, dtype=np.float32)[:, None]) / np.array(std, dtype=np.float32)[:, None]
    table = np.ascontiguousarray(table, dtype=np.float32)
    table.setflags(write=False)
    return table


def _rgb(image: Any) -> Any:
    """The RGB PIL image the processor's ``convert_to_rgb`` makes: transparency composited onto white."""
    if image.mode == "RGB" and image.info.get("transparency") is None:
        return image
    Image = require_pillow()
    if "A" in image.getbands() or image.info.get("transparency") is not None:
        image = image.convert("RGBA")
        background = Image.new("RGBA", image.size, (255, 255, 255, 255))
        return Image.alpha_composite(background, image).convert("RGB")
    return image.convert("RGB")


def _fast_clip_pixels(processor: Any, images: list[Any]) -> torch.Tensor | None:
    """``pixel_values`` for PIL images, equal to what the plain CLIP image processor gives, at less cost: PIL resizes
    (same filter and size rule) and the center crop is a view of the resized pixels, which one table lookup per
    channel turns into the rescaled and normalised float32 values, written straight into the batch tensor. An
    ``(path, position)`` pair is read when its turn comes, so one decoded image is held at a time. None (use the
    processor) for other processors, settings or inputs."""
    plan = _fast_clip_plan(processor)
    if plan is None:
        return None
    Image = require_pillow()
    if not all(isinstance(image, (Image.Image, tuple)) for image in images):
        return None
    import numpy as np

    edge, crop_height, crop_width, resample, table = plan
    out = _mapped_floats((len(images), 3, crop_height, crop_width))
    for row, image in enumerate(images):
        image = _rgb(load_image(*image) if isinstance(image, tuple) else image)
        width, height = image.size
        short, long = (width, height) if width <= height else (height, width)
        new_long = int(edge * long / short)
        new_height, new_width = (new_long, edge) if width <= height else (edge, new_long)
        pixels = np.asarray(image.resize((new_width, new_height), resample=resample))
        top, left = (new_height - crop_height) // 2, (new_width - crop_width) // 2
        pixels = pixels[top : top + crop_height, left : left + crop_width]
        target = out[row].numpy()
        for channel in range(3):
            np.take(table[channel], pixels[:, :, channel], out=target[channel], mode="clip")
    return out


def _mapped_floats(shape: tuple[int, ...]) -> torch.Tensor:
    """An uninitialised float32 tensor in its own anonymous memory map, unmapped when the tensor goes.

    A batch of pixel values is large (32 × 3 × 224 × 224 floats: 19 MB). From malloc, freeing such a block raises
    glibc's dynamic mmap threshold to its size, after which the model's later large blocks come from the heap and
    its fragments stay resident: the peak RSS of an encode call grew by ~100 MB that way. A map of its own keeps
    that threshold where it is."""
    import mmap

    count = 1
    for size in shape:
        count *= size
    if count * 4 < (1 << 20):
        return torch.empty(shape, dtype=torch.float32)
    buffer = mmap.mmap(-1, count * 4)
    return torch.frombuffer(buffer, dtype=torch.float32, count=count).view(shape)


def _pooled(output: Any) -> torch.Tensor:
    """The projected features from ``get_text_features``/``get_image_features`` (a tensor, or an output whose
    ``pooler_output`` holds them, by transformers' version)."""
    return output if isinstance(output, torch.Tensor) else output.pooler_output


def _describe(item: Any) -> str:
    return f"{type(item).__module__}.{type(item).__name__}" if not isinstance(item, str) else repr(item[:50])


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


def _checked_processing_kwargs(value: dict[str, dict[str, Any]] | None) -> dict[str, dict[str, Any]]:
    value = dict(value or {})
    unknown = set(value) - _PROCESSING_KEYS
    if unknown or not all(isinstance(v, dict) for v in value.values()):
        raise ValueError(
            f"processing_kwargs for CLIPModel must map {sorted(_PROCESSING_KEYS)} to dicts of processor arguments, "
            f"got {value!r}"
        )
    return {key: dict(v) for key, v in value.items()}


def _processor_only(kwargs: dict[str, Any]) -> dict[str, Any]:
    """Processor loading arguments without those that only the model takes."""
    return {key: value for key, value in kwargs.items() if key not in ("trust_remote_code", "torch_dtype", "dtype")}


def _default_max_length(config: Any, tokenizer: Any) -> int | None:
    """The tokenizer's limit, capped by the text tower's position embeddings (longer texts would fail there)."""
    limits = [
        getattr(tokenizer, "model_max_length", None),
        getattr(config.text_config, "max_position_embeddings", None),
    ]
    limits = [int(limit) for limit in limits if isinstance(limit, int) and 0 < limit < 1_000_000]
    return min(limits) if limits else None
