"""TokenIds: the token ids of many texts, tokenized once and kept compact, padded into batches on demand.

The encode engine tokenizes each text once (in large batched calls of the fast tokenizer), sorts by the true token
count, and builds each padded batch from these ids: no second tokenization, no per-text Python objects kept.

Also what every tokenizing path shares: ``tokenizer_lock`` (one shared tokenizer, many threads) and
``replace_lone_surrogates`` (texts the Rust tokenizers cannot take).
"""

from __future__ import annotations

import copy
import logging
import re
import threading
import weakref
from collections.abc import Sequence
from typing import Any

import numpy as np
import torch

logger = logging.getLogger(__name__)


class TokenIds:
    """Flat token ids (and token type ids) of a list of texts, with the padding rules of their tokenizer.

    Args:
        input_ids: One list of ids per text, as a Hugging Face tokenizer returns them without padding.
        token_type_ids: Their token type ids, or None when the tokenizer gives none.
        pad_token_id / pad_token_type_id: Values written into padding positions.
        padding_side: "right" or "left", as the tokenizer pads.
    """

    def __init__(
        self,
        input_ids: Sequence[Sequence[int]],
        token_type_ids: Sequence[Sequence[int]] | None,
        pad_token_id: int,
        pad_token_type_id: int = 0,
        padding_side: str = "right",
    ) -> None:
        if padding_side not in ("right", "left"):
            raise ValueError(f"padding_side must be 'right' or 'left', got {padding_side!r}")
        self.lengths = np.fromiter((len(ids) for ids in input_ids), dtype=np.int64, count=len(input_ids))
        self.offsets = np.zeros(len(self.lengths) + 1, dtype=np.int64)
        np.cumsum(self.lengths, out=self.offsets[1:])
        self.ids = _flatten(input_ids, int(self.offsets[-1]))
        self.type_ids = None if token_type_ids is None else _flatten(token_type_ids, int(self.offsets[-1]))
        self.pad_token_id = pad_token_id
        self.pad_token_type_id = pad_token_type_id
        self.padding_side = padding_side

    def __len__(self) -> int:
        return len(self.lengths)

    @classmethod
    def concat(cls, parts: Sequence[TokenIds]) -> TokenIds:
        """The texts of ``parts`` in one TokenIds, in order (from one tokenizer: the first part's padding rules),
        joined as arrays without a Python loop over the tokens."""
        joined = copy.copy(parts[0])
        joined.lengths = np.concatenate([part.lengths for part in parts])
        joined.offsets = np.zeros(len(joined.lengths) + 1, dtype=np.int64)
        np.cumsum(joined.lengths, out=joined.offsets[1:])

        def flat(arrays: list[np.ndarray]) -> np.ndarray:  # each part's ids, then the one spare element
            pieces = [array[: int(part.offsets[-1])] for array, part in zip(arrays, parts, strict=True)]
            return np.concatenate([*pieces, np.zeros(1, dtype=np.int64)])

        joined.ids = flat([part.ids for part in parts])
        types = [part.type_ids for part in parts]
        joined.type_ids = flat(types) if all(ids is not None for ids in types) else None
        return joined

    def features(self, indices: np.ndarray) -> dict[str, torch.Tensor]:
        """The padded batch of the texts at ``indices``: input_ids, (token_type_ids,) attention_mask, as int64.

        The same tensors the tokenizer returns with ``padding=True`` for these texts.
        """
        lengths = self.lengths[indices]
        width = int(lengths.max()) if len(lengths) else 0
        columns = np.arange(width, dtype=np.int64)
        # Position of each row's first real token: 0 with right padding, after the pads with left padding.
        shift = (width - lengths)[:, None] if self.padding_side == "left" else np.zeros((len(lengths), 1), np.int64)
        valid = (columns >= shift) & (columns < shift + lengths[:, None])
        source = np.where(valid, self.offsets[indices][:, None] + columns - shift, 0)
        features = {"input_ids": _gather(self.ids, source, valid, self.pad_token_id)}
        if self.type_ids is not None:
            features["token_type_ids"] = _gather(self.type_ids, source, valid, self.pad_token_type_id)
        features["attention_mask"] = torch.from_numpy(valid.astype(np.int64))
        return features


def _flatten(rows: Sequence[Sequence[int]], total: int) -> np.ndarray:
    # One spare element, so that padding positions can gather index 0 even when every text is empty.
    flat = np.zeros(total + 1, dtype=np.int64)
    flat[:total] = np.fromiter((token for row in rows for token in row), dtype=np.int64, count=total)
    return flat


def _gather(flat: np.ndarray, source: np.ndarray, valid: np.ndarray, pad: int) -> torch.Tensor:
    return torch.from_numpy(np.where(valid, flat[source], pad))


# ------------------------------------------------------------------ one shared tokenizer, many threads

_LOCKS: weakref.WeakKeyDictionary[Any, threading.RLock] = weakref.WeakKeyDictionary()
_LOCKS_GUARD = threading.Lock()
_UNREFERENCEABLE_LOCK = threading.RLock()


def tokenizer_lock(tokenizer: Any) -> threading.RLock:
    """The lock to hold around every call of ``tokenizer``: one per tokenizer object, whoever calls it.

    A Hugging Face fast tokenizer writes the padding and truncation of each call onto its shared backend
    ``tokenizers.Tokenizer`` (``set_truncation_and_padding``) and then tokenizes: without the lock, a thread asking
    for no padding (the encode engine) can switch padding off under a thread asking for it (``tokenize``), which
    then fails to build tensors, or gets padded ids back. Reentrant, so a method holding it may call another.
    The lock is not stored on the tokenizer, which stays picklable and copyable.
    """
    try:
        lock = _LOCKS.get(tokenizer)
    except TypeError:  # not weak-referenceable: one lock for all such tokenizers
        return _UNREFERENCEABLE_LOCK
    if lock is None:
        with _LOCKS_GUARD:
            lock = _LOCKS.setdefault(tokenizer, threading.RLock())
    return lock


# ------------------------------------------------------------------ texts the tokenizers cannot take

_SURROGATE = re.compile("[\ud800-\udfff]")
REPLACEMENT_CHARACTER = "\ufffd"


def replace_lone_surrogates(text: str) -> tuple[str, int]:
    """``text`` with each surrogate code point (U+D800 to U+DFFF) replaced by U+FFFD, and how many there were.

    Such code points have no UTF-8 form, so the Rust tokenizers reject the whole batch with a misleading
    ``TypeError``; Python makes them from undecodable bytes (``errors="surrogateescape"``) or unpaired ``\\ud8xx``
    escapes. U+FFFD is what a UTF-8 decoder writes for bad bytes, so the text still encodes, as its neighbours do.
    """
    if text.isascii():  # the common case, and O(1) in CPython
        return text, 0
    return _SURROGATE.subn(REPLACEMENT_CHARACTER, text)


def replace_surrogates_in(texts: list[str], what: str = "text") -> list[str]:
    """``texts`` with lone surrogates replaced (``texts`` itself when none has any); a warning names the positions."""
    positions: list[int] = []
    cleaned = texts
    for position, text in enumerate(texts):
        fixed, count = replace_lone_surrogates(text)
        if count:
            if cleaned is texts:
                cleaned = list(texts)
            cleaned[position] = fixed
            positions.append(position)
    if positions:
        warn_replaced_surrogates(positions, what)
    return cleaned


def warn_replaced_surrogates(positions: list[int], what: str = "input") -> None:
    """Log which inputs had surrogate code points replaced by U+FFFD (the first ten positions, and the count)."""
    shown = ", ".join(str(position) for position in positions[:10]) + (", ..." if len(positions) > 10 else "")
    logger.warning(
        "Replaced lone surrogate code points (U+D800-U+DFFF, e.g. from undecodable bytes) with U+FFFD in %d %s(s) "
        "at position %s",
        len(positions),
        what,
        shown,
    )
