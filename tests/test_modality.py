"""Modality inference and input formatting (``base.modality`` / ``base.modality_types``), upstream 6.2's rules.

Expected values are written out from the documented rules: a string is an image/video/audio when it is a URL or an
existing file with that kind's extension (images also as ``data:image/`` URIs, videos also as YouTube URLs); arrays
and tensors go by dimensions (1-2 audio, 3 image, 4-5 video); dicts are chat messages, audio/video dicts or dicts
keyed by modality. Pillow may be missing: a stand-in ``PIL.Image`` module is put in ``sys.modules`` then (the
module looks PIL up there, never importing it), and the real one is used when installed.
"""

from __future__ import annotations

import importlib.util
import logging
import subprocess
import sys
import textwrap
import types
import typing
from collections import defaultdict
from pathlib import Path

import numpy as np
import pytest
import torch

from sentence_transformers.base import modality_types
from sentence_transformers.base.modality import (
    KNOWN_MODEL_TYPES_MESSAGE_FORMATS,
    PAIR_ROLE_PROBES,
    PAIR_ROLES,
    InputFormatter,
    format_modality,
    infer_batch_modality,
    infer_modality,
    is_audio_url_or_path,
    is_image_url_or_path,
    is_message_dict,
    is_video_url_or_path,
    raise_unsupported_modality_error,
)
from sentence_transformers.base.modality_types import (
    MODALITY_TO_PROCESSOR_ARG,
    MULTIMODAL_DICT_KEYS,
    AudioDict,
    MessageDict,
    MultimodalInput,
    VideoDict,
)

HAS_PILLOW = importlib.util.find_spec("PIL") is not None


class _StandInImage:
    """The stand-in for ``PIL.Image.Image`` when Pillow is not installed."""

    def __init__(self, tag: str) -> None:
        self.tag = tag

    def __repr__(self) -> str:
        return f"<image {self.tag}>"


@pytest.fixture
def new_image(monkeypatch):
    """A factory of PIL images: real ones with Pillow, else stand-ins whose class sits at ``PIL.Image.Image``."""
    if HAS_PILLOW:
        from PIL import Image

        return lambda tag="": Image.new("RGB", (4, 4))
    package, module = types.ModuleType("PIL"), types.ModuleType("PIL.Image")
    module.Image = _StandInImage
    package.Image = module
    monkeypatch.setitem(sys.modules, "PIL", package)
    monkeypatch.setitem(sys.modules, "PIL.Image", module)
    return lambda tag="": _StandInImage(tag)


@pytest.fixture
def media_files(tmp_path, monkeypatch):
    """Empty files of every kind in the working directory (only existence and the name count)."""
    names = ["cat.png", "CAT.JPG", "clip.MP4", "song.mp3", "voice.WAV", "notes.txt", "movie.mkv", "a.webp"]
    for name in names:
        (tmp_path / name).write_bytes(b"")
    (tmp_path / "folder.png").mkdir()
    monkeypatch.chdir(tmp_path)
    return tmp_path


# --- string inputs --------------------------------------------------------------------------------------------------

# (text, is image, is audio, is video), for files that exist (see media_files) and URLs.
STRING_CASES = [
    ("hello world", False, False, False),
    ("cat.png", True, False, False),
    ("CAT.JPG", True, False, False),  # extensions match case-insensitively
    ("a.webp", True, False, False),
    ("missing.png", False, False, False),  # a path only counts when the file exists
    ("folder.png", False, False, False),  # ... and is a file
    ("notes.txt", False, False, False),
    ("song.mp3", False, True, False),
    ("voice.WAV", False, True, False),
    ("clip.MP4", False, False, True),
    ("movie.mkv", False, False, True),
    ("https://example.com/cat.JPEG", True, False, False),  # a URL need not exist: its path's extension counts
    ("http://example.com/img/dog.gif?size=large", True, False, False),  # the query is not part of the path
    ("https://example.com/scan.tiff", True, False, False),
    ("https://example.com/pic.bmp", True, False, False),
    ("https://example.com/cat.png and a caption", False, False, False),  # a space: a sentence, not a URL
    ("ftp://example.com/cat.png", False, False, False),  # only http(s) URLs; no such file either
    ("HTTPS://EXAMPLE.COM/CAT.PNG", False, False, False),  # the scheme is matched as written
    ("https://[[broken/cat.png", False, False, False),  # urlparse refuses it: not a URL of anything
    ("data:image/png;base64,iVBORw0KGgo=", True, False, False),
    ("data:audio/wav;base64,UklGRg==", False, False, False),  # only image data URIs are recognised
    ("https://example.com/talk.flac", False, True, False),
    ("https://example.com/talk.ogg#t=10", False, True, False),
    ("https://example.com/talk.aac", False, True, False),
    ("https://example.com/v.mov", False, False, True),
    ("https://example.com/v.avi", False, False, True),
    ("https://example.com/v.wmv", False, False, True),
    ("https://example.com/v.flv", False, False, True),
    ("https://www.youtube.com/watch?v=abc", False, False, True),  # YouTube pages are videos whatever the path
    ("https://youtu.be/abc", False, False, True),
    ("https://m.youtube.com/watch?v=abc", False, False, True),
    ("https://vimeo.com/123", False, False, False),
    ("https://example.com/", False, False, False),
    ("", False, False, False),
]


@pytest.mark.parametrize(("text", "image", "audio", "video"), STRING_CASES)
def test_media_string_checks(media_files, text, image, audio, video):
    assert is_image_url_or_path(text) is image
    assert is_audio_url_or_path(text) is audio
    assert is_video_url_or_path(text) is video


@pytest.mark.parametrize(("text", "image", "audio", "video"), STRING_CASES)
def test_infer_modality_of_strings(media_files, text, image, audio, video):
    expected = "image" if image else "video" if video else "audio" if audio else "text"
    assert infer_modality(text) == expected
    # A text-only model reads every string as text, media-looking or not.
    assert infer_modality(text, supported_modalities=["text"]) == "text"
    # A modality the model lacks turns that string (only) into text.
    assert infer_modality(text, supported_modalities=["text", "audio", "video"]) == ("text" if image else expected)


def test_media_paths_resolve_relative_to_the_working_directory(media_files, tmp_path_factory, monkeypatch):
    assert is_image_url_or_path(str(media_files / "cat.png"))
    monkeypatch.chdir(tmp_path_factory.mktemp("elsewhere"))
    assert not is_image_url_or_path("cat.png")
    assert is_image_url_or_path(str(media_files / "cat.png"))


# --- non-string inputs ----------------------------------------------------------------------------------------------

ARRAY_CASES = [
    (np.zeros(16000), "audio"),  # mono waveform
    (np.zeros((2, 16000)), "audio"),  # stereo waveform
    (torch.zeros(16000), "audio"),
    (np.zeros((32, 32, 3), dtype=np.uint8), "image"),  # (H, W, C)
    (torch.zeros(3, 32, 32), "image"),  # (C, H, W)
    (np.zeros((8, 3, 16, 16)), "video"),  # (frames, C, H, W)
    (torch.zeros(2, 8, 3, 16, 16), "video"),  # (batch, frames, C, H, W)
]


@pytest.mark.parametrize(("array", "expected"), ARRAY_CASES, ids=lambda v: getattr(v, "shape", v))
def test_infer_modality_of_arrays_and_tensors(array, expected):
    assert infer_modality(array) == expected


@pytest.mark.parametrize("array", [np.array(1.0), torch.tensor(1.0), torch.zeros((1,) * 6)])
def test_arrays_of_other_ranks_are_refused(array):
    with pytest.raises(ValueError, match=rf"{array.ndim} dimensions"):
        infer_modality(array)


def test_infer_modality_of_pil_images_and_their_collections(new_image):
    image = new_image("a")
    assert infer_modality(image) == "image"
    assert infer_modality({"image": image}) == "image"  # a one-key dict is its modality
    assert infer_modality({"image": [image, new_image("b")]}) == "image"
    assert infer_modality({"text": "a cat", "image": image}) == ("image", "text")  # keys sorted
    assert infer_modality({"video": [image], "text": "x", "audio": np.zeros(4)}) == ("audio", "text", "video")


def test_an_image_like_object_is_not_an_image_without_pil_loaded(monkeypatch):
    monkeypatch.delitem(sys.modules, "PIL.Image", raising=False)
    with pytest.raises(ValueError, match="_StandInImage"):
        infer_modality(_StandInImage("x"))


DICT_CASES = [
    ({"role": "user", "content": "hi"}, "message"),
    ({"role": "user", "content": [{"type": "text", "text": "hi"}], "name": "x"}, "message"),
    ({"role": "user", "content": "hi", "array": np.zeros(3)}, "message"),  # a message first
    ({"array": np.zeros(16000), "sampling_rate": 16000}, "audio"),
    ({"array": np.zeros((4, 3, 8, 8)), "video_metadata": {"fps": 2}}, "video"),
    ({"array": np.zeros((4, 3, 8, 8)), "video_metadata": None}, "video"),
    ({"text": "a caption"}, "text"),
    ({"audio": np.zeros(10)}, "audio"),
    ({"video": "clip.mp4"}, "video"),
    ({"text": "x", "audio": np.zeros(10)}, ("audio", "text")),
    ({"video": np.zeros((2, 3, 4, 4)), "image": np.zeros((3, 4, 4))}, ("image", "video")),
]


@pytest.mark.parametrize(("sample", "expected"), DICT_CASES, ids=lambda v: str(v)[:40])
def test_infer_modality_of_dicts(sample, expected):
    assert infer_modality(sample) == expected


def test_message_lists_and_text_pairs():
    message = {"role": "user", "content": "hi"}
    assert infer_modality([message, {"role": "assistant", "content": "hello"}]) == "message"
    assert infer_modality([message, "anything after"]) == "message"  # the first item decides
    assert infer_modality(("query", "document")) == "text"
    assert infer_modality(["query", "document"]) == "text"
    # a pair of media-looking strings is still a text pair
    assert infer_modality(("https://x.com/a.png", "https://x.com/b.png")) == "text"


@pytest.mark.parametrize(
    ("sample", "match"),
    [
        ({"array": np.zeros(4)}, r"'sampling_rate'.*'video_metadata'.*\['array'\]"),
        ({}, "empty dict"),
        ({"pixels": 1, "text": "x"}, r"\['pixels'\]"),
        (["a", "b", "c"], "list"),  # three texts are no pair
        (("only",), "tuple"),
        ([], "list"),
        (({"role": "user", "content": "hi"},), "tuple"),  # a conversation is a list
        ((np.zeros((3, 4, 4)), "a caption"), "tuple"),  # a non-text pair has no modality of its own
        (3, "int"),
        (None, "NoneType"),
        (b"bytes", "bytes"),
        (3.5, "float"),
        (np.float64(1.0), "float64"),  # a numpy scalar is no array
    ],
    ids=lambda v: str(v)[:30],
)
def test_infer_modality_errors(sample, match):
    with pytest.raises(ValueError, match=match):
        infer_modality(sample)


def test_misplaced_metadata_keys_get_a_hint():
    with pytest.raises(ValueError, match=r'\{"video": \{"array": frames, "video_metadata"') as caught:
        infer_modality({"video": np.zeros((2, 3, 4, 4)), "video_metadata": {"fps": 1}})
    assert "sampling_rate" not in str(caught.value)
    with pytest.raises(ValueError, match=r'\{"audio": \{"array": waveform, "sampling_rate": 16000\}\}') as caught:
        infer_modality({"audio": np.zeros(4), "sampling_rate": 16000})
    assert "video_metadata" not in str(caught.value)
    with pytest.raises(ValueError) as caught:
        infer_modality({"text": "x", "color": "red"})
    assert "sampling rate" not in str(caught.value) and "metadata" not in str(caught.value)


def test_is_message_dict():
    assert is_message_dict({"role": "user", "content": ""})
    assert is_message_dict({"role": "user", "content": [], "extra": 1})
    assert not is_message_dict({"role": "user"})
    assert not is_message_dict({"content": "hi"})
    assert not is_message_dict([("role", "user"), ("content", "hi")])
    assert not is_message_dict("role content")


# --- optional decoders ----------------------------------------------------------------------------------------------


class _Samples:
    def __init__(self, data: torch.Tensor, rate: int) -> None:
        self.data, self.sample_rate = data, rate


class _FakeAudioDecoder:
    def __init__(self, data: torch.Tensor, rate: int) -> None:
        self._samples = _Samples(data, rate)

    def get_all_samples(self) -> _Samples:
        return self._samples


class _FakeVideoDecoder:
    def __init__(self, frames: int) -> None:
        self._frames = torch.arange(frames * 3 * 2 * 2, dtype=torch.float32).reshape(frames, 3, 2, 2)
        self.metadata = types.SimpleNamespace(average_fps=12.5, num_frames=frames, duration_seconds=frames / 12.5)

    def __len__(self) -> int:
        return self._frames.shape[0]

    def get_frames_in_range(self, start: int, stop: int) -> types.SimpleNamespace:
        return types.SimpleNamespace(data=self._frames[start:stop])


@pytest.fixture
def decoders(monkeypatch):
    """torchcodec's decoders, as stand-ins at ``torchcodec.decoders`` (the module looks them up there)."""
    package, module = types.ModuleType("torchcodec"), types.ModuleType("torchcodec.decoders")
    module.AudioDecoder, module.VideoDecoder = _FakeAudioDecoder, _FakeVideoDecoder
    package.decoders = module
    monkeypatch.setitem(sys.modules, "torchcodec", package)
    monkeypatch.setitem(sys.modules, "torchcodec.decoders", module)


def test_decoders_are_audio_and_video(decoders):
    audio = _FakeAudioDecoder(torch.tensor([[1.0, 3.0], [3.0, 5.0]]), 8000)
    video = _FakeVideoDecoder(3)
    assert infer_modality(audio) == "audio"
    assert infer_modality(video) == "video"
    modality, inputs, extra = InputFormatter("x").parse_inputs([audio])
    assert modality == "audio"
    np.testing.assert_allclose(inputs["audio"][0], [2.0, 4.0])  # channels averaged to mono
    assert extra == {"audio": {"sampling_rate": 8000}}
    modality, inputs, extra = InputFormatter("x").parse_inputs([video])
    assert modality == "video" and tuple(inputs["video"][0].shape) == (3, 3, 2, 2)
    assert extra == {
        "video": {
            "video_metadata": [{"fps": 12.5, "total_num_frames": 3, "duration": 0.24, "frames_indices": [0, 1, 2]}]
        }
    }


def test_decoders_are_nothing_without_torchcodec_loaded(monkeypatch):
    monkeypatch.delitem(sys.modules, "torchcodec.decoders", raising=False)
    with pytest.raises(ValueError, match="_FakeVideoDecoder"):
        infer_modality(_FakeVideoDecoder(2))


# --- batches, display, errors ---------------------------------------------------------------------------------------


def test_infer_batch_modality(new_image):
    image = new_image()
    assert infer_batch_modality([]) == "text"
    assert infer_batch_modality(["a", "b"]) == "text"
    assert infer_batch_modality([image, np.zeros((3, 8, 8))]) == "image"
    assert infer_batch_modality(["a", image]) == "message"  # mixed
    assert infer_batch_modality([("q", "d"), "a text"]) == "text"
    assert infer_batch_modality([{"text": "a", "image": image}] * 2) == ("image", "text")
    assert infer_batch_modality([{"text": "a", "image": image}, image]) == "message"
    assert infer_batch_modality(["https://x.com/a.png", "text"]) == "message"
    assert infer_batch_modality(["https://x.com/a.png", "text"], supported_modalities=["text"]) == "text"
    with pytest.raises(ValueError):
        infer_batch_modality(["text", 5])


def test_format_modality():
    assert format_modality("text") == "text"
    assert format_modality(("image", "text")) == "image+text"
    assert format_modality(("audio", "text", "video")) == "audio+text+video"


def test_unsupported_modality_errors(new_image):
    image = new_image()
    message = {"role": "user", "content": "hi"}
    source = "SentenceTransformer model"

    def error(inputs, modality, supported):
        with pytest.raises(ValueError) as caught:
            raise_unsupported_modality_error(inputs, modality, supported, source)
        return str(caught.value)

    text = error([message, [message]], "message", ["text"])
    assert "SentenceTransformer model" in text and "chat-style" in text and "Supported modalities: text." in text
    assert "mixes" not in text
    text = error([message, "plain"], "message", ["text", "image"])
    assert "chat-style" in text and "mixes" in text and "Supported modalities: text, image." in text
    text = error(["plain", image], "message", ["text"])
    assert "(image, text)" in text and "not support image" in text
    text = error(["plain", image], "message", ["text", "image"])
    assert "(image, text)" in text and "call of its own" in text and "not support" not in text
    text = error([{"text": "a", "image": image}, np.zeros(3)], "message", ["text", "image"])
    assert "(audio, image+text)" in text and "not support audio" in text
    # an (image, text) pair has no modality of its own: the generic message
    text = error([(image, "caption")], "message", ["text", "image"])
    assert "'message' modality" in text
    text = error([{"text": "a", "image": image}], ("image", "text"), ["text", "image"])
    assert "image and text" in text and "cannot combine" in text
    text = error([{"text": "a", "audio": np.zeros(3)}], ("audio", "text"), ["text", "image"])
    assert "'audio+text' modality" in text and "Supported modalities: text, image." in text
    text = error([image], "image", [("image", "text"), "text"])
    assert "'image' modality" in text and "Supported modalities: image+text, text." in text


# --- InputFormatter -------------------------------------------------------------------------------------------------


class _Template:
    def __init__(self, template):
        self.chat_template = template


@pytest.mark.parametrize(
    ("model_type", "template", "expected"),
    [
        ("bert", None, "structured"),  # no template: structured
        ("qwen2", "{{ message['content'] }}", "flat"),
        ("qwen2", "{% for item in message.content %}{{ item.type }}{% endfor %}", "structured"),
        ("qwen2", "{{ message.content[0].text }}", "structured"),
        ("qwen2", "{{ message.content[-1] }}", "structured"),
        ("qwen2", '{% if c["type"] == "image" %}', "structured"),
        ("qwen2", "", "structured"),
        ("qwen2", {"default": "{{ message.content }}"}, "structured"),  # several named templates
        ("gpt_oss", "{{ item.type }}", "flat"),  # a known model type wins over the template
        ("apertus", None, "flat"),
    ],
)
def test_message_format_auto(model_type, template, expected):
    assert InputFormatter(model_type, processor=_Template(template)).message_format == expected


def test_message_format_without_processor_and_explicit():
    assert InputFormatter("gpt_oss").message_format == "structured"  # no processor: no inference at all
    assert InputFormatter("bert", "flat", processor=_Template("{{ item.type }}")).message_format == "flat"
    formatter = InputFormatter("bert", supported_modalities=["text"])
    assert (formatter.model_type, formatter.processor, formatter.supported_modalities) == ("bert", None, ["text"])
    assert KNOWN_MODEL_TYPES_MESSAGE_FORMATS["deepseek_v3"] == "flat"
    with pytest.raises(ValueError, match="message_format"):
        InputFormatter("bert", "Flat")


def test_parse_single_modality_batches(new_image):
    image_a, image_b = new_image("a"), new_image("b")
    formatter = InputFormatter("x")
    assert formatter.parse_inputs([]) == ("text", {"text": []}, {})
    assert formatter.parse_inputs(["a", ("q", "d")]) == ("text", {"text": ["a", ("q", "d")]}, {})
    modality, inputs, extra = formatter.parse_inputs([image_a, {"image": image_b}])
    assert modality == "image" and inputs == {"image": [image_a, image_b]} and extra == {}
    assert isinstance(extra, defaultdict)
    message = {"role": "user", "content": "hi"}
    conversation = [message, {"role": "assistant", "content": "yo"}]
    assert formatter.parse_inputs([message, conversation]) == ("message", {"message": [[message], conversation]}, {})


def test_parse_multimodal_dicts(new_image):
    image_a, image_b = new_image("a"), new_image("b")
    formatter = InputFormatter("x")
    same_order = [{"text": "a", "image": image_a}, {"text": "b", "image": image_b}]
    assert formatter.parse_inputs(same_order) == (
        ("image", "text"),
        {"text": ["a", "b"], "image": [image_a, image_b]},
        {},
    )
    other_order = [{"text": "a", "image": image_a}, {"image": image_b, "text": "b"}]
    structured = [
        [{"role": "user", "content": [{"type": "text", "text": "a"}, {"type": "image", "image": image_a}]}],
        [{"role": "user", "content": [{"type": "image", "image": image_b}, {"type": "text", "text": "b"}]}],
    ]
    assert formatter.parse_inputs(other_order) == ("message", {"message": structured}, {})
    # without "message" support the keys are grouped all the same (in the first input's order)
    no_messages = InputFormatter("x", supported_modalities=["text", "image"])
    assert no_messages.parse_inputs(other_order)[:2] == (
        ("image", "text"),
        {"text": ["a", "b"], "image": [image_a, image_b]},
    )


def test_parse_mixed_batches_become_messages(new_image):
    image = new_image()
    message = {"role": "user", "content": "hi"}
    batch = ["a text", image, message, ("q", "d")]
    structured = InputFormatter("x", "structured").parse_inputs(batch)
    assert structured == (
        "message",
        {
            "message": [
                [{"role": "user", "content": [{"type": "text", "text": "a text"}]}],
                [{"role": "user", "content": [{"type": "image", "image": image}]}],
                [{"role": "user", "content": [{"type": "message", "message": [message]}]}],
                [{"role": "user", "content": [{"type": "text", "text": "q"}, {"type": "text", "text": "d"}]}],
            ]
        },
        {},
    )
    flat = InputFormatter("x", "flat").parse_inputs(batch)
    assert flat[1]["message"] == [
        [{"role": "user", "content": "a text"}],
        [{"role": "user", "content": image}],
        [{"role": "user", "content": [message]}],
        [{"role": "user", "content": ("q", "d")}],
    ]
    # a media URL is text to a model without that modality, so the batch is not mixed
    assert InputFormatter("x", supported_modalities=["text"]).parse_inputs(["https://x.com/a.png", "b"]) == (
        "text",
        {"text": ["https://x.com/a.png", "b"]},
        {},
    )


def test_parse_non_text_pairs(new_image):
    image = new_image()
    message = {"role": "user", "content": "hi"}
    batch = [(image, "a caption"), ("q", "d"), "alone", message, {"text": "t", "image": image}]
    modality, inputs, _ = InputFormatter("x", "structured").parse_inputs(batch)
    assert modality == "message"
    assert inputs["message"] == [
        [
            {"role": "query", "content": [{"type": "image", "image": image}]},
            {"role": "document", "content": [{"type": "text", "text": "a caption"}]},
        ],
        [
            {"role": "query", "content": [{"type": "text", "text": "q"}]},
            {"role": "document", "content": [{"type": "text", "text": "d"}]},
        ],
        [{"role": "user", "content": [{"type": "text", "text": "alone"}]}],
        [message],
        [{"role": "user", "content": [{"type": "text", "text": "t"}, {"type": "image", "image": image}]}],
    ]
    _, inputs, _ = InputFormatter("x", "flat").parse_inputs([(image, "a caption"), ("q", "d")])
    assert inputs["message"] == [
        [{"role": "query", "content": image}, {"role": "document", "content": "a caption"}],
        [{"role": "query", "content": "q"}, {"role": "document", "content": "d"}],
    ]
    # a two-item list holding a conversation is no pair: it is a conversation
    conversation = [message, {"role": "assistant", "content": [{"type": "text", "text": "x"}]}]
    assert InputFormatter("x").parse_inputs([conversation])[0] == "message"


def test_parse_audio_collects_one_sampling_rate():
    wave = np.zeros(8)
    formatter = InputFormatter("x")
    modality, inputs, extra = formatter.parse_inputs(
        [{"array": wave, "sampling_rate": 16000}, {"audio": {"array": wave, "sampling_rate": 16000}}, wave]
    )
    assert modality == "audio" and len(inputs["audio"]) == 3
    assert all(item is wave for item in inputs["audio"])
    assert extra == {"audio": {"sampling_rate": 16000}}
    _, inputs, extra = formatter.parse_inputs([{"audio": [wave, {"array": wave, "sampling_rate": 8000}]}])
    assert inputs == {"audio": [[wave, wave]]} and extra == {"audio": {"sampling_rate": 8000}}
    _, inputs, extra = formatter.parse_inputs([{"text": "t", "audio": {"array": wave, "sampling_rate": 22050}}])
    assert inputs == {"text": ["t"], "audio": [wave]} and extra == {"audio": {"sampling_rate": 22050}}
    assert formatter.parse_inputs([wave, "song.mp3"])[2] == {}  # no rate given, none recorded
    with pytest.raises(ValueError, match=r"16000 Hz and at 8000 Hz"):
        formatter.parse_inputs([{"array": wave, "sampling_rate": 16000}, {"array": wave, "sampling_rate": 8000}])


def test_parse_video_metadata(new_image):
    frames = [new_image("1"), new_image("2"), new_image("3")]
    clip = np.zeros((4, 3, 8, 8))
    formatter = InputFormatter("x")
    # no metadata anywhere: none is passed on
    modality, inputs, extra = formatter.parse_inputs([{"video": frames}, clip, "https://x.com/v.mp4"])
    assert modality == "video" and extra == {}
    assert inputs["video"][0] == [frames] and inputs["video"][1] is clip
    assert inputs["video"][2] == "https://x.com/v.mp4"
    # some metadata: the others are filled from their frame counts
    given = {"fps": 2.0, "total_num_frames": 4}
    _, inputs, extra = formatter.parse_inputs([{"array": clip, "video_metadata": given}, {"video": frames}, clip])
    assert extra == {
        "video": {
            "video_metadata": [
                given,
                {"total_num_frames": 3, "fps": None, "duration": None, "frames_indices": [0, 1, 2]},
                {"total_num_frames": 4, "fps": None, "duration": None, "frames_indices": [0, 1, 2, 3]},
            ]
        }
    }
    # a video given by path cannot be measured: refused
    with pytest.raises(ValueError, match="video_metadata"):
        formatter.parse_inputs([{"array": clip, "video_metadata": given}, "https://x.com/v.mp4"])
    # an empty list under "video" holds no video (not one video of no frames)
    assert formatter.parse_inputs([{"video": []}]) == ("video", {"video": [[]]}, {})
    assert formatter.to_message({"video": []}) == [{"role": "user", "content": []}]
    # two videos in one input: one metadata entry each
    _, inputs, extra = formatter.parse_inputs([{"video": [clip, {"array": clip, "video_metadata": given}]}])
    assert len(inputs["video"][0]) == 2 and len(extra["video"]["video_metadata"]) == 2


def test_pair_to_messages(new_image):
    image = new_image()
    structured = InputFormatter("x", "structured")
    assert structured.pair_to_messages(("q", image)) == [
        {"role": "query", "content": [{"type": "text", "text": "q"}]},
        {"role": "document", "content": [{"type": "image", "image": image}]},
    ]
    # a dict already typed by modality keeps its keys; an audio dict is wrapped as audio
    audio = {"array": np.zeros(4), "sampling_rate": 16000}
    assert structured.pair_to_messages([{"text": "t", "image": image}, audio]) == [
        {"role": "query", "content": [{"type": "text", "text": "t"}, {"type": "image", "image": image}]},
        {"role": "document", "content": [{"type": "audio", "audio": audio}]},
    ]
    assert InputFormatter("x", "flat").pair_to_messages(({"image": image}, "d")) == [
        {"role": "query", "content": {"image": image}},
        {"role": "document", "content": "d"},
    ]
    for formatter in (structured, InputFormatter("x", "flat")):
        with pytest.raises(ValueError):
            formatter.pair_to_messages((3, "d"))  # no modality
        with pytest.raises(ValueError):
            formatter.pair_to_messages(("a", "b", "c"))
    assert PAIR_ROLES == ("query", "document")


def test_to_message(new_image, caplog):
    image_a, image_b = new_image("a"), new_image("b")
    structured = InputFormatter("x", "structured")
    assert structured.to_message({"text": ["a", "b"], "image": image_a}, role="query") == [
        {
            "role": "query",
            "content": [
                {"type": "text", "text": "a"},
                {"type": "text", "text": "b"},
                {"type": "image", "image": image_a},
            ],
        }
    ]
    # images under "video" are one video's frames; a tuple of frames becomes a list
    clip = np.zeros((2, 3, 4, 4))
    assert structured.to_message({"video": [image_a, image_b]})[0]["content"] == [
        {"type": "video", "video": [image_a, image_b]}
    ]
    assert structured.to_message({"video": [(image_a, image_b), clip]})[0]["content"] == [
        {"type": "video", "video": [image_a, image_b]},
        {"type": "video", "video": clip},
    ]
    flat = InputFormatter("x", "flat")
    assert flat.to_message({"text": "hi"}) == [{"role": "user", "content": "hi"}]
    with caplog.at_level(logging.WARNING, logger="sentence_transformers.base.modality"):
        assert flat.to_message({"text": "hi", "image": image_a}) == [
            {"role": "user", "content": [{"type": "text", "text": "hi"}, {"type": "image", "image": image_a}]}
        ]
    assert "structured" in caplog.text


def test_batch_to_message(new_image):
    image = new_image()
    formatter = InputFormatter("x", "structured")
    assert formatter.batch_to_message("text", {}) == ("message", {"message": []})
    assert formatter.batch_to_message("text", {"text": ["a", ("q", "d")]}) == (
        "message",
        {
            "message": [
                [{"role": "user", "content": [{"type": "text", "text": "a"}]}],
                [
                    {"role": "query", "content": [{"type": "text", "text": "q"}]},
                    {"role": "document", "content": [{"type": "text", "text": "d"}]},
                ],
            ]
        },
    )
    # only the named modalities are taken, in the inputs' key order
    _, result = formatter.batch_to_message(("image", "text"), {"text": ["t"], "image": [image], "audio": [0]})
    assert result == {
        "message": [[{"role": "user", "content": [{"type": "text", "text": "t"}, {"type": "image", "image": image}]}]]
    }


def test_static_checks():
    assert InputFormatter.is_text_pair(("a", "b")) and InputFormatter.is_text_pair(["a", "b"])
    assert not InputFormatter.is_text_pair(("a",))
    assert not InputFormatter.is_text_pair(("a", 1))
    assert not InputFormatter.is_text_pair("ab")
    assert not InputFormatter.is_text_pair(("a", "b", "c"))
    only_text = InputFormatter.is_text_only_messages
    assert only_text([])
    assert only_text([[{"role": "u", "content": "x"}, {"role": "u", "content": [{"type": "text"}, {"text": "y"}]}]])
    assert not only_text([[{"role": "u", "content": "x"}], [{"role": "u", "content": [{"type": "image"}]}]])
    assert not only_text([[{"role": "u", "content": None}]])


def test_normalize_messages(caplog):
    text_item = [{"type": "text", "text": "y"}]
    two_items = [{"type": "text", "text": "y"}, {"type": "image", "image": "i.png"}]
    messages = [
        {"role": "u", "content": "x", "name": "n"},
        {"role": "u", "content": text_item},
        {"role": "u", "content": two_items},
        {"content": "no role"},
        {"role": "u", "content": []},
    ]
    with caplog.at_level(logging.WARNING, logger="sentence_transformers.base.modality"):
        flat = InputFormatter("x", "flat").normalize_messages(messages)
    assert flat == [
        {"role": "u", "content": "x", "name": "n"},
        {"role": "u", "content": "y"},
        {"role": "u", "content": two_items},
        {"role": "u", "content": []},
    ]
    assert "no role" in caplog.text and "2 content items" in caplog.text
    assert InputFormatter("x", "structured").normalize_messages(messages) == [
        {"role": "u", "content": [{"type": "text", "text": "x"}], "name": "n"},
        {"role": "u", "content": text_item},
        {"role": "u", "content": two_items},
        {"role": "u", "content": []},
    ]


def test_prepend_prompts():
    conversations = [[{"role": "user", "content": "x"}], []]
    structured = InputFormatter("x", "structured").prepend_prompt_to_messages(conversations, "Be brief.")
    system = {"role": "system", "content": [{"type": "text", "text": "Be brief."}]}
    assert structured == [[system, {"role": "user", "content": "x"}], [system]]
    assert structured[0][0]["content"] is not structured[1][0]["content"]  # not one shared list
    assert conversations == [[{"role": "user", "content": "x"}], []]  # the inputs are left alone
    flat = InputFormatter("x", "flat").prepend_prompt_to_messages(conversations, "Be brief.")
    assert flat == [[{"role": "system", "content": "Be brief."}, {"role": "user", "content": "x"}], [flat[1][0]]]
    assert InputFormatter("x").prepend_prompt_to_texts(["a", ("q", "d"), ["x", "y"]], "query: ") == [
        "query: a",
        ["query: q", "d"],
        ["query: x", "y"],
    ]


def test_has_pair_roles():
    formatter = InputFormatter("x")
    assert formatter.has_pair_roles([[{"role": "user"}], [{"role": "query"}, {"role": "document"}]])
    assert not formatter.has_pair_roles([[{"role": "query"}], [{"role": "document"}]])  # one conversation each
    assert not formatter.has_pair_roles([])


class _Renderer:
    """A processor whose chat template is a Python function of the messages; counts its renders."""

    def __init__(self, render, template="a template"):
        self.render, self.chat_template, self.calls, self.kwargs = render, template, 0, []

    def apply_chat_template(self, messages, tokenize=True, **kwargs):
        assert tokenize is False
        self.calls += 1
        self.kwargs.append(kwargs)
        return self.render(messages)


def _texts(message):
    content = message["content"]
    return content if isinstance(content, str) else " ".join(item.get("text", "") for item in content)


def test_pair_roles_failure():
    keeps_both = _Renderer(lambda messages: "|".join(f"{m['role']}:{_texts(m)}" for m in messages))
    formatter = InputFormatter("x", "structured", processor=keeps_both)
    assert formatter.pair_roles_failure({"enable_thinking": False}) is None
    assert keeps_both.calls == len(PAIR_ROLE_PROBES) == 3
    assert keeps_both.kwargs[0] == {"enable_thinking": False}
    assert formatter.pair_roles_failure({"enable_thinking": False}) is None
    assert keeps_both.calls == 3  # cached
    formatter.pair_roles_failure()
    assert keeps_both.calls == 6  # other kwargs, another probe

    drops_query = _Renderer(lambda messages: "|".join(_texts(m) for m in messages if m["role"] != "query"))
    failure = InputFormatter("x", processor=drops_query).pair_roles_failure()
    assert "'query'" in failure and "'document'" not in failure
    failure = InputFormatter("x", processor=_Renderer(lambda messages: "constant")).pair_roles_failure()
    assert "'query' and 'document'" in failure

    def raises(messages):
        raise KeyError("role")

    assert "KeyError" in InputFormatter("x", processor=_Renderer(raises)).pair_roles_failure()
    assert InputFormatter("x").pair_roles_failure() == "the model has no chat template"
    assert InputFormatter("x", processor=_Renderer(raises, None)).pair_roles_failure() == (
        "the model has no chat template"
    )

    # fixing the template on a loaded model takes effect (the cache is keyed on the template)
    switching = _Renderer(lambda messages: "constant", template="v1")
    formatter = InputFormatter("x", "flat", processor=switching)
    assert formatter.pair_roles_failure() is not None
    switching.chat_template = "v2"
    switching.render = lambda messages: "|".join(f"{m['role']}:{m['content']}" for m in messages)
    assert formatter.pair_roles_failure() is None


def test_pair_role_probes_differ_per_side():
    (query, document), (query_changed, same_document), (same_query, document_changed) = PAIR_ROLE_PROBES
    assert same_document == document and same_query == query
    for changed, base in ((query_changed, query), (document_changed, document)):
        assert changed[0] != base[0] and len(changed) != len(base)


# --- modality_types -------------------------------------------------------------------------------------------------


def test_typed_dicts():
    assert AudioDict.__required_keys__ == {"array", "sampling_rate"}
    assert VideoDict.__required_keys__ == {"array", "video_metadata"}
    assert MessageDict.__required_keys__ == {"role", "content"}
    assert MultimodalInput.__required_keys__ == frozenset()
    assert MultimodalInput.__optional_keys__ == {"text", "image", "audio", "video"}
    # the dicts the rules above recognise are these TypedDicts
    assert infer_modality(AudioDict(array=np.zeros(3), sampling_rate=16000)) == "audio"
    assert infer_modality(VideoDict(array=np.zeros((2, 3, 4, 4)), video_metadata=None)) == "video"
    assert is_message_dict(MessageDict(role="user", content="hi"))
    assert infer_modality(MultimodalInput(text="a", audio=np.zeros(3))) == ("audio", "text")


def test_constants_and_aliases():
    assert MULTIMODAL_DICT_KEYS == frozenset({"text", "image", "audio", "video"})
    assert MODALITY_TO_PROCESSOR_ARG == {
        "text": "text",
        "image": "images",
        "audio": "audio",
        "video": "videos",
        "message": "message",
    }
    assert modality_types.TextInput is str
    image_args = typing.get_args(modality_types.ImageInput)
    assert str in image_args and np.ndarray in image_args and torch.Tensor in image_args
    assert typing.ForwardRef("PILImage") in image_args
    assert modality_types.AudioDict in typing.get_args(modality_types.AudioInput)
    assert modality_types.VideoDict in typing.get_args(modality_types.VideoInput)
    assert typing.get_args(modality_types.MessageFormat) == ("auto", "structured", "flat")
    assert typing.get_args(modality_types.ProcessorArgName) == ("text", "images", "audio", "videos", "message")
    single, multiple = typing.get_args(modality_types.Modality)
    assert typing.get_args(single) == ("text", "image", "audio", "video", "message")
    assert typing.get_origin(multiple) is tuple
    assert modality_types.MultimodalInput in typing.get_args(modality_types.SingleInput)
    assert modality_types.MessageDict not in typing.get_args(modality_types.PairableInput)
    for name in ("MessageInput", "PairInput"):
        assert typing.get_args(getattr(modality_types, name))
    with pytest.raises(AttributeError):
        modality_types.NotAName  # noqa: B018


def test_optional_classes_resolve_lazily(new_image, monkeypatch):
    monkeypatch.delitem(modality_types.__dict__, "PILImage", raising=False)
    monkeypatch.delitem(modality_types.__dict__, "AudioDecoder", raising=False)
    assert modality_types.PILImage is type(new_image())
    # torchcodec absent (or unusable): None, as upstream
    monkeypatch.setitem(sys.modules, "torchcodec", None)
    monkeypatch.setitem(sys.modules, "torchcodec.decoders", None)
    assert modality_types.AudioDecoder is None


def test_importing_never_imports_optional_packages(tmp_path):
    """Pillow and torchcodec stand-ins on the path must stay unimported until asked for."""
    (tmp_path / "PIL").mkdir()
    (tmp_path / "PIL" / "__init__.py").write_text("")
    (tmp_path / "PIL" / "Image.py").write_text("class Image:\n    pass\n")
    (tmp_path / "torchcodec").mkdir()
    (tmp_path / "torchcodec" / "__init__.py").write_text("")
    (tmp_path / "torchcodec" / "decoders.py").write_text("class AudioDecoder: pass\nclass VideoDecoder: pass\n")
    script = textwrap.dedent(
        f"""
        import sys
        import sentence_transformers  # transformers may look at the real Pillow: load it first, then forget
        for name in [name for name in sys.modules if name.split(".")[0] in ("PIL", "torchcodec")]:
            del sys.modules[name]
        for name in ("sentence_transformers.base.modality", "sentence_transformers.base.modality_types"):
            sys.modules.pop(name, None)
        sys.path.insert(0, {str(tmp_path)!r})
        import sentence_transformers.base.modality as modality
        import sentence_transformers.base.modality_types as types_
        assert "PIL" not in sys.modules and "PIL.Image" not in sys.modules, "PIL imported"
        assert "torchcodec" not in sys.modules, "torchcodec imported"
        assert modality.infer_modality("x") == "text"
        assert "PIL" not in sys.modules, "PIL imported by infer_modality"
        assert types_.PILImage.__module__ == "PIL.Image"
        assert types_.VideoDecoder.__module__ == "torchcodec.decoders"
        print("ok")
        """
    )
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, cwd=Path(__file__).parent)
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.strip() == "ok"
