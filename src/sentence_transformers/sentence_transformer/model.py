"""SentenceTransformer: the bi-encoder model type — a BaseModel whose modules map texts to embeddings."""

from __future__ import annotations

import contextlib
import logging
import warnings
from collections import OrderedDict
from collections.abc import Iterable, Iterator
from typing import Any

import numpy as np
import torch
from torch import nn

from sentence_transformers.base import encoding
from sentence_transformers.base.loading import LoadOptions, folder_transformer
from sentence_transformers.base.model import BaseModel
from sentence_transformers.sentence_transformer import multi_process
from sentence_transformers.sentence_transformer.fit_mixin import FitMixin
from sentence_transformers.sentence_transformer.model_card import SentenceTransformerModelCardData
from sentence_transformers.sentence_transformer.modules.pooling import Pooling
from sentence_transformers.util.decorators import deprecated_kwargs
from sentence_transformers.util.similarity import SimilarityFunction

logger = logging.getLogger(__name__)


class SentenceTransformer(FitMixin, BaseModel):
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
        # Read by _parse_model_config during the base's construction (plain attributes: no module state yet).
        self._similarity_fn_name: str | None = None
        self._given_similarity_fn_name = similarity_fn_name
        self.truncate_dim = truncate_dim
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
            processor_kwargs={**(tokenizer_kwargs or {}), **(processor_kwargs or {})} or None,
            config_kwargs=config_kwargs,
            model_card_data=model_card_data,
            backend=backend,
        )

    def _load_default_modules(self, folder: str, options: LoadOptions) -> OrderedDict[str, nn.Module]:
        """A Hugging Face model without modules.json becomes Transformer + mean Pooling; a model whose Transformer
        already gives sentence embeddings (CLIP's towers, through ``get_*_features``) the Transformer alone."""
        transformer = folder_transformer(folder, options)
        if getattr(transformer, "module_output_name", None) == "sentence_embedding":
            return OrderedDict([("0", transformer)])
        pooling = Pooling(transformer.get_embedding_dimension(), pooling_mode="mean")
        return OrderedDict([("0", transformer), ("1", pooling)])

    def _parse_model_config(self, config: dict[str, Any]) -> None:
        value = self.__dict__.pop("_given_similarity_fn_name", None) or config.get("similarity_fn_name")
        if value:
            self.similarity_fn_name = value

    def _get_model_config(self) -> dict[str, Any]:
        return {**super()._get_model_config(), "similarity_fn_name": self.similarity_fn_name}

    # ----------------------------------------------------------------- properties
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

    def set_pooling_include_prompt(self, include_prompt: bool) -> None:
        """Set ``include_prompt`` on the first Pooling module, if there is one."""
        for module in self._modules.values():
            if hasattr(module, "include_prompt") and hasattr(module, "get_pooling_mode_str"):
                module.include_prompt = include_prompt
                return

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
        return self._encode_with_role(inputs, "query", {**options, **kwargs})

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
        return self._encode_with_role(inputs, "document", {**options, **kwargs})

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
