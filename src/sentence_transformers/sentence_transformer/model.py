"""SentenceTransformer: an nn.Sequential of modules that maps texts to embeddings."""

from __future__ import annotations

import contextlib
import logging
import os
import tempfile
import warnings
from collections import OrderedDict
from collections.abc import Callable, Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn
from transformers import PreTrainedModel

from sentence_transformers import __sbert_version__
from sentence_transformers.backend.runtime import check_backend
from sentence_transformers.base import persistence
from sentence_transformers.base.hub import hub_repo_id, is_local
from sentence_transformers.base.modules.input_module import InputModule, accepts_prompt, prepend_prompt
from sentence_transformers.base.peft_mixin import PeftAdapterMixin
from sentence_transformers.sentence_transformer import encoding, multi_process
from sentence_transformers.sentence_transformer.fit_mixin import FitMixin
from sentence_transformers.sentence_transformer.loading import LoadOptions, load_pipeline
from sentence_transformers.sentence_transformer.model_card import SentenceTransformerModelCardData, generate_model_card
from sentence_transformers.util.decorators import deprecated_kwargs
from sentence_transformers.util.environment import get_device_name
from sentence_transformers.util.similarity import SimilarityFunction

logger = logging.getLogger(__name__)

QUERY_PROMPT_NAMES = ("query",)
DOCUMENT_PROMPT_NAMES = ("document", "passage", "corpus")


class SentenceTransformer(FitMixin, PeftAdapterMixin, nn.Sequential):
    """Loads or builds a model that maps texts to fixed-size embeddings.

    Args:
        model_name_or_path: A local folder, or a hub name (short names mean ``sentence-transformers/<name>``).
            A plain Hugging Face model becomes Transformer + mean Pooling.
        modules: Modules to chain, to build a model from scratch.
        device: "cpu", "cuda", "cuda:1", "mps", …; by default the best one available.
        prompts: Prompt name → text prepended to inputs, e.g. ``{"query": "query: "}``.
        default_prompt_name: Prompt applied when ``encode`` is given none.
        similarity_fn_name: "cosine", "dot", "euclidean" or "manhattan" (default cosine).
        cache_folder: Where hub downloads go; also $SENTENCE_TRANSFORMERS_HOME.
        trust_remote_code: Allow code from the model folder or hub repository to run. Off by default.
        revision: Branch, tag or commit of a hub model.
        local_files_only: Never contact the hub.
        token / use_auth_token: Hugging Face token for private models (use_auth_token is the old name).
        truncate_dim: Cut sentence embeddings to this many dimensions in ``encode``.
        model_kwargs / tokenizer_kwargs / processor_kwargs / config_kwargs: Passed to the Hugging Face loaders.
        model_card_data: Model card fields: a SentenceTransformerModelCardData, or a dict of its fields.
        backend: "torch" (default), "onnx" (ONNX Runtime: loads ``onnx/model.onnx``, or ``model_kwargs["file_name"]``,
            exporting it on first load when absent) or "openvino" (``openvino/openvino_model.xml``).
    """

    model_type = "SentenceTransformer"
    model_card_data_class = SentenceTransformerModelCardData
    default_huggingface_organization = "sentence-transformers"
    SUPPORTED_SIMILARITY_FN_NAMES: tuple[str, ...] = ("cosine", "dot", "euclidean", "manhattan")

    def __init__(
        self,
        model_name_or_path: str | None = None,
        modules: Iterable[nn.Module] | None = None,
        device: str | None = None,
        prompts: dict[str, str] | None = None,
        default_prompt_name: str | None = None,
        similarity_fn_name: str | SimilarityFunction | None = None,
        cache_folder: str | None = None,
        trust_remote_code: bool = False,
        revision: str | None = None,
        local_files_only: bool = False,
        token: bool | str | None = None,
        use_auth_token: bool | str | None = None,
        truncate_dim: int | None = None,
        model_kwargs: dict[str, Any] | None = None,
        tokenizer_kwargs: dict[str, Any] | None = None,
        config_kwargs: dict[str, Any] | None = None,
        model_card_data: SentenceTransformerModelCardData | dict[str, Any] | None = None,
        backend: str = "torch",
        processor_kwargs: dict[str, Any] | None = None,
    ) -> None:
        if use_auth_token is not None:
            warnings.warn(
                "The `use_auth_token` argument is deprecated and will be removed in a future release of "
                "SentenceTransformers.",
                FutureWarning,
                stacklevel=2,
            )
            if token is not None:
                raise ValueError(
                    "Both `token` and `use_auth_token` are specified. Please only specify the `token` argument."
                )
            token = use_auth_token
        check_backend(backend)
        if model_name_or_path is not None and modules is not None:
            raise ValueError("Pass either model_name_or_path or modules, not both")
        if modules is not None and not (modules := _as_ordered(modules)):
            raise ValueError(
                f"An empty modules list was passed to {type(self).__name__}. "
                "Please provide at least one module, e.g. a Transformer module."
            )
        config: dict[str, Any] = {}
        module_kwargs: dict[str, list[str]] = {}
        card_text = None
        if model_name_or_path is not None:
            options = LoadOptions(
                cache_folder=cache_folder,
                revision=revision,
                token=token,
                local_files_only=local_files_only,
                trust_remote_code=trust_remote_code,
                model_kwargs=model_kwargs,
                tokenizer_kwargs={**(tokenizer_kwargs or {}), **(processor_kwargs or {})} or None,
                config_kwargs=config_kwargs,
                backend=backend,
            )
            loaded = load_pipeline(os.fspath(model_name_or_path), options)
            modules, module_kwargs, config, card_text = (
                loaded.modules,
                loaded.module_kwargs,
                loaded.config,
                loaded.model_card_text,
            )
        super().__init__(_as_ordered(modules))
        if model_name_or_path is not None:
            self._match_first_module_dtype()
        if backend != self.get_backend():
            raise ValueError(
                f"backend={backend!r} applies to a Transformer module loaded from a model folder; this model's first "
                f"module is {type(self._first_module()).__name__} and runs {self.get_backend()!r}"
            )
        self.module_kwargs = module_kwargs
        self.prompts = {**(config.get("prompts") or {}), **(prompts or {})}
        self.default_prompt_name = default_prompt_name or config.get("default_prompt_name")
        if self.default_prompt_name is not None and self.default_prompt_name not in self.prompts:
            raise ValueError(
                f"Default prompt name '{self.default_prompt_name}' not found in the configured prompts "
                f"dictionary with keys {list(self.prompts.keys())!r}."
            )
        self._similarity_fn_name: str | None = None
        if similarity_fn_name or config.get("similarity_fn_name"):
            self.similarity_fn_name = similarity_fn_name or config["similarity_fn_name"]
        self.truncate_dim = truncate_dim
        self.model_card_data = SentenceTransformerModelCardData.from_value(model_card_data)
        self.model_card_data.register_model(self)
        self._model_card_text = card_text if model_card_data is None else None  # new card data → a new card
        self._model_name_or_path = os.fspath(model_name_or_path) if model_name_or_path is not None else None
        if self._model_name_or_path is not None and not local_files_only and not is_local(self._model_name_or_path):
            self.model_card_data.set_base_model(hub_repo_id(self._model_name_or_path), revision=revision)
        self.to(device or get_device_name())
        self._post_init()

    def _post_init(self) -> None:
        """The last step of construction: each module's ``on_model_ready(model)`` hook, for state that depends on
        the whole model (a module appended later does not get it)."""
        for module in self._modules.values():
            hook = getattr(module, "on_model_ready", None)
            if callable(hook):
                hook(self)

    # ----------------------------------------------------------------- properties
    @property
    def device(self) -> torch.device:
        """The device of the model's parameters (cpu when it has none)."""
        for parameter in self.parameters():
            return parameter.device
        for buffer in self.buffers():
            return buffer.device
        return torch.device("cpu")

    @property
    def tokenizer(self) -> Any:
        """The first module's tokenizer."""
        return getattr(self._first_module(), "tokenizer", None)

    @tokenizer.setter
    def tokenizer(self, value: Any) -> None:
        self._first_module().tokenizer = value

    @property
    def max_seq_length(self) -> int | None:
        """Longest input in tokens; longer inputs are truncated."""
        return getattr(self._first_module(), "max_seq_length", None)

    @max_seq_length.setter
    def max_seq_length(self, value: int) -> None:
        if not isinstance(value, int) or value < 1:
            raise ValueError(f"max_seq_length must be a positive integer, got {value!r}")
        self._first_module().max_seq_length = value

    @property
    def similarity_fn_name(self) -> str:
        """Name of the similarity used by ``similarity``; cosine unless set."""
        if self._similarity_fn_name is None:
            self._similarity_fn_name = SimilarityFunction.COSINE.value
        return self._similarity_fn_name

    @similarity_fn_name.setter
    def similarity_fn_name(self, value: str | SimilarityFunction | None) -> None:
        if isinstance(value, SimilarityFunction):
            value = value.value
        if value is not None and value not in self.SUPPORTED_SIMILARITY_FN_NAMES:
            raise ValueError(
                f"{type(self).__name__} only supports similarity_fn_name in "
                f"{self.SUPPORTED_SIMILARITY_FN_NAMES}, got {value!r}."
            )
        self._similarity_fn_name = value

    def similarity(self, embeddings1: Any, embeddings2: Any) -> torch.Tensor:
        """All-pairs similarity matrix [len(embeddings1), len(embeddings2)] under ``similarity_fn_name``."""
        return SimilarityFunction.to_similarity_fn(self.similarity_fn_name)(embeddings1, embeddings2)

    def similarity_pairwise(self, embeddings1: Any, embeddings2: Any) -> torch.Tensor:
        """Similarity of row i with row i, under ``similarity_fn_name``."""
        return SimilarityFunction.to_similarity_pairwise_fn(self.similarity_fn_name)(embeddings1, embeddings2)

    def get_max_seq_length(self) -> int | None:
        """Longest input in tokens; longer inputs are truncated."""
        return self.max_seq_length

    def get_sentence_embedding_dimension(self) -> int | None:
        """Size of ``encode``'s output, after truncate_dim; None when no module knows it."""
        dimension = None
        for module in reversed(self._modules.values()):
            # the 6.x name first; a custom module may still define only an older one
            names = ("get_embedding_dimension", "get_sentence_embedding_dimension", "get_word_embedding_dimension")
            method = next((getattr(module, n) for n in names if callable(getattr(type(module), n, None))), None)
            if method is not None:
                dimension = method()
                break
        if dimension is not None and self.truncate_dim is not None:
            return min(dimension, self.truncate_dim)
        return dimension

    get_embedding_dimension = get_sentence_embedding_dimension  # the 6.x name

    @contextlib.contextmanager
    def truncate_sentence_embeddings(self, truncate_dim: int | None) -> Iterator[None]:
        """Within this block, ``encode`` returns embeddings cut to ``truncate_dim``."""
        previous, self.truncate_dim = self.truncate_dim, truncate_dim
        try:
            yield
        finally:
            self.truncate_dim = previous

    truncate_embeddings = truncate_sentence_embeddings  # the 6.x name

    @property
    def transformers_model(self) -> Any:
        """The Hugging Face ``PreTrainedModel`` inside the first module, or None (e.g. for StaticEmbedding)."""
        return getattr(self._first_module(), "auto_model", None)

    @property
    def config(self) -> Any:
        """The Hugging Face config of ``transformers_model``, or None."""
        return getattr(self.transformers_model, "config", None)

    @property
    def dtype(self) -> torch.dtype | None:
        """The dtype of the parameters (the first one's; None for a model without parameters)."""
        return next((parameter.dtype for parameter in self.parameters()), None)

    @property
    def processor(self) -> Any:
        """What turns raw inputs into tensors: for these text models, the tokenizer."""
        return self.tokenizer

    @property
    def modalities(self) -> list[str]:
        """The input kinds this model embeds: text."""
        return ["text"]

    def supports(self, modality: str) -> bool:
        """Whether ``modality`` is one of ``modalities``."""
        return modality in self.modalities

    def get_backend(self) -> str:
        """The inference backend of the first module: "torch", "onnx" or "openvino"."""
        return getattr(self._first_module(), "backend", "torch") if len(self) else "torch"

    def activation_checkpointing_enable(
        self, activation_checkpointing_kwargs: dict[str, Any] | None = None, **kwargs: Any
    ) -> None:
        """Trade compute for memory in training: checkpoint activations in every Hugging Face model inside.

        The Trainer calls this for ``gradient_checkpointing=True``; ``kwargs`` (e.g. ``every_n_layers``) are passed
        on. Modules without it (Pooling, Dense …) are cheap to keep in memory anyway.
        """
        models = [m for m in self.modules() if isinstance(m, PreTrainedModel) and m.supports_gradient_checkpointing]
        for model in models:
            if hasattr(model, "activation_checkpointing_enable"):
                model.activation_checkpointing_enable(activation_checkpointing_kwargs, **kwargs)
            else:  # transformers before activation checkpointing got its name
                model.gradient_checkpointing_enable(activation_checkpointing_kwargs, **kwargs)
        if not models:
            logger.warning("No module of this model supports gradient checkpointing; training as before")

    def gradient_checkpointing_enable(
        self, gradient_checkpointing_kwargs: dict[str, Any] | None = None, **kwargs: Any
    ) -> None:
        """The older name of ``activation_checkpointing_enable`` (the one upstream documents)."""
        self.activation_checkpointing_enable(gradient_checkpointing_kwargs, **kwargs)

    def set_pooling_include_prompt(self, include_prompt: bool) -> None:
        """Set ``include_prompt`` on the first Pooling module, if there is one."""
        for module in self._modules.values():
            if hasattr(module, "include_prompt") and hasattr(module, "get_pooling_mode_str"):
                module.include_prompt = include_prompt
                return

    def tokenize(self, texts: list[Any], **kwargs) -> dict[str, torch.Tensor]:
        """Tokenize with the first module (strings, or (text, text) pairs); with a ``prompt``, as ``preprocess``."""
        if kwargs.get("prompt") is not None:
            return self.preprocess(texts, **kwargs)
        return self._first_module().tokenize(texts, **kwargs)

    def preprocess(self, inputs: Iterable[Any], prompt: str | None = None, **kwargs) -> dict[str, Any]:
        """Upstream 6.x's ``tokenize``: the first module turns a batch of inputs into features for ``forward``.

        ``prompt`` is prepended to each text: the module's ``preprocess`` does it when it takes a ``prompt``
        (a Transformer then also reports ``prompt_length``), else it is done here. ``kwargs`` go to the module.
        """
        inputs = list(inputs)
        if not inputs:
            return {}
        first = self._first_module()
        method = getattr(first, "preprocess", None)
        if callable(method) and accepts_prompt(method):
            return method(inputs, prompt=prompt, **kwargs)
        inputs = prepend_prompt(inputs, prompt)
        return method(inputs, **kwargs) if callable(method) else first.tokenize(inputs, **kwargs)

    def forward(self, input: dict[str, Any], **kwargs) -> dict[str, Any]:
        """Run each module; a module gets the kwargs that modules.json lists for it."""
        for name, module in self._modules.items():
            accepted = set(self.module_kwargs.get(name, ())) | getattr(module, "forward_kwargs", set())
            input = module(input, **{key: value for key, value in kwargs.items() if key in accepted})
        return input

    def is_singular_input(self, inputs: Any) -> bool:
        """Whether ``inputs`` is one example (a string, a dict of routed texts) rather than a batch (a list, tuple,
        ``datasets`` Column or numpy array of strings)."""
        return encoding.is_single_input(inputs)

    def get_model_kwargs(self) -> list[str]:
        """The keyword arguments that modules of this model take in ``encode`` (e.g. ``task`` for a Router):
        those modules.json lists per module and those modules declare in ``forward_kwargs``, Router routes too."""
        found: set[str] = set()
        pending = list(self.named_children())
        while pending:
            name, module = pending.pop()
            for route in getattr(module, "sub_modules", {}).values():
                pending.extend(route.named_children())
            found.update(self.module_kwargs.get(name, ()))
            found.update(getattr(module, "forward_kwargs", ()))
        return sorted(found)

    def _check_encode_kwargs(self, kwargs: dict[str, Any]) -> None:
        """Reject keyword arguments that no module takes (``task`` and ``processing_kwargs`` are always allowed),
        instead of losing them silently."""
        model_kwargs = self.get_model_kwargs()
        unused = set(kwargs) - set(model_kwargs) - {"task", "processing_kwargs"}
        if not unused:
            return
        name = type(self).__name__
        raise ValueError(
            f"{name}.encode() has been called with additional keyword arguments that this model does not use: "
            f"{sorted(unused)}. "
            + (
                f"As per {name}.get_model_kwargs(), the valid additional keyword arguments are: {model_kwargs}."
                if model_kwargs
                else f"As per {name}.get_model_kwargs(), this model does not accept any additional keyword arguments."
            )
        )

    @property
    def _target_device(self) -> torch.device:
        """Deprecated name of ``device``."""
        logger.warning(
            f"`{type(self).__name__}._target_device` has been deprecated. Please use `{type(self).__name__}.device` "
            "instead."
        )
        return self.device

    @_target_device.setter
    def _target_device(self, device: int | str | torch.device | None = None) -> None:
        logger.warning(f"`{type(self).__name__}._target_device` has been deprecated. Please use `to(device)` instead.")
        self.to(device)

    def get_sentence_features(self, *features: Any) -> dict[str, torch.Tensor]:
        """Deprecated: the first module's ``get_sentence_features`` (BoW has one)."""
        warnings.warn(
            "The `get_sentence_features` method is deprecated and will be removed in a future version.",
            DeprecationWarning,
            stacklevel=2,
        )
        method = getattr(self._first_module(), "get_sentence_features", None)
        if method is None:
            raise AttributeError(f"{type(self._first_module()).__name__} has no get_sentence_features")
        return method(*features)

    @staticmethod
    def load(input_path: str) -> SentenceTransformer:
        """Deprecated: use ``SentenceTransformer(input_path)``."""
        warnings.warn(
            "SentenceTransformer.load(...) is deprecated, use SentenceTransformer(...) instead.",
            DeprecationWarning,
            stacklevel=2,
        )
        return SentenceTransformer(input_path)

    def _accepts_task(self) -> bool:
        """Whether some module routes by ``task`` (a Router, or a module whose modules.json entry lists it)."""
        declared = any("task" in accepted for accepted in self.module_kwargs.values())
        return declared or any("task" in getattr(module, "forward_kwargs", ()) for module in self._modules.values())

    def _match_first_module_dtype(self) -> None:
        """Cast later modules (Dense …) to the dtype the first one was loaded in (e.g. ``torch_dtype="float16"``)."""
        dtype = next((parameter.dtype for parameter in self._first_module().parameters()), None)
        if dtype is not None and dtype.is_floating_point:
            for module in list(self._modules.values())[1:]:
                module.to(dtype)

    def _first_module(self) -> nn.Module:
        return next(iter(self._modules.values()))

    def _last_module(self) -> nn.Module:
        return next(reversed(self._modules.values()))

    # ----------------------------------------------------------------- encoding
    @deprecated_kwargs(sentences="inputs")
    def encode(
        self,
        inputs: str | list[str] | np.ndarray,
        prompt_name: str | None = None,
        prompt: str | None = None,
        batch_size: int = 32,
        show_progress_bar: bool | None = None,
        output_value: encoding.OutputValue = "sentence_embedding",
        precision: encoding.Precision = "float32",
        convert_to_numpy: bool = True,
        convert_to_tensor: bool = False,
        device: str | list[str] | None = None,
        normalize_embeddings: bool = False,
        truncate_dim: int | None = None,
        pool: dict[str, Any] | None = None,
        chunk_size: int | None = None,
        **kwargs,
    ) -> np.ndarray | torch.Tensor | list[Any]:
        """Embed texts.

        Args:
            inputs: A string or a list of strings (``sentences=`` is the deprecated name).
            prompt_name: Key of ``self.prompts`` whose text is prepended; ignored when ``prompt`` is given.
            prompt: Text prepended to every input.
            batch_size: Inputs per forward pass.
            show_progress_bar: Show a tqdm bar (default: when logging is at INFO or DEBUG).
            output_value: "sentence_embedding", "token_embeddings" (one tensor per input) or None (all features).
            precision: "float32", or quantized "int8", "uint8", "binary", "ubinary".
            convert_to_numpy: Return a numpy array (else a list of tensors).
            convert_to_tensor: Return one tensor; overrides convert_to_numpy.
            device: Device to run on; a list of devices encodes in a temporary pool of processes.
            normalize_embeddings: Scale each embedding to length 1.
            truncate_dim: Cut embeddings to this size (default: the model's truncate_dim).
            pool: A pool from ``start_multi_process_pool``: encode in its worker processes.
            chunk_size: Inputs per chunk sent to a pool worker.
            kwargs: Passed to the modules that declare them in modules.json (e.g. ``task``).

        Returns:
            [n, dim] array or tensor; [dim] for a single string input; lists for token embeddings.
        """
        if show_progress_bar is None:
            show_progress_bar = logger.getEffectiveLevel() in (logging.INFO, logging.DEBUG)
        options = encoding.EncodeOptions(
            batch_size=batch_size,
            show_progress_bar=bool(show_progress_bar),
            output_value=output_value,
            precision=precision,
            convert_to_numpy=convert_to_numpy,
            convert_to_tensor=convert_to_tensor,
            normalize_embeddings=normalize_embeddings,
            truncate_dim=truncate_dim if truncate_dim is not None else self.truncate_dim,
        )
        options.validate()
        self._check_encode_kwargs(kwargs)
        prompt_text = encoding.resolve_prompt(self, prompt, prompt_name)
        if pool is not None or isinstance(device, (list, tuple)):
            return self._encode_in_pool(inputs, pool, device, prompt_text, chunk_size, options, kwargs)
        if device is not None:
            self.to(device)
        inputs, single = encoding.as_input_list(inputs)
        inputs, extra = encoding.apply_prompt(self, inputs, prompt_text)
        output = encoding.run(self, inputs, extra, options, prompt=prompt_text, **kwargs)
        return output[0] if single and len(output) else output

    @deprecated_kwargs(sentences="inputs")
    def encode_query(
        self,
        inputs: str | list[str] | np.ndarray,
        prompt_name: str | None = None,
        prompt: str | None = None,
        batch_size: int = 32,
        show_progress_bar: bool | None = None,
        output_value: encoding.OutputValue = "sentence_embedding",
        precision: encoding.Precision = "float32",
        convert_to_numpy: bool = True,
        convert_to_tensor: bool = False,
        device: str | list[str] | None = None,
        normalize_embeddings: bool = False,
        truncate_dim: int | None = None,
        pool: dict[str, Any] | None = None,
        chunk_size: int | None = None,
        **kwargs,
    ) -> np.ndarray | torch.Tensor | list[Any]:
        """``encode`` for search queries: uses the model's "query" prompt and task when it has them."""
        options = {key: value for key, value in locals().items() if key not in ("self", "inputs", "kwargs")}
        return self._encode_with_role(inputs, QUERY_PROMPT_NAMES, "query", {**options, **kwargs})

    @deprecated_kwargs(sentences="inputs")
    def encode_document(
        self,
        inputs: str | list[str] | np.ndarray,
        prompt_name: str | None = None,
        prompt: str | None = None,
        batch_size: int = 32,
        show_progress_bar: bool | None = None,
        output_value: encoding.OutputValue = "sentence_embedding",
        precision: encoding.Precision = "float32",
        convert_to_numpy: bool = True,
        convert_to_tensor: bool = False,
        device: str | list[str] | None = None,
        normalize_embeddings: bool = False,
        truncate_dim: int | None = None,
        pool: dict[str, Any] | None = None,
        chunk_size: int | None = None,
        **kwargs,
    ) -> np.ndarray | torch.Tensor | list[Any]:
        """``encode`` for documents: uses the model's "document" (or "passage"/"corpus") prompt when it has one."""
        options = {key: value for key, value in locals().items() if key not in ("self", "inputs", "kwargs")}
        return self._encode_with_role(inputs, DOCUMENT_PROMPT_NAMES, "document", {**options, **kwargs})

    def _encode_with_role(
        self, sentences: Any, prompt_names: tuple[str, ...], task: str, kwargs: dict[str, Any]
    ) -> np.ndarray | torch.Tensor | list[Any]:
        if kwargs.get("prompt") is None and kwargs.get("prompt_name") is None:
            kwargs["prompt_name"] = next((name for name in prompt_names if name in self.prompts), None)
        if self._accepts_task():
            kwargs.setdefault("task", task)
        return self.encode(sentences, **kwargs)

    def _encode_in_pool(
        self,
        sentences: Any,
        pool: dict[str, Any] | None,
        devices: list[str] | None,
        prompt: str | None,
        chunk_size: int | None,
        options: encoding.EncodeOptions,
        kwargs: dict[str, Any],
    ) -> np.ndarray | torch.Tensor | list[Any]:
        own_pool = pool is None
        pool = pool if pool is not None else self.start_multi_process_pool(list(devices or []))
        try:
            return multi_process.encode_in_pool(
                pool, sentences, prompt=prompt, chunk_size=chunk_size, options=options, **kwargs
            )
        finally:
            if own_pool:
                self.stop_multi_process_pool(pool)

    def start_multi_process_pool(self, target_devices: list[str] | None = None) -> dict[str, Any]:
        """Start worker processes (one per device; on a CPU machine, by default 4 'cpu' workers) for encoding."""
        return multi_process.start_pool(self, target_devices)

    @staticmethod
    def stop_multi_process_pool(pool: dict[str, Any]) -> None:
        """Stop the workers of a pool and wait for them to exit."""
        multi_process.stop_pool(pool)

    def encode_multi_process(
        self,
        sentences: list[str],
        pool: dict[str, Any],
        prompt_name: str | None = None,
        prompt: str | None = None,
        batch_size: int = 32,
        chunk_size: int | None = None,
        show_progress_bar: bool | None = None,
        precision: encoding.Precision = "float32",
        normalize_embeddings: bool = False,
        truncate_dim: int | None = None,
    ) -> np.ndarray:
        """Deprecated: ``encode(..., pool=pool)`` does the same (same result and order, in the pool's processes)."""
        warnings.warn(
            "The `encode_multi_process` method has been deprecated, and its functionality has been integrated into "
            "`encode`. You can now call `encode` with the same parameters to achieve multi-process encoding.",
            DeprecationWarning,
            stacklevel=2,
        )
        return self.encode(
            sentences,
            prompt_name=prompt_name,
            prompt=prompt,
            batch_size=batch_size,
            show_progress_bar=show_progress_bar,
            precision=precision,
            normalize_embeddings=normalize_embeddings,
            truncate_dim=truncate_dim,
            pool=pool,
            chunk_size=chunk_size,
        )

    # ----------------------------------------------------------------- evaluation
    def evaluate(self, evaluator: Callable[..., Any], output_path: str | None = None) -> Any:
        """Run an evaluator on this model; it may write its results under ``output_path``."""
        if output_path is not None:
            os.makedirs(output_path, exist_ok=True)
        return evaluator(self, output_path)

    # ----------------------------------------------------------------- saving
    def save(
        self,
        path: str,
        model_name: str | None = None,
        create_model_card: bool = True,
        train_datasets: list[str] | None = None,
        safe_serialization: bool = True,
    ) -> None:
        """Save in the standard folder format (loads in sentence-transformers too); atomic.

        Args:
            path: Target folder; written in a temporary sibling and renamed into place.
            model_name: Name used in the model card.
            create_model_card: Write a README.md model card.
            train_datasets: Dataset names for the model card.
            safe_serialization: safetensors (default) or PyTorch pickle files.
        """
        if path is None:
            raise ValueError("save() needs a target folder")
        with persistence.atomic_folder(os.fspath(path)) as folder:
            entries = [
                self._save_module(folder, index, name, module, safe_serialization)
                for index, (name, module) in enumerate(self._modules.items())
            ]
            persistence.write_json(os.path.join(folder, persistence.MODULES_FILE), entries)
            persistence.write_json(os.path.join(folder, persistence.MODEL_CONFIG_FILE), self._model_config())
            persistence.copy_folder_code(self._modules.values(), folder)
            if create_model_card:
                self._create_model_card(folder, model_name, train_datasets)

    def save_pretrained(
        self,
        path: str,
        model_name: str | None = None,
        create_model_card: bool = True,
        train_datasets: list[str] | None = None,
        safe_serialization: bool = True,
    ) -> None:
        """Alias of ``save``, named like the Hugging Face method."""
        self.save(path, model_name, create_model_card, train_datasets, safe_serialization)

    def _create_model_card(
        self, path: str, model_name: str | None = None, train_datasets: list[str] | None = "deprecated"
    ) -> None:
        """Write the model card README.md into ``path``: the card the model was loaded with while it is untrained,
        else one generated from ``model_card_data``. ``model_name`` that is no local path becomes the model id."""
        if model_name and not Path(model_name).exists() and not self.model_card_data.model_id:
            self.model_card_data.model_id = model_name
        if train_datasets == "deprecated":
            train_datasets = None
        self.model_card_data.save_dir = path  # media usage examples are written under path/assets
        card = self._model_card_text or generate_model_card(self, model_name, train_datasets)
        with open(os.path.join(path, "README.md"), "w", encoding="utf-8") as f:
            f.write(card)

    def _save_module(
        self, folder: str, index: int, name: str, module: nn.Module, safe_serialization: bool
    ) -> dict[str, Any]:
        in_root = index == 0 and getattr(module, "save_in_root", isinstance(module, InputModule))
        subfolder = "" if in_root else f"{index}_{type(module).__name__}"
        target = os.path.join(folder, subfolder)
        os.makedirs(target, exist_ok=True)
        persistence.save_module(module, target, safe_serialization)
        entry = {"idx": index, "name": name, "path": subfolder, "type": persistence.type_name(module)}
        if self.module_kwargs.get(name):
            entry["kwargs"] = list(self.module_kwargs[name])
        return entry

    def _model_config(self) -> dict[str, Any]:
        import transformers

        return {
            "__version__": {
                "sentence_transformers": persistence.FORMAT_VERSION,
                "sbert": __sbert_version__,
                "transformers": transformers.__version__,
                "pytorch": torch.__version__,
            },
            "model_type": "SentenceTransformer",
            "prompts": self.prompts,
            "default_prompt_name": self.default_prompt_name,
            "similarity_fn_name": self.similarity_fn_name,
        }

    @classmethod
    def merge(
        cls,
        models: Sequence[str | Path | SentenceTransformer],
        method: str = "linear",
        *,
        base_model: str | Path | SentenceTransformer | None = None,
        parameters: dict[str, Any] | None = None,
        dtype: str | torch.dtype | None = torch.float32,
        out_dtype: str | torch.dtype | None = None,
        device: str | torch.device = "cpu",
        **load_kwargs: Any,
    ) -> SentenceTransformer:
        """Merge compatible models (fine-tunes of one ancestor) into a new one; see ``base.merging.merge_models``."""
        from sentence_transformers.base.merging import merge_models

        return merge_models(
            cls,
            models,
            method,
            base_model=base_model,
            parameters=parameters,
            dtype=dtype,
            out_dtype=out_dtype,
            device=device,
            **load_kwargs,
        )

    def push_to_hub(
        self,
        repo_id: str,
        token: str | None = None,
        private: bool | None = None,
        safe_serialization: bool = True,
        commit_message: str | None = None,
        local_model_path: str | None = None,
        exist_ok: bool = False,
        replace_model_card: bool = False,
        train_datasets: list[str] | None = None,
        revision: str | None = None,
        create_pr: bool = False,
    ) -> str:
        """Upload the model to a Hugging Face Hub repository; returns the commit (or pull request) URL.

        Args:
            repo_id: "owner/name" of the repository (created when missing).
            token: Hugging Face token.
            private: Create the repository as private.
            safe_serialization: Upload safetensors weights (else PyTorch pickles).
            commit_message: Message of the commit.
            local_model_path: Upload this saved folder instead of saving the model now.
            exist_ok: Allow pushing to an existing repository.
            replace_model_card: Overwrite a README.md that the repository already has.
            train_datasets: Dataset names for the model card.
            revision: Branch to push to (created when missing).
            create_pr: Open a pull request instead of committing to the branch.
        """
        from huggingface_hub import HfApi

        api = HfApi(token=token)
        repo_id = api.create_repo(repo_id=repo_id, private=private, exist_ok=exist_ok).repo_id
        if revision is not None:
            api.create_branch(repo_id=repo_id, branch=revision, exist_ok=True)
        keep_card = not replace_model_card and api.file_exists(repo_id, "README.md", revision=revision)
        upload = {
            "repo_id": repo_id,
            "commit_message": commit_message or "Add new SentenceTransformer model",
            "revision": revision,
            "create_pr": create_pr,
            "ignore_patterns": ["README.md"] if keep_card else None,
        }
        if local_model_path is not None:
            commit = api.upload_folder(folder_path=local_model_path, **upload)
        else:
            with tempfile.TemporaryDirectory() as staging:
                target = os.path.join(staging, "model")
                self.save(
                    target, model_name=repo_id, train_datasets=train_datasets, safe_serialization=safe_serialization
                )
                commit = api.upload_folder(folder_path=target, **upload)
        return commit.pr_url if create_pr else commit.commit_url

    def save_to_hub(
        self,
        repo_id: str,
        organization: str | None = None,
        token: str | None = None,
        private: bool | None = None,
        safe_serialization: bool = True,
        commit_message: str = "Add new model.",
        local_model_path: str | None = None,
        exist_ok: bool = False,
        replace_model_card: bool = False,
        train_datasets: list[str] | None = None,
    ) -> str:
        """Deprecated name of ``push_to_hub``; ``organization`` becomes the owner part of ``repo_id``."""
        warnings.warn("save_to_hub is deprecated; use push_to_hub", FutureWarning, stacklevel=2)
        if organization and "/" not in repo_id:
            repo_id = f"{organization}/{repo_id}"
        elif organization and not repo_id.startswith(f"{organization}/"):
            raise ValueError(f"repo_id {repo_id!r} names an owner other than organization {organization!r}")
        return self.push_to_hub(
            repo_id,
            token=token,
            private=private,
            safe_serialization=safe_serialization,
            commit_message=commit_message,
            local_model_path=local_model_path,
            exist_ok=exist_ok,
            replace_model_card=replace_model_card,
            train_datasets=train_datasets,
        )


def _as_ordered(modules: Iterable[nn.Module] | OrderedDict[str, nn.Module] | None) -> OrderedDict[str, nn.Module]:
    if modules is None:
        return OrderedDict()
    if isinstance(modules, OrderedDict):
        return modules
    ordered = OrderedDict()
    for index, module in enumerate(modules):
        if not isinstance(module, nn.Module):
            raise TypeError(f"modules[{index}] is {type(module).__name__}, not a torch.nn.Module")
        ordered[str(index)] = module
    return ordered
