"""MultiVectorEncoder: the late-interaction (ColBERT-style) model type — a BaseModel whose modules map each input to
one vector per token, scored by MaxSim.

``encode`` runs the shared engine (texts tokenized once, sorted, batched and prefetched) into a sink that keeps,
per input, the token vectors that the scoring mask (``attention_mask`` as ``MultiVectorMask`` leaves it) selects.
Besides its own folders it loads plain Hugging Face models, SentenceTransformer folders, PyLate and Stanford-NLP
ColBERT checkpoints (``checkpoints``).
"""

from __future__ import annotations

import logging
import string
import warnings
from collections import OrderedDict
from typing import Any, Literal

import numpy as np
import torch
from torch import Tensor, nn

from sentence_transformers.base import encoding, persistence
from sentence_transformers.base.loading import LoadOptions, folder_transformer
from sentence_transformers.base.model import BaseModel
from sentence_transformers.base.modules.dense import Dense
from sentence_transformers.base.modules.normalize import Normalize
from sentence_transformers.base.modules.transformer import Transformer
from sentence_transformers.multi_vector_encoder import checkpoints
from sentence_transformers.multi_vector_encoder.checkpoints import LegacySettings
from sentence_transformers.multi_vector_encoder.model_card import MultiVectorEncoderModelCardData
from sentence_transformers.multi_vector_encoder.modules import BaseTokenPooling, MultiVectorMask
from sentence_transformers.util.similarity import SimilarityFunction

logger = logging.getLogger(__name__)

#: Width of the projection a plain checkpoint gets (ColBERT's).
DEFAULT_PROJECTION_DIM = 128


class MultiVectorEncoder(BaseModel):
    """Loads or builds a late-interaction model: each input becomes a [tokens, dim] tensor, scored by MaxSim.

    Args:
        model_name_or_path: A local folder or hub name: a MultiVectorEncoder folder (modules.json); a PyLate or
            Stanford-NLP ColBERT checkpoint; a SentenceTransformer folder (its pooling dropped, a token-level
            projection kept or added); or a plain Hugging Face checkpoint (Transformer + a new Dense to 128 +
            MultiVectorMask + token-level Normalize; train it before use).
        modules: Modules to chain, to build a model from scratch.
        similarity_fn_name: "maxsim" (default) or "meanmaxsim" (MaxSim divided by the query's token count).
        device, prompts, default_prompt_name, cache_folder, trust_remote_code, revision, local_files_only, token,
        model_kwargs, processor_kwargs, config_kwargs, model_card_data, backend: as for SentenceTransformer.
            For ColBERT models the prompts hold the markers, e.g. ``{"query": "[Q] ", "document": "[D] "}``.

    Query/document lengths and query expansion are Transformer settings; the skiplist is MultiVectorMask's.
    """

    model_type = "MultiVectorEncoder"
    model_card_data_class = MultiVectorEncoderModelCardData
    default_huggingface_organization: str | None = None
    SUPPORTED_SIMILARITY_FN_NAMES: tuple[str, ...] = (
        SimilarityFunction.MAXSIM.value,
        SimilarityFunction.MEAN_MAXSIM.value,
    )

    def __init__(
        self,
        model_name_or_path: str | None = None,
        *,
        modules: list[nn.Module] | None = None,
        device: str | None = None,
        prompts: dict[str, str] | None = None,
        default_prompt_name: str | None = None,
        cache_folder: str | None = None,
        trust_remote_code: bool = False,
        revision: str | None = None,
        local_files_only: bool = False,
        token: bool | str | None = None,
        model_kwargs: dict[str, Any] | None = None,
        processor_kwargs: dict[str, Any] | None = None,
        config_kwargs: dict[str, Any] | None = None,
        model_card_data: MultiVectorEncoderModelCardData | None = None,
        backend: Literal["torch", "onnx", "openvino"] = "torch",
        similarity_fn_name: str | SimilarityFunction | None = None,
    ) -> None:
        # Plain attributes, read by the loading hooks during the base's construction.
        self._similarity_fn_name: str | None = None
        self.similarity_fn_name = similarity_fn_name  # a bad name fails before anything loads
        self._legacy = LegacySettings()
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
        self._warn_expansion_without_mask()

    # ----------------------------------------------------------------- loading and config
    def _load_default_modules(self, folder: str, options: LoadOptions) -> OrderedDict[str, nn.Module]:
        """A plain checkpoint: Transformer + a new Dense(hidden → 128) + MultiVectorMask + token-level Normalize;
        a Stanford-NLP ColBERT checkpoint the same with its own projection and ``artifact.metadata`` settings."""
        found = checkpoints.architectures(folder)
        if any(name.endswith("ForRetrieval") for name in found):
            raise NotImplementedError(
                f"{folder} is a transformers-native late-interaction retriever ({found[0]}, e.g. ColPali/ColQwen2): "
                "sbert's Transformer has no 'retrieval' task, so MultiVectorEncoder cannot load it"
            )
        stanford = "HF_ColBERT" in found
        if stanford:
            self._legacy = checkpoints.stanford_settings(folder)
        transformer = folder_transformer(folder, options, **self._legacy.transformer_defaults)
        if stanford:
            projection = checkpoints.stanford_projection(folder)
            logger.info("Detected a Stanford-NLP ColBERT checkpoint: loaded its projection and metadata.")
        else:
            projection = _new_projection(transformer.get_embedding_dimension())
            logger.info(
                "No ColBERT checkpoint detected: added a randomly initialised projection (%d → %d). Train the model "
                "before use, or pass modules=... for another projection.",
                transformer.get_embedding_dimension(),
                DEFAULT_PROJECTION_DIM,
            )
        self._register_prefixes(transformer)
        mask = MultiVectorMask(skiplist_words=self._legacy.skiplist_words)
        return _numbered([transformer, projection, mask, Normalize(module_input_name="token_embeddings")])

    def _load_converted_modules(
        self, folder: str, options: LoadOptions, saved_type: str
    ) -> OrderedDict[str, nn.Module]:
        """PyLate 3 folders ("ColBERT") keep their modules and get the scoring mask and normalization PyLate ran
        inline; SentenceTransformer folders (PyLate's older saves among them) lose their pooling, keep a Dense as
        token-level projection (or get a new one) and get the mask and normalization. Other model types load as
        plain checkpoints."""
        if saved_type not in (*checkpoints.PYLATE_MODEL_TYPES, "SentenceTransformer"):
            return super()._load_converted_modules(folder, options, saved_type)
        config = persistence.read_model_config(folder)
        self._legacy = checkpoints.pylate_settings(config)
        loaded, module_kwargs = checkpoints.load_listed_modules(folder, options, self._legacy.transformer_defaults)
        names = list(loaded)
        modules = list(loaded.values())
        if not self._legacy.is_pylate_v3:
            modules = _token_level(modules)
        transformer = next((module for module in modules if isinstance(module, Transformer)), None)
        if transformer is None:
            raise ValueError(
                f"Cannot convert the {saved_type} checkpoint {folder} into a MultiVectorEncoder: it has no "
                "Transformer module."
            )
        if not any(isinstance(module, Dense) for module in modules):
            modules.append(_new_projection(transformer.get_embedding_dimension()))
            logger.info("Appended a randomly initialised token-level projection: train the model before use.")
        skiplist = self._legacy.skiplist_words
        if skiplist is None and (self._legacy.is_pylate_v3 or self._legacy.prefixes):
            skiplist = list(string.punctuation)  # PyLate's default
        modules += [MultiVectorMask(skiplist_words=skiplist), Normalize(module_input_name="token_embeddings")]
        self._register_prefixes(transformer)
        positions = {id(module): index for index, module in enumerate(modules)}
        renamed = {name: str(positions[id(loaded[name])]) for name in names if id(loaded[name]) in positions}
        kwargs = {renamed[name]: value for name, value in module_kwargs.items() if name in renamed}
        self.__dict__["_converted"] = (config, kwargs)
        return _numbered(modules)

    def _register_prefixes(self, transformer: Transformer) -> None:
        if self._legacy.prefixes:
            checkpoints.register_prefix_tokens(transformer.tokenizer, self._legacy.prefixes)

    def _parse_model_config(self, config: dict[str, Any]) -> None:
        """The saved similarity (when supported and none was given); for converted checkpoints also their prompts
        (PyLate's and Stanford's markers among them) and default prompt name, the caller's prompts winning."""
        converted = self.__dict__.pop("_converted", None)
        if converted is not None:
            config, module_kwargs = converted
            self.module_kwargs = {**module_kwargs, **self.module_kwargs}
        for name, text in self._legacy.prompts.items():
            self.prompts.setdefault(name, text)
        if converted is not None and self.default_prompt_name is None:
            saved_default = config.get("default_prompt_name")
            self.default_prompt_name = saved_default if saved_default in self.prompts else None
        for role in ("query", "document"):
            self.prompts.setdefault(role, "")  # as upstream: an empty role prompt keeps the default prompt out
        saved = config.get("similarity_fn_name")
        if self._similarity_fn_name is None and saved in self.SUPPORTED_SIMILARITY_FN_NAMES:
            self._similarity_fn_name = saved

    def _get_model_config(self) -> dict[str, Any]:
        return {**super()._get_model_config(), "similarity_fn_name": self._similarity_fn_name}

    def _warn_expansion_without_mask(self) -> None:
        modules = list(self._modules.values())
        for index, module in enumerate(modules):
            if isinstance(module, Transformer) and module.query_expansion is not None:
                if not any(isinstance(later, MultiVectorMask) for later in modules[index + 1 :]):
                    logger.warning(
                        "query_expansion is set on the Transformer module, but no MultiVectorMask module follows it: "
                        "the expansion tokens will not be scored. Add a MultiVectorMask after the Transformer."
                    )

    # ----------------------------------------------------------------- properties
    @property
    def similarity_fn_name(self) -> str:
        """The scoring of ``similarity``: "maxsim" unless set ("meanmaxsim" divides by the query's token count)."""
        if self._similarity_fn_name is None:
            self._similarity_fn_name = SimilarityFunction.MAXSIM.value
        return self._similarity_fn_name

    @similarity_fn_name.setter
    def similarity_fn_name(self, value: str | SimilarityFunction | None) -> None:
        if isinstance(value, SimilarityFunction):
            value = value.value
        if value is not None and not isinstance(value, str):
            raise TypeError(f"similarity_fn_name must be a string or SimilarityFunction, got {type(value).__name__}")
        if value is not None and value not in self.SUPPORTED_SIMILARITY_FN_NAMES:
            if value == "xtr":
                raise ValueError(
                    f"MultiVectorEncoder only supports {self.SUPPORTED_SIMILARITY_FN_NAMES} as the model's "
                    "similarity. XTR is a training-time scoring: pass it to a loss as its similarity_fct instead; its "
                    "top-k over the batch's tokens makes a pair's score depend on the rest of the batch."
                )
            raise ValueError(
                f"MultiVectorEncoder only supports {self.SUPPORTED_SIMILARITY_FN_NAMES}, got {value!r}: cosine, dot, "
                "euclidean and manhattan compare single vectors, not sets of token vectors."
            )
        self._similarity_fn_name = value

    def similarity(self, embeddings1: Any, embeddings2: Any, **kwargs: Any) -> Tensor:
        """Scores of every query against every document, [n_queries, n_documents]: MaxSim (or MeanMaxSim).

        Each side is a list of [tokens_i, dim] tensors or arrays, a padded [n, tokens, dim] tensor, or one
        [tokens, dim] tensor. ``kwargs`` go to the scoring function (``device``, ``chunk_elements``,
        ``length_normalize``)."""
        function = SimilarityFunction.to_similarity_fn(self.similarity_fn_name)
        return function(embeddings1, embeddings2, **kwargs)

    def similarity_pairwise(self, embeddings1: Any, embeddings2: Any, **kwargs: Any) -> Tensor:
        """Score of query i against document i, [n]; the inputs as for ``similarity``."""
        function = SimilarityFunction.to_similarity_pairwise_fn(self.similarity_fn_name)
        return function(embeddings1, embeddings2, **kwargs)

    def get_embedding_dimension(self) -> int | None:
        """Size of each token vector of ``encode``'s output (None when no module knows it)."""
        for module in reversed(self._modules.values()):
            method = getattr(type(module), "get_embedding_dimension", None)
            if callable(method):
                return module.get_embedding_dimension()
        return None

    def get_sentence_embedding_dimension(self) -> int | None:
        """Deprecated name of ``get_embedding_dimension``."""
        warnings.warn(
            "The `get_sentence_embedding_dimension` method has been renamed to `get_embedding_dimension`.",
            FutureWarning,
            stacklevel=2,
        )
        return self.get_embedding_dimension()

    # ----------------------------------------------------------------- encoding
    def encode(
        self,
        inputs: Any,
        prompt_name: str | None = None,
        prompt: str | None = None,
        batch_size: int = 32,
        show_progress_bar: bool | None = None,
        output_value: Literal["token_embeddings"] | None = "token_embeddings",
        convert_to_numpy: bool = False,
        device: str | torch.device | list[str | torch.device] | None = None,
        normalize_embeddings: bool = False,
        pool: dict[str, Any] | None = None,
        chunk_size: int | None = None,
        token_pooling: BaseTokenPooling | None = None,
        task: str | None = None,
        **kwargs: Any,
    ) -> list[Tensor] | list[np.ndarray] | Tensor | np.ndarray | list[dict[str, Any]] | dict[str, Any]:
        """Embed inputs as per-token vectors.

        Args:
            inputs: A string or a list of strings.
            prompt_name: Key of ``self.prompts`` whose text is prepended; ignored when ``prompt`` is given.
            prompt: Text prepended to every input.
            batch_size: Inputs per forward pass.
            show_progress_bar: Show a tqdm bar (default: when logging is at INFO or DEBUG).
            output_value: "token_embeddings" (default): each input's scored token vectors; None: each input's
                features (every batch-first tensor of the batch, padded, unmasked).
            convert_to_numpy: numpy arrays on the CPU instead of tensors on the model's device.
            device: Device to run on; a list of devices encodes in a temporary pool of processes.
            normalize_embeddings: Scale each token vector to unit length (for pipelines without a Normalize).
            pool: A pool from ``start_multi_process_pool``: encode in its worker processes.
            chunk_size: Inputs per chunk sent to a pool worker.
            token_pooling: A pooling applied to this call's output (for the tasks it pools).
            task: "query" or "document": the prefix, length, expansion and mask of that side. Prefer
                ``encode_query`` / ``encode_document``, which set it.
            kwargs: Passed to the modules that declare them.

        Returns:
            A list of [tokens_i, dim] tensors (numpy arrays with ``convert_to_numpy``), or of feature dicts; for a
            single string, its own entry.
        """
        if show_progress_bar is None:
            show_progress_bar = logger.getEffectiveLevel() in (logging.INFO, logging.DEBUG)
        if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size <= 0:
            raise ValueError(f"batch_size must be a positive integer, got {batch_size}.")
        if output_value not in ("token_embeddings", None):
            raise ValueError(
                f'output_value must be "token_embeddings" or None (raw per-input feature dicts), got {output_value!r}.'
            )
        if token_pooling is not None and not isinstance(token_pooling, BaseTokenPooling):
            raise TypeError(f"token_pooling must be a BaseTokenPooling, got {type(token_pooling).__name__}")
        if "convert_to_tensor" in kwargs:
            raise ValueError(
                f"{type(self).__name__}.encode() has no `convert_to_tensor`: multi-vector embeddings differ in length "
                "per input, so there is no single tensor to stack; encode already returns a list of tensors. Drop "
                "the argument, or pass `convert_to_numpy=True` for a list of arrays."
            )
        self._check_encode_kwargs(kwargs)
        if output_value is None:
            convert_to_numpy = False
        if task is not None:
            kwargs["task"] = task
        prompt_text = encoding.resolve_prompt(self, prompt, prompt_name)
        single = encoding.is_single_input(inputs)
        if pool is not None or (isinstance(device, (list, tuple)) and len(device) > 0):
            rows = self._encode_in_pool(
                inputs, pool, device, prompt_text, batch_size, output_value, normalize_embeddings, token_pooling,
                chunk_size, kwargs,
            )  # fmt: skip
        else:
            if device is not None:
                self.to(device)
            items, single = encoding.as_input_list(inputs)
            items, extra = encoding.apply_prompt(self, items, prompt_text)
            options = encoding.EncodeOptions(batch_size=batch_size, show_progress_bar=bool(show_progress_bar))
            sink = TokenSink(len(items), output_value, normalize_embeddings, token_pooling, task, self)
            rows = encoding.run(self, items, extra, options, prompt=prompt_text, sink=sink, **kwargs)
        if convert_to_numpy:
            rows = [_to_numpy(row) for row in rows]
        return rows[0] if single and rows else rows

    def encode_query(
        self,
        inputs: Any,
        prompt_name: str | None = None,
        prompt: str | None = None,
        batch_size: int = 32,
        show_progress_bar: bool | None = None,
        output_value: Literal["token_embeddings"] | None = "token_embeddings",
        convert_to_numpy: bool = False,
        device: str | torch.device | list[str | torch.device] | None = None,
        normalize_embeddings: bool = False,
        pool: dict[str, Any] | None = None,
        chunk_size: int | None = None,
        token_pooling: BaseTokenPooling | None = None,
        **kwargs: Any,
    ) -> list[Tensor] | list[np.ndarray] | Tensor | np.ndarray | list[dict[str, Any]] | dict[str, Any]:
        """``encode`` with ``task="query"``: the "query" prompt (when no prompt is given), the query length and
        query expansion."""
        options = {key: value for key, value in locals().items() if key not in ("self", "inputs", "kwargs")}
        return self._encode_with_role(inputs, "query", {**options, **kwargs, "task": "query"})

    def encode_document(
        self,
        inputs: Any,
        prompt_name: str | None = None,
        prompt: str | None = None,
        batch_size: int = 32,
        show_progress_bar: bool | None = None,
        output_value: Literal["token_embeddings"] | None = "token_embeddings",
        convert_to_numpy: bool = False,
        device: str | torch.device | list[str | torch.device] | None = None,
        normalize_embeddings: bool = False,
        pool: dict[str, Any] | None = None,
        chunk_size: int | None = None,
        token_pooling: BaseTokenPooling | None = None,
        **kwargs: Any,
    ) -> list[Tensor] | list[np.ndarray] | Tensor | np.ndarray | list[dict[str, Any]] | dict[str, Any]:
        """``encode`` with ``task="document"``: the first of the "document", "passage", "corpus" prompts (when no
        prompt is given), the document length and the skiplist."""
        options = {key: value for key, value in locals().items() if key not in ("self", "inputs", "kwargs")}
        return self._encode_with_role(inputs, "document", {**options, **kwargs, "task": "document"})

    def _encode_in_pool(
        self,
        inputs: Any,
        pool: dict[str, Any] | None,
        devices: list[str] | None,
        prompt: str | None,
        batch_size: int,
        output_value: str | None,
        normalize_embeddings: bool,
        token_pooling: BaseTokenPooling | None,
        chunk_size: int | None,
        kwargs: dict[str, Any],
    ) -> list[Any]:
        """``encode`` in the worker processes of ``pool`` (or of a temporary pool on ``devices``); on the CPU."""
        from sentence_transformers.sentence_transformer.multi_process import run_in_pool

        items, _ = encoding.as_input_list(inputs)
        own_pool = pool is None
        pool = pool if pool is not None else self.start_multi_process_pool([str(device) for device in devices or []])
        worker_kwargs = {
            "prompt": prompt,
            "batch_size": batch_size,
            "show_progress_bar": False,
            "output_value": output_value,
            "normalize_embeddings": normalize_embeddings,
            "token_pooling": token_pooling,
            **kwargs,
        }
        try:
            chunks = run_in_pool(pool, items, "encode", worker_kwargs, chunk_size) if items else []
        finally:
            if own_pool:
                self.stop_multi_process_pool(pool)
        return [row for chunk in chunks for row in chunk]

    def _push_to_hub_usage_tip(self, repo_id: str) -> str:
        backend = self.get_backend()
        extra = "" if backend == "torch" else f', backend="{backend}"'
        name = type(self).__name__
        return (
            f'from sentence_transformers import {name}\n\nmodel = {name}("{repo_id}"{extra})\n'
            'query_embeddings = model.encode_query(["What is the capital of France?"])\n'
            'document_embeddings = model.encode_document(["Paris is the capital of France."])\n'
            "print(model.similarity(query_embeddings, document_embeddings))"
        )


class TokenSink:
    """Per-input token vectors (those of the scoring mask), or per-input feature dicts, at their input positions."""

    def __init__(
        self,
        count: int,
        output_value: str | None,
        normalize: bool,
        token_pooling: BaseTokenPooling | None,
        task: str | None,
        model: MultiVectorEncoder,
    ) -> None:
        self.rows: list[Any] = [None] * count
        self.output_value, self.normalize, self.token_pooling, self.task = output_value, normalize, token_pooling, task
        if token_pooling is not None and token_pooling.applies_to(task):
            if any(isinstance(module, BaseTokenPooling) for module in model.modules()):
                logger.warning(
                    "This model already pools tokens in its pipeline: the per-call `token_pooling=` pools further on "
                    "top of it. Omit it if you only want the model's own pooling."
                )

    def add(self, features: dict[str, Any], positions: torch.Tensor) -> None:
        if self.output_value is None:
            if self.token_pooling is not None:
                features = self.token_pooling(features, task=self.task)
            rows = _feature_rows(features, len(positions))
        else:
            embeddings = features["token_embeddings"].detach()
            mask = features["attention_mask"].bool()
            rows = [vectors[keep] for vectors, keep in zip(embeddings, mask, strict=True)]
            if self.normalize:
                rows = [torch.nn.functional.normalize(row, p=2, dim=-1) for row in rows]
            if self.token_pooling is not None:
                rows = self.token_pooling.pool(rows, task=self.task)
        for position, row in zip(positions.tolist(), rows, strict=True):
            self.rows[position] = row

    def result(self, dimension: int | None) -> list[Any]:
        return self.rows


def _feature_rows(features: dict[str, Any], size: int) -> list[dict[str, Any]]:
    """One dict per input: batch-first tensors are split, everything else is shared."""

    def row(index: int) -> dict[str, Any]:
        return {
            name: value[index] if isinstance(value, Tensor) and value.ndim > 0 and value.shape[0] == size else value
            for name, value in features.items()
        }

    return [row(index) for index in range(size)]


def _to_numpy(value: Any) -> Any:
    if not isinstance(value, Tensor):
        return value
    value = value.detach().cpu()
    return (value.float() if value.dtype == torch.bfloat16 else value).numpy()


def _new_projection(hidden_size: int) -> Dense:
    return Dense(
        hidden_size,
        DEFAULT_PROJECTION_DIM,
        bias=False,
        activation_function=nn.Identity(),
        module_input_name="token_embeddings",
    )


def _token_level(modules: list[nn.Module]) -> list[nn.Module]:
    """A SentenceTransformer pipeline made token-level: Pooling and sentence-level Normalize dropped, a
    sentence-level Dense redirected to the token embeddings (its weights kept)."""
    from sentence_transformers.sentence_transformer.modules.pooling import Pooling

    kept = [
        module
        for module in modules
        if not isinstance(module, Pooling)
        and not (isinstance(module, Normalize) and module.module_input_name == "sentence_embedding")
    ]
    for module in kept:
        if isinstance(module, Dense) and module.module_input_name == "sentence_embedding":
            logger.info("Redirecting the sentence-level Dense projection to token level.")
            module.module_input_name = "token_embeddings"
            module.module_output_name = "token_embeddings"
    return kept


def _numbered(modules: list[nn.Module]) -> OrderedDict[str, nn.Module]:
    return OrderedDict((str(index), module) for index, module in enumerate(modules))
