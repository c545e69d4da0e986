"""SparseEncoder: the learned-sparse model type — a BaseModel whose modules map texts to vocabulary-sized vectors
that are mostly zero (SPLADE, inference-free SPLADE, CSR).

``encode`` runs the shared engine (texts tokenized once, sorted by token count, batched and prefetched) into a
sink that keeps each batch sparse as soon as it leaves the model. For a masked-LM Transformer followed by
SpladePooling, inference skips the [batch, tokens, vocabulary] logits: the MLM head runs on the real tokens only,
a bounded chunk at a time, pooled as it goes (``SpladePooling.pool_hidden_states``).
"""

from __future__ import annotations

import contextlib
import logging
import warnings
from collections import OrderedDict
from collections.abc import Callable, Iterator
from typing import Any, Literal

import numpy as np
import torch
from torch import Tensor, nn
from transformers import AutoConfig

from sentence_transformers.base import encoding
from sentence_transformers.base.loading import LoadOptions, folder_transformer, load_saved_modules
from sentence_transformers.base.model import BaseModel
from sentence_transformers.base.modules.transformer import _MODEL_INPUTS, Transformer
from sentence_transformers.sentence_transformer.modules.pooling import Pooling
from sentence_transformers.sparse_encoder.model_card import SparseEncoderModelCardData
from sentence_transformers.sparse_encoder.modules.sparse_auto_encoder import SparseAutoEncoder
from sentence_transformers.sparse_encoder.modules.splade_pooling import SpladePooling
from sentence_transformers.util.decorators import deprecated_kwargs
from sentence_transformers.util.similarity import SimilarityFunction
from sentence_transformers.util.tensor import select_max_active_dims

logger = logging.getLogger(__name__)


class SparseEncoder(BaseModel):
    """Loads or builds a model that maps texts to sparse vectors over a vocabulary (or a CSR code).

    Args:
        model_name_or_path: A local folder or hub name: a SparseEncoder folder (modules.json); a plain masked-LM
            checkpoint (``…ForMaskedLM``: becomes Transformer(fill-mask) + SpladePooling("max"), as SPLADE models are
            stored); another plain checkpoint (becomes Transformer + mean Pooling + a new SparseAutoEncoder, CSR);
            or a SentenceTransformer folder (a new SparseAutoEncoder on top of its modules).
        modules: Modules to chain, to build a model from scratch.
        similarity_fn_name: "dot" (default), "cosine", "euclidean" or "manhattan".
        max_active_dims: Keep at most this many non-zero dimensions per embedding in ``encode`` (default: the
            saved value; a CSR model's ``k``).
        device, prompts, default_prompt_name, cache_folder, trust_remote_code, revision, local_files_only, token,
        model_kwargs, processor_kwargs, config_kwargs, model_card_data, backend: as for SentenceTransformer.
    """

    model_type = "SparseEncoder"
    model_card_data_class = SparseEncoderModelCardData
    default_huggingface_organization: str | None = "sparse-encoder"
    # Each token's output is vocabulary-wide (SPLADE's logits, ~30k floats): passes keep batch_size texts, as
    # upstream's, so that short texts do not multiply that memory.
    _encode_pass_tokens: int | None = 0
    SUPPORTED_SIMILARITY_FN_NAMES: tuple[str, ...] = ("cosine", "dot", "euclidean", "manhattan")

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
        model_card_data: SparseEncoderModelCardData | None = None,
        backend: Literal["torch", "onnx", "openvino"] = "torch",
        similarity_fn_name: str | SimilarityFunction | None = None,
        max_active_dims: int | None = None,
    ) -> None:
        # Plain attributes read by _parse_model_config during the base's construction (no module state yet).
        self._similarity_fn_name: str | None = None
        self._given_similarity_fn_name = similarity_fn_name
        _check_max_active_dims(max_active_dims)
        self.max_active_dims = max_active_dims
        self._fused_splade: bool | None = None
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
        if self.max_active_dims is None:
            self.max_active_dims = next(
                (module.k for module in self._modules.values() if isinstance(module, SparseAutoEncoder)), None
            )

    # ----------------------------------------------------------------- loading and config
    def _load_default_modules(self, folder: str, options: LoadOptions) -> OrderedDict[str, nn.Module]:
        """A masked-LM checkpoint becomes SPLADE (Transformer(fill-mask) + SpladePooling("max")); any other
        checkpoint CSR (Transformer + mean Pooling + SparseAutoEncoder(4 × dim, k=256, k_aux=512))."""
        config = AutoConfig.from_pretrained(
            folder, cache_dir=options.cache_folder, **options.transformers_kwargs(), **(options.config_kwargs or {})
        )
        if any(name.endswith("ForMaskedLM") for name in getattr(config, "architectures", None) or []):
            logger.info("Detected MLM architecture, using SpladePooling")
            transformer = folder_transformer(folder, options, transformer_task="fill-mask")
            return OrderedDict([("0", transformer), ("1", SpladePooling(pooling_strategy="max"))])
        logger.info("No MLM architecture detected, using default Transformer + mean Pooling + SparseAutoEncoder (CSR)")
        transformer = folder_transformer(folder, options)
        dimension = transformer.get_embedding_dimension()
        pooling = Pooling(dimension, pooling_mode="mean")
        autoencoder = SparseAutoEncoder(input_dim=dimension, hidden_dim=4 * dimension, k=256, k_aux=512)
        return OrderedDict([("0", transformer), ("1", pooling), ("2", autoencoder)])

    def _load_converted_modules(
        self, folder: str, options: LoadOptions, saved_type: str
    ) -> OrderedDict[str, nn.Module]:
        """A SentenceTransformer folder keeps its modules and gets a new SparseAutoEncoder on top (CSR: 4 × its
        dimension, k = dimension / 4, k_aux = dimension / 2); other model types load as plain folders."""
        if saved_type != "SentenceTransformer":
            return super()._load_converted_modules(folder, options, saved_type)
        logger.info("SentenceTransformer model found, appending SparseAutoEncoder on top to form a CSR model")
        modules, self.__dict__["_converted_module_kwargs"] = load_saved_modules(folder, options)
        dimension = next(
            (
                module.get_embedding_dimension()
                for module in reversed(modules.values())
                if callable(getattr(module, "get_embedding_dimension", None))
            ),
            None,
        )
        if dimension is None:
            raise ValueError(
                "Cannot determine the embedding dimension from the loaded modules. "
                "At least one module must have a `get_embedding_dimension` method."
            )
        autoencoder = SparseAutoEncoder(dimension, 4 * dimension, k=dimension // 4, k_aux=dimension // 2)
        modules[str(len(modules))] = autoencoder
        return modules

    def _post_init(self) -> None:
        """The base's hook, then each SpladePooling learns its width (the masked-LM's vocabulary) before any forward
        pass, so ``get_embedding_dimension`` is right on a freshly loaded model (upstream's says the hidden size)."""
        super()._post_init()
        vocab_size = next(
            (
                getattr(getattr(module.auto_model, "config", None), "vocab_size", None)
                for module in self.modules()
                if isinstance(module, Transformer) and module.transformer_task == "fill-mask"
            ),
            None,
        )
        for module in self.modules():
            if isinstance(module, SpladePooling) and module.embedding_dimension is None and vocab_size:
                module.embedding_dimension = vocab_size

    def _parse_model_config(self, config: dict[str, Any]) -> None:
        given = self.__dict__.pop("_given_similarity_fn_name", None)
        saved = config.get("similarity_fn_name")
        if given is not None:
            self.similarity_fn_name = given
        elif saved in self.SUPPORTED_SIMILARITY_FN_NAMES:
            self.similarity_fn_name = saved
        if self.max_active_dims is None:
            self.max_active_dims = config.get("max_active_dims")
        converted = self.__dict__.pop("_converted_module_kwargs", None)
        if converted:
            self.module_kwargs = {**converted, **self.module_kwargs}

    def _get_model_config(self) -> dict[str, Any]:
        config = {**super()._get_model_config(), "similarity_fn_name": self._similarity_fn_name}
        if self.max_active_dims is not None:
            config["max_active_dims"] = self.max_active_dims
        return config

    # ----------------------------------------------------------------- properties
    @property
    def similarity_fn_name(self) -> str:
        """Name of the similarity used by ``similarity``: "dot" unless set."""
        if self._similarity_fn_name is None:
            self._similarity_fn_name = SimilarityFunction.DOT_PRODUCT.value
        return self._similarity_fn_name

    @similarity_fn_name.setter
    def similarity_fn_name(self, value: str | SimilarityFunction | None) -> None:
        if isinstance(value, SimilarityFunction):
            value = value.value
        if value is not None and value not in self.SUPPORTED_SIMILARITY_FN_NAMES:
            hint = " Use MultiVectorEncoder for MaxSim late-interaction scoring." if value == "maxsim" else ""
            raise ValueError(
                f"{type(self).__name__} only supports similarity_fn_name in "
                f"{self.SUPPORTED_SIMILARITY_FN_NAMES}, got {value!r}.{hint}"
            )
        self._similarity_fn_name = value

    def similarity(self, embeddings1: Tensor | np.ndarray, embeddings2: Tensor | np.ndarray) -> Tensor:
        """All-pairs similarity matrix [len(embeddings1), len(embeddings2)]; sparse inputs stay sparse."""
        return SimilarityFunction.to_similarity_fn(self.similarity_fn_name)(embeddings1, embeddings2)

    def similarity_pairwise(self, embeddings1: Tensor | np.ndarray, embeddings2: Tensor | np.ndarray) -> Tensor:
        """Similarity of row i with row i."""
        return SimilarityFunction.to_similarity_pairwise_fn(self.similarity_fn_name)(embeddings1, embeddings2)

    def get_embedding_dimension(self) -> int | None:
        """Size of ``encode``'s output (the vocabulary, or the CSR code size); None when no module knows it."""
        for module in reversed(self._modules.values()):
            for name in ("get_embedding_dimension", "get_sentence_embedding_dimension", "get_word_embedding_dimension"):
                method = getattr(type(module), name, None)
                if callable(method):
                    dimension = getattr(module, name)()
                    if dimension is not None:
                        return dimension
                    break
        return None

    def get_sentence_embedding_dimension(self) -> int | None:
        """Deprecated name of ``get_embedding_dimension``."""
        warnings.warn(
            "The `get_sentence_embedding_dimension` method has been renamed to `get_embedding_dimension`.",
            FutureWarning,
            stacklevel=2,
        )
        return self.get_embedding_dimension()

    def set_pooling_include_prompt(self, include_prompt: bool) -> None:
        """Set ``include_prompt`` on the first Pooling module (CSR models), if there is one."""
        for module in self._modules.values():
            if isinstance(module, Pooling):
                module.include_prompt = include_prompt
                return

    @property
    def max_seq_length(self) -> int | None:
        """Longest input in tokens; longer inputs are truncated."""
        return super().max_seq_length

    @max_seq_length.setter
    def max_seq_length(self, value: int) -> None:
        self._first_module().max_seq_length = value

    def _get_splade_pooling(self) -> SpladePooling | None:
        return next((module for module in self._modules.values() if isinstance(module, SpladePooling)), None)

    @property
    def splade_pooling_chunk_size(self) -> int | None:
        """SpladePooling's chunk size in tokens (None: all at once, or no SpladePooling)."""
        pooling = self._get_splade_pooling()
        if pooling is None:
            logger.warning("SpladePooling module not found. Cannot get chunk_size.")
            return None
        return pooling.chunk_size

    @splade_pooling_chunk_size.setter
    def splade_pooling_chunk_size(self, value: int | None) -> None:
        pooling = self._get_splade_pooling()
        if pooling is None:
            logger.warning("SpladePooling module not found. Cannot set chunk_size.")
            return
        pooling.chunk_size = value

    # ----------------------------------------------------------------- forward
    def forward(self, input: dict[str, Any], **kwargs) -> dict[str, Any]:
        """The modules in order; in ``encode``, a masked-LM Transformer + SpladePooling pair runs fused."""
        fused = self._fused_splade_parts() if self._fused_splade else None
        if fused is None:
            return super().forward(input, **kwargs)
        transformer, pooling, base, transform, decoder = fused
        inputs = {key: input[key] for key in _MODEL_INPUTS if key in input}
        hidden = base(**inputs, return_dict=True)[0]
        input["sentence_embedding"] = pooling.pool_hidden_states(
            hidden, input["attention_mask"], transform, decoder.weight, decoder.bias
        )
        for name, module in list(self._modules.items())[2:]:
            accepted = set(self.module_kwargs.get(name, ())) | getattr(module, "forward_kwargs", set())
            input = module(input, **{key: value for key, value in kwargs.items() if key in accepted})
        return input

    def _fused_splade_parts(self) -> tuple[Transformer, SpladePooling, nn.Module, Callable, nn.Linear] | None:
        """(transformer, pooling, encoder, head transform, decoder) when the model starts with a torch masked-LM
        Transformer and SpladePooling whose head is known and checked; else None. The check runs once per set of
        modules: replacing the first two modules or the Hugging Face model checks again."""
        modules = list(self._modules.values())
        key = (*modules[:2], getattr(modules[0], "auto_model", None) if modules else None)
        cached = self.__dict__.get("_fused_parts_cache")
        if (
            cached is not None
            and len(cached[0]) == len(key)
            and all(a is b for a, b in zip(cached[0], key, strict=True))
        ):
            return cached[1]
        parts = None
        if (
            len(modules) >= 2
            and isinstance(modules[0], Transformer)
            and isinstance(modules[1], SpladePooling)
            and modules[0].transformer_task == "fill-mask"
            and modules[0].backend == "torch"
        ):
            parts = _mlm_parts(modules[0], modules[1])
        self.__dict__["_fused_parts_cache"] = (key, parts)
        return parts

    @contextlib.contextmanager
    def _encoding(self) -> Iterator[None]:
        """Within this block the forward pass may run SPLADE fused (inference only)."""
        previous, self._fused_splade = self._fused_splade, True
        try:
            yield
        finally:
            self._fused_splade = previous

    # ----------------------------------------------------------------- encoding
    @deprecated_kwargs(sentences="inputs")
    def encode(
        self,
        inputs: str | list[str] | np.ndarray,
        prompt_name: str | None = None,
        prompt: str | None = None,
        batch_size: int = 32,
        show_progress_bar: bool | None = None,
        convert_to_tensor: bool = True,
        convert_to_sparse_tensor: bool = True,
        save_to_cpu: bool = False,
        device: str | torch.device | list[str | torch.device] | None = None,
        max_active_dims: int | None = None,
        pool: dict[str, Any] | None = None,
        chunk_size: int | None = None,
        **kwargs: Any,
    ) -> list[Tensor] | Tensor:
        """Embed texts as sparse vectors.

        Args:
            inputs: A string or a list of strings.
            prompt_name: Key of ``self.prompts`` whose text is prepended; ignored when ``prompt`` is given.
            prompt: Text prepended to every input.
            batch_size: Inputs per forward pass.
            show_progress_bar: Show a tqdm bar (default: when logging is at INFO or DEBUG).
            convert_to_tensor: One stacked tensor (default); False gives a list of per-input tensors.
            convert_to_sparse_tensor: Torch sparse COO (default); False gives dense tensors.
            save_to_cpu: Move the result to the CPU (it stays on the model's device otherwise).
            device: Device to run on; a list of devices encodes in a temporary pool of processes.
            max_active_dims: Keep only the largest this-many values per embedding (default: the model's).
            pool: A pool from ``start_multi_process_pool``: encode in its worker processes.
            chunk_size: Inputs per chunk sent to a pool worker.
            kwargs: Passed to the modules that declare them (e.g. ``task`` for a Router).

        Returns:
            A sparse [n, dim] tensor by default ([dim] for a single string), or as the options ask.
        """
        if show_progress_bar is None:
            show_progress_bar = logger.getEffectiveLevel() in (logging.INFO, logging.DEBUG)
        if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size <= 0:
            raise ValueError(f"batch_size must be a positive integer, got {batch_size}.")
        _check_max_active_dims(max_active_dims)
        self._check_encode_kwargs(kwargs)
        max_active_dims = max_active_dims if max_active_dims is not None else self.max_active_dims
        prompt_text = encoding.resolve_prompt(self, prompt, prompt_name)
        if pool is not None or (isinstance(device, (list, tuple)) and len(device) > 0):
            rows = self._encode_in_pool(
                inputs,
                pool,
                device,
                prompt_text,
                batch_size,
                convert_to_sparse_tensor,
                max_active_dims,
                chunk_size,
                kwargs,
            )
            return _finish(rows, encoding.is_single_input(inputs), convert_to_tensor)
        if device is not None:
            self.to(device)
        items, single = encoding.as_input_list(inputs)
        items, extra = encoding.apply_prompt(self, items, prompt_text)
        options = encoding.EncodeOptions(batch_size=batch_size, show_progress_bar=bool(show_progress_bar))
        if self._accepts_max_active_dims() and max_active_dims is not None:
            kwargs["max_active_dims"] = max_active_dims
        sink = SparseSink(len(items), max_active_dims, convert_to_sparse_tensor, save_to_cpu)
        with self._encoding():
            output = encoding.run(self, items, extra, options, prompt=prompt_text, sink=sink, **kwargs)
        return _finish(output, single, convert_to_tensor)

    @deprecated_kwargs(sentences="inputs")
    def encode_query(
        self,
        inputs: str | list[str] | np.ndarray,
        prompt_name: str | None = None,
        prompt: str | None = None,
        batch_size: int = 32,
        show_progress_bar: bool | None = None,
        convert_to_tensor: bool = True,
        convert_to_sparse_tensor: bool = True,
        save_to_cpu: bool = False,
        device: str | torch.device | list[str | torch.device] | None = None,
        max_active_dims: int | None = None,
        pool: dict[str, Any] | None = None,
        chunk_size: int | None = None,
        **kwargs: Any,
    ) -> list[Tensor] | Tensor:
        """``encode`` for search queries: the model's "query" prompt and the "query" Router route when it has them."""
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
        convert_to_tensor: bool = True,
        convert_to_sparse_tensor: bool = True,
        save_to_cpu: bool = False,
        device: str | torch.device | list[str | torch.device] | None = None,
        max_active_dims: int | None = None,
        pool: dict[str, Any] | None = None,
        chunk_size: int | None = None,
        **kwargs: Any,
    ) -> list[Tensor] | Tensor:
        """``encode`` for documents: the "document" (or "passage"/"corpus") prompt and route when it has them."""
        options = {key: value for key, value in locals().items() if key not in ("self", "inputs", "kwargs")}
        return self._encode_with_role(inputs, "document", {**options, **kwargs})

    def _accepts_max_active_dims(self) -> bool:
        return any("max_active_dims" in getattr(module, "forward_kwargs", ()) for module in self.modules())

    def _encode_in_pool(
        self,
        inputs: Any,
        pool: dict[str, Any] | None,
        devices: list[str] | None,
        prompt: str | None,
        batch_size: int,
        convert_to_sparse_tensor: bool,
        max_active_dims: int | None,
        chunk_size: int | None,
        kwargs: dict[str, Any],
    ) -> Tensor:
        """``encode`` in the worker processes of ``pool`` (or of a temporary pool on ``devices``)."""
        from sentence_transformers.sentence_transformer.multi_process import run_in_pool

        items, _ = encoding.as_input_list(inputs)
        own_pool = pool is None
        pool = pool if pool is not None else self.start_multi_process_pool([str(device) for device in devices or []])
        worker_kwargs = {
            "prompt": prompt,
            "batch_size": batch_size,
            "show_progress_bar": False,
            "convert_to_tensor": True,
            "convert_to_sparse_tensor": convert_to_sparse_tensor,
            "save_to_cpu": True,
            "max_active_dims": max_active_dims,
            **kwargs,
        }
        try:
            chunks = run_in_pool(pool, items, "encode", worker_kwargs, chunk_size) if items else []
        finally:
            if own_pool:
                self.stop_multi_process_pool(pool)
        if not chunks:
            return SparseSink(0, None, convert_to_sparse_tensor, True).result(self.get_embedding_dimension())
        return torch.cat(chunks)

    # ----------------------------------------------------------------- helpers
    @staticmethod
    def sparsity(embeddings: torch.Tensor) -> dict[str, float]:
        """Mean active (non-zero) dimensions and mean sparsity ratio of one embedding or a batch of them."""
        if not isinstance(embeddings, torch.Tensor):
            raise TypeError("Embeddings must be a torch.Tensor")
        if embeddings.ndim not in (1, 2):
            raise ValueError(f"Expected a 1D or 2D tensor, got {embeddings.ndim}D.")
        if embeddings.ndim == 1:
            embeddings = embeddings.unsqueeze(0)
        rows, columns = embeddings.shape
        if rows == 0 or columns == 0:
            return {"active_dims": 0.0, "sparsity_ratio": 1.0}
        if embeddings.is_sparse:
            embeddings = embeddings.coalesce()
            active = (embeddings.values() != 0).sum().item()
        else:
            active = (embeddings != 0).sum().item()
        mean_active = active / rows
        return {"active_dims": mean_active, "sparsity_ratio": 1.0 - mean_active / columns}

    @staticmethod
    def intersection(embeddings_1: torch.Tensor, embeddings_2: torch.Tensor) -> Tensor:
        """The dimensions active in both: ``embeddings_1 * embeddings_2`` (row by row for a 2-D second argument),
        kept where the product is positive, as a sparse tensor shaped like ``embeddings_2``."""
        if embeddings_1.ndim != 1:
            raise ValueError(f"Expected 1D tensor for embeddings_1, but got {embeddings_1.shape} shape.")
        if embeddings_2.ndim not in (1, 2):
            raise ValueError(f"Expected 1D or 2D tensor for embeddings_2, but got {embeddings_2.shape} shape.")
        if embeddings_1.shape[-1] != embeddings_2.shape[-1]:
            raise ValueError(
                f"Vocab dimension mismatch: embeddings_1 has {embeddings_1.shape[-1]}, "
                f"embeddings_2 has {embeddings_2.shape[-1]}."
            )
        first = embeddings_1.to_dense() if embeddings_1.is_sparse else embeddings_1
        second = embeddings_2.to_dense() if embeddings_2.is_sparse else embeddings_2
        product = second * first
        return product.where(product > 0, torch.zeros_like(product)).to_sparse().coalesce()

    def decode(
        self, embeddings: torch.Tensor, top_k: int | None = None
    ) -> list[tuple[str, float]] | list[list[tuple[str, float]]]:
        """(token, weight) pairs of the non-zero dimensions, by descending weight (at most ``top_k`` per input)."""
        if top_k is not None and (isinstance(top_k, bool) or not isinstance(top_k, int) or top_k <= 0):
            raise ValueError(f"top_k must be a positive integer, got {top_k}.")
        if not isinstance(embeddings, torch.Tensor):
            raise TypeError(f"Expected torch.Tensor, got {type(embeddings)}")
        if embeddings.ndim not in (1, 2):
            raise ValueError(f"Input tensor must be 1D or 2D, got {embeddings.ndim}D.")
        single = embeddings.ndim == 1
        matrix = (embeddings.unsqueeze(0) if single else embeddings).detach().cpu()
        matrix = (matrix if matrix.is_sparse else matrix.to_sparse()).coalesce()
        rows, columns = matrix.indices()
        values = matrix.values()
        keep = values != 0
        rows, columns, values = rows[keep], columns[keep], values[keep]
        results: list[list[tuple[str, float]]] = []
        for row in range(matrix.shape[0]):
            selected = rows == row
            row_values, row_columns = values[selected], columns[selected]
            order = torch.argsort(row_values, descending=True, stable=True)[:top_k]
            tokens = self.tokenizer.convert_ids_to_tokens(row_columns[order].tolist())
            results.append(list(zip(tokens, row_values[order].tolist(), strict=True)))
        return results[0] if single else results

    def _push_to_hub_usage_tip(self, repo_id: str) -> str:
        backend = self.get_backend()
        extra = "" if backend == "torch" else f', backend="{backend}"'
        name = type(self).__name__
        return f'from sentence_transformers import {name}\n\nmodel = {name}("{repo_id}"{extra})'


class SparseSink:
    """Sparse embeddings: each batch cut to ``max_active_dims`` and made sparse on the device, placed at its inputs'
    positions; the output is one [n, dim] tensor (sparse COO, or dense)."""

    def __init__(self, count: int, max_active_dims: int | None, sparse: bool, save_to_cpu: bool) -> None:
        self.count, self.max_active_dims, self.sparse, self.save_to_cpu = count, max_active_dims, sparse, save_to_cpu
        self.parts: list[tuple[torch.Tensor, torch.Tensor]] = []

    def add(self, features: dict[str, Any], positions: torch.Tensor) -> None:
        embeddings = features["sentence_embedding"].detach()
        if self.max_active_dims is not None:
            embeddings = select_max_active_dims(embeddings, max_active_dims=self.max_active_dims)
        if self.sparse:
            embeddings = embeddings.to_sparse()
        if self.save_to_cpu:
            embeddings = embeddings.cpu()
        self.parts.append((positions.to(embeddings.device), embeddings))

    def result(self, dimension: int | None) -> Tensor:
        if not self.parts:
            empty = torch.zeros((0,))  # upstream's empty result: a 1-D tensor, whatever the dimension
            return empty.to_sparse() if self.sparse else empty
        positions = torch.cat([position for position, _ in self.parts])
        width = self.parts[0][1].shape[1]
        if not self.sparse:
            stacked = torch.cat([embeddings for _, embeddings in self.parts])
            output = torch.empty((self.count, width), dtype=stacked.dtype, device=stacked.device)
            return output.index_copy_(0, positions, stacked)
        rows, columns, values = [], [], []
        offset = 0
        for _, embeddings in self.parts:
            indices = embeddings.indices()
            rows.append(indices[0] + offset)
            columns.append(indices[1])
            values.append(embeddings.values())
            offset += embeddings.shape[0]
        original_row = positions[torch.cat(rows)]
        indices = torch.stack([original_row, torch.cat(columns)])
        output = torch.sparse_coo_tensor(indices, torch.cat(values), (self.count, width), check_invariants=False)
        return output.coalesce()


def _finish(output: Tensor, single: bool, as_tensor: bool) -> list[Tensor] | Tensor:
    """The caller's container: one tensor, a list of per-input tensors, or the single input's row."""
    if single:
        return output[0] if len(output) else output
    if as_tensor:
        return output
    return list(output.unbind(0)) if output.shape[0] else []


def _check_max_active_dims(value: Any) -> None:
    if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value <= 0):
        raise ValueError(f"max_active_dims must be a positive integer, got {value}.")


def _mlm_parts(
    transformer: Transformer, pooling: SpladePooling
) -> tuple[Transformer, SpladePooling, nn.Module, Callable, nn.Linear] | None:
    """The encoder and the MLM head of a masked-LM model, the head split into its transform and its decoder (a
    Linear over the vocabulary), so SpladePooling can run the decoder on real tokens only: found for the BERT family
    (``cls.predictions``: ``transform`` + ``decoder``) and the RoBERTa family (``lm_head``: dense, gelu, layer norm +
    ``decoder``), and used only after a check that decoder(transform(encoder(x))) reproduces the model's own logits
    on a short input."""
    model = transformer.auto_model
    base = getattr(model, "base_model", None)
    if base is None or base is model:
        return None
    predictions = getattr(getattr(model, "cls", None), "predictions", None)
    lm_head = getattr(model, "lm_head", None)
    if predictions is not None and isinstance(getattr(predictions, "decoder", None), nn.Linear):
        transform, decoder = predictions.transform, predictions.decoder
    elif lm_head is not None and all(hasattr(lm_head, name) for name in ("dense", "layer_norm")):
        if not isinstance(getattr(lm_head, "decoder", None), nn.Linear):
            return None

        def transform(x: torch.Tensor) -> torch.Tensor:
            return lm_head.layer_norm(torch.nn.functional.gelu(lm_head.dense(x)))

        decoder = lm_head.decoder
    else:
        return None
    vocab_size = decoder.weight.shape[0]
    probe = torch.tensor([[transformer.tokenizer.cls_token_id or 0, 5, 6, 7]], device=decoder.weight.device)
    probe = probe.clamp(max=vocab_size - 1)
    mask = torch.ones_like(probe)
    with torch.no_grad():
        expected = model(input_ids=probe, attention_mask=mask, return_dict=True).logits
        got = decoder(transform(base(input_ids=probe, attention_mask=mask, return_dict=True)[0]))
    if got.shape != expected.shape or not torch.allclose(got, expected, atol=1e-4, rtol=1e-4):
        logger.info("The masked-LM head of %s could not be split off: SPLADE runs unfused", type(model).__name__)
        return None
    return transformer, pooling, base, transform, decoder
