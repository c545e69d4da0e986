"""The encode engine: prompts → sort by length → batches → tokenize → forward → post-process → restore order → convert.

Each step is a plain function; ``forward_batch`` is the single call where another backend would plug in.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

import numpy as np
import torch
import torch.nn.functional as F
from tqdm.autonotebook import trange

from sentence_transformers.quantization import quantize_embeddings
from sentence_transformers.util import batch_to_device, truncate_embeddings

if TYPE_CHECKING:
    from sentence_transformers.sentence_transformer.model import SentenceTransformer

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
            raise ValueError(f"batch_size must be a positive integer, got {self.batch_size!r}")
        if self.output_value not in OUTPUT_VALUES:
            raise ValueError(f"Unknown output_value {self.output_value!r}; expected one of {OUTPUT_VALUES}")
        if self.precision not in PRECISIONS:
            raise ValueError(f"Unknown precision {self.precision!r}; expected one of {PRECISIONS}")
        if self.truncate_dim is not None and (not isinstance(self.truncate_dim, int) or self.truncate_dim < 1):
            raise ValueError(f"truncate_dim must be a positive integer or None, got {self.truncate_dim!r}")


def as_input_list(inputs: Any) -> tuple[list[Any], bool]:
    """The inputs as a list, and whether a single input was given (its result is then unwrapped)."""
    if isinstance(inputs, (str, dict)):
        return [inputs], True
    if isinstance(inputs, np.ndarray):
        inputs = inputs.tolist()
    if not isinstance(inputs, Sequence) and not hasattr(inputs, "__iter__"):
        raise TypeError(f"encode() takes a string or a list of strings, got {type(inputs).__name__}")
    items = list(inputs)
    for position, item in enumerate(items):
        if not _is_text_input(item):
            raise TypeError(
                f"encode() input at position {position} is {type(item).__name__} ({item!r:.50}); "
                "expected a string (or a dict for routed models, or a (text, text) pair)"
            )
    _check_same_keys(items)
    return items, False


def _check_same_keys(items: list[Any]) -> None:
    """Dict inputs choose a route by their key: one encode call must not mix routes."""
    keys = {tuple(item) for item in items if isinstance(item, dict)}
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


def resolve_prompt(model: SentenceTransformer, prompt: str | None, prompt_name: str | None) -> str | None:
    """An explicit prompt wins, then the named prompt, then the model's default prompt."""
    if prompt is not None:
        if not isinstance(prompt, str):
            raise TypeError(f"prompt must be a string, got {type(prompt).__name__}")
        return prompt
    if prompt_name is not None:
        if prompt_name not in model.prompts:
            known = ", ".join(repr(name) for name in model.prompts) or "none"
            raise ValueError(f"Unknown prompt_name {prompt_name!r}; this model's prompts are: {known}")
        return model.prompts[prompt_name]
    if model.default_prompt_name is not None:
        return model.prompts.get(model.default_prompt_name)
    return None


def apply_prompt(model: SentenceTransformer, inputs: list[Any], prompt: str | None) -> tuple[list[Any], dict[str, Any]]:
    """Prepend the prompt to each text and report its token length (Pooling may leave those tokens out)."""
    if not prompt:
        return inputs, {}
    prompted = [prompt + text if isinstance(text, str) else text for text in inputs]
    length = prompt_length(model.tokenize, prompt)
    return prompted, {} if length is None else {"prompt_length": length}


def prompt_length(tokenize: Callable[[list[str]], dict[str, Any]], prompt: str) -> int | None:
    """Tokens of ``prompt`` without the closing special token (None for inputs without token ids)."""
    tokenized = tokenize([prompt])
    return tokenized["input_ids"].shape[-1] - 1 if "input_ids" in tokenized else None


def text_length(item: Any) -> int:
    """Length used to sort inputs so that batches hold texts of similar length."""
    if isinstance(item, str):
        return len(item)
    if isinstance(item, dict):
        return len(next(iter(item.values())))
    return sum(len(part) for part in item)


def length_order(model: SentenceTransformer, inputs: list[Any]) -> np.ndarray:
    """Indices of the inputs, longest first (stable, so equal lengths keep the caller's order).

    Lengths are counted in tokens when the input module can count them (batches then carry almost no padding,
    about a quarter less work on short sentences than sorting by characters), else in characters.
    """
    count_tokens = getattr(model._first_module(), "token_lengths", None)
    lengths = count_tokens(inputs) if callable(count_tokens) and inputs else [text_length(item) for item in inputs]
    return np.argsort(-np.asarray(lengths, dtype=np.int64), kind="stable")


def batches(items: list[Any], batch_size: int, show_progress_bar: bool) -> Iterator[list[Any]]:
    """Consecutive batches, with a tqdm bar when asked."""
    for start in trange(0, len(items), batch_size, desc="Batches", disable=not show_progress_bar):
        yield items[start : start + batch_size]


def forward_batch(
    model: SentenceTransformer, batch: list[Any], extra: dict[str, Any], device: torch.device, **kwargs
) -> dict[str, Any]:
    """Tokenize one batch and run the pipeline on it without gradients."""
    first = model._first_module()
    routed = "task" in kwargs and "task" in getattr(first, "forward_kwargs", ())
    features = model.tokenize(batch, **({"task": kwargs["task"]} if routed else {}))
    features.update(extra)
    features = batch_to_device(features, device)
    with torch.no_grad():
        return model.forward(features, **kwargs)


def postprocess(features: dict[str, Any], options: EncodeOptions) -> list[Any]:
    """Per-input results of one batch: sentence embeddings, trimmed token embeddings, or all features."""
    if options.output_value == "token_embeddings":
        return _trimmed_token_embeddings(features)
    if options.output_value is None:
        return _per_input_features(features)
    embeddings = truncate_embeddings(features["sentence_embedding"], options.truncate_dim)
    if options.normalize_embeddings:
        embeddings = F.normalize(embeddings, p=2, dim=1)
    embeddings = embeddings.detach()
    if options.convert_to_numpy and not options.convert_to_tensor:
        embeddings = embeddings.cpu()
    return list(embeddings)


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


def convert(results: list[Any], options: EncodeOptions, dimension: int | None) -> Any:
    """Quantize and stack the restored-order results into the container the caller asked for."""
    if options.output_value != "sentence_embedding":
        return results
    if options.precision != "float32":
        quantized = quantize_embeddings(_stack(results, dimension), precision=options.precision)
        return torch.from_numpy(quantized) if options.convert_to_tensor else quantized
    if options.convert_to_tensor:
        return _stack(results, dimension)
    if options.convert_to_numpy:
        stacked = _stack(results, dimension)
        return (stacked.float() if stacked.dtype == torch.bfloat16 else stacked).numpy()
    return results


def _stack(results: list[torch.Tensor], dimension: int | None) -> torch.Tensor:
    if results:
        return torch.stack(results)
    return torch.empty((0, dimension) if dimension else (0,), dtype=torch.float32)
