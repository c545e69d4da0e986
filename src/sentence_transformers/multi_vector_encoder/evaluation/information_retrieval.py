"""MultiVectorInformationRetrievalEvaluator: retrieval metrics of a MultiVectorEncoder ranking a corpus by MaxSim."""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from functools import partial
from typing import TYPE_CHECKING, Any

from torch import Tensor
from torch.nn.utils.rnn import pad_sequence

from sentence_transformers.multi_vector_encoder.evaluation._common import (
    encode_token_embeddings,
    refuse_truncate_dim,
)
from sentence_transformers.sentence_transformer.evaluation.information_retrieval import InformationRetrievalEvaluator
from sentence_transformers.util.similarity import SimilarityFunction

if TYPE_CHECKING:
    from sentence_transformers.multi_vector_encoder.model import MultiVectorEncoder

logger = logging.getLogger(__name__)

# the model prompt names encode_query / encode_document fall back to, per evaluator prompt argument
_ROLE_PROMPTS = {"query_prompt": ("query",), "corpus_prompt": ("document", "passage", "corpus")}


class MultiVectorInformationRetrievalEvaluator(InformationRetrievalEvaluator):
    """Ranks the corpus for every query by late-interaction score (MaxSim) and scores the ranking.

    The metrics of :class:`InformationRetrievalEvaluator` (``<fn>_accuracy@k``, ``<fn>_precision@k``,
    ``<fn>_recall@k``, ``<fn>_mrr@k``, ``<fn>_ndcg@k``, ``<fn>_map@k``), named after the model's
    ``similarity_fn_name`` (``maxsim_ndcg@10``), which is re-read at every call. Queries are encoded with
    ``encode_query``, documents ``corpus_chunk_size`` at a time with ``encode_document``.

    Args:
        queries: query id -> query.
        corpus: document id -> document.
        relevant_docs: query id -> ids of its relevant documents.
        corpus_chunk_size: Documents encoded and scored at a time.
        chunk_elements: Element budget of one chunk of the MaxSim token-similarity grid (default: maxsim's).
        score_functions: name -> function(query token embeddings, document token embeddings) -> scores, instead
            of the model's similarity. XTR scoring is refused: its top-k runs over one corpus chunk only.
        **kwargs: the other arguments of InformationRetrievalEvaluator (``mrr_at_k``, ``ndcg_at_k``, ``name``,
            ``batch_size``, prompts, ...); ``truncate_dim`` must stay None.
    """

    def __init__(
        self,
        queries: dict[str, Any],
        corpus: dict[str, Any],
        relevant_docs: dict[str, set[str]],
        *,
        corpus_chunk_size: int = 5000,
        chunk_elements: int | None = None,
        score_functions: dict[str, Callable[[Tensor, Tensor], Tensor]] | None = None,
        **kwargs: Any,
    ) -> None:
        refuse_truncate_dim(kwargs.get("truncate_dim"))
        if score_functions is not None:
            if chunk_elements is not None:
                raise ValueError(
                    "chunk_elements only applies to the model's own scoring and would be ignored beside "
                    "score_functions; bind it into your function instead, e.g. partial(maxsim, chunk_elements=...)."
                )
            _refuse_xtr(score_functions)
        self.chunk_elements = chunk_elements
        super().__init__(
            queries,
            corpus,
            relevant_docs,
            corpus_chunk_size=corpus_chunk_size,
            score_functions=score_functions,
            **kwargs,
        )

    def __call__(
        self, model: MultiVectorEncoder, output_path: str | None = None, epoch: int = -1, steps: int = -1, **kwargs
    ) -> dict[str, float]:
        """As InformationRetrievalEvaluator; warns when an explicit prompt replaces the model's own role prompt."""
        for argument, names in _ROLE_PROMPTS.items():
            self._warn_replaced_prompt(model, argument, names)
        return super().__call__(model, output_path, epoch, steps, **kwargs)

    def _warn_replaced_prompt(self, model: MultiVectorEncoder, argument: str, names: tuple[str, ...]) -> None:
        """An explicit prompt is used instead of (not added to) the model's prompt for that role: say so."""
        explicit = getattr(self, argument)
        prompts = getattr(model, "prompts", None) or {}
        role = next((name for name in names if name in prompts), None)
        own = prompts.get(role) if role is not None else None
        if explicit is None or not own or explicit.startswith(own):
            return
        logger.warning(
            f"The {argument} {explicit!r} replaces the model's {role!r} prompt {own!r} instead of extending it; "
            f"start the {argument} with {own!r} to keep the prompt the model was trained with."
        )

    def _use_model_score_function(self, model: MultiVectorEncoder) -> None:
        """The model's late-interaction similarity by name, with ``chunk_elements`` bound when given."""
        super()._use_model_score_function(model)
        fn_name = self.score_function_names[0]
        score_fn: Callable[..., Tensor] = SimilarityFunction.to_similarity_fn(fn_name)
        if self.chunk_elements is not None:
            score_fn = partial(score_fn, chunk_elements=self.chunk_elements)
        self.score_functions = {fn_name: score_fn}

    def embed_inputs(
        self,
        model: MultiVectorEncoder,
        sentences: Sequence[Any],
        encode_fn_name: str | None = None,
        prompt_name: str | None = None,
        prompt: str | None = None,
        **kwargs: Any,
    ) -> list[Tensor] | Tensor:
        """Token embeddings per input; the queries (scored against every corpus chunk) padded into one tensor."""
        embeddings = encode_token_embeddings(
            self, model, sentences, encode_fn_name, prompt_name=prompt_name, prompt=prompt, **kwargs
        )
        if encode_fn_name == "query":
            return pad_sequence(list(embeddings), batch_first=True)
        return embeddings

    def get_config_dict(self) -> dict[str, Any]:
        """The prompts when set, and ``chunk_elements`` when given."""
        config = super().get_config_dict()
        if self.chunk_elements is not None:
            config["chunk_elements"] = self.chunk_elements
        return config


def _refuse_xtr(score_functions: dict[str, Callable[..., Tensor]]) -> None:
    """XTR takes its top-k over the candidates it is given, here one corpus chunk: the results would be wrong."""
    from sentence_transformers.multi_vector_encoder.scoring import XTRScores, xtr_scores

    for name, function in score_functions.items():
        target = function.func if isinstance(function, partial) else function
        target = getattr(target, "_torchdynamo_orig_callable", target)  # torch.compile wraps the function
        if target is xtr_scores or isinstance(target, XTRScores):
            raise ValueError(
                f"score_functions[{name!r}] uses XTR scoring, whose top-k would run per corpus chunk rather than "
                "over the whole corpus; use MaxSim scoring with this evaluator."
            )


__all__ = ["MultiVectorInformationRetrievalEvaluator"]
