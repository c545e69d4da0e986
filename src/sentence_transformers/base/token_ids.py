"""TokenIds: the token ids of many texts, tokenized once and kept compact, padded into batches on demand.

The encode engine tokenizes each text once (in large batched calls of the fast tokenizer), sorts by the true token
count, and builds each padded batch from these ids: no second tokenization, no per-text Python objects kept.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch


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
