"""LogitScore: a causal language model's next-token logits as a reranker's relevance score."""

from __future__ import annotations

from typing import Any

from sentence_transformers.base.modules.module import Module


class LogitScore(Module):
    """The score of a generative reranker (Qwen3-Reranker and the like): at the last token, the logit of the "yes"
    token, minus that of the "no" token when one is given (the log-odds of relevance).

    Args:
        true_token_id: Vocabulary id of the token that answers "relevant" (e.g. "yes").
        false_token_id: Vocabulary id of the token that answers "not relevant" (e.g. "no"); without it the score
            is the true token's logit alone.
        module_input_name: The feature holding the logits, [batch, positions, vocabulary].
    """

    config_keys = ["true_token_id", "false_token_id", "module_input_name"]

    def __init__(
        self, true_token_id: int, false_token_id: int | None = None, module_input_name: str = "causal_logits"
    ) -> None:
        super().__init__()
        self.true_token_id = true_token_id
        self.false_token_id = false_token_id
        self.module_input_name = module_input_name

    def forward(self, features: dict[str, Any], **kwargs) -> dict[str, Any]:
        # Causal models are padded on the left, so the last position is a real token of every row.
        last = features[self.module_input_name][:, -1]
        scores = last[:, self.true_token_id]
        if self.false_token_id is not None:
            scores = scores - last[:, self.false_token_id]
        features["scores"] = scores.unsqueeze(1)
        return features

    def save(self, output_path: str, *args, safe_serialization: bool = True, **kwargs) -> None:
        self.save_config(output_path)
