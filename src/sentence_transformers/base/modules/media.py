"""The processor side of a ``Transformer`` that takes images, audio or video (CLIP, SigLIP, CLAP, ViT, wav2vec2 …).

A model folder with a Hugging Face processor (``preprocessor_config.json`` / ``processor_config.json``) loads its
processor with ``AutoProcessor``. Its parts say which modalities the model takes, and the model's methods say how:
one ``forward`` that returns token states for every modality (``token_embeddings``), or one
``get_<modality>_features`` method per tower returning a pooled embedding (``sentence_embedding``), as upstream 6.x
infers them and writes them in ``modality_config``. ``MediaInputs`` turns a batch into processor calls, one per
modality (a batch may mix them: each row keeps its place), and ``MediaInputs.forward`` runs each through its method.
"""

from __future__ import annotations

import contextlib
import inspect
import os
import re
import typing
from dataclasses import fields
from typing import Any, Literal, TypedDict

import torch

from sentence_transformers.base import modality as modality_rules
from sentence_transformers.base.token_ids import tokenizer_lock


class ModalityParams(TypedDict, total=False):
    """One ``modality_config`` entry: the model ``method`` a modality goes through and the ``method_output_name``
    read from its output (None: the output itself); ``format`` ("structured" or "flat") for the "message" entry."""

    method: str
    method_output_name: str | None
    format: Literal["structured", "flat"]


class ProcessingKwargs(TypedDict, total=False):
    """Arguments for the processor calls, by part: "common" for every call, one key per modality, and
    "chat_template" for ``apply_chat_template`` (template variables, and its size arguments)."""

    common: dict[str, Any]
    text: dict[str, Any]
    audio: dict[str, Any]
    image: dict[str, Any]
    video: dict[str, Any]
    chat_template: dict[str, Any]


#: Files that hold a Hugging Face processor beside the model (image processor, feature extractor, processor).
PROCESSOR_FILES = ("preprocessor_config.json", "processor_config.json", "video_preprocessor_config.json")
MEDIA = ("image", "audio", "video")
_SIZE_ARGUMENTS = frozenset({"padding", "truncation", "max_length", "return_tensors"})
_PROCESSOR_ARGUMENTS = {"text": "text", "image": "images", "audio": "audio", "video": "videos"}
_PROCESSOR_PARTS = {
    "tokenizer": "text",
    "image_processor": "image",
    "feature_extractor": "audio",
    "video_processor": "video",
}
_AUDIO_ENCODERS = ("hubert", "moonshine", "sew", "sew-d", "unispeech-sat", "unispeech", "wav2vec2")
_AUDIO_ENCODERS += ("wav2vec2-conformer", "wavlm", "whisper", "voxtral_realtime")
_POOLED = "pooler_output"
#: Model types whose towers the general rule gets wrong: (modality_config, module_output_name), as upstream.
_EDGE_CASES: dict[str, tuple[dict[Any, dict[str, Any]], str]] = {
    "blip": (
        {
            "text": {"method": "get_text_features", "method_output_name": _POOLED},
            "image": {"method": "get_image_features", "method_output_name": _POOLED},
            ("image", "text"): {"method": "get_multimodal_features", "method_output_name": _POOLED},
        },
        "sentence_embedding",
    ),
    "blip-2": (
        {
            "text": {"method": "get_text_features", "method_output_name": "last_hidden_state"},
            "image": {"method": "get_image_features", "method_output_name": "last_hidden_state"},
        },
        "token_embeddings",
    ),
    "flava": (
        {
            "text": {"method": "get_text_features", "method_output_name": _POOLED},
            "image": {"method": "get_image_features", "method_output_name": _POOLED},
        },
        "token_embeddings",
    ),
    **{
        model_type: (
            {
                "audio": {"method": "forward", "method_output_name": "last_hidden_state"},
                ("audio", "text"): {"method": "forward", "method_output_name": "last_hidden_state"},
            },
            "token_embeddings",
        )
        for model_type in _AUDIO_ENCODERS
    },
}


def _nested(calls: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """Per-modality processor arguments under the names transformers' processors take them."""
    return {
        "text_kwargs": calls["text"],
        "images_kwargs": calls["image"],
        "audio_kwargs": calls["audio"],
        "videos_kwargs": calls["video"],
    }


def has_processor(folder: str | None) -> bool:
    """Whether a local model folder holds a processor for images, audio or video."""
    return folder is not None and any(os.path.isfile(os.path.join(folder, name)) for name in PROCESSOR_FILES)


def load_processor(name_or_path: str, kwargs: dict[str, Any]) -> Any:
    """``AutoProcessor.from_pretrained``; a missing optional package is named with the sbert extra that has it."""
    from transformers import AutoProcessor

    try:
        return AutoProcessor.from_pretrained(name_or_path, **kwargs)
    except ImportError as exc:
        raise ImportError(f"{exc}\n{extra_hint(str(exc))}") from exc


def extra_hint(message: str) -> str:
    """Which sbert extra installs what a processor or loader asked for."""
    words = set(re.findall(r"[a-z0-9_]+", message.lower()))
    for names, extra in (
        ({"torchvision", "av", "decord", "torchcodec", "video"}, "video"),
        ({"librosa", "soundfile", "torchaudio", "audio"}, "audio"),
        ({"pil", "pillow", "vision", "image"}, "image"),
    ):
        if words & names:
            return f'Install it with: pip install "sbert[{extra}]"'
    return 'Install the optional packages with: pip install "sbert[image,audio,video]"'


def processor_modalities(processor: Any) -> list[str]:
    """The modalities a processor handles: a multimodal processor's by its parts, else by its kind."""
    from transformers import FeatureExtractionMixin, ImageProcessingMixin, PreTrainedTokenizerBase, ProcessorMixin
    from transformers.video_processing_utils import BaseVideoProcessor

    if isinstance(processor, ProcessorMixin):
        parts = processor.get_attributes() if hasattr(processor, "get_attributes") else processor.attributes
        return [modality for part, modality in _PROCESSOR_PARTS.items() if part in parts]
    for kind, modality in (
        (PreTrainedTokenizerBase, "text"),
        (BaseVideoProcessor, "video"),
        (ImageProcessingMixin, "image"),
        (FeatureExtractionMixin, "audio"),
    ):
        if isinstance(processor, kind):
            return [modality]
    return []


def tokenizer_of(processor: Any) -> Any:
    """A processor's tokenizer, the processor itself when it is one, or None (an image or audio processor)."""
    from transformers import PreTrainedTokenizerBase

    if isinstance(processor, PreTrainedTokenizerBase):
        return processor
    return getattr(processor, "tokenizer", None)


def output_fields(method: Any) -> list[str] | None:
    """The fields of the ``ModelOutput`` a model method's return annotation names, or None when it names none."""
    from transformers.utils import ModelOutput

    try:
        annotation = typing.get_type_hints(method).get("return")
    except Exception:  # noqa: BLE001 - unresolvable annotations: treated as unknown
        return None
    pending = [annotation]
    while pending:
        candidate = pending.pop()
        if isinstance(candidate, type) and issubclass(candidate, ModelOutput):
            return [field.name for field in fields(candidate)]
        pending.extend(typing.get_args(candidate))
    return None


def infer_modality_config(
    model: torch.nn.Module, processor: Any, task: str, default: tuple[str, str]
) -> tuple[dict[Any, dict[str, Any]], str]:
    """(modality_config, module_output_name) for a model and its processor, by upstream 6.x's rules.

    ``default`` is the task's (method output, feature) for ``forward``, e.g. ("last_hidden_state",
    "token_embeddings"). A known model type takes its fixed entry; a model whose ``forward`` returns that output
    reads every modality through ``forward``; otherwise each modality goes through ``get_<modality>_features``
    and the result is a sentence embedding.
    """
    method_output, feature = default
    message = getattr(processor, "chat_template", None) is not None
    message_format = modality_rules.InputFormatter(model.config.model_type, "auto", processor).message_format
    edge = _EDGE_CASES.get(model.config.model_type) if task == "feature-extraction" else None
    if edge is not None:
        config = {key: dict(value) for key, value in edge[0].items() if hasattr(model, value["method"])}
        for value in config.values():
            if value["method"] != "forward" and value["method_output_name"] not in (
                output_fields(getattr(model, value["method"])) or []
            ):
                value["method_output_name"] = None
        if message and "message" not in config:
            text = config.get("text", {"method": "forward", "method_output_name": method_output})
            config["message"] = {**text, "format": message_format}
        return config, edge[1]
    modalities = processor_modalities(processor) + (["message"] if message else [])
    forward_fields = output_fields(model.forward)
    if forward_fields is None or method_output in forward_fields or task != "feature-extraction":
        config = {key: {"method": "forward", "method_output_name": method_output} for key in modalities}
        if message:
            config["message"]["format"] = message_format
        return config, feature
    config = {}
    for key in modalities:
        method = getattr(model, f"get_{key}_features", None)
        if method is not None:
            pooled = _POOLED in (output_fields(method) or [])
            config[key] = {"method": f"get_{key}_features", "method_output_name": _POOLED if pooled else None}
    return config, "sentence_embedding"


def modality_key(value: Any) -> Any:
    """A modality as written ("image+text", a saved modality_config key) back to upstream's tuple; others as given."""
    return tuple(value.split("+")) if isinstance(value, str) and "+" in value else value


class MediaInputs:
    """Processor calls and model methods of a Transformer taking more than text (see the module docstring)."""

    def __init__(self, processor: Any, model: torch.nn.Module, modality_config: dict[Any, dict[str, Any]]) -> None:
        self.processor = processor
        self.model = model
        self.modality_config = modality_config
        self.modalities = [key for key in modality_config if isinstance(key, str) and key != "message"]
        message_format = modality_config.get("message", {}).get("format", "auto")
        self.formatter = modality_rules.InputFormatter(
            model.config.model_type, message_format, processor, supported_modalities=self.modalities
        )
        self._signatures: dict[str, set[str] | None] = {}

    @property
    def tokenizer(self) -> Any:
        """The processor's tokenizer; None for a model without text."""
        return tokenizer_of(self.processor)

    def modality_of(self, item: Any) -> Any:
        """The modality of one input for this model (a string naming an image is an image when images are taken)."""
        if isinstance(item, str) and "image" in self.modalities:
            from sentence_transformers.base.encoding import is_image_reference

            if is_image_reference(item):
                return "image"
        if modality_rules._is_non_text_pair(item):
            return "pair"  # a (text, image) pair: chat messages with a query and a document, when the model takes them
        return modality_rules.infer_modality(item, self.modalities)

    def preprocess(
        self,
        inputs: list[Any],
        prompt: str | None,
        text_call: dict[str, Any],
        processing_kwargs: dict[str, dict[str, Any]],
    ) -> dict[str, Any]:
        """Features for one batch. One modality: the processor's output and ``modality``. Several: each group's
        features under ``"<modality>.<name>"`` keys, and ``modality_rows`` (each row's modality, in order)."""
        if "message" in self.modality_config:  # every input becomes a conversation: one processor call
            return self._process("message", inputs, list(range(len(inputs))), prompt, text_call, processing_kwargs)
        rows = [self.modality_of(item) for item in inputs]
        groups: dict[Any, list[int]] = {}
        for position, found in enumerate(rows):
            groups.setdefault(found, []).append(position)
        parts = {
            found: self._process(found, [inputs[i] for i in positions], positions, prompt, text_call, processing_kwargs)
            for found, positions in groups.items()
        }
        if len(parts) == 1:
            return next(iter(parts.values()))
        mixed: dict[str, Any] = {"modality": "mixed", "modality_rows": rows}
        for found, features in parts.items():
            name = modality_rules.format_modality(found)
            mixed.update({f"{name}.{key}": value for key, value in features.items()})
        return mixed

    def _process(
        self,
        found: Any,
        items: list[Any],
        positions: list[int],
        prompt: str | None,
        text_call: dict[str, Any],
        processing_kwargs: dict[str, dict[str, Any]],
    ) -> dict[str, Any]:
        """One modality's processor call; media read from paths, URLs and data URIs first."""
        if found == "image" and "message" not in self.modality_config:
            pixels = self._fast_pixels(items, positions, processing_kwargs)
            if pixels is not None:
                return {"pixel_values": pixels, "modality": "image"}
        takes_images = "image" in self.modalities
        items = [
            _with_loaded_images(item, position, takes_images) for item, position in zip(items, positions, strict=True)
        ]
        parsed, arguments, extra = self.formatter.parse_inputs(items)
        if "message" in self.modality_config and parsed != "message":  # as upstream: the chat template renders all
            parsed, arguments = self.formatter.batch_to_message(parsed, arguments)
        if parsed not in self.modality_config:
            modality_rules.raise_unsupported_modality_error(items, parsed, list(self.modality_config), "Transformer")
        common = {"return_tensors": "pt", **processing_kwargs.get("common", {})}
        calls = {"text": dict(text_call), "image": {}, "audio": {"padding": True}, "video": {}}
        if self.model.config.model_type == "whisper":
            calls["audio"]["padding"] = "max_length"  # Whisper's encoder takes exactly 30 s of audio
        for key in calls:
            calls[key].update(processing_kwargs.get(key, {}))
            calls[key].update(extra.get(key, {}))
        if parsed == "message":
            template = dict(processing_kwargs.get("chat_template", {}))
            calls["text"].update({key: template.pop(key) for key in _SIZE_ARGUMENTS & template.keys()})
            features = self._render_messages(arguments["message"], prompt, calls, common, template)
            return {**features, "modality": parsed}
        if prompt and "text" in arguments:
            arguments["text"] = [prompt + text for text in arguments["text"]]
        from transformers import ProcessorMixin

        with self._lock():
            if isinstance(self.processor, ProcessorMixin):
                named = {_PROCESSOR_ARGUMENTS.get(key, key): value for key, value in arguments.items()}
                features = self.processor(**named, **_nested(calls), common_kwargs=common)
            else:
                ((key, values),) = arguments.items()
                features = self.processor(values, **calls.get(key, {}), **common)
        return {**features, "modality": parsed}

    def _render_messages(
        self,
        conversations: list[list[dict[str, Any]]],
        prompt: str | None,
        calls: dict[str, dict[str, Any]],
        common: dict[str, Any],
        template: dict[str, Any],
    ) -> dict[str, Any]:
        """Chat conversations (with their media) through the processor's chat template, tokenized and batched; a
        prompt becomes a system message first. ``template`` holds the template's own variables."""
        from transformers import ProcessorMixin

        if prompt:
            conversations = self.formatter.prepend_prompt_to_messages(conversations, prompt)
        with self._lock():
            if isinstance(self.processor, ProcessorMixin):
                nested = {**_nested(calls), "common_kwargs": common}
                return dict(
                    self.processor.apply_chat_template(
                        conversations,
                        tokenize=True,
                        return_dict=True,
                        return_tensors=common.get("return_tensors"),
                        processor_kwargs=nested,
                        **template,
                    )
                )
            sizes = {**common, **calls["text"]}
            return dict(
                self.processor.apply_chat_template(conversations, tokenize=True, return_dict=True, **sizes, **template)
            )

    def _fast_pixels(
        self, items: list[Any], positions: list[int], processing_kwargs: dict[str, dict[str, Any]]
    ) -> torch.Tensor | None:
        """The pixel values of a batch of images by ``images.fast_clip_pixels`` (equal to the plain CLIP image
        processor's, faster, files read one at a time), or None when that path does not apply."""
        from sentence_transformers.base import images

        image_processor = getattr(self.processor, "image_processor", None)
        if image_processor is None or processing_kwargs.get("image") or processing_kwargs.get("common"):
            return None
        if images.fast_clip_plan(image_processor) is None:
            return None
        lazy = [
            (item, position) if isinstance(item, str) else item for item, position in zip(items, positions, strict=True)
        ]
        return images.fast_clip_pixels(image_processor, lazy)

    def _lock(self) -> Any:
        """The tokenizer's lock (its calls are not thread safe), or no lock for a model without a tokenizer."""
        return tokenizer_lock(self.tokenizer) if self.tokenizer is not None else contextlib.nullcontext()

    def forward(self, features: dict[str, Any], output_name: str) -> torch.Tensor:
        """The model output for a batch from ``preprocess``, rows in input order."""
        found = features.get("modality", "text")
        if found != "mixed":
            return self._run(modality_key(found), features)
        rows = features["modality_rows"]
        outputs = {}
        for key in dict.fromkeys(rows):
            prefix = modality_rules.format_modality(key) + "."
            part = {name[len(prefix) :]: value for name, value in features.items() if name.startswith(prefix)}
            outputs[key] = self._run(modality_key(part.get("modality", key)), part)
        first = next(iter(outputs.values()))
        if any(output.dim() != 2 for output in outputs.values()):
            raise ValueError(
                f"This model writes per-token outputs ({output_name}), which cannot be combined across "
                f"modalities in one batch: encode each modality in its own call (got {sorted(map(str, outputs))})"
            )
        combined = first.new_empty((len(rows), first.shape[-1]))
        for key, output in outputs.items():
            index = torch.tensor([i for i, row in enumerate(rows) if row == key], device=combined.device)
            combined[index] = output.to(combined.dtype)
        return combined

    def _run(self, key: Any, features: dict[str, Any]) -> torch.Tensor:
        params = self.modality_config[key]
        method = getattr(self.model, params["method"], None)
        if method is None:
            raise ValueError(f"The model has no method {params['method']!r} (modality_config[{key!r}])")
        accepted = self._accepted(params["method"], method)
        call = {name: value for name, value in features.items() if accepted is None or name in accepted}
        for name in ("modality", "modality_rows", "prompt_length", "task"):
            call.pop(name, None)
        output = method(**call, return_dict=True) if accepted is None or "return_dict" in accepted else method(**call)
        names = params.get("method_output_name")
        for name in [names] if isinstance(names, str) else names or []:
            output = output[name] if not hasattr(output, name) else getattr(output, name)
        if isinstance(output, tuple):
            output = output[0]
        if output.dim() == 4:  # [batch, channels, height, width] feature maps as [batch, positions, channels]
            output = output.flatten(2).transpose(1, 2)
        return output

    def _accepted(self, name: str, method: Any) -> set[str] | None:
        """The keyword arguments a model method names, or None when it takes any."""
        if name not in self._signatures:
            parameters = inspect.signature(method).parameters.values()
            any_kwargs = any(parameter.kind is inspect.Parameter.VAR_KEYWORD for parameter in parameters)
            self._signatures[name] = None if any_kwargs else {parameter.name for parameter in parameters}
        return self._signatures[name]


def _with_loaded_images(item: Any, position: int, takes_images: bool) -> Any:
    """An input with each image path, URL or data URI read into a PIL image (errors name the position); texts,
    other media and chat messages (their template loads what they name) as given."""
    from sentence_transformers.base.encoding import is_image_reference
    from sentence_transformers.base.images import load_image

    def loaded(value: Any) -> Any:
        return load_image(value, position) if isinstance(value, str) and is_image_reference(value) else value

    if not takes_images:
        return item
    if isinstance(item, str):
        return loaded(item)
    if isinstance(item, dict) and "image" in item:
        return {**item, "image": loaded(item["image"])}
    if modality_rules._is_non_text_pair(item):
        return type(item)(loaded(part) for part in item)
    return item
