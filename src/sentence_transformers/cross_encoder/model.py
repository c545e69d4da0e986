"""CrossEncoder: the reranker model type — a BaseModel that scores (text, text) pairs with one forward pass each.

A Transformer with the sequence-classification task writes ``scores`` (the logits, [pairs, num_labels]); ``predict``
runs the shared engine (pairs tokenized once, sorted by token count, batched and prefetched, order kept) into a
score sink that applies the activation on the device.
"""

from __future__ import annotations

import importlib
import logging
from collections import OrderedDict
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import torch
from torch import nn
from transformers import AutoConfig

from sentence_transformers.base import encoding
from sentence_transformers.base.loading import LoadOptions, folder_transformer
from sentence_transformers.base.model import BaseModel
from sentence_transformers.base.modules.transformer import Transformer
from sentence_transformers.cross_encoder.fit_mixin import FitMixin
from sentence_transformers.cross_encoder.model_card import CrossEncoderModelCardData
from sentence_transformers.cross_encoder.modules.logit_score import LogitScore
from sentence_transformers.util.decorators import (
    cross_encoder_init_args_decorator,
    cross_encoder_predict_rank_args_decorator,
)
from sentence_transformers.util.misc import fullname

logger = logging.getLogger(__name__)


class CrossEncoder(FitMixin, BaseModel):
    """Scores pairs of texts (query, passage) with a classification head on a transformer: a reranker.

    Args:
        model_name_or_path: A local folder or hub name: a Sentence Transformers CrossEncoder folder (modules.json),
            a plain Hugging Face sequence-classification model (how most published rerankers are stored), or any
            base checkpoint, which gets a new, untrained head of ``num_labels`` outputs.
        num_labels: Outputs of the head (1: one relevance score per pair); by default the checkpoint's.
        max_length: Longest pair in tokens; longer pairs are truncated.
        activation_fn: Applied to the logits in ``predict`` (default: the saved one, else Sigmoid for one label and
            Identity for several).
        device, prompts, default_prompt_name, cache_folder, trust_remote_code, revision, local_files_only, token,
        model_kwargs, processor_kwargs, config_kwargs, model_card_data, backend: as for SentenceTransformer.
    """

    model_type = "CrossEncoder"
    model_card_data_class = CrossEncoderModelCardData
    default_huggingface_organization = "cross-encoder"

    @cross_encoder_init_args_decorator
    def __init__(
        self,
        model_name_or_path: str | None = None,
        *,
        modules: list[nn.Module] | OrderedDict[str, nn.Module] | None = None,
        device: str | None = None,
        prompts: dict[str, str] | None = None,
        default_prompt_name: str | None = None,
        cache_folder: str | None = None,
        trust_remote_code: bool = False,
        revision: str | None = None,
        local_files_only: bool = False,
        token: bool | str | None = None,
        model_kwargs: dict | None = None,
        processor_kwargs: dict | None = None,
        config_kwargs: dict | None = None,
        model_card_data: CrossEncoderModelCardData | None = None,
        backend: str = "torch",
        num_labels: int | None = None,
        max_length: int | None = None,
        activation_fn: Callable | None = None,
        keep_in_fp32_modules: list[str] | None = None,
    ) -> None:
        self.activation_fn = activation_fn  # an explicit one wins over the saved configuration
        self.keep_in_fp32_modules = keep_in_fp32_modules
        if num_labels is not None:
            config_kwargs = {**(config_kwargs or {}), "num_labels": num_labels}
        if max_length is not None:
            processor_kwargs = {**(processor_kwargs or {}), "model_max_length": max_length}
        super().__init__(
            model_name_or_path,
            modules=modules,
            device=device,
            prompts=prompts,
            default_prompt_name=default_prompt_name,
            cache_folder=cache_folder,
            trust_remote_code=trust_remote_code,
            revision=revision,
            local_files_only=local_files_only,
            token=token,
            model_kwargs=model_kwargs,
            processor_kwargs=processor_kwargs,
            config_kwargs=config_kwargs,
            model_card_data=model_card_data,
            backend=backend,
        )
        if max_length is not None:
            self.max_seq_length = max_length
        if self.activation_fn is None:
            self.activation_fn = self.get_default_activation_fn()
        if self.keep_in_fp32_modules and keep_in_fp32_modules is None and self.get_backend() != "torch":
            # Saved with the model for torch; an ONNX or OpenVINO graph computes as it was exported.
            logger.warning(f"keep_in_fp32_modules {self.keep_in_fp32_modules} apply to the torch backend only")
            self.keep_in_fp32_modules = []
        self.set_keep_in_fp32_modules(list(self.keep_in_fp32_modules or []))

    def set_keep_in_fp32_modules(self, module_names: list[str]) -> None:
        """Compute these ``nn.Linear`` layers (paths from ``named_modules()``, e.g. ``"0.model.classifier"``) in
        float32 while the model runs in half precision; their weights keep their dtype. Replaces the previous
        selection (an empty list clears it); saved with the model. Torch backend only."""
        if not isinstance(module_names, (list, tuple)) or not all(isinstance(name, str) for name in module_names):
            raise ValueError("keep_in_fp32_modules must be a list of module paths.")
        if module_names and self.get_backend() != "torch":
            raise ValueError("keep_in_fp32_modules is supported only by the torch backend.")
        names = list(dict.fromkeys(module_names))
        selected = [self.get_submodule(name) for name in names]
        for module in selected:
            if type(module) not in (nn.Linear, Float32Linear):
                raise ValueError("keep_in_fp32_modules supports only plain nn.Linear layers.")
        for name in self.keep_in_fp32_modules or []:
            module = self.get_submodule(name)
            if type(module) is Float32Linear:
                module.__class__ = nn.Linear
        for module in selected:
            module.__class__ = Float32Linear
        self.keep_in_fp32_modules = names

    def __setattr__(self, name: str, value: Any) -> None:
        # The activation is a setting, not a submodule: it must not enter the state dict or the module list.
        if name == "activation_fn":
            object.__setattr__(self, name, value)
            return
        super().__setattr__(name, value)

    # ----------------------------------------------------------------- loading and configuration
    def _load_default_modules(self, folder: str, options: LoadOptions) -> OrderedDict[str, nn.Module]:
        """A Hugging Face folder becomes a Transformer with a sequence-classification head (new when the
        checkpoint has none); a causal language model (``…ForCausalLM``) a generative reranker: its next-token
        logits and a LogitScore of "yes" against "no"."""
        config = AutoConfig.from_pretrained(folder, cache_dir=options.cache_folder, **options.transformers_kwargs())
        if not (getattr(config, "architectures", None) or [""])[0].endswith("ForCausalLM"):
            transformer = folder_transformer(folder, options, transformer_task="sequence-classification")
            return OrderedDict([("0", transformer)])
        transformer = folder_transformer(folder, options, transformer_task="text-generation")
        vocabulary = transformer.tokenizer.get_vocab()
        true_id, false_id = vocabulary.get("yes"), vocabulary.get("no")
        if true_id is None or false_id is None:
            raise ValueError(
                "The tokenizer does not have 'yes' and/or 'no' tokens, which are used as the default true/false tokens "
                "for the LogitScore post-processing module. Please provide custom modules with your desired "
                "LogitScore configuration, or use a model with a tokenizer that supports these tokens."
            )
        return OrderedDict([("0", transformer), ("1", LogitScore(true_token_id=true_id, false_token_id=false_id))])

    def _parse_model_config(self, config: dict[str, Any]) -> None:
        if self.keep_in_fp32_modules is None:
            self.keep_in_fp32_modules = config.get("keep_in_fp32_modules")
        if self.activation_fn is None and config.get("activation_fn"):
            self.activation_fn = self._resolve_activation_fn(config["activation_fn"])

    def _get_model_config(self) -> dict[str, Any]:
        config = {**super()._get_model_config(), "activation_fn": fullname(self.activation_fn)}
        if self.keep_in_fp32_modules:
            config["keep_in_fp32_modules"] = self.keep_in_fp32_modules
        return config

    def _resolve_activation_fn(self, path: str) -> Callable | None:
        """The activation a saved configuration names: torch's own always, others only with trust_remote_code."""
        if not (self.trust_remote_code or path.startswith("torch.")):
            logger.warning(
                f"Activation function path '{path}' is not trusted, using default activation function instead. "
                "Please load the CrossEncoder with `trust_remote_code=True` to allow loading custom activation "
                "functions via the configuration."
            )
            return None
        module_name, _, class_name = path.rpartition(".")
        return getattr(importlib.import_module(module_name), class_name)()

    def get_default_activation_fn(self) -> Callable:
        """The activation saved in the Hugging Face config (4.x/5.x folders), else Sigmoid for one label, else
        Identity."""
        config = self.config
        saved = getattr(config, "sentence_transformers", None) or {}
        path = saved.get("activation_fn") if isinstance(saved, dict) else None
        path = path or getattr(config, "sbert_ce_default_activation_function", None)
        resolved = self._resolve_activation_fn(path) if path else None
        if resolved is not None:
            return resolved
        return nn.Sigmoid() if self.num_labels == 1 else nn.Identity()

    # ----------------------------------------------------------------- properties
    @property
    def model(self) -> Any:
        """The Hugging Face model inside (``transformers_model``)."""
        return self.transformers_model

    @property
    def num_labels(self) -> int:
        """Scores per pair: the outputs of the classification head (one for a generative reranker)."""
        for module in reversed(self._modules.values()):
            if isinstance(module, LogitScore):
                return 1
            if isinstance(module, Transformer) and module.config is not None:
                return int(getattr(module.config, "num_labels", 1))
            if getattr(module, "module_output_name", None) == "scores" and hasattr(module, "out_features"):
                return int(module.out_features)
        return 1

    @property
    def max_length(self) -> int | None:
        """Longest pair in tokens (the older name of ``max_seq_length``)."""
        return self.max_seq_length

    @max_length.setter
    def max_length(self, value: int) -> None:
        self.max_seq_length = value

    @property
    def default_activation_function(self) -> Callable:
        """The activation ``predict`` applies unless told otherwise."""
        return self.activation_fn

    # ----------------------------------------------------------------- inference
    def is_singular_input(self, inputs: Any) -> bool:
        """Whether ``inputs`` is one pair (``("query", "passage")``) rather than a batch of pairs."""
        if isinstance(inputs, (list, tuple)):
            return len(inputs) > 0 and not isinstance(inputs[0], (list, tuple))
        if isinstance(inputs, np.ndarray) and inputs.dtype.kind in ("U", "O"):
            return inputs.size > 0 and inputs.ndim < 2
        return encoding.is_single_input(inputs) and not hasattr(inputs, "__next__")  # a generator is a batch

    @cross_encoder_predict_rank_args_decorator
    def predict(
        self,
        inputs: Sequence[Sequence[str]] | Sequence[str],
        prompt_name: str | None = None,
        prompt: str | None = None,
        batch_size: int = 32,
        show_progress_bar: bool | None = None,
        activation_fn: Callable | None = None,
        apply_softmax: bool | None = False,
        convert_to_numpy: bool = True,
        convert_to_tensor: bool = False,
        device: str | list[str] | None = None,
        pool: dict[str, Any] | None = None,
        chunk_size: int | None = None,
        **kwargs,
    ) -> list[torch.Tensor] | np.ndarray | torch.Tensor:
        """Score pairs of texts.

        Args:
            inputs: One pair ``(text_a, text_b)`` or a list of pairs.
            prompt_name / prompt: A prompt prepended to the first text of each pair (as ``encode``'s).
            batch_size: Pairs per forward pass.
            show_progress_bar: Show a progress bar (default: when logging is at INFO or DEBUG).
            activation_fn: Applied to the logits (default: the model's ``activation_fn``).
            apply_softmax: With several labels, turn each pair's scores into probabilities.
            convert_to_numpy / convert_to_tensor: The output container (a list of tensors when both are False).
            device: Run on this device; a list of devices predicts in a temporary pool of processes.
            pool / chunk_size: A pool from ``start_multi_process_pool``, and the pairs per chunk sent to a worker.

        Returns:
            [pairs] scores for one label, [pairs, num_labels] for several; one pair gives a scalar or [num_labels].
        """
        if show_progress_bar is None:
            show_progress_bar = logger.getEffectiveLevel() in (logging.INFO, logging.DEBUG)
        options = encoding.EncodeOptions(batch_size=batch_size, show_progress_bar=bool(show_progress_bar))
        options.validate()
        self._check_encode_kwargs(kwargs, method="predict")
        single = self.is_singular_input(inputs)
        pairs = [_as_pair(inputs)] if single else [_as_pair(pair) for pair in _materialized(inputs)]
        prompt_text = encoding.resolve_prompt(self, prompt, prompt_name)
        activation_fn = self.activation_fn if activation_fn is None else activation_fn
        if pool is not None or isinstance(device, (list, tuple)):
            scores = self._predict_in_pool(pairs, pool, device, chunk_size, prompt_text, batch_size, activation_fn,
                                           bool(apply_softmax), kwargs)  # fmt: skip
        else:
            if device is not None:
                self.to(device)
            first = self._first_module()
            if getattr(first, "renders_messages", False) and not encoding.uses_preprocess(self):
                # A chat-template reranker: each pair becomes a conversation, the prompt its system message.
                pairs, extra = first.to_messages(pairs, prompt_text), {}
            else:
                pairs, extra = encoding.apply_prompt(self, pairs, prompt_text)
            squeeze, labels = self.num_labels == 1, self.num_labels
            sink = ScoreSink(len(pairs), activation_fn, squeeze=squeeze, softmax=bool(apply_softmax), num_labels=labels)
            scores = encoding.run(self, pairs, extra, options, prompt=prompt_text, sink=sink, **kwargs)
        if convert_to_tensor:
            pass
        elif convert_to_numpy:
            scores = scores.float().cpu().numpy()
        else:
            scores = list(scores)
        return scores[0] if single else scores

    def _predict_in_pool(
        self,
        pairs: list[tuple[str, str]],
        pool: dict[str, Any] | None,
        devices: list[str] | None,
        chunk_size: int | None,
        prompt: str | None,
        batch_size: int,
        activation_fn: Callable | None,
        apply_softmax: bool,
        kwargs: dict[str, Any],
    ) -> torch.Tensor:
        """``predict`` in the worker processes of ``pool`` (or of a temporary pool on ``devices``)."""
        from sentence_transformers.sentence_transformer.multi_process import run_in_pool

        own_pool = pool is None
        pool = pool if pool is not None else self.start_multi_process_pool(list(devices or []))
        worker_kwargs = {
            "prompt": prompt,
            "batch_size": batch_size,
            "activation_fn": activation_fn,
            "apply_softmax": apply_softmax,
            "convert_to_tensor": True,
            "show_progress_bar": False,
            **kwargs,
        }
        try:
            chunks = run_in_pool(pool, pairs, "predict", worker_kwargs, chunk_size) if pairs else []
        finally:
            if own_pool:
                self.stop_multi_process_pool(pool)
        return torch.cat(chunks) if chunks else torch.empty((0,) if self.num_labels == 1 else (0, self.num_labels))

    @cross_encoder_predict_rank_args_decorator
    def rank(
        self,
        query: str | Sequence[str],
        documents: Sequence[str] | Sequence[Sequence[str]],
        top_k: int | None = None,
        return_documents: bool = False,
        prompt_name: str | None = None,
        prompt: str | None = None,
        batch_size: int = 32,
        show_progress_bar: bool | None = None,
        activation_fn: Callable | None = None,
        device: str | list[str] | None = None,
        pool: dict[str, Any] | None = None,
        chunk_size: int | None = None,
    ) -> list[dict[str, Any]] | list[list[dict[str, Any]]]:
        """Rank documents by their score with the query, best first: ``[{"corpus_id", "score"[, "text"]}]``.

        Beyond upstream: a list of queries with a list of documents each ranks them all in one call (one sorted
        stream of pairs, so batches mix queries) and returns one ranking per query.
        """
        if self.num_labels != 1:
            raise ValueError(
                "CrossEncoder.rank() only works for models with num_labels=1. "
                "Consider using CrossEncoder.predict() with input pairs instead."
            )
        many = not isinstance(query, str)
        queries = list(query) if many else [query]
        if many and any(isinstance(docs, str) for docs in documents):
            raise ValueError("rank() with a list of queries needs a list of documents per query, not one flat list")
        lists = [list(docs) for docs in documents] if many else [list(documents)]
        if len(queries) != len(lists):
            raise ValueError(
                f"rank() with a list of {len(queries)} queries needs a list of documents per query, got {len(lists)}"
            )
        pairs = [[q, doc] for q, docs in zip(queries, lists, strict=True) for doc in docs]
        scores = (
            self.predict(
                pairs,
                prompt_name=prompt_name,
                prompt=prompt,
                batch_size=batch_size,
                show_progress_bar=show_progress_bar,
                activation_fn=activation_fn,
                convert_to_tensor=True,
                device=device,
                pool=pool,
                chunk_size=chunk_size,
            ).tolist()
            if pairs
            else []
        )
        rankings, start = [], 0
        for docs in lists:
            own = scores[start : start + len(docs)]
            ranking = [{"corpus_id": i, "score": own[i]} for i in best_first(own)[:top_k]]
            if return_documents:
                for item in ranking:
                    item["text"] = docs[item["corpus_id"]]
            start += len(docs)
            rankings.append(ranking)
        return rankings if many else rankings[0]


def best_first(scores: Sequence[float]) -> list[int]:
    """Positions by score, highest first; equal scores keep their input order (``rank``, the server's routes)."""
    return sorted(range(len(scores)), key=lambda index: -float(scores[index]))


class Float32Linear(nn.Linear):
    """A Linear layer that computes in float32 whatever its weights' dtype, and returns float32."""

    def forward(self, input: torch.Tensor) -> torch.Tensor:
        bias = self.bias.float() if self.bias is not None else None
        return nn.functional.linear(input.float(), self.weight.float(), bias)


def activated_scores(
    logits: torch.Tensor, activation_fn: Callable | None, squeeze: bool = False, softmax: bool = False
) -> torch.Tensor:
    """Scores as ``predict`` gives them: float32 logits (half precision would make near scores tie), the activation,
    [pairs] for one label when ``squeeze``, and a softmax over the labels on request."""
    scores = logits.float() if torch.is_floating_point(logits) and torch.finfo(logits.dtype).bits < 32 else logits
    if activation_fn is not None:
        scores = activation_fn(scores)
    if squeeze and scores.ndim > 1:
        scores = scores.squeeze(-1)
    if softmax and scores.ndim > 1:
        scores = torch.nn.functional.softmax(scores, dim=1)
    return scores


class ScoreSink:
    """Pair scores: activation (and softmax) on the device, written at the pairs' input positions."""

    def __init__(
        self, count: int, activation_fn: Callable | None, squeeze: bool, softmax: bool, num_labels: int = 0
    ) -> None:
        self.count, self.activation_fn, self.squeeze, self.softmax = count, activation_fn, squeeze, softmax
        self.num_labels = num_labels
        self.output: torch.Tensor | None = None

    def add(self, features: dict[str, Any], positions: torch.Tensor) -> None:
        scores = activated_scores(features["scores"], self.activation_fn, self.squeeze, self.softmax)
        if self.output is None:
            self.output = torch.empty((self.count, *scores.shape[1:]), dtype=scores.dtype, device=scores.device)
        self.output.index_copy_(0, positions.to(scores.device, non_blocking=True), scores.detach())

    def result(self, dimension: int | None) -> torch.Tensor:
        if self.output is None:  # no pairs: the shape predict would give, [0] or [0, num_labels]
            return torch.empty((0,) if self.squeeze or not self.num_labels else (0, self.num_labels))
        return self.output


def _materialized(inputs: Any) -> list[Any]:
    return inputs.tolist() if isinstance(inputs, np.ndarray) else list(inputs)


def _as_pair(pair: Any) -> tuple[str, str]:
    """A pair as the tokenizer takes it; anything but two texts is refused with its position named."""
    pair = pair.tolist() if isinstance(pair, np.ndarray) else pair
    if not isinstance(pair, (list, tuple)) or len(pair) != 2 or not all(isinstance(text, str) for text in pair):
        raise TypeError(f"CrossEncoder takes pairs of two texts, got {type(pair).__name__} ({pair!r:.60})")
    return (pair[0], pair[1])
