"""The shapes an input can take, per modality, and the names the modality machinery shares.

A model input is text, an image, audio, a video, a chat conversation, or a dict combining several of these;
a cross-encoder also takes pairs of them. The aliases below spell those shapes out for type checkers.

Optional packages (Pillow for images, torchcodec for audio and video decoders) are never imported here: their
classes appear in the aliases as forward references. ``PILImage``, ``AudioDecoder`` and ``VideoDecoder`` are still
attributes of this module, resolved on first access to the class (or ``None`` when the package is not installed).
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any, Literal, TypeAlias, TypedDict, Union

import numpy as np
import torch

if TYPE_CHECKING:  # real classes for type checkers; at run time the aliases hold forward references
    from PIL.Image import Image as PILImage
    from torchcodec.decoders import AudioDecoder, VideoDecoder


class AudioDict(TypedDict):
    """A waveform with the rate it was sampled at, e.g. ``{"array": waveform, "sampling_rate": 16000}``."""

    array: np.ndarray | torch.Tensor
    sampling_rate: int


class VideoDict(TypedDict):
    """A video's frames (one array, or a sequence of images) with optional metadata such as ``fps``."""

    array: np.ndarray | torch.Tensor | list[ImageInput] | tuple[ImageInput, ...]
    video_metadata: dict[str, Any] | None


class MessageDict(TypedDict):
    """One chat message: a role and either plain text or a list of typed content items."""

    role: str
    content: str | list[dict[str, Any]]


# One modality each. Union (rather than ``|``) because the optional packages' classes are forward references.
TextInput: TypeAlias = str
ImageInput: TypeAlias = Union[str, "PILImage", np.ndarray, torch.Tensor]  # noqa: UP007
AudioInput: TypeAlias = Union[str, np.ndarray, torch.Tensor, AudioDict, "AudioDecoder"]  # noqa: UP007
VideoInput: TypeAlias = Union[  # noqa: UP007
    str, np.ndarray, torch.Tensor, VideoDict, "VideoDecoder", list[ImageInput], tuple[ImageInput, ...]
]
MessageInput: TypeAlias = Union[MessageDict, list[MessageDict]]  # noqa: UP007


class MultimodalInput(TypedDict, total=False):
    """One input made of several modalities, each key holding one item or a list/tuple of items."""

    text: TextInput | list[TextInput] | tuple[TextInput, ...]
    image: ImageInput | list[ImageInput] | tuple[ImageInput, ...]
    audio: AudioInput | list[AudioInput] | tuple[AudioInput, ...]
    video: VideoInput | list[VideoInput] | tuple[VideoInput, ...]


SingleInput: TypeAlias = Union[TextInput, ImageInput, AudioInput, VideoInput, MessageInput, MultimodalInput]  # noqa: UP007

# A cross-encoder scores pairs; each side is any single input except a chat conversation.
PairableInput: TypeAlias = Union[TextInput, ImageInput, AudioInput, VideoInput, MultimodalInput]  # noqa: UP007
PairInput: TypeAlias = Union[tuple[PairableInput, PairableInput], list[PairableInput]]  # noqa: UP007

# What modality inference answers: one name, or the sorted key names of a multimodal dict.
Modality: TypeAlias = Union[  # noqa: UP007
    Literal["text", "image", "audio", "video", "message"], tuple[Literal["text", "image", "audio", "video"], ...]
]

# The keyword a Hugging Face processor takes each modality under, and the chat message layouts.
ProcessorArgName: TypeAlias = Literal["text", "images", "audio", "videos", "message"]
MessageFormat: TypeAlias = Literal["auto", "structured", "flat"]
MODALITY_TO_PROCESSOR_ARG: dict[Modality, ProcessorArgName] = {
    "text": "text",
    "image": "images",
    "audio": "audio",
    "video": "videos",
    "message": "message",
}

# The keys a multimodal dict input may hold.
MULTIMODAL_DICT_KEYS = frozenset(("text", "image", "audio", "video"))

# Classes of optional packages, resolved on first access: (module, attribute, errors meaning "not usable").
_OPTIONAL_CLASSES = {
    "PILImage": ("PIL.Image", "Image", (ImportError,)),
    # torchcodec loads FFmpeg's libraries when imported, which fails with OSError/RuntimeError without them
    "AudioDecoder": ("torchcodec.decoders", "AudioDecoder", (ImportError, OSError, RuntimeError)),
    "VideoDecoder": ("torchcodec.decoders", "VideoDecoder", (ImportError, OSError, RuntimeError)),
}


def __getattr__(name: str) -> Any:
    if name not in _OPTIONAL_CLASSES:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    module_name, attribute, errors = _OPTIONAL_CLASSES[name]
    try:
        value = getattr(importlib.import_module(module_name), attribute)
    except errors:
        value = None
    globals()[name] = value  # resolved once; the forward references above now resolve too
    return value
