"""BaseModel: what every model type shares — the module pipeline, loading, device, preprocessing, saving.

A model type (``SentenceTransformer``, ``CrossEncoder``) is a thin subclass: it names its ``model_type`` and model
card class, the modules a plain Hugging Face folder becomes (``_load_default_modules``), the keys it keeps in
config_sentence_transformers.json (``_get_model_config`` / ``_parse_model_config``), and its inference method
(``encode``, ``predict``) on the shared engine (``base.encoding``).
"""

from __future__ import annotations

import logging
import os
import tempfile
import warnings
from collections import OrderedDict
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any

import torch
from torch import nn
from transformers import PreTrainedModel

from sentence_transformers import __sbert_version__
from sentence_transformers.backend.runtime import check_backend
from sentence_transformers.base import persistence
from sentence_transformers.base.encoding import is_single_input
from sentence_transformers.base.hub import hub_repo_id, is_local
from sentence_transformers.base.loading import LoadOptions, load_pipeline
from sentence_transformers.base.model_card import BaseModelCardData, generate_model_card
from sentence_transformers.base.modules.input_module import InputModule, accepts_prompt, prepend_prompt
from sentence_transformers.base.peft_mixin import PeftAdapterMixin
from sentence_transformers.util.environment import get_device_name

logger = logging.getLogger(__name__)


#: The prompt names ``encode_query`` and ``encode_document`` look for, in order.
ROLE_PROMPT_NAMES = {"query": ("query",), "document": ("document", "passage", "corpus")}


class _FrozenCall:
    """A compiled module's call with inductor's ``freezing`` on: torch.compile's ``options`` do not reach it (dynamo
    reads the flag while it traces, at the first call and at each recompilation), and setting it for the whole
    process would freeze every other compiled model too."""

    def __init__(self, compiled: Callable[..., Any]) -> None:
        self.compiled = compiled

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        import torch._inductor.config as inductor_config

        with inductor_config.patch(freezing=True):
            return self.compiled(*args, **kwargs)


class BaseModel(PeftAdapterMixin, nn.Sequential):
    """A pipeline of modules loaded from a model folder or hub name (or given as ``modules``), saved atomically in
    the standard folder format. See ``SentenceTransformer`` and ``CrossEncoder`` for the parameters."""

    model_type = "BaseModel"
    model_card_data_class: type[BaseModelCardData] = BaseModelCardData
    default_huggingface_organization: str | None = None
    # padded tokens a forward pass of encode() may fill with short texts; None: the engine's PASS_TOKENS
    _encode_pass_tokens: int | None = None

    def __init__(
        self,
        model_name_or_path: str | None = None,
        *,
        modules: Iterable[nn.Module] | None = None,
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
        model_card_data: BaseModelCardData | dict[str, Any] | None = None,
        backend: str = "torch",
    ) -> None:
        check_backend(backend)
        if model_name_or_path is not None and modules is not None:
            raise ValueError("Pass either model_name_or_path or modules, not both")
        if modules is not None and not (modules := _as_ordered(modules)):
            raise ValueError(
                f"An empty modules list was passed to {type(self).__name__}. "
                "Please provide at least one module, e.g. a Transformer module."
            )
        self.trust_remote_code = trust_remote_code
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
                tokenizer_kwargs=processor_kwargs or None,
                config_kwargs=config_kwargs,
                backend=backend,
            )
            loaded = load_pipeline(
                os.fspath(model_name_or_path),
                options,
                self._load_default_modules,
                self.model_type,
                self._load_converted_modules,
            )
            modules, module_kwargs, config, card_text = (
                loaded.modules,
                loaded.module_kwargs,
                loaded.config,
                loaded.model_card_text,
            )
        super().__init__(_as_ordered(modules))
        if model_name_or_path is not None:
            self._match_first_module_dtype()
        if backend != "torch" and backend != self.get_backend():  # modules built on a backend need not name it
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
        self._parse_model_config(config)
        self.model_card_data = self.model_card_data_class.from_value(model_card_data)
        self.model_card_data.register_model(self)
        self._model_card_text = card_text if model_card_data is None else None  # new card data → a new card
        self._model_name_or_path = os.fspath(model_name_or_path) if model_name_or_path is not None else None
        if self._model_name_or_path is not None and not local_files_only and not is_local(self._model_name_or_path):
            self.model_card_data.set_base_model(hub_repo_id(self._model_name_or_path), revision=revision)
        self.to(device or get_device_name())
        self._post_init()

    def _load_default_modules(self, folder: str, options: LoadOptions) -> OrderedDict[str, nn.Module]:
        """The modules a plain Hugging Face folder (no modules.json) becomes; each model type says which."""
        raise NotImplementedError(f"{type(self).__name__} does not load plain Hugging Face folders")

    def _load_converted_modules(
        self, folder: str, options: LoadOptions, saved_type: str
    ) -> OrderedDict[str, nn.Module]:
        """The modules of a folder saved as another model type: by default those of a plain Hugging Face folder."""
        return self._load_default_modules(folder, options)

    def _parse_model_config(self, config: dict[str, Any]) -> None:
        """Read a model type's own keys of config_sentence_transformers.json (prompts are read already)."""

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

    def get_max_seq_length(self) -> int | None:
        """Longest input in tokens; longer inputs are truncated."""
        return self.max_seq_length

    @property
    def transformers_model(self) -> Any:
        """The Hugging Face ``PreTrainedModel`` of the model: the first module's, else the first one found in the
        module tree (a Router's route); None when there is none (e.g. StaticEmbedding)."""
        found = getattr(self._first_module(), "auto_model", None)
        if found is not None:
            return found
        from transformers import PreTrainedModel

        return next((module for module in self.modules() if isinstance(module, PreTrainedModel)), None)

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
        """The input kinds this model embeds: its input module's (``["text"]`` for text models, ``["text", "image"]``
        for a CLIP model)."""
        if not len(self):
            return ["text"]
        return list(getattr(self._first_module(), "modalities", None) or ["text"])

    def supports(self, modality: str | tuple[str, ...]) -> bool:
        """Whether ``modality`` is one of ``modalities``; a tuple of modalities (an (image, text) pair) when each is,
        and the model takes chat messages, which combine them."""
        supported = self.modalities
        if modality in supported:
            return True
        return isinstance(modality, tuple) and "message" in supported and all(part in supported for part in modality)

    def get_backend(self) -> str:
        """The inference backend of the first module: "torch", "onnx" or "openvino"."""
        if not len(self):
            return "torch"
        backend = getattr(self._first_module(), "backend", None)
        if backend is None:  # e.g. a Router: the backend of the Transformer in its routes
            backend = next((m.backend for m in self.modules() if isinstance(getattr(m, "backend", None), str)), None)
        return backend or "torch"

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

    def compile(self, *args: Any, freeze: bool = False, **kwargs: Any) -> None:
        """Compile the Hugging Face model of each Transformer module in place with ``torch.compile`` (arguments as
        ``nn.Module.compile``; ``dynamic=True`` by default, as batches differ in length), so that ``encode``,
        ``predict`` and training run the compiled graphs. The first batches pay the compilation (tens of seconds).

        ``freeze=True`` (or ``options={"freezing": True}``, which torch.compile alone does not apply) freezes the
        weights into the inference graphs: inductor folds them as constants and, on a CPU, runs the linear layers as
        oneDNN kernels with prepacked weights (bf16 on AMX). For inference only: graphs compiled without gradients
        keep the weights they saw, so call ``compile`` again after changing them (training, loading a state dict).
        On this project's 2-core AMX CPU (bench/encode.py): fp32 ~1.1–1.3× the uncompiled model, outputs within
        1e-5; bf16 with freezing ~1.3–1.5× on STSb sentences. Without a Transformer module, the whole model is
        compiled as ``nn.Module`` does."""
        from sentence_transformers.base.modules.transformer import Transformer

        kwargs.setdefault("dynamic", True)
        options = kwargs.get("options")
        if isinstance(options, dict) and "freezing" in options:
            freeze = bool(options["freezing"]) or freeze
            kwargs["options"] = {key: value for key, value in options.items() if key != "freezing"} or None
        if freeze and kwargs.get("backend", "inductor") != "inductor":
            raise ValueError(f"freeze=True needs torch.compile's inductor backend, got {kwargs['backend']!r}")
        models = [module.auto_model for module in self.modules() if isinstance(module, Transformer)]
        models = [model for model in models if isinstance(model, nn.Module)]  # not the ONNX / OpenVINO runtimes
        for model in models or [self]:
            if model is self:
                super().compile(*args, **kwargs)
            else:
                model.compile(*args, **kwargs)
            if freeze:
                model._compiled_call_impl = _FrozenCall(model._compiled_call_impl)

    def is_singular_input(self, inputs: Any) -> bool:
        """Whether ``inputs`` is one example (a string, a dict of routed texts) rather than a batch (a list, tuple,
        ``datasets`` Column or numpy array of strings)."""
        return is_single_input(inputs)

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

    def _encode_with_role(self, inputs: Any, role: str, kwargs: dict[str, Any]) -> Any:
        """``encode`` for a query or a document: without a prompt given, the model's prompt for the role (its
        first name in ``ROLE_PROMPT_NAMES`` that ``prompts`` holds, even an empty one, which keeps the default
        prompt out, as upstream), and the role as the Router ``task`` when the model takes one."""
        if kwargs.get("prompt") is None and kwargs.get("prompt_name") is None:
            kwargs["prompt_name"] = next((name for name in ROLE_PROMPT_NAMES[role] if name in self.prompts), None)
        if self._accepts_task():
            kwargs.setdefault("task", role)
        return self.encode(inputs, **kwargs)

    def _check_encode_kwargs(self, kwargs: dict[str, Any], method: str = "encode") -> None:
        """Reject keyword arguments that no module takes (``task`` and ``processing_kwargs`` are always allowed),
        instead of losing them silently."""
        model_kwargs = self.get_model_kwargs()
        unused = set(kwargs) - set(model_kwargs) - {"task", "processing_kwargs"}
        if not unused:
            return
        name = type(self).__name__
        raise ValueError(
            f"{name}.{method}() has been called with additional keyword arguments that this model does not use: "
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
            persistence.write_json(os.path.join(folder, persistence.MODEL_CONFIG_FILE), self._get_model_config())
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

    def _get_model_config(self) -> dict[str, Any]:
        """config_sentence_transformers.json: versions, the model type, prompts; a model type adds its own keys."""
        import transformers

        return {
            "__version__": {
                "sentence_transformers": persistence.FORMAT_VERSION,
                "sbert": __sbert_version__,
                "transformers": transformers.__version__,
                "pytorch": torch.__version__,
            },
            "model_type": self.model_type,
            "prompts": self.prompts,
            "default_prompt_name": self.default_prompt_name,
        }

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
            "commit_message": commit_message or f"Add new {self.model_type} model",
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

    def start_multi_process_pool(self, target_devices: list[str] | None = None) -> dict[str, Any]:
        """Start worker processes (one per device; on a CPU machine, by default 4 'cpu' workers) for encoding."""
        return _multi_process().start_pool(self, target_devices)

    @staticmethod
    def stop_multi_process_pool(pool: dict[str, Any]) -> None:
        """Stop the workers of a pool and wait for them to exit."""
        _multi_process().stop_pool(pool)

    @classmethod
    def merge(
        cls,
        models: Sequence[str | Path | BaseModel],
        method: str = "linear",
        *,
        base_model: str | Path | BaseModel | None = None,
        parameters: dict[str, Any] | None = None,
        dtype: str | torch.dtype | None = torch.float32,
        out_dtype: str | torch.dtype | None = None,
        device: str | torch.device = "cpu",
        **load_kwargs: Any,
    ) -> BaseModel:
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


def _multi_process() -> Any:
    from sentence_transformers.sentence_transformer import multi_process

    return multi_process


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
