"""The encode engine: a pipeline that keeps the processor or GPU busy.

Stages (each a plain function or small class below):

1. prompts: the prompt is prepended and its token length noted (``apply_prompt``);
2. tokenize once: the input module tokenizes a window of texts in one batched call, unpadded (``prepare``);
3. sort: the window is ordered by true token count, longest first, so batches carry almost no padding;
4. batches: padded batches are built from those ids, with the input position of each row (``plan_batches``):
   ``batch_size`` texts a batch, or more short ones, up to ``PASS_TOKENS`` padded tokens;
   stages 2–4 run on a background thread (``prefetched``), a few batches ahead of the model: the fast tokenizers
   release the GIL, and on a GPU the batches are pinned so that host→device copies overlap with compute; a caller
   that has prepared its inputs and planned its batches itself (the server's batcher: a token budget per forward
   pass) hands them to ``run`` (``prepared``, ``plan``), which then only pads and runs them;
5. forward: features to the device (non-blocking) and the modules, without gradients (``forward_batch``); the one
   call where a backend plugs in: the Transformer module runs torch, ONNX Runtime or OpenVINO behind it;
6. post-process and write: truncate and normalize on the device, then copy into one preallocated output at the
   rows' input positions (``EmbeddingSink``); nothing in this loop waits on the device;
7. convert: the output leaves the device once, at the end, and is quantized or converted as asked.

Every model type runs this engine and supplies only its sink: SentenceTransformer's ``encode`` (``EmbeddingSink``,
``RowSink``), CrossEncoder's ``predict`` (its score sink); so do the multi-process pool's workers, the CLI and the
server. It is thread
safe: threads may share one model (the input module serializes calls of its shared tokenizer, see
``tokenizer_lock``). Non-text inputs (PIL images, image arrays, image paths and URLs) go to a model whose input module
takes them (``model.modalities``, e.g. a CLIPModel) through the same stages: its ``preprocess`` loads and processes
them on the background thread, after the window's texts (they have no token count to sort by), and each output row
keeps its input's place; any other model raises a ValueError naming the modality (``check_modalities``). Lone
surrogate code points in the inputs (``"\\ud800"``, as ``errors="surrogateescape"``
decodes bad bytes) are replaced with U+FFFD, with a warning naming the inputs' positions (``as_input_list``).
"""

from __future__ import annotations

import logging
import queue
import threading
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal, Protocol, TypeVar

import numpy as np
import torch
import torch.nn.functional as F
from tqdm.autonotebook import tqdm

from sentence_transformers.base import modality
from sentence_transformers.base.modules.input_module import has_own_preprocess, prepend_prompt
from sentence_transformers.base.modules.media import modality_key
from sentence_transformers.base.token_ids import TokenIds, replace_lone_surrogates, warn_replaced_surrogates
from sentence_transformers.util.quantization import quantize_embeddings
from sentence_transformers.util.tensor import truncate_embeddings

if TYPE_CHECKING:
    from sentence_transformers.base.model import BaseModel

logger = logging.getLogger(__name__)

OutputValue = Literal["sentence_embedding", "token_embeddings"] | None
Precision = Literal["float32", "int8", "uint8", "binary", "ubinary"]
PRECISIONS = ("float32", "int8", "uint8", "binary", "ubinary")
OUTPUT_VALUES = ("sentence_embedding", "token_embeddings", None)


@dataclass
class EncodeOptions:
    """What the caller asked for, after validation."""

    batch_size: int = 32
    show_progress_bar: bool = False
    output_value: OutputValue = "sentence_embedding"
    precision: Precision = "float32"
    convert_to_numpy: bool = True
    convert_to_tensor: bool = False
    normalize_embeddings: bool = False
    truncate_dim: int | None = None

    def validate(self) -> None:
        """Reject values that would otherwise fail deep inside the engine."""
        if not isinstance(self.batch_size, int) or self.batch_size < 1:
            raise ValueError(f"batch_size must be a positive integer, got {self.batch_size}.")
        if self.output_value not in OUTPUT_VALUES:
            raise ValueError(f"Unknown output_value {self.output_value!r}; expected one of {OUTPUT_VALUES}")
        if self.precision not in PRECISIONS:
            raise ValueError(f"Precision {self.precision!r} is not supported, must be one of {set(PRECISIONS)}")
        if self.truncate_dim is not None and (not isinstance(self.truncate_dim, int) or self.truncate_dim < 1):
            raise ValueError(f"truncate_dim must be a positive integer or None, got {self.truncate_dim!r}")


def is_single_input(inputs: Any) -> bool:
    """Whether ``inputs`` is one example rather than a batch: lists, tuples, a ``datasets`` Column and numpy arrays
    of strings or objects are batches; anything else (a string, a dict of routed texts, an image) is one example."""
    if isinstance(inputs, (list, tuple)):
        return False
    if isinstance(inputs, np.ndarray) and inputs.ndim >= 1 and inputs.dtype.kind in ("U", "O"):
        return False
    return not is_datasets_column(inputs)


def is_datasets_column(inputs: Any) -> bool:
    """Whether ``inputs`` is a ``datasets`` Column (``dataset["text"]``): a batch, without importing datasets."""
    return type(inputs).__name__ == "Column" and type(inputs).__module__.split(".")[0] == "datasets"


def as_input_list(inputs: Any) -> tuple[list[Any], bool]:
    """The inputs as a list, and whether a single input was given (its result is then unwrapped).

    Texts, (text, text) pairs and dicts of routed texts, and media inputs (``media_modality``: PIL images, arrays
    and tensors, audio dicts), which ``run`` checks against the model's modalities. Lone surrogate code points,
    which no tokenizer takes, are replaced with U+FFFD (``without_surrogates``).
    """
    if is_single_input(inputs) and (_is_text_input(inputs) or media_modality(inputs) is not None):
        return without_surrogates([inputs]), True
    if isinstance(inputs, np.ndarray):
        inputs = inputs.tolist()
    if not isinstance(inputs, Sequence) and not hasattr(inputs, "__iter__"):
        raise TypeError(f"encode() takes a string or a list of strings, got {type(inputs).__name__}")
    items = list(inputs)
    for position, item in enumerate(items):
        if not _is_text_input(item) and media_modality(item) is None:
            raise TypeError(
                f"encode() input at position {position} is {type(item).__name__} ({item!r:.50}); "
                "expected a string (or a dict for routed models, or a (text, text) pair, or an image for models "
                "that take images)"
            )
    _check_same_keys(items)
    return without_surrogates(items), False


def without_surrogates(items: list[Any]) -> list[Any]:
    """``items`` (texts, pairs or dicts) with lone surrogates replaced by U+FFFD, in place; a warning names the
    positions. Such code points (``"\\ud800"``) have no UTF-8 form: the tokenizers would reject the whole call."""
    positions = []
    for position, item in enumerate(items):
        if not _is_text_input(item):
            continue  # an image or other media input
        cleaned = _replace_surrogates(item)
        if cleaned is not item:
            items[position] = cleaned
            positions.append(position)
    if positions:
        warn_replaced_surrogates(positions)
    return items


def _replace_surrogates(item: Any) -> Any:
    """``item`` itself when it holds no surrogate, else a copy with each replaced."""
    if isinstance(item, str):
        text, count = replace_lone_surrogates(item)
        return text if count else item
    values = list(item.values()) if isinstance(item, dict) else list(item)
    cleaned = [_replace_surrogates(value) for value in values]
    if all(new is old for new, old in zip(cleaned, values, strict=True)):
        return item
    return dict(zip(item, cleaned, strict=True)) if isinstance(item, dict) else type(item)(cleaned)


def _check_same_keys(items: list[Any]) -> None:
    """Dict inputs choose a route by their key: one encode call must not mix routes."""
    keys = {tuple(item) for item in items if isinstance(item, dict) and _is_text_input(item)}
    if len(keys) > 1 or (keys and not all(isinstance(item, dict) for item in items)):
        found = sorted("/".join(key) for key in keys)
        raise ValueError(
            f"encode() got inputs with different keys ({', '.join(found)}) or mixed dicts and plain texts; "
            "encode each kind in its own call"
        )


def _is_pair(item: Any) -> bool:
    return isinstance(item, (tuple, list)) and len(item) == 2 and all(isinstance(part, str) for part in item)


def _is_text_input(item: Any) -> bool:
    if isinstance(item, str) or _is_pair(item):
        return True
    return isinstance(item, dict) and len(item) > 0 and all(isinstance(value, str) for value in item.values())


#: Seconds to wait for an image URL.
IMAGE_TIMEOUT = 30.0


def is_url(text: str) -> bool:
    """An http(s) URL (no spaces)."""
    return modality._is_url(text)


def is_image_reference(text: str) -> bool:
    """Whether a string names an image rather than being a text, for models that take images: what
    ``modality.is_image_url_or_path`` says (a data URI, an image URL, an existing image file), and beyond upstream a
    path without whitespace ending in an image extension that does not exist, so that the model's preprocessing names
    it in a FileNotFoundError instead of embedding the path as a text."""
    if modality.is_image_url_or_path(text):
        return True
    return text.lower().endswith(modality._IMAGE_EXTENSIONS) and not any(char.isspace() for char in text)


def media_modality(item: Any) -> str | None:
    """The modality of a non-text input by upstream's rules (``modality.infer_modality``): "image" for a PIL image or
    a 3-D array or tensor, "audio" for a 1-D or 2-D one or an ``{"array", "sampling_rate"}`` dict, "video" for a 4-D
    or 5-D one, "message" for chat messages; None for texts and anything unrecognised."""
    if isinstance(item, str) or _is_text_input(item):
        return None
    if isinstance(item, np.ndarray) and item.dtype.kind in "UO":
        return None
    if modality._is_non_text_pair(item):
        return "pair"  # e.g. (text, image): a query and a document message, for a model that takes messages
    try:
        found = modality.infer_modality(item)
    except ValueError:
        return None
    if isinstance(found, tuple):
        return modality.format_modality(found)  # a multimodal dict, e.g. "image+text"
    return found if found != "text" else None


def input_modality(item: Any, supported: Sequence[str] = ("text",)) -> str | None:
    """The modality of one input for a model taking ``supported`` modalities: a string naming an image
    (``is_image_reference``) is an image for a model that takes images, else text."""
    if isinstance(item, str):
        return "image" if "image" in supported and is_image_reference(item) else "text"
    if _is_text_input(item):
        return "text"
    return media_modality(item)


def _takes(model: BaseModel, supported: list[Any], found: str | None) -> bool:
    """Whether the model takes inputs of modality ``found``: a (text, image) pair as chat messages, a multimodal
    dict ("image+text") when it names that combination or combines its parts in messages (``model.supports``)."""
    if found is None:
        return False
    key = "message" if found == "pair" else modality_key(found)
    if key in supported:
        return True
    supports = getattr(model, "supports", None)
    return callable(supports) and bool(supports(key))


def check_modalities(model: BaseModel, inputs: list[Any]) -> list[bool] | None:
    """Which inputs are not texts (as ``input_modality`` tells, for the model's modalities), or None when all are
    texts. Raises a ValueError naming the modality of the first input the model cannot take."""
    supported = list(getattr(model, "modalities", None) or ["text"])
    takes_images = "image" in supported
    media = None
    for position, item in enumerate(inputs):
        is_text = _is_text_input(item) and not (takes_images and isinstance(item, str) and is_image_reference(item))
        if is_text and "text" in supported:
            continue
        found = input_modality(item, supported)
        if not _takes(model, supported, found):
            name = found or "unrecognised"
            shown = f"{'an' if name[0] in 'aeiou' else 'a'} {name} input"
            hint = " Use a model that embeds images, e.g. a CLIP model." if found == "image" else ""
            raise ValueError(
                f"{type(model).__name__}: input at position {position} is {shown} ({type(item).__name__}), "
                f"but this model takes {', '.join(supported)} only (model.modalities == {supported}).{hint}"
            )
        if media is None:
            media = [False] * len(inputs)
        media[position] = True
    return media


def resolve_prompt(model: BaseModel, prompt: str | None, prompt_name: str | None) -> str | None:
    """An explicit prompt wins, then the named prompt, then the model's default prompt."""
    if prompt is not None:
        if not isinstance(prompt, str):
            raise TypeError(f"prompt must be a string, got {type(prompt).__name__}")
        if prompt_name is not None:
            logger.warning(
                "Provide either a `prompt`, a `prompt_name`, or neither, but not both. "
                "Ignoring the `prompt_name` in favor of `prompt`."
            )
        return prompt
    if prompt_name is not None:
        if prompt_name not in model.prompts:
            raise ValueError(
                f"Prompt name '{prompt_name}' not found in the configured prompts dictionary with keys "
                f"{list(model.prompts.keys())!r}."
            )
        return model.prompts[prompt_name]
    if model.default_prompt_name is not None:
        return model.prompts.get(model.default_prompt_name)
    return None


def apply_prompt(model: BaseModel, inputs: list[Any], prompt: str | None) -> tuple[list[Any], dict[str, Any]]:
    """Prepend the prompt to each text and report its token length (Pooling may leave those tokens out).

    Not for a model whose batches go through ``preprocess`` (``uses_preprocess``): ``run`` hands it the prompt.
    """
    if not prompt or uses_preprocess(model):
        return inputs, {}
    prompted = prepend_prompt(inputs, prompt)
    length = prompt_length(model.tokenize, prompt)
    return prompted, {} if length is None else {"prompt_length": length}


def prompt_length(tokenize: Callable[[list[str]], dict[str, Any]], prompt: str) -> int | None:
    """Tokens of ``prompt`` without the closing special token (None for inputs without token ids)."""
    tokenized = tokenize([prompt])
    return tokenized["input_ids"].shape[-1] - 1 if "input_ids" in tokenized else None


def text_length(item: Any) -> int:
    """Length in characters, to sort inputs whose module cannot count tokens."""
    if isinstance(item, str):
        return len(item)
    if isinstance(item, dict):
        return len(next(iter(item.values())))
    return sum(len(part) for part in item)


# Texts tokenized and sorted together: at least this many, or this many batches' worth. Large enough that sorting
# within a window leaves as little padding as sorting everything; small enough that tokenizing the next window
# overlaps the model's work on this one, and that the ids held at once stay small.
MIN_WINDOW = 2048
WINDOW_BATCHES = 16
PREFETCH_BATCHES = 4
# Padded tokens a forward pass holds at least: when ``batch_size`` texts are shorter, the pass takes more of them
# (``sorted_batches``). 32 STSb sentences are ~450 tokens: too few to keep bf16 matrix units (AMX) or a GPU busy
# (bf16 on AMX: ~1.3–1.4× the texts/s of 32-text passes); 2,048 ran no faster than 1,024 and raised encode()'s peak
# memory by ~60 MB on 384 sentences (1,024: ~18 MB). Longer texts keep ``batch_size`` a pass, as upstream's. Only
# the grouping changes: each text's output is the same up to float rounding (its padding differs).
PASS_TOKENS = 1024


class PreparedInputs(Protocol):
    """Inputs ready for batching: each one's length, and the model features of any subset of them."""

    lengths: np.ndarray

    def features(self, indices: np.ndarray) -> dict[str, Any]: ...


class _TokenizedPerBatch:
    """For input modules that cannot tokenize ahead: lengths from ``token_lengths`` or characters (-1 for the
    ``media`` inputs: after the texts), and ``tokenize`` (or ``preprocess``, with the prompt, see
    ``uses_preprocess``) on each batch."""

    def __init__(
        self,
        model: BaseModel,
        inputs: list[Any],
        tokenize_kwargs: dict[str, Any],
        prompt: str | None = None,
        media: list[bool] | None = None,
    ) -> None:
        self.model, self.inputs, self.tokenize_kwargs, self.prompt = model, inputs, tokenize_kwargs, prompt
        self.preprocess = uses_preprocess(model)
        media = media if media is not None and any(media) else None
        texts = (
            inputs if media is None else [item for item, is_media in zip(inputs, media, strict=True) if not is_media]
        )
        count_tokens = getattr(model._first_module(), "token_lengths", None)
        if not texts:
            lengths = []
        elif callable(count_tokens):
            lengths = count_tokens(texts)
        else:
            lengths = [text_length(item) for item in texts]
        if media is not None:  # images and other media sort after every text (-1), in input order
            counted = iter(lengths)
            lengths = [-1 if is_media else next(counted) for is_media in media]
        self.lengths = np.asarray(lengths, dtype=np.int64)

    def features(self, indices: np.ndarray) -> dict[str, Any]:
        batch = [self.inputs[i] for i in indices]
        if self.preprocess:
            return self.model.preprocess(batch, prompt=self.prompt, **self.tokenize_kwargs)
        return self.model.tokenize(batch, **self.tokenize_kwargs)


def prepare(
    model: BaseModel,
    inputs: list[Any],
    kwargs: dict[str, Any],
    prompt: str | None = None,
    media: list[bool] | None = None,
) -> PreparedInputs:
    """Tokenize ``inputs`` once when the input module can (``pretokenize``), else defer to ``tokenize`` per batch.

    ``prompt`` is only for a model whose batches go through ``preprocess``; ``apply_prompt`` handled it otherwise.
    ``media`` marks the inputs that are not texts (``check_modalities``): those always go batch by batch.
    """
    has_media = media is not None and any(media)
    first = model._first_module()
    routed = "task" in kwargs and "task" in getattr(first, "forward_kwargs", ())
    tokenize_kwargs = {"task": kwargs["task"]} if routed else {}
    if kwargs.get("processing_kwargs"):  # per-call tokenizer arguments: the input module tokenizes each batch
        tokenize_kwargs["processing_kwargs"] = kwargs["processing_kwargs"]
    pretokenize = getattr(first, "pretokenize", None)
    if (
        callable(pretokenize)
        and not tokenize_kwargs
        and not _replaced(model, "tokenize")
        and not uses_preprocess(model)
        and not has_media
    ):
        prepared = pretokenize(inputs)
        if prepared is not None:
            return prepared
    prompt = prompt if uses_preprocess(model) else None
    return _TokenizedPerBatch(model, inputs, tokenize_kwargs, prompt, media if has_media else None)


def uses_preprocess(model: BaseModel) -> bool:
    """Whether batches go through ``model.preprocess`` (prompt included) instead of ``model.tokenize``.

    So when the input module implements ``preprocess`` itself (upstream 6.x's way) or a subclass or the caller
    replaced ``model.preprocess``; a replaced ``model.tokenize`` still wins, as before ``preprocess`` existed.
    """
    if _replaced(model, "tokenize"):
        return False
    return _replaced(model, "preprocess") or has_own_preprocess(model._first_module())


def _replaced(model: BaseModel, name: str) -> bool:
    """Whether a subclass or the caller replaced the method ``name`` of the model: then it must see every batch."""
    from sentence_transformers.base.model import BaseModel

    return name in vars(model) or getattr(type(model), name) is not getattr(BaseModel, name)


@dataclass
class Batch:
    """The padded features of some inputs and their positions in the caller's order."""

    features: dict[str, Any]
    positions: torch.Tensor


def window_size(batch_size: int) -> int:
    """How many texts are tokenized and sorted together."""
    return max(MIN_WINDOW, WINDOW_BATCHES * batch_size)


def plan_batches(
    model: BaseModel,
    inputs: list[Any],
    extra: dict[str, Any],
    batch_size: int,
    kwargs: dict[str, Any],
    pin_memory: bool = False,
    prompt: str | None = None,
    media: list[bool] | None = None,
    prepared: PreparedInputs | None = None,
    plan: Sequence[np.ndarray] | None = None,
) -> Iterator[Batch]:
    """Window by window: tokenize once, sort longest first (stable; ``media`` inputs after the texts), and yield
    padded batches. Media inputs are loaded and processed by the input module's ``preprocess``, batch by batch.

    ``prepared``: the inputs already prepared (``prepare``), taken as one window; ``plan``: the positions in it of
    each batch, in order (e.g. the server's token-budget plan), instead of ``batch_size`` a batch longest first.
    """
    if prepared is not None:
        for indices in (
            sorted_batches(prepared.lengths, batch_size, pass_tokens(model, prepared)) if plan is None else plan
        ):
            yield _batch(prepared, indices, 0, extra, pin_memory)
        return
    if plan is not None:
        raise ValueError("plan_batches() takes a plan only with the prepared inputs it indexes (prepared=...)")
    window = window_size(batch_size)
    for start in range(0, len(inputs), window):
        window_media = None if media is None else media[start : start + window]
        window_inputs = prepare(model, inputs[start : start + window], kwargs, prompt, window_media)
        for indices in sorted_batches(window_inputs.lengths, batch_size, pass_tokens(model, window_inputs)):
            # built in a helper: this frame keeps no reference to a batch once the consumer has it
            yield _batch(window_inputs, indices, start, extra, pin_memory)


def pass_tokens(model: BaseModel, prepared: PreparedInputs) -> int:
    """The padded tokens a forward pass of ``model`` may fill with short texts: ``PASS_TOKENS``, or the model type's
    own ``_encode_pass_tokens`` (0: ``batch_size`` texts a pass); 0 unless ``prepared`` holds each text's exact token
    ids (``TokenIds``): lengths counted ahead of a per-batch ``tokenize`` may be characters, or fall short of what it
    gives (a query expanded to a fixed length), so they cannot bound a pass's memory."""
    if not isinstance(prepared, TokenIds):
        return 0
    own = getattr(model, "_encode_pass_tokens", None)
    return PASS_TOKENS if own is None else own


def pass_capacities(longest: np.ndarray, batch_size: int, pass_tokens: int) -> np.ndarray:
    """How many texts a forward pass may hold, by the length of its longest text: ``batch_size``, or as many as fill
    ``pass_tokens`` padded tokens when they are short; media inputs (length -1) keep ``batch_size``. The one rule of
    ``sorted_batches`` and of the server's ``plan_forwards``."""
    longest = np.asarray(longest, dtype=np.int64)
    return np.where(longest < 0, batch_size, np.maximum(batch_size, pass_tokens // np.maximum(longest, 1)))


def sorted_batches(lengths: np.ndarray, batch_size: int, pass_tokens: int = 0) -> list[np.ndarray]:
    """Positions of each batch: longest first (stable), each as ``pass_capacities`` allows; a pass of texts stops
    short of the media inputs, which come after them."""
    order = np.argsort(-lengths, kind="stable")
    capacities = pass_capacities(lengths[order], batch_size, pass_tokens)
    texts = int((lengths >= 0).sum())  # sorted first
    batches, first = [], 0
    while first < len(order):
        size = int(capacities[first])
        if first < texts:
            size = max(batch_size, min(size, texts - first))
        batches.append(order[first : first + size])
        first += size
    return batches


def check_plan(plan: Sequence[np.ndarray], count: int) -> None:
    """Raise a ValueError unless ``plan`` holds each of the ``count`` positions exactly once."""
    flat = np.concatenate([np.asarray(indices, dtype=np.int64) for indices in plan]) if plan else np.zeros(0, np.int64)
    if len(flat) != count or not np.array_equal(np.sort(flat), np.arange(count)):
        raise ValueError(f"a plan must hold each of the {count} prepared inputs' positions exactly once")


def _batch(prepared: PreparedInputs, indices: np.ndarray, start: int, extra: dict[str, Any], pin: bool) -> Batch:
    """The batch of ``indices`` (of the window at ``start``), pinned for a fast copy to a GPU when ``pin``."""
    features = {**prepared.features(indices), **extra}
    positions = torch.from_numpy(indices + start)
    if pin:
        features = {k: v.pin_memory() if isinstance(v, torch.Tensor) else v for k, v in features.items()}
        positions = positions.pin_memory()
    return Batch(features, positions)


T = TypeVar("T")


class _Failure:
    def __init__(self, error: BaseException) -> None:
        self.error = error


_DONE = object()


def prefetched(items: Iterator[T], depth: int = PREFETCH_BATCHES) -> Iterator[T]:
    """Run ``items`` on a background thread, up to ``depth`` ahead; its errors are raised here.

    The thread starts an item only while fewer than ``depth`` are made and not yet taken (the one in the making
    counts), so a consumer that drops each item before asking for the next (``run`` does) never has more than
    ``depth + 1`` alive: with depth 1, the one in its hands and the next, made meanwhile. Leaving the loop early (an
    error, a break) stops the thread before this generator closes.
    """
    if depth < 1:
        raise ValueError(f"prefetched() needs depth >= 1, got {depth}")
    slots: queue.SimpleQueue[Any] = queue.SimpleQueue()
    room = threading.Semaphore(depth)
    stop = threading.Event()

    def wait_for_room() -> bool:
        while not stop.is_set():
            if room.acquire(timeout=0.05):
                return True
        return False

    def produce() -> None:
        iterator = iter(items)
        try:
            while wait_for_room():
                item = next(iterator, _DONE)
                slots.put(item)
                if item is _DONE:
                    return
                del item  # hold no reference while waiting for room
        except BaseException as error:  # noqa: BLE001 - handed to the consumer, which raises it
            slots.put(_Failure(error))

    worker = threading.Thread(target=produce, name="sbert-encode-prefetch", daemon=True)
    worker.start()
    try:
        while (item := slots.get()) is not _DONE:
            if isinstance(item, _Failure):
                raise item.error
            room.release()  # taken: the thread may start the next one
            yield item
            del item  # the consumer's reference is the only one left
    finally:
        stop.set()
        worker.join()


def to_device(features: dict[str, Any], device: torch.device) -> dict[str, Any]:
    """Tensors to ``device`` without blocking the host (the copies come from pinned memory on a GPU)."""
    return {
        key: value.to(device, non_blocking=True) if isinstance(value, torch.Tensor) else value
        for key, value in features.items()
    }


def forward_batch(model: BaseModel, features: dict[str, Any], device: torch.device, **kwargs) -> dict[str, Any]:
    """The forward step: one batch's features to the device and through the modules, without gradients."""
    with torch.no_grad():
        return model.forward(to_device(features, device), **kwargs)


class Sink(Protocol):
    """Where one forward pass's outputs go: each model type's own (embeddings, scores, rows)."""

    def add(self, features: dict[str, Any], positions: torch.Tensor) -> None: ...

    def result(self, dimension: int | None) -> Any: ...


class EmbeddingSink:
    """Sentence embeddings, truncated and normalized on the device, written into one preallocated output."""

    def __init__(self, count: int, options: EncodeOptions, device: torch.device) -> None:
        self.count, self.options, self.device = count, options, device
        self.output: torch.Tensor | None = None

    def add(self, features: dict[str, Any], positions: torch.Tensor) -> None:
        embeddings = truncate_embeddings(features["sentence_embedding"], self.options.truncate_dim)
        if self.options.normalize_embeddings:
            embeddings = F.normalize(embeddings, p=2, dim=1)
        if self.output is None:
            self.output = torch.empty((self.count, embeddings.shape[1]), dtype=embeddings.dtype, device=self.device)
        self.output.index_copy_(0, positions.to(self.device, non_blocking=True), embeddings.detach())

    def result(self, dimension: int | None) -> Any:
        """The output in the container the caller asked for; quantized, numpy and list outputs leave the device."""
        options = self.options
        output = self.output
        if output is None:
            output = torch.empty((0, dimension) if dimension else (0,), dtype=torch.float32)
        if options.precision != "float32":
            quantized = quantize_embeddings(_to_numpy(output), precision=options.precision)
            return torch.from_numpy(quantized) if options.convert_to_tensor else quantized
        if options.convert_to_tensor:
            return output
        if options.convert_to_numpy:
            return _to_numpy(output)
        return list(output)


class RowSink:
    """Per-input results (token embeddings, or all features) placed at their input positions."""

    def __init__(self, count: int, options: EncodeOptions) -> None:
        self.rows: list[Any] = [None] * count
        self.options = options

    def add(self, features: dict[str, Any], positions: torch.Tensor) -> None:
        if self.options.output_value == "token_embeddings":
            rows = _trimmed_token_embeddings(features)
        else:
            rows = _per_input_features(features)
        for position, row in zip(positions.tolist(), rows, strict=True):
            self.rows[position] = row

    def result(self, dimension: int | None) -> list[Any]:
        return self.rows


def run(
    model: BaseModel,
    inputs: list[Any],
    extra: dict[str, Any],
    options: EncodeOptions,
    prompt: str | None = None,
    sink: Sink | None = None,
    *,
    prepared: PreparedInputs | None = None,
    plan: Sequence[np.ndarray] | None = None,
    **kwargs,
) -> Any:
    """Encode ``inputs`` in eval mode, and return them as ``options`` ask.

    ``apply_prompt`` has applied the prompt, except for models that take it in ``preprocess`` (``uses_preprocess``):
    those get ``prompt`` here. ``prepared``: ``inputs`` already prepared (``prepare``, modalities checked), as the
    server's batcher has them; ``plan``: the positions of each forward pass in it (a partition of the inputs), e.g.
    a token budget's, instead of ``options.batch_size`` a pass.
    """
    count = len(inputs) if prepared is None else len(prepared.lengths)
    device = model.device
    if sink is None and options.output_value == "sentence_embedding":
        sink = EmbeddingSink(count, options, device)
    sink = sink or RowSink(count, options)
    batches, total = _batches(model, inputs, extra, options, prompt, prepared, plan, kwargs)
    # The bar counts batch_size batches, as upstream's: a forward pass of short texts may hold several (PASS_TOKENS).
    unit = options.batch_size if plan is None else None
    done = 0
    modes = [(module, module.training) for module in model.modules()]
    model.eval()
    # No tqdm object at all without a bar: creating one, even disabled, takes tqdm's lock, shared across fork.
    progress = tqdm(total=total, desc="Batches") if options.show_progress_bar else None
    try:
        for batch in batches:
            sink.add(forward_batch(model, batch.features, device, **kwargs), batch.positions)
            done += 1 if unit is None else len(batch.positions)
            del batch  # before the next is asked for: with images, at most two pixel batches are alive (prefetched)
            if progress is not None:
                progress.update((done if unit is None else min(total, -(-done // unit))) - progress.n)
    finally:
        batches.close()
        if progress is not None:
            progress.close()
        for module, training in modes:
            module.training = training
    dimension = getattr(model, "get_embedding_dimension", None) or getattr(
        model, "get_sentence_embedding_dimension", None
    )
    return sink.result(dimension() if callable(dimension) else None)


def _batches(
    model: BaseModel,
    inputs: list[Any],
    extra: dict[str, Any],
    options: EncodeOptions,
    prompt: str | None,
    prepared: PreparedInputs | None,
    plan: Sequence[np.ndarray] | None,
    kwargs: dict[str, Any],
) -> tuple[Iterator[Batch], int]:
    """The batches of ``run`` (made on a background thread when there are several), and the progress bar's total:
    ``batch_size`` batches, or the plan's passes."""
    if prepared is None:
        media = check_modalities(model, inputs)
        if plan is not None:
            raise ValueError("run() takes a plan only with the prepared inputs it indexes (prepared=...)")
        total = -(-len(inputs) // options.batch_size)
    else:
        media = None
        if plan is not None:
            check_plan(plan, len(prepared.lengths))
        total = -(-len(prepared.lengths) // options.batch_size) if plan is None else len(plan)
    has_media = media is not None or (prepared is not None and bool((prepared.lengths < 0).any()))
    pin_memory = model.device.type == "cuda"
    batches = plan_batches(
        model, inputs, extra, options.batch_size, kwargs, pin_memory, prompt, media, prepared=prepared, plan=plan
    )
    if total > 1:
        # Decoded images are large (a batch of 32 224×224 pixel values is ~19 MB): one batch is made while the model
        # runs the one before, so two are alive at most.
        batches = prefetched(batches, depth=1 if has_media else PREFETCH_BATCHES)
    return batches, total


def _to_numpy(embeddings: torch.Tensor) -> np.ndarray:
    embeddings = embeddings.detach().cpu()
    return (embeddings.float() if embeddings.dtype == torch.bfloat16 else embeddings).numpy()


def _trimmed_token_embeddings(features: dict[str, Any]) -> list[torch.Tensor]:
    """Token embeddings of each input up to its last real token (padding removed)."""
    tokens = features["token_embeddings"].detach()
    mask = features.get("attention_mask")
    if mask is None:
        return list(tokens)
    positions = torch.arange(mask.shape[1], device=mask.device)
    last = torch.where(mask.bool(), positions, torch.zeros_like(positions)).max(dim=1).values
    return [tokens[row, : int(end) + 1] for row, end in enumerate(last.tolist())]


def _per_input_features(features: dict[str, Any]) -> list[dict[str, Any]]:
    """One dict per input; per-batch values (like prompt_length) are shared by every row."""
    size = len(features["sentence_embedding"])

    def row(index: int) -> dict[str, Any]:
        return {
            name: value[index] if isinstance(value, (torch.Tensor, list, tuple)) and len(value) == size else value
            for name, value in features.items()
        }

    return [row(index) for index in range(size)]


def convert(results: list[Any] | torch.Tensor, options: EncodeOptions, dimension: int | None) -> Any:
    """Quantize and stack results in the caller's order (per-input rows, or one [n, dim] tensor of sentence
    embeddings) into the container the caller asked for."""
    if options.output_value != "sentence_embedding":
        return results
    sink = EmbeddingSink(len(results), options, torch.device("cpu"))
    if isinstance(results, torch.Tensor):
        sink.output = results
    elif results:
        sink.output = torch.stack(results)
    return sink.result(dimension)
