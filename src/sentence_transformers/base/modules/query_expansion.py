"""ColBERT query expansion: queries padded to a fixed width whose pad positions become [MASK] tokens.

Multi-vector (late-interaction) models score every query position with MaxSim, including these expansion
positions, which learn to stand for query context the text left out. The ``Transformer`` applies it to
``task="query"`` batches when its ``query_expansion`` is set; ``MultiVectorMask`` then keeps those positions.
"""

from __future__ import annotations

import logging
from typing import Any, Literal, TypedDict

import torch

try:  # Python 3.11+
    from typing import NotRequired
except ImportError:  # pragma: no cover - Python 3.10
    from typing_extensions import NotRequired

logger = logging.getLogger(__name__)

STRATEGIES = ("fixed", "min")
_KEYS = frozenset({"strategy", "attend", "token", "length"})
EXPANSION_FEATURE = "query_expansion_positions"


class QueryExpansionConfig(TypedDict):
    """How ``task="query"`` batches are expanded (upstream's keys).

    - ``strategy``: "fixed" (classic ColBERT) makes every query exactly ``length`` tokens, truncating longer ones;
      "min" only pads shorter queries up to ``length`` and leaves longer ones whole (up to the query length cap).
    - ``attend``: whether the encoder attends to the expansion positions (default False: they keep attention
      mask 0 in the forward pass, and are still scored).
    - ``token``: the token written at expansion positions; None means the tokenizer's mask token, else its EOS.
    - ``length``: the width the queries are padded to (ColBERT uses 32); required.
    """

    strategy: Literal["fixed", "min"]
    attend: NotRequired[bool]
    token: NotRequired[str | None]
    length: NotRequired[int]


def normalize(value: dict[str, Any] | None) -> QueryExpansionConfig | None:
    """Check a query expansion config and fill its defaults (``attend`` False, ``token`` None); None stays None."""
    if value is None:
        return None
    if not isinstance(value, dict):
        raise TypeError(f"query_expansion must be a dict or None, got {type(value).__name__}")
    unknown = set(value) - _KEYS
    if unknown:
        raise ValueError(f"query_expansion has unknown keys {sorted(unknown)!r}. Valid keys: {sorted(_KEYS)!r}.")
    strategy = value.get("strategy")
    if strategy not in STRATEGIES:
        raise ValueError(f"query_expansion['strategy'] must be one of {STRATEGIES!r}, got {strategy!r}.")
    attend = value.get("attend", False)
    if not isinstance(attend, bool):
        raise ValueError(f"query_expansion['attend'] must be a bool, got {attend!r}.")
    length = value.get("length")
    if isinstance(length, bool) or not isinstance(length, int) or length < 1:
        raise ValueError(
            f"query_expansion strategy={strategy!r} needs 'length', a positive int: the number of tokens queries "
            f"are padded to (classic ColBERT uses 32); got {length!r}."
        )
    token = value.get("token")
    if token is not None and not isinstance(token, str):
        raise ValueError(f"query_expansion['token'] must be a string or None, got {token!r}.")
    return {"strategy": strategy, "attend": attend, "token": token, "length": length}


def expansion_token_id(tokenizer: Any, config: QueryExpansionConfig) -> int:
    """The id written at expansion positions; a ValueError when the tokenizer cannot give one."""
    token = config["token"]
    if token is None:
        for candidate in (tokenizer.mask_token_id, tokenizer.eos_token_id):
            if candidate is not None:
                return candidate
        raise ValueError(
            f"query_expansion strategy={config['strategy']!r} with token=None uses the tokenizer's mask token, else "
            "its EOS token, but this tokenizer has neither: give query_expansion a 'token'."
        )
    token_id = tokenizer.convert_tokens_to_ids(token)
    if token_id is None or (token_id == tokenizer.unk_token_id and token != tokenizer.unk_token):
        raise ValueError(f"query_expansion token={token!r} is not in this tokenizer's vocabulary.")
    return token_id


def tokenizer_arguments(
    config: QueryExpansionConfig, call: dict[str, Any], cap: int | None, capped_by_caller: bool
) -> dict[str, Any]:
    """The tokenizer call for an expanded query batch: "fixed" pads and truncates to ``length`` whatever ``call``
    says; "min" truncates at ``cap`` (the query length), raised to ``length`` unless the caller fixed it."""
    call = dict(call)
    if config["strategy"] == "fixed":
        call.update(padding="max_length", max_length=config["length"], truncation="longest_first")
    elif cap is not None and not capped_by_caller:
        call["max_length"] = max(cap, config["length"])
    return call


def expand(features: dict[str, Any], tokenizer: Any, config: QueryExpansionConfig) -> dict[str, Any]:
    """Write the expansion token at every padding position within the first ``length`` columns, widening the
    batch to ``length`` when needed, and mark those positions in ``query_expansion_positions``."""
    input_ids, attention_mask = features.get("input_ids"), features.get("attention_mask")
    if input_ids is None or attention_mask is None:
        return features
    width = config["length"]
    missing = width - input_ids.shape[1]
    if missing > 0:
        for name in ("input_ids", "attention_mask", "token_type_ids"):
            if name in features:
                features[name] = torch.nn.functional.pad(features[name], (0, missing), value=0)
        input_ids, attention_mask = features["input_ids"], features["attention_mask"]
    columns = torch.arange(input_ids.shape[1], device=attention_mask.device)
    positions = (attention_mask == 0) & (columns < width)
    if config["strategy"] == "fixed" and not bool(positions.any(dim=-1).all()):
        logger.warning(
            f"One or more queries filled all {width} tokens of query_expansion['length']: what came after was "
            "truncated, as this model reads queries at exactly that width."
        )
    features["input_ids"] = input_ids.masked_fill(positions, expansion_token_id(tokenizer, config))
    if config["attend"]:
        features["attention_mask"] = attention_mask.masked_fill(positions, 1)
    features[EXPANSION_FEATURE] = positions
    return features
