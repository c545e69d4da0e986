"""What modality an input is, how a batch of inputs splits into processor arguments, and chat messages.

:func:`infer_modality` names the modality of one input from its type and shape alone: text, an image, audio, a
video, a chat conversation ("message"), or the sorted keys of a multimodal dict. :class:`InputFormatter` turns a
batch into what a Hugging Face processor takes, falling back to chat messages when modalities mix or when a pair
holds something other than two texts.

Pillow and torchcodec are optional and never imported here: an input can only be a PIL image (or a torchcodec
decoder) when its package is already loaded, so their classes are looked up in ``sys.modules``.
"""

from __future__ import annotations

import copy
import logging
import os
import sys
from collections import defaultdict
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, Literal, NoReturn
from urllib.parse import urlparse

import numpy as np
import torch

from sentence_transformers.base.modality_types import MULTIMODAL_DICT_KEYS

if TYPE_CHECKING:
    from typing_extensions import TypeIs

    from sentence_transformers.base.modality_types import (
        AudioInput,
        MessageDict,
        MessageFormat,
        Modality,
        PairInput,
        SingleInput,
        VideoInput,
    )

logger = logging.getLogger(__name__)

# Model types whose chat templates want plain-string contents although their source looks otherwise.
KNOWN_MODEL_TYPES_MESSAGE_FORMATS = {
    "apertus": "flat",
    "deepseek_v3": "flat",
    "gpt_oss": "flat",
    "seed_oss": "flat",
}

# A pair becomes a message per side, with these roles.
PAIR_ROLES = ("query", "document")
# Rendering probes for :meth:`InputFormatter.pair_roles_failure`: a reference pair, then the pair with only the
# query changed, then with only the document changed. A changed side starts with another letter and has another
# length than the reference, so it shows in the render even where a template truncates or reformats it.
PAIR_ROLE_PROBES = (("kilo", "lima"), ("november", "lima"), ("kilo", "oscar-papa"))

_IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".gif", ".bmp", ".tiff", ".webp")
_VIDEO_EXTENSIONS = (".mp4", ".avi", ".mov", ".wmv", ".flv", ".mkv")
_AUDIO_EXTENSIONS = (".mp3", ".wav", ".ogg", ".flac", ".aac")
_VIDEO_HOSTS = frozenset(("youtube.com", "www.youtube.com", "m.youtube.com", "youtu.be"))
# Substrings of a chat template that reads typed content items ([{"type": "text", "text": ...}]).
_STRUCTURED_TEMPLATE_MARKERS = ("content[0]", ".type", "'type'", '"type"', "item.type", "message.content[")
_MESSAGE_FORMATS = ("auto", "structured", "flat")


def _loaded_class(module_name: str, attribute: str) -> type | None:
    """A class of an optional package, if that package is already imported (never imports it)."""
    module = sys.modules.get(module_name)
    value = getattr(module, attribute, None) if module is not None else None
    return value if isinstance(value, type) else None


def _is_instance_of_loaded(value: Any, module_name: str, attribute: str) -> bool:
    cls = _loaded_class(module_name, attribute)
    return cls is not None and isinstance(value, cls)


def _is_pil_image(value: Any) -> bool:
    return _is_instance_of_loaded(value, "PIL.Image", "Image")


def _is_audio_decoder(value: Any) -> bool:
    return _is_instance_of_loaded(value, "torchcodec.decoders", "AudioDecoder")


def _is_video_decoder(value: Any) -> bool:
    return _is_instance_of_loaded(value, "torchcodec.decoders", "VideoDecoder")


def _is_url(text: str) -> bool:
    """An http(s) address without spaces (a sentence that merely starts with a URL is text)."""
    return text.startswith(("http://", "https://")) and " " not in text


def _url_part(text: str, part: str) -> str | None:
    try:
        return getattr(urlparse(text), part)
    except ValueError:  # e.g. an unbalanced "[" in the host
        return None


def _has_media_suffix(text: str, extensions: tuple[str, ...]) -> bool:
    """A URL whose path ends in one of ``extensions``, or an existing file whose name does (case-insensitive)."""
    if _is_url(text):
        path = _url_part(text, "path")
        return path is not None and path.lower().endswith(extensions)
    return text.lower().endswith(extensions) and os.path.isfile(text)


def is_image_url_or_path(text: str) -> bool:
    """Whether ``text`` names an image: a ``data:image/...`` URI, an http(s) URL whose path has an image extension
    (.jpg, .jpeg, .png, .gif, .bmp, .tiff, .webp), or an existing file with one."""
    return text.startswith("data:image/") or _has_media_suffix(text, _IMAGE_EXTENSIONS)


def is_video_url_or_path(text: str) -> bool:
    """Whether ``text`` names a video: an http(s) URL or an existing file with a video extension (.mp4, .avi, .mov,
    .wmv, .flv, .mkv), or any YouTube URL."""
    if _has_media_suffix(text, _VIDEO_EXTENSIONS):
        return True
    return _is_url(text) and _url_part(text, "netloc") in _VIDEO_HOSTS


def is_audio_url_or_path(text: str) -> bool:
    """Whether ``text`` names audio: an http(s) URL or an existing file with an audio extension (.mp3, .wav, .ogg,
    .flac, .aac)."""
    return _has_media_suffix(text, _AUDIO_EXTENSIONS)


def is_message_dict(value: Any) -> TypeIs[MessageDict]:
    """Whether ``value`` is one chat message: a dict holding both a ``"role"`` and a ``"content"`` key."""
    return isinstance(value, dict) and "role" in value and "content" in value


def _is_text_pair_shape(sample: Any) -> bool:
    """Two strings in any sequence but a string (a cross-encoder's text pair)."""
    return (
        isinstance(sample, Sequence)
        and not isinstance(sample, (str, bytes, bytearray))
        and len(sample) == 2
        and isinstance(sample[0], str)
        and isinstance(sample[1], str)
    )


def _media_modality(text: str, supported_modalities: list[Modality] | None) -> Modality | None:
    """The modality a string names by its form (image, then video, then audio), or None for plain text. A media
    string a model cannot take (not in ``supported_modalities``) is text to it."""
    for modality, check in (
        ("image", is_image_url_or_path),
        ("video", is_video_url_or_path),
        ("audio", is_audio_url_or_path),
    ):
        if check(text):
            return modality if supported_modalities is None or modality in supported_modalities else "text"
    return None


def _dict_modality(sample: dict) -> Modality:
    """The modality of a dict input: a chat message, an audio or video dict, or a multimodal dict."""
    if is_message_dict(sample):
        return "message"
    if "array" in sample:
        if "sampling_rate" in sample:
            return "audio"
        if "video_metadata" in sample:
            return "video"
        raise ValueError(
            "A dict with an 'array' key is audio when it also holds 'sampling_rate', or a video when it also holds "
            f"'video_metadata'; this one has the keys {sorted(sample, key=str)}"
        )
    if not sample:
        raise ValueError("An empty dict is no input: give a text, an image, audio, a video or a chat message.")
    unknown = set(sample) - MULTIMODAL_DICT_KEYS
    if unknown:
        notes = []
        if "video_metadata" in unknown:
            notes.append(
                "Video metadata belongs inside the video's own dict, with processor options in processing_kwargs:\n"
                '{"video": {"array": frames, "video_metadata": {"fps": 15, "total_num_frames": 3}}}\n'
                'processing_kwargs={"video": {"do_sample_frames": False}}'
            )
        if "sampling_rate" in unknown:
            notes.append(
                "The sampling rate belongs inside the audio's own dict:\n"
                '{"audio": {"array": waveform, "sampling_rate": 16000}}'
            )
        note = " " + "\n\n".join(notes) if notes else ""
        raise ValueError(
            f"A multimodal dict input has keys that name no modality: {sorted(unknown, key=str)}. "
            f"Its keys must come from {sorted(MULTIMODAL_DICT_KEYS)}.{note}"
        )
    if len(sample) == 1:  # {"image": x} is just an image
        return next(iter(sample))
    return tuple(sorted(sample))


def _array_modality(sample: np.ndarray | torch.Tensor) -> Modality:
    """By number of dimensions: 1-2 a (mono or multi-channel) waveform, 3 an image, 4-5 a video (or batch of)."""
    by_ndim = {1: "audio", 2: "audio", 3: "image", 4: "video", 5: "video"}
    if sample.ndim not in by_ndim:
        raise ValueError(
            f"An array or tensor with {sample.ndim} dimensions is no input: 1 or 2 dimensions are audio, "
            "3 an image, 4 or 5 a video."
        )
    return by_ndim[sample.ndim]


def infer_modality(
    sample: SingleInput | PairInput | Any,
    supported_modalities: list[Modality] | None = None,
) -> Modality:
    """The modality of one input, from its type and structure alone (no processor involved).

    - a string: ``"image"``, ``"video"`` or ``"audio"`` when it is a URL, data URI or existing file of that kind
      (see :func:`is_image_url_or_path` and siblings), else ``"text"``; a pair of strings is ``"text"`` too;
    - a PIL image: ``"image"``; a torchcodec ``AudioDecoder`` / ``VideoDecoder``: ``"audio"`` / ``"video"``;
    - a numpy array or torch tensor: ``"audio"`` with 1-2 dimensions, ``"image"`` with 3, ``"video"`` with 4-5;
    - a chat message dict (``role`` and ``content``), or a list starting with one: ``"message"``;
    - ``{"array", "sampling_rate"}``: ``"audio"``; ``{"array", "video_metadata"}``: ``"video"``;
    - a dict keyed by modality names: that name for one key (``{"image": img}`` is ``"image"``), else the tuple of
      its sorted keys, e.g. ``("image", "text")``.

    Args:
        sample: The input.
        supported_modalities: The modalities of the model, if known. A string that looks like an image, video or
            audio URL or path is ``"text"`` when the model does not take that modality.

    Returns:
        The modality name, or a tuple of names for a dict of several modalities.

    Raises:
        ValueError: For an input of any other type or shape.
    """
    if _is_pil_image(sample):
        return "image"
    if _is_audio_decoder(sample):
        return "audio"
    if _is_video_decoder(sample):
        return "video"
    if isinstance(sample, str):
        return _media_modality(sample, supported_modalities) or "text"
    if _is_text_pair_shape(sample):
        return "text"
    if isinstance(sample, dict):
        return _dict_modality(sample)
    if isinstance(sample, list) and sample and is_message_dict(sample[0]):
        return "message"
    if isinstance(sample, (np.ndarray, torch.Tensor)):
        return _array_modality(sample)
    raise ValueError(
        f"Cannot tell the modality of a {type(sample).__name__} input: expected a str, a dict, a PIL.Image.Image, "
        "a np.ndarray or a torch.Tensor"
    )


def infer_batch_modality(
    samples: Sequence[SingleInput | PairInput],
    supported_modalities: list[Modality] | None = None,
) -> Modality:
    """The modality shared by every input of a batch, or ``"message"`` when they differ (a mixed batch goes to
    the model as chat messages, as :meth:`InputFormatter.parse_inputs` does). An empty batch is ``"text"``.

    Args:
        samples: The inputs.
        supported_modalities: Passed on to :func:`infer_modality`.
    """
    found = {infer_modality(sample, supported_modalities=supported_modalities) for sample in samples}
    if not found:
        return "text"
    return found.pop() if len(found) == 1 else "message"


def format_modality(modality: Modality) -> str:
    """A modality as people read it: ``"image"``, or ``"image+text"`` for ``("image", "text")``."""
    return "+".join(modality) if isinstance(modality, tuple) else modality


def raise_unsupported_modality_error(
    inputs: Sequence[SingleInput | PairInput],
    modality: Modality,
    supported_modalities: list[Modality],
    source: str,
) -> NoReturn:
    """Raise a ``ValueError`` that says why ``source`` cannot take a batch of ``modality``.

    ``"message"`` stands both for chat conversations and for batches that mix modalities, so the inputs are
    looked at one by one to tell which: the error then names chat inputs, the modalities ``source`` lacks, or
    asks for one call per modality when each is supported on its own.

    Args:
        inputs: The batch as given.
        modality: The batch's modality, which ``source`` does not support.
        supported_modalities: What ``source`` supports.
        source: What refused the batch, as it reads in a sentence, e.g. ``"SentenceTransformer model"``.

    Raises:
        ValueError: Always.
    """
    supported = ", ".join(format_modality(entry) for entry in supported_modalities)
    if modality == "message":
        try:
            per_input = {infer_modality(sample, supported_modalities=supported_modalities) for sample in inputs}
        except (ValueError, TypeError):  # e.g. an (image, text) pair, which has no modality of its own
            per_input = set()
        chat = "chat-style 'message' inputs (dicts, or lists of dicts, with 'role' and 'content')"
        if per_input == {"message"}:
            raise ValueError(f"This {source} cannot take {chat}. Supported modalities: {supported}.")
        if "message" in per_input:
            raise ValueError(
                f"This {source} cannot take {chat}, and this batch mixes them with other inputs. "
                f"Supported modalities: {supported}."
            )
        if per_input:
            present = ", ".join(sorted(format_modality(entry) for entry in per_input))
            parts = {part for entry in per_input for part in (entry if isinstance(entry, tuple) else (entry,))}
            lacking = sorted(part for part in parts if part not in supported_modalities)
            if lacking:
                raise ValueError(
                    f"This batch mixes several modalities ({present}), and this {source} does not support "
                    f"{', '.join(lacking)}. Supported modalities: {supported}."
                )
            raise ValueError(
                f"This batch mixes several modalities ({present}), which this {source} cannot take in one batch: "
                "encode each modality in a call of its own."
            )
    if isinstance(modality, tuple) and all(part in supported_modalities for part in modality):
        raise ValueError(
            f"This {source} takes {' and '.join(modality)} one at a time but cannot combine them in one input: "
            "encode each modality in a call of its own."
        )
    raise ValueError(
        f"This {source} does not support the '{format_modality(modality)}' modality. Supported modalities: {supported}."
    )


def _is_non_text_pair(sample: Any) -> bool:
    """A two-item list or tuple that is no text pair and no conversation, e.g. ``(image, text)``: it becomes a
    query message and a document message."""
    if not isinstance(sample, (list, tuple)) or len(sample) != 2:
        return False
    if isinstance(sample[0], str) and isinstance(sample[1], str):
        return False
    return not any(
        is_message_dict(side) or (isinstance(side, list) and bool(side) and isinstance(side[0], dict))
        for side in sample
    )


def _as_sequence(value: Any) -> list | tuple:
    return value if isinstance(value, (list, tuple)) else [value]


def _is_video_frames(value: Any) -> bool:
    """A non-empty list or tuple of images: the frames of one video."""
    if not isinstance(value, (list, tuple)) or not value:
        return False
    try:
        return all(infer_modality(frame) == "image" for frame in value)
    except ValueError:
        return False


def _set_sampling_rate(rate: int, extra_kwargs: dict[str, dict[str, Any]]) -> None:
    """Record the batch's sampling rate: a feature extractor takes one, so two different rates are refused."""
    audio_kwargs = extra_kwargs["audio"]
    if audio_kwargs.get("sampling_rate") not in (None, rate):
        raise ValueError(
            f"This batch holds audio sampled at {audio_kwargs['sampling_rate']} Hz and at {rate} Hz, but the "
            "processor takes one sampling rate per batch: resample to one rate, or encode each rate in its own call."
        )
    audio_kwargs["sampling_rate"] = rate


def _audio_value(value: AudioInput | list[AudioInput] | tuple[AudioInput, ...], extra_kwargs: dict) -> Any:
    """The waveform the processor takes: the array of an audio dict, the mono samples of a decoder, or the value
    itself (an array, path or URL), recording any sampling rate; lists item by item."""
    if isinstance(value, (list, tuple)):
        return [_audio_value(item, extra_kwargs) for item in value]
    if isinstance(value, dict):
        if "sampling_rate" in value:
            _set_sampling_rate(value["sampling_rate"], extra_kwargs)
        return value["array"]
    if _is_audio_decoder(value):
        decoded = value.get_all_samples()
        _set_sampling_rate(decoded.sample_rate, extra_kwargs)
        return decoded.data.mean(dim=0).numpy()  # (channels, samples) down to mono
    return value


def _video_value(value: VideoInput | list[VideoInput] | tuple[VideoInput, ...], extra_kwargs: dict) -> Any:
    """The video(s) the processor takes, recording one ``video_metadata`` entry per video (None where the input
    has none) so that the batch's list lines up with its videos; lists of videos are flattened."""
    if _is_video_frames(value):
        value = {"array": value, "video_metadata": None}
    if isinstance(value, (list, tuple)):
        return [video for item in value for video in _as_sequence(_video_value(item, extra_kwargs))]
    metadata = extra_kwargs["video"].setdefault("video_metadata", [])
    if isinstance(value, dict):
        metadata.append(value.get("video_metadata"))
        frames = value["array"]
        return [list(frames)] if isinstance(frames, (list, tuple)) else frames
    if _is_video_decoder(value):
        frames = value.get_frames_in_range(0, len(value))
        info = value.metadata
        metadata.append(
            {
                "fps": info.average_fps,
                "total_num_frames": info.num_frames,
                "duration": info.duration_seconds,
                "frames_indices": list(range(frames.data.shape[0])),
            }
        )
        return frames.data
    metadata.append(None)
    return value


def _complete_video_metadata(typed: list[tuple[Any, Any]], extra_kwargs: dict) -> None:
    """Settle the batch's ``video_metadata``: dropped when no video has any (the processor then works it out),
    else each missing entry is filled from its video's frame count, which needs the video in memory."""
    video_kwargs = extra_kwargs.get("video")
    if not video_kwargs or "video_metadata" not in video_kwargs:
        return
    entries = video_kwargs["video_metadata"]
    if all(entry is None for entry in entries):
        del video_kwargs["video_metadata"]
        if not video_kwargs:
            del extra_kwargs["video"]
        return
    videos = []
    for modality, value in typed:
        if modality == "video":
            videos.extend(_as_sequence(value))
        elif isinstance(modality, tuple) and "video" in modality:
            videos.extend(_as_sequence(value["video"]))
    if len(videos) != len(entries):
        raise ValueError(f"Found {len(videos)} videos but {len(entries)} video_metadata entries in this batch.")
    for index, video in enumerate(videos):
        if entries[index] is not None:
            continue
        if isinstance(video, str) or not hasattr(video, "__len__"):
            raise ValueError(
                "Some videos of this batch carry 'video_metadata' and others do not. Metadata can only be filled "
                "in for videos in memory (frame arrays or lists of frames), so give 'video_metadata' for every "
                "video of the batch, or for none."
            )
        count = len(video)
        entries[index] = {
            "total_num_frames": count,
            "fps": None,
            "duration": None,
            "frames_indices": list(range(count)),
        }


class InputFormatter:
    """Turns a batch of inputs into processor arguments, and inputs into chat messages.

    :meth:`parse_inputs` infers each input's modality and groups the batch by it; a batch that mixes modalities,
    or holds pairs that are not two texts, becomes chat messages. Chat templates take message contents in one of
    two layouts:

    - ``"structured"``: a list of typed items, ``{"role": "user", "content": [{"type": "text", "text": "hi"}]}``;
    - ``"flat"``: the value itself, ``{"role": "user", "content": "hi"}``.

    Args:
        model_type: The model's ``config.model_type``; a few model types have a known layout.
        message_format: ``"structured"``, ``"flat"``, or ``"auto"`` (the default): the layout the processor's
            chat template reads, ``"structured"`` without a processor.
        processor: The processor or tokenizer whose chat template ``"auto"`` inspects, and which
            :meth:`pair_roles_failure` renders with.
        supported_modalities: The modalities of the model, if known: a string that looks like a media URL or path
            is text unless the model takes that modality.
    """

    def __init__(
        self,
        model_type: str,
        message_format: MessageFormat = "auto",
        processor: Any = None,
        supported_modalities: list[Modality] | None = None,
    ) -> None:
        if message_format not in _MESSAGE_FORMATS:
            raise ValueError(f"message_format must be one of {_MESSAGE_FORMATS}, got {message_format!r}")
        self.model_type = model_type
        self.processor = processor
        self.supported_modalities = supported_modalities
        self._pair_role_probe: tuple[tuple[Any, dict[str, Any]], str | None] | None = None
        if message_format == "auto":
            message_format = self._infer_format(processor) if processor is not None else "structured"
        self.message_format = message_format

    def _infer_format(self, processor: Any) -> Literal["structured", "flat"]:
        """The layout of the model type if known, else ``"structured"`` when the chat template reads typed items
        (or is not one string), else ``"flat"``."""
        if self.model_type in KNOWN_MODEL_TYPES_MESSAGE_FORMATS:
            return KNOWN_MODEL_TYPES_MESSAGE_FORMATS[self.model_type]
        template = getattr(processor, "chat_template", None)
        if not isinstance(template, str) or not template:
            return "structured"
        return "structured" if any(marker in template for marker in _STRUCTURED_TEMPLATE_MARKERS) else "flat"

    def parse_inputs(
        self,
        inputs: Sequence[SingleInput | PairInput],
    ) -> tuple[Modality, dict[str, list], defaultdict[str, dict[str, Any]]]:
        """Infer the modality of every input and group the batch for the processor.

        Audio and video dicts are unwrapped into their arrays, their ``sampling_rate`` and ``video_metadata``
        collected per modality. A batch of one modality maps it to the list of values (a batch of multimodal dicts
        maps each key to its list). A batch that mixes modalities, or multimodal dicts with their keys in different
        orders, becomes ``"message"`` with one conversation per input. A pair that is not two texts, e.g.
        ``(image, text)``, makes the whole batch ``"message"``, pairs turning into a ``"query"`` and a
        ``"document"`` message (:meth:`pair_to_messages`).

        Args:
            inputs: Texts, text pairs, other pairs, images, arrays, tensors, audio/video dicts, chat messages or
                conversations, or multimodal dicts.

        Returns:
            ``(modality, processor_inputs, extra_modality_kwargs)``: the batch's modality, the values by modality
            name, and per modality the extra processor arguments (``sampling_rate``, ``video_metadata``).
        """
        extra_kwargs: defaultdict[str, dict[str, Any]] = defaultdict(dict)
        if not inputs:
            return "text", {"text": []}, extra_kwargs

        typed: list[tuple[Any, Any]] = []
        for item in inputs:
            if _is_non_text_pair(item):  # has no modality of its own; text pairs are "text"
                typed.append(("pair", item))
            else:
                typed.append(self._typed_value(item, extra_kwargs))
        has_pairs = any(modality == "pair" for modality, _ in typed)
        _complete_video_metadata(typed, extra_kwargs)

        if has_pairs:
            conversations = []
            for modality, value in typed:
                if modality == "pair" or (modality == "text" and self.is_text_pair(value)):
                    conversations.append(self.pair_to_messages(value))
                elif modality == "message":
                    conversations.append(value)
                else:
                    conversations.append(self.to_message(value if isinstance(modality, tuple) else {modality: value}))
            return "message", {"message": conversations}, extra_kwargs

        modalities = {modality for modality, _ in typed}
        values = [value for _, value in typed]
        if len(modalities) > 1:
            logger.debug(f"Mixed modalities {modalities}: the batch becomes chat messages")
            conversations = [
                self.to_message(value if isinstance(modality, tuple) else {modality: value})
                for modality, value in typed
            ]
            return "message", {"message": conversations}, extra_kwargs
        (modality,) = modalities
        if isinstance(modality, str):
            return modality, {modality: values}, extra_kwargs
        key_order = tuple(values[0])
        takes_messages = self.supported_modalities is None or "message" in self.supported_modalities
        if takes_messages and any(tuple(value) != key_order for value in values[1:]):
            return "message", {"message": [self.to_message(value) for value in values]}, extra_kwargs
        return modality, {key: [value[key] for value in values] for key in key_order}, extra_kwargs

    def _typed_value(self, item: Any, extra_kwargs: defaultdict[str, dict[str, Any]]) -> tuple[Modality, Any]:
        """One input's modality and the value the processor takes for it (see :meth:`parse_inputs`)."""
        modality = infer_modality(item, supported_modalities=self.supported_modalities)
        if isinstance(item, dict) and isinstance(modality, str) and item.keys() == {modality}:
            item = item[modality]  # {"image": x} is x
        if modality == "audio":
            return modality, _audio_value(item, extra_kwargs)
        if modality == "video":
            return modality, _video_value(item, extra_kwargs)
        if isinstance(modality, tuple):
            value = dict(item)
            if "audio" in value:
                value["audio"] = _audio_value(value["audio"], extra_kwargs)
            if "video" in value:
                value["video"] = _video_value(value["video"], extra_kwargs)
            return modality, value
        if modality == "message" and isinstance(item, dict):
            return modality, [item]  # one message is a conversation of one
        return modality, item

    def pair_roles_failure(self, chat_template_kwargs: dict[str, Any] | None = None) -> str | None:
        """Why the chat template cannot render a (query, document) pair, or None when it can.

        Probe pairs are rendered (:data:`PAIR_ROLE_PROBES`): changing only the query, then only the document, must
        each change the render. A template that drops a role (e.g. one that only knows "system", "user" and
        "assistant") fails this, whatever its source says. A template that raises is reported with its error.
        The answer is cached for the current template and kwargs, so fixing the template takes effect.

        Args:
            chat_template_kwargs: The ``apply_chat_template`` kwargs of the real render (they may pick a template).
        """
        template = getattr(self.processor, "chat_template", None)
        if template is None:
            return "the model has no chat template"
        key = (template, chat_template_kwargs or {})
        if self._pair_role_probe is not None and self._pair_role_probe[0] == key:
            return self._pair_role_probe[1]
        try:
            renders = [
                str(self.processor.apply_chat_template(self.pair_to_messages(pair), tokenize=False, **key[1]))
                for pair in PAIR_ROLE_PROBES
            ]
        except Exception as exc:  # any template error is the answer
            failure = f"rendering a pair raised {type(exc).__name__}: {exc}"
        else:
            lost = [role for role, render in zip(PAIR_ROLES, renders[1:], strict=True) if render == renders[0]]
            failure = (
                f"the {' and '.join(repr(role) for role in lost)} content is missing from the rendered prompt"
                if lost
                else None
            )
        logger.debug(f"Chat template pair-role probe: {failure or 'both roles render'}")
        self._pair_role_probe = (copy.deepcopy(key), failure)
        return failure

    def has_pair_roles(self, messages_batch: list[list[dict[str, Any]]]) -> bool:
        """Whether some conversation of the batch holds both a ``"query"`` and a ``"document"`` message."""
        return any(set(PAIR_ROLES) <= {message.get("role") for message in messages} for messages in messages_batch)

    def pair_to_messages(self, pair: tuple | list) -> list[dict[str, Any]]:
        """A pair as two messages: the first item with role ``"query"``, the second with role ``"document"``, each
        in this formatter's layout and typed by its own inferred modality.

        Args:
            pair: Two inputs, e.g. ``(image, text)``.

        Raises:
            ValueError: When ``pair`` does not hold exactly two items.
        """
        if len(pair) != len(PAIR_ROLES):
            raise ValueError(f"A pair holds exactly two inputs (query, document), got {len(pair)}")
        messages = []
        for role, item in zip(PAIR_ROLES, pair, strict=True):
            modality = infer_modality(item)  # also refuses an item of no modality in the flat layout
            if self.message_format == "flat":
                messages.append({"role": role, "content": item})
                continue
            already_typed = isinstance(item, dict) and (isinstance(modality, tuple) or item.keys() == {modality})
            messages.extend(self.to_message(item if already_typed else {modality: item}, role=role))
        return messages

    def to_message(self, typed_input: dict[Modality, Any], role: str = "user") -> list[dict[str, Any]]:
        """One message with ``role`` holding the values of ``typed_input`` (modality name to value), as a list.

        Flat layout puts a single value as the content itself. Structured layout (also used for several values,
        with a warning, when the layout is flat) makes a ``{"type": modality, modality: item}`` content item per
        item: a list or tuple of texts, images, audio or videos gives one item each, but a list of images under
        ``"video"`` is the frames of one video.
        """
        if self.message_format == "flat":
            if len(typed_input) == 1:
                return [{"role": role, "content": next(iter(typed_input.values()))}]
            logger.warning(
                f"The flat message format holds one value per message, but this input has {len(typed_input)} "
                "modalities: using the structured format for it."
            )
        content = []
        for modality, value in typed_input.items():
            if modality == "video":
                items = [list(item) if isinstance(item, tuple) else item
                         for item in ([value] if _is_video_frames(value) else _as_sequence(value))]  # fmt: skip
            elif modality in MULTIMODAL_DICT_KEYS:
                items = _as_sequence(value)
            else:
                items = [value]
            content.extend({"type": modality, modality: item} for item in items)
        return [{"role": role, "content": content}]

    def batch_to_message(
        self, modality: Modality, processor_inputs: dict
    ) -> tuple[Literal["message"], dict[str, list]]:
        """A batch grouped by modality (as :meth:`parse_inputs` returns it) as one conversation per input; text
        pairs become query and document messages.

        Args:
            modality: The batch's modality name, or tuple of names.
            processor_inputs: Modality name to the list of values.

        Returns:
            ``("message", {"message": [conversation, ...]})``.
        """
        if not processor_inputs:
            return "message", {"message": []}
        names = (modality,) if isinstance(modality, str) else modality
        size = len(next(iter(processor_inputs.values())))
        conversations = []
        for index in range(size):
            typed_input = {name: values[index] for name, values in processor_inputs.items() if name in names}
            if len(typed_input) == 1 and "text" in typed_input and self.is_text_pair(typed_input["text"]):
                conversations.append(self.pair_to_messages(typed_input["text"]))
            else:
                conversations.append(self.to_message(typed_input))
        return "message", {"message": conversations}

    @staticmethod
    def is_text_pair(value: Any) -> bool:
        """Whether ``value`` is a (query, document) text pair: a list or tuple of two strings."""
        return isinstance(value, (list, tuple)) and len(value) == 2 and all(isinstance(side, str) for side in value)

    @staticmethod
    def is_text_only_messages(messages_batch: list[list[dict[str, Any]]]) -> bool:
        """Whether every message of every conversation holds only text, in either layout (a string content, or
        content items all of type ``"text"``; an item without a type counts as text)."""
        for messages in messages_batch:
            for message in messages:
                content = message.get("content")
                if isinstance(content, str):
                    continue
                if not isinstance(content, list):
                    return False
                if not all(isinstance(item, dict) and item.get("type", "text") == "text" for item in content):
                    return False
        return True

    def normalize_messages(self, messages: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """The messages in this formatter's layout, other keys kept. A message without ``role`` or ``content`` is
        dropped with a warning; structured content of more than one item stays structured in the flat layout."""
        result = []
        for message in messages:
            if not is_message_dict(message):
                logger.warning(f"Skipping {message!r}: a message needs a 'role' and a 'content'.")
                continue
            content = message["content"]
            structured = isinstance(content, list) and len(content) > 0 and isinstance(content[0], dict)
            if self.message_format == "flat" and structured:
                if len(content) == 1 and "text" in content[0]:
                    message = {**message, "content": content[0]["text"]}
                else:
                    logger.warning(
                        f"A message with {len(content)} content items has no flat form: it stays structured."
                    )
            elif self.message_format == "structured" and isinstance(content, str):
                message = {**message, "content": [{"type": "text", "text": content}]}
            result.append(message)
        return result

    def prepend_prompt_to_messages(
        self, messages: list[list[dict[str, Any]]], prompt: str
    ) -> list[list[dict[str, Any]]]:
        """Each conversation with a ``"system"`` message holding ``prompt`` put first (in this layout)."""

        def system() -> dict[str, Any]:  # a new message per conversation: they must not share a mutable content
            content = prompt if self.message_format == "flat" else [{"type": "text", "text": prompt}]
            return {"role": "system", "content": content}

        return [[system(), *conversation] for conversation in messages]

    def prepend_prompt_to_texts(
        self, texts: list[str | tuple[str, str] | list[str]], prompt: str
    ) -> list[str | list[str]]:
        """Each text with ``prompt`` put before it; for a pair, before its first text only (a list comes back)."""
        return [prompt + text if isinstance(text, str) else [prompt + text[0], *text[1:]] for text in texts]
