"""MultiVectorMask: which token vectors of a late-interaction model take part in MaxSim scoring."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

import torch
from torch import Tensor

from sentence_transformers.base.modules.module import Module

if TYPE_CHECKING:
    from sentence_transformers.base.model import BaseModel

logger = logging.getLogger(__name__)


class MultiVectorMask(Module):
    """Replaces ``features["attention_mask"]`` with the scoring mask of a ColBERT-style model.

    The scoring mask keeps the real tokens; for ``task="query"`` also the query-expansion positions the Transformer
    marked in ``query_expansion_positions``; for the tasks in ``skiplist_tasks`` (an input without a task counts
    as a document) it drops the tokens whose ids are those of ``skiplist_words``; for every task but "query" it
    keeps only ``keep_only_token_ids`` when that is set. A batch without ``input_ids`` passes through unchanged.

    Args:
        skiplist_words: Tokens left out of scoring (e.g. ``list(string.punctuation)``); default none. Words that
            are not single tokens of the tokenizer are ignored, with a warning.
        skiplist_tasks: The tasks the skiplist applies to (a string is one task); default ``["document"]``.
        keep_only_token_ids: When set, only these token ids are scored on the non-query side.
    """

    config_keys: list[str] = ["skiplist_words", "skiplist_tasks", "keep_only_token_ids"]
    forward_kwargs: set[str] = {"task"}

    def __init__(
        self,
        skiplist_words: list[str] | None = None,
        *,
        skiplist_tasks: str | list[str] | None = None,
        keep_only_token_ids: list[int] | None = None,
    ) -> None:
        super().__init__()
        if isinstance(skiplist_words, str):
            raise TypeError("skiplist_words must be a list of tokens, not a string")
        self.skiplist_words: list[str] = list(skiplist_words or [])
        tasks = [skiplist_tasks] if isinstance(skiplist_tasks, str) else skiplist_tasks
        self.skiplist_tasks: list[str] = ["document"] if tasks is None else list(tasks)
        self.keep_only_token_ids: list[int] | None = (
            None if keep_only_token_ids is None else [int(token) for token in keep_only_token_ids]
        )
        self._skiplist_ids: Tensor | None = None

    def on_model_ready(self, model: BaseModel) -> None:
        """Resolve the skiplist with the model's tokenizer."""
        self.resolve_with_tokenizer(model.tokenizer)

    def resolve_with_tokenizer(self, tokenizer: Any) -> None:
        """Turn ``skiplist_words`` into token ids (call again after changing ``skiplist_words``)."""
        if not self.skiplist_words or tokenizer is None:
            self._skiplist_ids = None
            return
        unk_id = getattr(tokenizer, "unk_token_id", None)
        unk_token = getattr(tokenizer, "unk_token", None)
        ids: list[int] = []
        unknown: list[str] = []
        for word in self.skiplist_words:
            token_id = tokenizer.convert_tokens_to_ids(word)
            if token_id is None or (unk_id is not None and token_id == unk_id and word != unk_token):
                unknown.append(word)
            else:
                ids.append(int(token_id))
        if unknown:
            logger.warning(
                "Skiplist words %s are not single tokens of this tokenizer: left out of the skiplist (they would "
                "otherwise drop every unknown-token position from scoring)",
                unknown,
            )
        self._skiplist_ids = torch.tensor(ids, dtype=torch.long) if ids else None

    def forward(self, features: dict[str, Any], task: str | None = None, **kwargs: Any) -> dict[str, Any]:
        """Write the scoring mask (bool, [batch, tokens]) into ``attention_mask``."""
        input_ids = features.get("input_ids")
        if input_ids is None:
            return features
        mask = features["attention_mask"].bool()
        if task == "query" and features.get("query_expansion_positions") is not None:
            mask = mask | features["query_expansion_positions"].to(mask.device).bool()
        if self._skiplist_ids is not None and (task or "document") in self.skiplist_tasks:
            mask = mask & ~torch.isin(input_ids, self._skiplist_ids.to(input_ids.device))
        if task != "query" and self.keep_only_token_ids:
            keep = torch.tensor(self.keep_only_token_ids, dtype=torch.long, device=input_ids.device)
            mask = mask & torch.isin(input_ids, keep)
        features["attention_mask"] = mask
        return features

    def save(self, output_path: str, *args, safe_serialization: bool = True, **kwargs) -> None:
        """Write config.json."""
        self.save_config(output_path)

    def __repr__(self) -> str:
        return (
            f"MultiVectorMask(skiplist_words={len(self.skiplist_words)} words, skiplist_tasks={self.skiplist_tasks}, "
            f"keep_only_token_ids={self.keep_only_token_ids})"
        )
