"""Transformer: a Hugging Face AutoModel + its tokenizer, producing token embeddings."""

from __future__ import annotations

import json
import logging
import os
from typing import Any

import torch
from transformers import (
    AutoConfig,
    AutoModel,
    AutoModelForCausalLM,
    AutoModelForMaskedLM,
    AutoModelForSequenceClassification,
    AutoTokenizer,
    PretrainedConfig,
    PreTrainedTokenizerBase,
)

from sentence_transformers.backend.runtime import TASK_OUTPUTS as RUNTIME_TASKS
from sentence_transformers.backend.runtime import check_backend
from sentence_transformers.base import weights_io
from sentence_transformers.base.hub import resolve_folder
from sentence_transformers.base.modules import media
from sentence_transformers.base.modules import query_expansion as expansion
from sentence_transformers.base.modules.input_module import (
    InputModule,
    has_own_preprocess,
    prepend_prompt,
    wraps_tokenize,
)
from sentence_transformers.base.modules.media import ModalityParams, ProcessingKwargs
from sentence_transformers.base.modules.module import with_init_defaults
from sentence_transformers.base.modules.query_expansion import QueryExpansionConfig
from sentence_transformers.base.peft_mixin import adapter_base_model, has_adapters, save_adapter
from sentence_transformers.base.token_ids import (
    TokenIds,
    replace_lone_surrogates,
    replace_surrogates_in,
    tokenizer_lock,
)

# Earlier releases named the Transformer's config after the architecture; read them all, write the first.
CONFIG_FILE_NAMES = [
    "sentence_bert_config.json",
    "sentence_roberta_config.json",
    "sentence_distilbert_config.json",
    "sentence_camembert_config.json",
    "sentence_albert_config.json",
    "sentence_xlm-roberta_config.json",
    "sentence_xlnet_config.json",
]
_MODEL_INPUTS = ("input_ids", "attention_mask", "token_type_ids", "inputs_embeds", "position_ids")

logger = logging.getLogger(__name__)

__all__ = ["ModalityParams", "ProcessingKwargs", "QueryExpansionConfig", "Transformer"]

#: transformer_task → (model output read, feature written) for text through ``forward``, as upstream 6.x names them.
TASK_OUTPUTS: dict[str, tuple[str, str]] = {
    "feature-extraction": ("last_hidden_state", "token_embeddings"),
    "sequence-classification": ("logits", "scores"),
    "fill-mask": ("logits", "token_embeddings"),
    # Generative rerankers: the next-token logits at the last position, which LogitScore turns into a score.
    "text-generation": ("logits", "causal_logits"),
}
# Upstream's tasks for multimodal models and ColBERT retrieval heads, which sbert lacks.
_UNSUPPORTED_TASKS = ("any-to-any", "retrieval")
_PROCESSING_KWARGS_KEYS = {"common", "text", "audio", "image", "video", "chat_template"}
# The roles a (query, document) pair takes as chat messages, as upstream 6.x renders pairs.
PAIR_ROLES = ("query", "document")
# Model types whose chat templates take plain string contents whatever their source reads (as upstream).
_FLAT_MESSAGE_MODEL_TYPES = frozenset({"apertus", "deepseek_v3", "gpt_oss", "seed_oss"})
# Template text that shows a template reads typed content items ([{"type": "text", "text": ...}]).
_STRUCTURED_CONTENT_MARKERS = ("content[0]", ".type", "'type'", '"type"', "item.type", "message.content[")
# Tokenizer arguments that size or shape the output: passed to the tokenizer, never to a chat template.
_SIZE_KWARGS = frozenset({"padding", "truncation", "max_length", "return_tensors"})
_SUFFIX_CACHE_SIZE = 256


class Transformer(InputModule):
    """Loads a Hugging Face model (BERT, RoBERTa, T5 encoder, …) and its tokenizer.

    Args:
        model_name_or_path: Hugging Face model name or local folder.
        max_seq_length: Inputs longer than this are truncated; by default the model's own limit.
        model_args / model_kwargs: Keyword arguments for ``AutoModel.from_pretrained``.
        tokenizer_args / tokenizer_kwargs / processor_kwargs: Keyword arguments for ``AutoTokenizer.from_pretrained``.
        config_args / config_kwargs: Keyword arguments for ``AutoConfig.from_pretrained``.
        cache_dir: Cache folder for downloads.
        do_lower_case: Lowercase every input before tokenizing.
        tokenizer_name_or_path: Load the tokenizer from elsewhere than the model.
        transformer_task: Which head to load: "feature-extraction" (AutoModel, token embeddings), "fill-mask"
            (AutoModelForMaskedLM, vocabulary logits per token) or "sequence-classification"
            (AutoModelForSequenceClassification, ``scores``); the ONNX and OpenVINO backends run these three.
            Upstream's generative, multimodal and retrieval tasks raise NotImplementedError.
        processing_kwargs: Keyword arguments for calling the tokenizer, as ``{"text": {...}, "common": {...}}``
            (e.g. ``{"text": {"max_length": 64}}``); they override the defaults (padding, truncation, max_length).
        modality_config: ``{"text": {"method": "forward", "method_output_name": ...}}``: which model output to
            read; needs ``module_output_name``. Only the text modality through ``forward`` is supported, and for the
            "text-generation" task a "message" entry (``"format"``: "flat", "structured" or "auto"), inferred when the
            tokenizer has a chat template: inputs are then rendered as chat messages (see ``renders_messages``).
        module_output_name: The feature to write the model output to (by default per task, e.g.
            ``token_embeddings``).
        unpad_inputs: Upstream's flash-attention unpadding; sbert always pads, so True only logs that it falls back.
        query_length / document_length: Truncation length for texts encoded with ``task="query"`` /
            ``task="document"`` (e.g. ``encode_query``); None means ``max_seq_length``.
        query_expansion: ColBERT query expansion of ``task="query"`` batches, for multi-vector models
            (``QueryExpansionConfig``): pads queries with the mask token, marked in ``query_expansion_positions``.
    """

    config_file_name: str = "sentence_bert_config.json"
    config_keys: list[str] = ["max_seq_length", "do_lower_case"]
    # Written only when not at their default, so that releases before these keys existed still load the folder.
    _OPTIONAL_CONFIG_DEFAULTS: dict[str, Any] = {
        "transformer_task": "feature-extraction",
        "processing_kwargs": {},
        "unpad_inputs": None,
        "query_length": None,
        "document_length": None,
        "query_expansion": None,
    }
    save_in_root: bool = True

    def __init__(
        self,
        model_name_or_path: str,
        max_seq_length: int | None = None,
        model_args: dict[str, Any] | None = None,
        tokenizer_args: dict[str, Any] | None = None,
        config_args: dict[str, Any] | None = None,
        cache_dir: str | None = None,
        do_lower_case: bool = False,
        tokenizer_name_or_path: str | None = None,
        backend: str = "torch",
        model_kwargs: dict[str, Any] | None = None,
        tokenizer_kwargs: dict[str, Any] | None = None,
        config_kwargs: dict[str, Any] | None = None,
        processor_kwargs: dict[str, Any] | None = None,
        transformer_task: str = "feature-extraction",
        processing_kwargs: dict[str, dict[str, Any]] | None = None,
        modality_config: dict[str, dict[str, Any]] | None = None,
        module_output_name: str | None = None,
        unpad_inputs: bool | None = None,
        query_length: int | None = None,
        document_length: int | None = None,
        query_expansion: dict[str, Any] | None = None,
        **kwargs,
    ) -> None:
        super().__init__()
        check_backend(backend)
        check_task(transformer_task, backend)
        self.transformer_task = transformer_task
        self.processing_kwargs = checked_processing_kwargs(processing_kwargs)
        self.query_length = query_length
        self.document_length = document_length
        self.query_expansion = expansion.normalize(query_expansion)
        self.do_lower_case = do_lower_case
        self.backend = backend
        model_kwargs = {**(model_args or {}), **(model_kwargs or {})}
        tokenizer_kwargs = {**(tokenizer_args or {}), **(tokenizer_kwargs or {}), **(processor_kwargs or {})}
        config_kwargs = {**(config_args or {}), **(config_kwargs or {})}
        hub_kwargs = _hub_kwargs(model_kwargs, cache_dir)
        adapter_base = adapter_base_model(model_name_or_path, backend, {**hub_kwargs, **config_kwargs})
        if adapter_base is not None:  # a PEFT adapter folder: revision and subfolder locate it, not its base model
            config_kwargs = {k: v for k, v in config_kwargs.items() if k not in ("revision", "subfolder")}
            model_kwargs = {k: v for k, v in model_kwargs.items() if k != "revision"}
        config = AutoConfig.from_pretrained(adapter_base or model_name_or_path, **hub_kwargs, **config_kwargs)
        if transformer_task == "sequence-classification" and "num_labels" not in config_kwargs:
            if not any(arch.endswith("ForSequenceClassification") for arch in config.architectures or ()):
                config.num_labels = 1  # a fresh head: one score per text pair, as a CrossEncoder wants
        tokenizer_source = tokenizer_name_or_path or model_name_or_path
        tokenizer_kwargs = {**_hub_kwargs(tokenizer_kwargs, cache_dir), **tokenizer_kwargs}
        self._media: media.MediaInputs | None = None
        processor = self._media_processor(tokenizer_source, tokenizer_kwargs, modality_config, backend)
        if backend == "torch":
            model_kwargs = {**hub_kwargs, **_model_only(model_kwargs)}
            self.auto_model = load_auto_model(model_name_or_path, config, model_kwargs, transformer_task)
        else:
            model_kwargs = {**hub_kwargs, **model_kwargs}
            self.auto_model = _load_runtime_model(backend, model_name_or_path, config, model_kwargs, transformer_task)
        if processor is not None:
            self.tokenizer = media.tokenizer_of(processor)
        else:
            self.tokenizer = load_tokenizer(tokenizer_source, tokenizer_kwargs)
            check_vocabulary(self.tokenizer, config, tokenizer_source, tokenizer_kwargs)
        if transformer_task == "text-generation":
            self.tokenizer.padding_side = "left"  # the last position of every row is then a real token
            if self.tokenizer.pad_token is None:
                self.tokenizer.pad_token = self.tokenizer.eos_token
        if max_seq_length is None:
            max_seq_length = _default_max_length(self.auto_model.config, self.tokenizer)
        self.max_seq_length = max_seq_length
        if tokenizer_name_or_path is not None:
            self.auto_model.config.tokenizer_class = self.tokenizer.__class__.__name__
        if modality_config is None:
            modality_config, module_output_name = self.infer_modalities(self.auto_model, processor or self.tokenizer)
        if processor is not None:
            modality_config = {media.modality_key(key): value for key, value in modality_config.items()}
            self._media = media.MediaInputs(processor, self.auto_model, modality_config)
        self._set_modality_config(modality_config, module_output_name)
        self.unpad_inputs = unpad_inputs
        self.query_expansion = self.query_expansion  # the tokenizer's checks, now that it is loaded

    def _set_modality_config(self, modality_config: dict[str, Any], module_output_name: str | None) -> None:
        """Check a modality_config (text, and for a causal LM chat messages, through ``forward``) and keep what
        ``forward`` reads from it; a "message" entry makes inputs go through the tokenizer's chat template."""
        if module_output_name is None:
            raise ValueError(
                "Loading the Transformer module with a custom modality_config requires also providing "
                "module_output_name with the name of the output feature that this module should create, "
                'for example "token_embeddings" or "sentence_embedding".'
            )
        for key, params in modality_config.items():
            if not isinstance(params, dict) or "method" not in params or "method_output_name" not in params:
                raise ValueError(
                    f"Invalid modality_config entry for {key!r}: each entry must be a dict with "
                    f"'method' and 'method_output_name' keys, but got {params!r}"
                )
        if self.__dict__.get("_media") is not None:  # any modality, through the methods the config names
            self.modality_config = {key: dict(params) for key, params in modality_config.items()}
            self.module_output_name = module_output_name
            self._chat = None
            return
        allowed = {"text", "message"} if self.transformer_task == "text-generation" else {"text"}
        entries = [modality_config[key] for key in ("text", "message") if key in modality_config]
        if (
            not entries
            or set(modality_config) - allowed
            or any(entry["method"] != "forward" for entry in entries)
            or len({entry["method_output_name"] for entry in entries}) > 1
        ):
            raise NotImplementedError(
                f"modality_config={modality_config!r} is not supported: sbert's Transformer takes text (and, for the "
                "text-generation task, chat messages) through the model's forward "
                "(modality_config={'text': {'method': 'forward', ...}})"
            )
        self.modality_config = {key: dict(params) for key, params in modality_config.items()}
        self.module_output_name = module_output_name
        # last_hidden_state is the first output, also of the ONNX / OpenVINO models; any other is read by name
        output_name = entries[0]["method_output_name"]
        self._output_key = 0 if output_name in (None, "last_hidden_state") else output_name
        message = self.modality_config.get("message")
        self._chat: ChatInputs | None = None
        if message is not None:
            chosen = message.get("format", "auto")
            if chosen == "auto":
                chosen = infer_message_format(self.config.model_type, getattr(self.tokenizer, "chat_template", None))
            self._chat = ChatInputs(self.tokenizer, chosen)

    def _media_processor(
        self, source: str, kwargs: dict[str, Any], modality_config: dict[str, Any] | None, backend: str
    ) -> Any:
        """The Hugging Face processor of a model that takes images, audio or video, or None for a text model: one
        is loaded when the folder has a processor file or a saved modality_config names another modality."""
        named = {media.modality_key(key) for key in modality_config or {}}
        wants_media = any(part in media.MEDIA for key in named for part in (key if isinstance(key, tuple) else (key,)))
        if not wants_media and not media.has_processor(_local_folder(source, kwargs)):
            return None
        processor = media.load_processor(source, kwargs)
        handled = media.processor_modalities(processor)
        if not wants_media and not set(handled) & set(media.MEDIA):
            return None  # a processor for text only: the tokenizer path below
        missing = {part for key in named for part in (key if isinstance(key, tuple) else (key,))} - {
            *handled,
            "message",
        }
        if missing:
            raise ValueError(
                f"modality_config names {sorted(missing)}, but the processor of {source!r} "
                f"({type(processor).__name__}) handles {handled} only"
            )
        if backend != "torch":
            raise NotImplementedError(
                f"backend={backend!r} runs text models only; load this image/audio/video model with backend='torch'"
            )
        return processor

    @property
    def processor(self) -> Any:
        """The Hugging Face processor: the multimodal processor of a model taking images, audio or video, else the
        tokenizer."""
        return self._media.processor if self.__dict__.get("_media") is not None else self.tokenizer

    @property
    def takes_media(self) -> bool:
        """Whether this module takes more than text (images, audio, video): it then preprocesses every batch itself."""
        return self.__dict__.get("_media") is not None

    @property
    def renders_messages(self) -> bool:
        """Whether inputs go through the tokenizer's chat template (a "message" entry in ``modality_config``):
        a (query, document) pair becomes a "query" and a "document" message, a text a "user" message, and a
        prompt a "system" message before them."""
        return self.__dict__.get("_chat") is not None

    def __setattr__(self, name: str, value: Any) -> None:
        """``auto_model`` is the older name of ``model``: setting it replaces ``model``."""
        super().__setattr__("model" if name == "auto_model" else name, value)

    @property
    def auto_model(self) -> torch.nn.Module:
        """The Hugging Face model (the older name of ``model``)."""
        return self.model

    @property
    def config(self) -> PretrainedConfig:
        """The Hugging Face model's configuration."""
        return self.model.config

    @property
    def modalities(self) -> list[str]:
        """The kinds of input this module takes: the keys of ``modality_config`` (["text"])."""
        return list(self.modality_config)

    @property
    def unpad_inputs(self) -> bool | None:
        """Upstream's switch for flash-attention unpadding. sbert always pads (``can_flatten_inputs`` is False):
        True only logs that it falls back to padded inputs, as upstream does where unpadding is unavailable."""
        return self._unpad_inputs

    @unpad_inputs.setter
    def unpad_inputs(self, value: bool | None) -> None:
        self._unpad_inputs = value
        self.can_flatten_inputs = False
        if value is True:
            logger.warning(
                "unpad_inputs=True was set, but the prerequisites for skipping padding are not met. "
                "Falling back to padded inputs."
            )

    @property
    def query_expansion(self) -> QueryExpansionConfig | None:
        """ColBERT query expansion of ``task="query"`` batches (see ``QueryExpansionConfig``), or None. Only for
        multi-vector models, whose ``MultiVectorMask`` scores the expansion positions."""
        return self.__dict__.get("_query_expansion")

    @query_expansion.setter
    def query_expansion(self, value: dict[str, Any] | None) -> None:
        config = expansion.normalize(value)
        if config is not None:
            query_length = self.__dict__.get("query_length")
            if query_length is not None and query_length < config["length"]:
                raise ValueError(
                    f"query_length={query_length} is smaller than query_expansion['length']={config['length']}, "
                    "the width queries are padded to: raise query_length, drop it, or lower the expansion length."
                )
            if "tokenizer" in self.__dict__ or "tokenizer" in self._modules:
                expansion.expansion_token_id(self.tokenizer, config)
                if self.__dict__.get("_chat") is not None:
                    raise ValueError(
                        "query_expansion cannot be combined with a model that renders chat messages: padding the "
                        "rendered template to the expansion length would cut the query off."
                    )
        self.__dict__["_query_expansion"] = config

    @property
    def forward_kwargs(self) -> set[str]:
        """The encode keyword arguments this module takes: ``task`` when query/document lengths, query expansion
        or a chat template that reads the task depend on it."""
        chat = self.__dict__.get("_chat")
        needs_task = (
            self.__dict__.get("query_length") is not None
            or self.__dict__.get("document_length") is not None
            or self.__dict__.get("_query_expansion") is not None
            or (chat is not None and chat.declares("task"))
        )
        return set(self.__dict__.get("_forward_kwargs", ())) | ({"task"} if needs_task else set())

    @forward_kwargs.setter
    def forward_kwargs(self, value: set[str]) -> None:
        self.__dict__["_forward_kwargs"] = set(value)

    def infer_modalities(self, model: torch.nn.Module, processor: Any) -> tuple[dict[str, Any], str]:
        """The modality_config and output feature for ``model`` and its tokenizer: text through ``forward``,
        reading the task's output (``last_hidden_state`` or ``logits``)."""
        edge_case = self.infer_modalities_edge_cases(model, processor)
        if edge_case is not None:
            return edge_case
        method_output_name, module_output_name = TASK_OUTPUTS[self.transformer_task]
        if not isinstance(processor, PreTrainedTokenizerBase):
            return media.infer_modality_config(
                model, processor, self.transformer_task, TASK_OUTPUTS[self.transformer_task]
            )
        modalities = self.infer_modalities_from_processor(processor)
        if modalities != ["text"]:
            raise NotImplementedError(
                f"The processor {type(processor).__name__} handles {modalities}; sbert's Transformer takes text only"
            )
        config: dict[str, Any] = {"text": {"method": "forward", "method_output_name": method_output_name}}
        template = getattr(processor, "chat_template", None)
        if self.transformer_task == "text-generation" and template is not None:
            # A causal LM with a chat template (a generative reranker) reads its inputs as chat messages.
            message_format = infer_message_format(model.config.model_type, template)
            config["message"] = {**config["text"], "format": message_format}
        return config, module_output_name

    def infer_modalities_edge_cases(self, model: torch.nn.Module, processor: Any) -> tuple[dict[str, Any], str] | None:
        """A fixed modality_config for architectures the general rule gets wrong, or None.

        Upstream's exceptions are all image, audio or retrieval models, which sbert does not load: always None."""
        return None

    def infer_modalities_from_processor(self, processor: Any) -> list[str]:
        """The modalities a processor handles: "text" for a tokenizer; a multimodal processor's by its parts."""
        found = media.processor_modalities(processor)
        if found:
            return found
        logger.warning(
            f"Could not determine modalities from processor of type {type(processor).__name__}. "
            "Returning an empty modality list."
        )
        return []

    def get_config_dict(self) -> dict[str, Any]:
        """max_seq_length and do_lower_case, plus the 6.x keys that differ from their defaults (older releases
        would reject them)."""
        config = super().get_config_dict()
        for key, default in self._OPTIONAL_CONFIG_DEFAULTS.items():
            if getattr(self, key) != default:
                config[key] = getattr(self, key)
        default_config, default_output = TASK_OUTPUTS[self.transformer_task]
        if self.modality_config != {"text": {"method": "forward", "method_output_name": default_config}} or (
            self.module_output_name != default_output
        ):
            config["modality_config"] = self.modality_config
            config["module_output_name"] = self.module_output_name
        return config

    def __repr__(self) -> str:
        return f"Transformer({dict(self.get_config_dict(), architecture=self.auto_model.__class__.__name__)})"

    def forward(self, features: dict[str, Any], **kwargs) -> dict[str, Any]:
        """Add ``token_embeddings`` (and ``all_layer_embeddings`` when the model returns hidden states)."""
        if self.takes_media:
            features[self.module_output_name] = self._media.forward(features, self.module_output_name)
            return features
        inputs = {key: features[key] for key in _MODEL_INPUTS if key in features}
        if self.transformer_task == "text-generation":
            # Only the last position's logits: LogitScore reads that one (left padding puts a real token there).
            inputs["logits_to_keep"] = features.get("logits_to_keep", 1)
        output = self.model(**inputs, return_dict=True)
        features[self.module_output_name] = output[self._output_key]
        hidden_states = getattr(output, "hidden_states", None)
        if hidden_states is not None:
            features["all_layer_embeddings"] = hidden_states
        return features

    @property
    def max_seq_length(self) -> int | None:
        """Longest input in tokens; the tokenizer's ``model_max_length`` follows it (as upstream), so calling the
        tokenizer with ``truncation=True`` and the saved tokenizer_config.json agree with it."""
        return self._max_seq_length

    @max_seq_length.setter
    def max_seq_length(self, value: int | None) -> None:
        self._max_seq_length = value
        tokenizer = self.__dict__.get("tokenizer")
        if value is not None and tokenizer is not None:
            tokenizer.model_max_length = value

    def get_embedding_dimension(self) -> int:
        """Size of the embeddings the model returns: its hidden size (the projection size when it writes
        ``sentence_embedding``), looked for in the config, then its text config, then its other sub-configs."""
        config = self.model.config
        candidates = [config, getattr(config, "text_config", None)]
        candidates += [getattr(config, name, None) for name in getattr(config, "sub_configs", None) or {}]
        for candidate in candidates:
            if candidate is not None and (size := self._hidden_size(candidate)) is not None:
                return size
        raise ValueError(
            f"Could not determine embedding dimension from model config. Config type: {type(config).__name__}."
        )

    def _hidden_size(self, config: Any) -> int | None:
        if self.module_output_name == "sentence_embedding" and hasattr(config, "projection_dim"):
            return config.projection_dim
        if hasattr(config, "hidden_size"):
            return config.hidden_size
        for name in ("neck_hidden_sizes", "hidden_sizes", "embed_dims"):
            if hasattr(config, name):
                value = getattr(config, name)
                if not isinstance(value, list):
                    return value
                if value:
                    return value[-1]
        return getattr(config, "hidden_dim", None)

    def token_lengths(self, texts: list[str] | list[dict[str, str]] | list[tuple[str, str]]) -> list[int]:
        """Number of tokens ``tokenize`` gives each input (after truncation), without padding or tensors."""
        if self.renders_messages:
            encoded = self._chat_encode(self._chat.conversations(texts), padding=False, return_tensors=None)
            return [len(ids) for ids in encoded["input_ids"]]
        columns = self._prepare(texts)
        call = {"truncation": "longest_first", "max_length": self.max_seq_length}
        if self.processing_kwargs:
            call.update(self._text_call_kwargs(self.processing_kwargs))
        call.update(padding=False, return_tensors=None, return_attention_mask=False, return_token_type_ids=False)
        with tokenizer_lock(self.tokenizer):  # unpadded: must not switch padding off under a thread's tokenize
            encoded = self.tokenizer(*columns, **call)
        return [len(ids) for ids in encoded["input_ids"]]

    def pretokenize(self, texts: list[str] | list[tuple[str, str]]) -> TokenIds | None:
        """Tokenize once, unpadded, for the encode engine; None when ``tokenize`` must do it batch by batch.

        Padding a subset of the result gives exactly the tensors ``tokenize`` gives that subset. Thread safe, as
        every tokenizing method here: calls of the shared tokenizer hold its ``tokenizer_lock``.
        """
        tokenizer = self.tokenizer
        if not texts or getattr(tokenizer, "pad_token_id", None) is None:
            return None
        if isinstance(texts[0], dict) and not self.renders_messages:
            return None
        if type(self).tokenize is not Transformer.tokenize or "tokenize" in vars(self) or has_own_preprocess(self):
            return None  # a subclass or caller replaced tokenize or preprocess: it must see every batch
        if self.renders_messages:
            return self._pretokenize_messages(texts)
        if self.processing_kwargs:
            return None  # tokenizer arguments that may pad or shape the output: tokenize applies them per batch
        columns = self._prepare(texts)
        with tokenizer_lock(tokenizer):
            encoded = tokenizer(
                *columns, truncation="longest_first", max_length=self.max_seq_length, return_attention_mask=False
            )
        if set(encoded) - {"input_ids", "token_type_ids"}:
            return None  # a tokenizer with extra outputs: let tokenize() build them
        return TokenIds(
            encoded["input_ids"],
            encoded.get("token_type_ids"),
            pad_token_id=tokenizer.pad_token_id,
            pad_token_type_id=getattr(tokenizer, "pad_token_type_id", 0),
            padding_side=getattr(tokenizer, "padding_side", "right"),
        )

    def tokenize(
        self,
        texts: list[str] | list[dict[str, str]] | list[tuple[str, str]],
        padding: str | bool = True,
        max_length: int | None = None,
        **kwargs,
    ) -> dict[str, torch.Tensor]:
        """Tokenize single texts or text pairs, truncated to ``max_length`` (thread safe, see ``pretokenize``).

        Without ``max_length``, ``task="query"`` / ``"document"`` truncate to ``query_length`` / ``document_length``
        when set, else to ``max_seq_length``. ``processing_kwargs`` (the module's, merged with one given here)
        override these tokenizer arguments. A model that renders chat messages (``renders_messages``) takes
        pairs, texts or conversations (lists of ``{"role", "content"}`` messages) through its chat template."""
        if self.takes_media:
            return self._media_features(texts, None, max_length, kwargs)
        if self.renders_messages:
            given = kwargs.get("processing_kwargs")
            conversations = self._chat.conversations(texts)
            return self._chat_encode(conversations, padding, max_length, kwargs.get("task"), given)
        columns = self._prepare(texts)
        task = kwargs.get("task")
        call = {"padding": padding, "truncation": "longest_first", "return_tensors": "pt"}
        call["max_length"] = self._max_length(task, max_length)
        given = kwargs.get("processing_kwargs")
        merged = self._merge_processing_kwargs(given) if self.processing_kwargs or given else {}
        if merged:
            call.update(self._text_call_kwargs(merged))
        config = self.query_expansion if task == "query" else None
        if config is not None:
            capped = "max_length" in self._text_call_kwargs(merged)
            cap = max_length if max_length is not None else self.query_length
            call = expansion.tokenizer_arguments(config, call, cap, capped)
        with tokenizer_lock(self.tokenizer):
            encoded = self.tokenizer(*columns, **call)
        features = dict(encoded)
        if config is not None:
            features = expansion.expand(features, self.tokenizer, config)
        if texts and isinstance(texts[0], dict):
            features["text_keys"] = [next(iter(text)) for text in texts]
        return features

    def _max_length(self, task: str | None, max_length: int | None) -> int | None:
        """The truncation length: an explicit ``max_length``, else the task's length, else ``max_seq_length``."""
        if max_length is not None:
            return max_length
        task_length = {"query": self.query_length, "document": self.document_length}.get(task)
        return self.max_seq_length if task_length is None else task_length

    def _merge_processing_kwargs(self, given: dict[str, dict[str, Any]] | None) -> dict[str, dict[str, Any]]:
        """The module's ``processing_kwargs`` with a call's on top, one modality key at a time."""
        if not given:
            return self.processing_kwargs
        given = checked_processing_kwargs(given, "per-call ")
        keys = {*self.processing_kwargs, *given}
        return {key: {**self.processing_kwargs.get(key, {}), **given.get(key, {})} for key in keys}

    @staticmethod
    def _text_call_kwargs(processing_kwargs: dict[str, dict[str, Any]]) -> dict[str, Any]:
        """The tokenizer arguments of ``processing_kwargs``: its common ones, then its text ones."""
        return {**processing_kwargs.get("common", {}), **processing_kwargs.get("text", {})}

    @wraps_tokenize
    def preprocess(
        self,
        inputs: list[str] | list[dict[str, str]] | list[tuple[str, str]],
        prompt: str | None = None,
        processing_kwargs: dict[str, dict[str, Any]] | None = None,
        **kwargs,
    ) -> dict[str, Any]:
        """Upstream 6.x's ``tokenize``: the prompt is prepended to each text (the first of a pair), then tokenized.

        ``processing_kwargs`` override the module's tokenizer arguments for this call (merged per modality key).

        Returns ``tokenize``'s features plus ``modality`` ("text") and, with a prompt, ``prompt_length``: the
        prompt's tokens without the closing special token, which ``Pooling(include_prompt=False)`` leaves out.
        """
        if not inputs:
            return {}
        if self.takes_media:
            if processing_kwargs:
                kwargs["processing_kwargs"] = processing_kwargs
            return self._media_features(inputs, prompt, kwargs.pop("max_length", None), kwargs)
        if self.renders_messages:
            # As upstream: the prompt becomes a system message, and no prompt_length is reported.
            conversations = self._chat.conversations(inputs, prompt)
            max_length = kwargs.get("max_length")
            features = self._chat_encode(conversations, True, max_length, kwargs.get("task"), processing_kwargs)
            features["modality"] = "message"
            return features
        if processing_kwargs:
            kwargs["processing_kwargs"] = processing_kwargs
        features = self.tokenize(prepend_prompt(inputs, prompt), **kwargs)
        features["modality"] = "text"
        if prompt:
            alone = {key: value for key, value in kwargs.items() if key != "task"}  # no query expansion padding
            prompt_ids = self.tokenize([prompt], **alone)["input_ids"][0].tolist()
            closing = prompt_ids[-1:] and prompt_ids[-1] in getattr(self.tokenizer, "all_special_ids", ())
            features["prompt_length"] = len(prompt_ids) - int(bool(closing))
        return features

    def _media_features(self, inputs: list[Any], prompt: str | None, max_length: int | None, kwargs: dict) -> dict:
        """``preprocess`` for a model taking images, audio or video: one processor call per modality in the batch."""
        task = kwargs.get("task")
        text_call: dict[str, Any] = {"padding": True, "truncation": "longest_first"}
        length = self._max_length(task, max_length)
        if length is not None:
            text_call["max_length"] = length
        merged = self._merge_processing_kwargs(kwargs.get("processing_kwargs"))
        if self.do_lower_case:
            inputs = [
                item.lower() if isinstance(item, str) and self._media.modality_of(item) == "text" else item
                for item in inputs
            ]
        return self._media.preprocess(list(inputs), prompt, text_call, merged)

    def to_messages(self, inputs: list[Any], prompt: str | None = None) -> list[list[dict[str, Any]]]:
        """The chat conversation of each input as this model renders it (``renders_messages``): a (query,
        document) pair as a "query" and a "document" message, a text as a "user" message, a conversation as given;
        ``prompt`` as a "system" message first."""
        if self._chat is None:
            raise ValueError("This Transformer has no 'message' modality: its inputs are not rendered as chat messages")
        return self._chat.conversations(inputs, prompt)

    def _pretokenize_messages(self, inputs: list[Any]) -> TokenIds | None:
        """``pretokenize`` for chat rendering: the truncated ids (template suffix restored) of each conversation."""
        tokenizer = self.tokenizer
        if set(self.processing_kwargs) - {"chat_template"} or getattr(tokenizer, "padding_side", None) != "left":
            return None  # tokenizer arguments that may pad or shape the output, or right padding: per batch
        encoded = self._chat_encode(self._chat.conversations(inputs), padding=False, return_tensors=None)
        if set(encoded) - {"input_ids", "token_type_ids", "attention_mask"}:
            return None
        return TokenIds(
            encoded["input_ids"],
            encoded.get("token_type_ids"),
            pad_token_id=tokenizer.pad_token_id,
            pad_token_type_id=getattr(tokenizer, "pad_token_type_id", 0),
            padding_side="left",
        )

    def _chat_encode(
        self,
        conversations: list[list[dict[str, Any]]],
        padding: str | bool = True,
        max_length: int | None = None,
        task: str | None = None,
        processing_kwargs: dict[str, dict[str, Any]] | None = None,
        return_tensors: str | None = "pt",
    ) -> dict[str, Any]:
        """Render ``conversations`` with the chat template and tokenize them (as upstream 6.x's 'message' modality).

        The tokenizer arguments come, lowest precedence first, from the defaults (``padding``, truncation
        "longest_first", ``max_length`` or the task's length when given, else the tokenizer's ``model_max_length``),
        ``processing_kwargs`` "common" (its size arguments only) and "text", and the size arguments of
        "chat_template"; its other entries are template variables (e.g. ``add_generation_prompt``), except
        ``restore_suffix`` (default True): a truncated row gets the template's trailing tokens (e.g. the assistant
        header) written back over its last tokens, so that the last position, which a causal reranker scores, is the
        template's. ``return_tensors=None`` gives unpadded lists (for ``pretokenize``).
        """
        chat = self._chat
        if chat.tokenizer is not self.tokenizer:  # the tokenizer was replaced: render with the new one
            chat.tokenizer, chat._suffixes = self.tokenizer, {}
        if self.do_lower_case:
            conversations = [_cleaned(conversation, lower=True) for conversation in conversations]
        merged = self._merge_processing_kwargs(processing_kwargs)
        text: dict[str, Any] = {"padding": padding, "truncation": "longest_first"}
        task_length = {"query": self.query_length, "document": self.document_length}.get(task)
        if max_length is not None or task_length is not None:  # else the tokenizer's model_max_length
            text["max_length"] = max_length if max_length is not None else task_length
        common: dict[str, Any] = {"return_tensors": "pt", **merged.get("common", {})}
        text.update(merged.get("text", {}))
        logits_to_keep = text.pop("logits_to_keep", 1)
        template_kwargs = dict(merged.get("chat_template", {}))
        restore = template_kwargs.pop("restore_suffix", True)
        text.update({key: template_kwargs.pop(key) for key in _SIZE_KWARGS & template_kwargs.keys()})
        if task is not None and chat.declares("task"):
            template_kwargs = {"task": task, **template_kwargs}
        call = {key: common[key] for key in _SIZE_KWARGS & common.keys()}
        call.update({key: text[key] for key in _SIZE_KWARGS & text.keys()})
        tokenizer_kwargs = {key: value for key, value in text.items() if key not in _SIZE_KWARGS}
        if return_tensors is None:
            call.update(padding=False, return_tensors=None)
        chat.check_pair_roles(conversations, template_kwargs)
        encoded = dict(chat.encode(conversations, call, tokenizer_kwargs, template_kwargs))
        truncation, limit = call.get("truncation"), call.get("max_length")
        if restore and truncation != "do_not_truncate" and (bool(truncation) or (truncation is None and limit)):
            limit = limit if limit is not None else self.max_seq_length
            chat.restore_suffixes(encoded, conversations, limit, tokenizer_kwargs, template_kwargs)
        if return_tensors is not None and self.transformer_task == "text-generation":
            _check_left_padded(encoded.get("attention_mask"))
        if logits_to_keep != 1:
            encoded["logits_to_keep"] = logits_to_keep
        return encoded

    def _prepare(self, texts: list[Any]) -> list[list[str]]:
        """Columns of stripped (and, with do_lower_case, lowercased) texts: one, or two for pairs.

        Lone surrogate code points (``"\\ud800"``, as ``errors="surrogateescape"`` decodes bad bytes), which the
        tokenizer rejects, become U+FFFD; a warning names the texts' positions in this call.
        """
        columns = [[str(text).strip() for text in column] for column in _to_columns(texts)]
        columns = [replace_surrogates_in(column) for column in columns]
        if self.do_lower_case:
            columns = [[text.lower() for text in column] for column in columns]
        return columns

    def save(self, output_path: str, safe_serialization: bool = True, **kwargs) -> None:
        """Write the Hugging Face model, its tokenizer and sentence_bert_config.json."""
        if has_adapters(self.auto_model):  # PEFT format: the adapter only, as transformers writes it
            save_adapter(self.auto_model, output_path, safe_serialization=safe_serialization)
        elif safe_serialization or self.backend != "torch":
            self.auto_model.save_pretrained(output_path)
        else:
            self.auto_model.config.save_pretrained(output_path)
            weights_io.save_state_dict(self.auto_model, output_path, safe_serialization=False)
        if self.takes_media:
            self._media.processor.save_pretrained(output_path)
        else:
            self.save_tokenizer(output_path)
        self.save_config(output_path)

    @classmethod
    def load(
        cls,
        model_name_or_path: str,
        subfolder: str = "",
        token: bool | str | None = None,
        cache_folder: str | None = None,
        revision: str | None = None,
        local_files_only: bool = False,
        trust_remote_code: bool = False,
        model_kwargs: dict[str, Any] | None = None,
        tokenizer_kwargs: dict[str, Any] | None = None,
        config_kwargs: dict[str, Any] | None = None,
        processor_kwargs: dict[str, Any] | None = None,
        backend: str = "torch",
        init_defaults: dict[str, Any] | None = None,
        **kwargs,
    ) -> Transformer:
        """Rebuild from a saved folder: sentence_bert_config.json plus the Hugging Face files beside it.

        ``init_defaults`` fill constructor arguments that the saved config leaves out."""
        folder = os.path.join(
            resolve_folder(model_name_or_path, token, cache_folder, revision, local_files_only), subfolder
        )
        config = _read_config(folder)
        hub = {"token": token, "revision": revision, "trust_remote_code": trust_remote_code}
        hub["local_files_only"] = local_files_only
        for key, given in (
            ("model_args", model_kwargs),
            ("tokenizer_args", {**(tokenizer_kwargs or {}), **(processor_kwargs or {})}),
            ("config_args", config_kwargs),
        ):
            config[key] = {**config.get(key, {}), **hub, **(given or {})}
        config.setdefault("cache_dir", cache_folder)
        config = with_init_defaults(config, init_defaults)
        if config.get("transformer_task") == "text-generation" and "modality_config" not in config:
            # Saved before chat rendering existed (or without a chat template): text only, as upstream reads it.
            method_output_name, config["module_output_name"] = TASK_OUTPUTS["text-generation"]
            config["modality_config"] = {"text": {"method": "forward", "method_output_name": method_output_name}}
        return cls(model_name_or_path=folder, backend=backend, **config)


def _read_config(folder: str) -> dict[str, Any]:
    for name in CONFIG_FILE_NAMES:
        path = os.path.join(folder, name)
        if os.path.isfile(path):
            with open(path, encoding="utf-8") as f:
                try:
                    config = json.load(f)
                except json.JSONDecodeError as exc:
                    raise ValueError(f"Corrupt Transformer config {path}: {exc}") from exc
            return {key: value for key, value in config.items() if key not in {"model_name_or_path"}}
    return {}


def _hub_kwargs(kwargs: dict[str, Any], cache_dir: str | None) -> dict[str, Any]:
    """cache_dir is shared by config, model and tokenizer; pass it once unless the kwargs already do."""
    return {} if "cache_dir" in kwargs or cache_dir is None else {"cache_dir": cache_dir}


def _model_only(model_kwargs: dict[str, Any]) -> dict[str, Any]:
    """Model kwargs with dtype names turned into torch dtypes (configs store them as strings)."""
    result = dict(model_kwargs)
    for key in ("torch_dtype", "dtype"):
        value = result.get(key)
        if isinstance(value, str) and value != "auto":
            result[key] = getattr(torch, value.replace("torch.", ""))
    if "torch_dtype" in result and "dtype" not in result:
        result["dtype"] = result.pop("torch_dtype")
    return result


def _load_runtime_model(
    backend: str, name_or_path: str, config: PretrainedConfig, model_kwargs: dict[str, Any], transformer_task: str
) -> torch.nn.Module:
    """The ONNX Runtime or OpenVINO model of a folder for ``transformer_task`` (exported on first load when the
    folder has none)."""
    from sentence_transformers.backend import load_onnx_model, load_openvino_model

    folder = resolve_folder(name_or_path, model_kwargs.get("token"), model_kwargs.get("cache_dir"))
    load = load_onnx_model if backend == "onnx" else load_openvino_model
    return load(folder, config, transformer_task, **model_kwargs)


def check_task(transformer_task: str, backend: str) -> None:
    """Refuse a transformer_task that sbert cannot run, naming the ones it can."""
    if transformer_task in _UNSUPPORTED_TASKS:
        raise NotImplementedError(
            f"transformer_task={transformer_task!r} is not supported by sbert (generative, multimodal and "
            f"retrieval heads); supported tasks: {list(TASK_OUTPUTS)}"
        )
    if transformer_task not in TASK_OUTPUTS:
        raise ValueError(
            f"Unsupported transformer_task '{transformer_task}'. Supported tasks are: {list(TASK_OUTPUTS)}"
        )
    if backend != "torch" and transformer_task not in RUNTIME_TASKS:
        raise NotImplementedError(
            f"transformer_task={transformer_task!r} runs on the torch backend only; the {backend!r} backend runs "
            f"{list(RUNTIME_TASKS)}"
        )


def infer_message_format(model_type: str | None, template: Any) -> str:
    """How a chat template wants message contents: "structured" (``[{"type": "text", "text": ...}]``) when its
    source reads typed content items (or is no single template), else "flat" (plain strings); upstream 6.x's rule."""
    if model_type in _FLAT_MESSAGE_MODEL_TYPES:
        return "flat"
    if not isinstance(template, str) or not template:
        return "structured"
    return "structured" if any(marker in template for marker in _STRUCTURED_CONTENT_MARKERS) else "flat"


def _is_message(value: Any) -> bool:
    return isinstance(value, dict) and "role" in value and "content" in value


def _check_left_padded(attention_mask: Any) -> None:
    """Refuse a batch of a causal model whose last position is padding in some row (LogitScore reads it)."""
    if isinstance(attention_mask, torch.Tensor) and attention_mask.ndim == 2 and not bool(attention_mask[:, -1].all()):
        raise ValueError(
            "At least one input ends in a padding token, but a causal model is scored at its last position, so it "
            'needs left padding: set tokenizer.padding_side = "left" (and no right padding in processing_kwargs)'
        )


class ChatInputs:
    """Turns inputs into chat conversations and tokenizes them through a tokenizer's chat template.

    A (query, document) pair becomes a "query" and a "document" message, a text a "user" message; contents are plain
    strings ("flat") or ``[{"type": "text", "text": ...}]`` ("structured"), as the template wants them.
    """

    def __init__(self, tokenizer: Any, message_format: str) -> None:
        if message_format not in ("flat", "structured"):
            raise ValueError(f"message format must be 'flat', 'structured' or 'auto', got {message_format!r}")
        self.tokenizer = tokenizer
        self.message_format = message_format
        self._suffixes: dict[tuple[str, ...], list[int]] = {}
        self._pair_check: tuple[tuple[str, str], str | None] | None = None

    def _template_key(self) -> str:
        """The chat template as a cache key: a changed template invalidates what was derived from the old one."""
        template = getattr(self.tokenizer, "chat_template", None)
        return template if isinstance(template, str) else repr(template)

    def content(self, text: str) -> Any:
        """A message content holding ``text`` in this format."""
        return text if self.message_format == "flat" else [{"type": "text", "text": text}]

    def conversations(self, inputs: list[Any], prompt: str | None = None) -> list[list[dict[str, Any]]]:
        """One conversation per input (see the class), with ``prompt`` as a first "system" message."""
        result = []
        for item in inputs:
            if _is_message(item):
                messages = [item]
            elif isinstance(item, (list, tuple)) and item and all(_is_message(message) for message in item):
                messages = list(item)
            elif isinstance(item, str):
                messages = [{"role": "user", "content": self.content(item)}]
            elif isinstance(item, (list, tuple)) and len(item) == 2 and all(isinstance(text, str) for text in item):
                messages = [
                    {"role": role, "content": self.content(text)} for role, text in zip(PAIR_ROLES, item, strict=True)
                ]
            elif isinstance(item, dict) and len(item) == 1 and isinstance(next(iter(item.values())), str):
                messages = [{"role": "user", "content": self.content(next(iter(item.values())))}]
            else:
                raise TypeError(
                    "A chat-template model takes texts, (query, document) pairs or conversations (lists of "
                    f"{{'role', 'content'}} messages), got {type(item).__name__} ({item!r:.60})"
                )
            if prompt:
                messages = [{"role": "system", "content": self.content(prompt)}, *messages]
            result.append(messages)
        return result

    def declares(self, variable: str) -> bool:
        """Whether the chat template reads the template variable ``variable`` (e.g. ``task``)."""
        try:
            from transformers.utils.chat_template_utils import _get_template_variables
        except ImportError:
            return True  # cannot tell: an unused template variable is harmless
        template = getattr(self.tokenizer, "chat_template", None)
        templates = template.values() if isinstance(template, dict) else [template]
        try:
            return any(isinstance(value, str) and variable in _get_template_variables(value) for value in templates)
        except Exception:  # a template that does not compile: rendering will say why
            return False

    def render(self, conversations: list[list[dict[str, Any]]], template_kwargs: dict[str, Any]) -> list[str]:
        """The chat template's text of each conversation."""
        return list(self.tokenizer.apply_chat_template(conversations, tokenize=False, **template_kwargs))

    def encode(
        self,
        conversations: list[list[dict[str, Any]]],
        call: dict[str, Any],
        tokenizer_kwargs: dict[str, Any],
        template_kwargs: dict[str, Any],
    ) -> Any:
        """Render and tokenize (no special tokens added: the template writes them); ``call`` holds the size
        arguments (padding, truncation, max_length, return_tensors)."""
        conversations = [_cleaned(conversation) for conversation in conversations]
        with tokenizer_lock(self.tokenizer):
            return self.tokenizer.apply_chat_template(
                conversations,
                tokenize=True,
                return_dict=True,
                tokenizer_kwargs=tokenizer_kwargs,
                **call,
                **template_kwargs,
            )

    def check_pair_roles(self, conversations: list[list[dict[str, Any]]], template_kwargs: dict[str, Any]) -> None:
        """Refuse a chat template that drops the query or the document of a pair (one that only knows the
        "system", "user" and "assistant" roles): the model would score an input holding neither."""
        if not any(set(PAIR_ROLES) <= {message.get("role") for message in messages} for messages in conversations):
            return
        key = (self._template_key(), repr(sorted(template_kwargs.items())))
        if self._pair_check is None or self._pair_check[0] != key:
            self._pair_check = (key, self._pair_roles_failure(template_kwargs))
        failure = self._pair_check[1]
        if failure is None:
            return
        name = getattr(self.tokenizer, "name_or_path", None) or "this model"
        raise ValueError(
            f"The chat template of {name} cannot carry a (query, document) pair: {failure}. A pair becomes a 'query' "
            "and a 'document' message; give the model a chat template that renders both roles (processor_kwargs="
            '{"chat_template": ...} when loading, tokenizer.chat_template = ... afterwards, or a chat_template.jinja '
            "file in the model folder)."
        )

    def _pair_roles_failure(self, template_kwargs: dict[str, Any]) -> str | None:
        """Why the template loses a pair's query or document (None when it keeps both): render a pair, then the
        pair with only its query changed and with only its document changed; each must change the text."""
        pairs = [("First probe query", "Some probe document"), ("2nd", "Some probe document")]
        pairs.append(("First probe query", "x"))
        try:
            base, query_changed, document_changed = self.render(self.conversations(pairs), template_kwargs)
        except Exception as exc:  # any template error is the reason
            return f"rendering a pair raised {type(exc).__name__}: {exc}"
        lost = [role for role, text in zip(PAIR_ROLES, (query_changed, document_changed), strict=True) if text == base]
        return f"its {' and '.join(lost)} content does not reach the rendered text" if lost else None

    def suffix(
        self, conversation: list[dict[str, Any]], tokenizer_kwargs: dict[str, Any], template_kwargs: dict[str, Any]
    ) -> list[int]:
        """The token ids the template writes after the last content of ``conversation`` (e.g. the end of turn and
        the assistant header): the common tail of two renders with different contents, cached per message layout.
        Empty when it cannot be told (a render without contents, or an error)."""
        if not all(_is_text_only(message) for message in conversation):
            return []
        key = (
            self._template_key(),
            repr(sorted(template_kwargs.items())),
            repr(sorted(tokenizer_kwargs.items())),
            repr(self._with_contents(conversation, "")),
        )
        cached = self._suffixes.get(key)
        if cached is not None:
            return cached
        suffix: list[int] = []
        try:
            # Fillers that tokenize differently (upstream's), so the common tail is the template's own text.
            first, second = (self._ids(self._with_contents(conversation, filler), tokenizer_kwargs, template_kwargs)
                             for filler in ("0", "1 2 3 4"))  # fmt: skip
            common = 0
            while common < min(len(first), len(second)) and first[-1 - common] == second[-1 - common]:
                common += 1
            if 0 < common < min(len(first), len(second)):
                suffix = first[len(first) - common :]
        except Exception as exc:  # deriving the suffix must never break tokenizing
            logger.debug(f"Could not derive the chat template's suffix: {exc}")
        if len(self._suffixes) >= _SUFFIX_CACHE_SIZE:
            self._suffixes.pop(next(iter(self._suffixes)), None)
        self._suffixes[key] = suffix
        return suffix

    def restore_suffixes(
        self,
        encoded: dict[str, Any],
        conversations: list[list[dict[str, Any]]],
        max_length: int | None,
        tokenizer_kwargs: dict[str, Any],
        template_kwargs: dict[str, Any],
    ) -> None:
        """Write the template's suffix back over the last real tokens of each row that truncation may have cut
        (those ``max_length`` long), in place; padded tensors (either side) or unpadded lists."""
        limit = max_length or 0
        ids = encoded.get("input_ids")
        if isinstance(ids, torch.Tensor):
            mask = encoded.get("attention_mask")
            if ids.ndim != 2 or not isinstance(mask, torch.Tensor) or mask.numel() == 0:
                return
            lengths = mask.long().sum(dim=1).tolist()
            left = (mask[:, 0] == 0).tolist()
        elif isinstance(ids, list):
            lengths, left = [len(row) for row in ids], [False] * len(ids)
        else:
            return
        for row, conversation in enumerate(conversations[: len(lengths)]):
            if lengths[row] < limit:
                continue  # shorter than the limit: not truncated, its suffix is there
            suffix = self.suffix(conversation, tokenizer_kwargs, template_kwargs)
            keep = min(len(suffix), lengths[row])
            if keep == 0:
                continue
            if isinstance(ids, torch.Tensor):
                end = ids.shape[1] if left[row] else lengths[row]
                ids[row, end - keep : end] = torch.tensor(suffix[-keep:], dtype=ids.dtype)
            else:
                ids[row][-keep:] = suffix[-keep:]

    def _with_contents(self, conversation: list[dict[str, Any]], text: str) -> list[dict[str, Any]]:
        """``conversation`` with every content but the system messages' replaced by ``text`` (same format)."""
        return [
            message
            if message.get("role") == "system"
            else {**message, "content": text if isinstance(message.get("content"), str) else self.content(text)}
            for message in conversation
        ]

    def _ids(
        self, conversation: list[dict[str, Any]], tokenizer_kwargs: dict[str, Any], template_kwargs: dict[str, Any]
    ) -> list[int]:
        """The untruncated, unpadded token ids of one conversation."""
        call = {"padding": False, "truncation": False}
        ids = self.encode([conversation], call, tokenizer_kwargs, template_kwargs)["input_ids"]
        ids = ids.tolist() if isinstance(ids, torch.Tensor) else ids
        return list(ids[0])


def _is_text_only(message: dict[str, Any]) -> bool:
    content = message.get("content") if isinstance(message, dict) else None
    if isinstance(content, str):
        return True
    return isinstance(content, list) and all(
        isinstance(item, dict) and item.get("type", "text") == "text" for item in content
    )


def _cleaned(conversation: list[dict[str, Any]], lower: bool = False) -> list[dict[str, Any]]:
    """The conversation with lone surrogates in its text contents replaced (the tokenizer rejects them), and with
    ``lower`` the contents lowercased (``do_lower_case``)."""

    def clean(text: Any) -> Any:
        if not isinstance(text, str):
            return text
        return text.lower() if lower else replace_lone_surrogates(text)[0]

    result = []
    for message in conversation:
        content = message.get("content")
        if isinstance(content, list):
            content = [{**item, "text": clean(item["text"])} if isinstance(item, dict) and "text" in item else item
                       for item in content]  # fmt: skip
        result.append({**message, "content": clean(content)})
    return result


def checked_processing_kwargs(
    processing_kwargs: dict[str, dict[str, Any]] | None, which: str = ""
) -> dict[str, dict[str, Any]]:
    """``processing_kwargs`` without the keys that are no modality, "common" or "chat_template" (warned about)."""
    processing_kwargs = dict(processing_kwargs or {})
    unknown = set(processing_kwargs) - _PROCESSING_KWARGS_KEYS
    if unknown:
        logger.warning(
            f"Unknown keys in {which}`processing_kwargs`: {unknown}. Valid keys are: "
            f"{sorted(_PROCESSING_KWARGS_KEYS)}. Unknown keys will be ignored. Did you mean to nest them under "
            "'common' or a modality key ('text', 'audio', 'image', 'video')?"
        )
    return {key: value for key, value in processing_kwargs.items() if key not in unknown}


def load_auto_model(
    name_or_path: str,
    config: PretrainedConfig,
    model_kwargs: dict[str, Any],
    transformer_task: str = "feature-extraction",
) -> torch.nn.Module:
    """The model class of ``transformer_task``; for feature extraction AutoModel, except encoder-decoder families
    (T5, MT5, UMT5) whose encoder alone gives embeddings.

    When loading fails because a weights file of a local folder is truncated or corrupt, the error names that file.
    """
    model_kwargs = {key: value for key, value in model_kwargs.items() if key != "config"}
    try:
        return _from_pretrained(name_or_path, config, model_kwargs, transformer_task)
    except Exception as exc:  # whatever transformers raised, a damaged weights file is the cause worth naming
        folder = _local_folder(name_or_path, model_kwargs)
        damaged = weights_io.find_damaged_weights(folder) if folder is not None else None
        if damaged is None:
            raise
        raise weights_io.DamagedModelError(f"Weights file {damaged[0]} is truncated or corrupt ({damaged[1]})") from exc


def _from_pretrained(
    name_or_path: str, config: PretrainedConfig, model_kwargs: dict[str, Any], transformer_task: str
) -> torch.nn.Module:
    head = {
        "sequence-classification": AutoModelForSequenceClassification,
        "fill-mask": AutoModelForMaskedLM,
        "text-generation": AutoModelForCausalLM,
    }
    if transformer_task in head:
        return head[transformer_task].from_pretrained(name_or_path, config=config, **model_kwargs)
    if config.model_type in {"t5", "mt5", "umt5"}:
        from transformers import MT5EncoderModel, T5EncoderModel, UMT5EncoderModel

        encoder_class = {"t5": T5EncoderModel, "mt5": MT5EncoderModel, "umt5": UMT5EncoderModel}[config.model_type]
        return encoder_class.from_pretrained(name_or_path, config=config, **model_kwargs)
    return AutoModel.from_pretrained(name_or_path, config=config, **model_kwargs)


# Tokenizer files that are JSON: a malformed one makes transformers raise a JSONDecodeError naming no file.
_TOKENIZER_JSON_FILES = ("tokenizer.json", "tokenizer_config.json", "special_tokens_map.json", "added_tokens.json")
# Vocabulary files of the common slow tokenizers, for when the tokenizer class is unknown.
_VOCABULARY_FILES = ("vocab.txt", "vocab.json", "spiece.model", "sentencepiece.bpe.model", "tokenizer.model")


def load_tokenizer(name_or_path: str, kwargs: dict[str, Any]) -> Any:
    """AutoTokenizer; when a local folder's tokenizer files are malformed or missing, the error names them."""
    try:
        return AutoTokenizer.from_pretrained(name_or_path, **kwargs)
    except (OSError, ValueError) as exc:
        folder = _local_folder(name_or_path, kwargs)
        if folder is None:
            raise
        for name in _TOKENIZER_JSON_FILES:
            path = os.path.join(folder, name)
            try:
                with open(path, encoding="utf-8") as f:
                    json.load(f)
            except FileNotFoundError:
                continue
            except (ValueError, OSError) as json_exc:
                raise weights_io.DamagedModelError(f"Tokenizer file {path} is corrupt: {json_exc}") from exc
        expected = _expected_tokenizer_files(folder)
        if any(os.path.isfile(os.path.join(folder, name)) for name in expected):
            raise
        raise weights_io.MissingModelFileError(
            f"Cannot load the tokenizer of {folder}: it has none of {', '.join(expected)} "
            f"({type(exc).__name__}: {' '.join(str(exc).split())})"
        ) from exc


def check_vocabulary(tokenizer: Any, config: PretrainedConfig, name_or_path: str, kwargs: dict[str, Any]) -> None:
    """Refuse a tokenizer that lost its vocabulary: with only its special tokens, or under half the model's
    vocab_size, every word would silently become the unknown token. A slightly different size is fine (added
    tokens, an embedding matrix padded to a multiple of 8 or 64)."""
    try:
        size = len(tokenizer)
    except TypeError:
        return
    vocab_size = _config_vocab_size(config)
    only_special = size <= len(set(getattr(tokenizer, "all_special_ids", ()) or ()))
    if not only_special and (vocab_size is None or 2 * size >= vocab_size):
        return
    folder = _local_folder(name_or_path, kwargs)
    where = folder or name_or_path
    expected = _expected_tokenizer_files(folder, type(tokenizer)) if folder else ["tokenizer.json"]
    missing = folder is not None and not any(os.path.isfile(os.path.join(folder, name)) for name in expected)
    error = weights_io.MissingModelFileError if missing else weights_io.DamagedModelError
    raise error(
        f"The tokenizer of {where} knows only {size} tokens, but the model's vocab_size is {vocab_size}: its "
        f"vocabulary files are {'missing' if missing else 'damaged'}, and every word would become the unknown token. "
        f"Expected {' or '.join(expected)} in {where}."
    )


def _expected_tokenizer_files(folder: str | None, tokenizer_class: type | None = None) -> list[str]:
    """The files a tokenizer reads its vocabulary from: tokenizer.json, or its slow class's vocabulary files."""
    if tokenizer_class is None and folder is not None:
        tokenizer_class = _configured_tokenizer_class(folder)
    names = getattr(tokenizer_class, "vocab_files_names", None) or {}
    slow = [name for key, name in names.items() if key != "tokenizer_file" and isinstance(name, str)]
    if tokenizer_class is None:
        slow = list(_VOCABULARY_FILES)
    return ["tokenizer.json", *slow]


def _configured_tokenizer_class(folder: str) -> type | None:
    """The class tokenizer_config.json names, when transformers knows it."""
    try:
        with open(os.path.join(folder, "tokenizer_config.json"), encoding="utf-8") as f:
            name = json.load(f).get("tokenizer_class")
        from transformers.models.auto.tokenization_auto import tokenizer_class_from_name

        return tokenizer_class_from_name(name) if isinstance(name, str) else None
    except (OSError, ValueError, AttributeError, ImportError):
        return None


def _config_vocab_size(config: PretrainedConfig) -> int | None:
    """vocab_size of the model's (text) config, or None when it states none."""
    get_text_config = getattr(config, "get_text_config", None)
    for candidate in (config, get_text_config() if callable(get_text_config) else None):
        size = getattr(candidate, "vocab_size", None)
        if isinstance(size, int) and size > 0:
            return size
    return None


def _local_folder(name_or_path: str, kwargs: dict[str, Any]) -> str | None:
    """The local folder ``from_pretrained`` reads for this name and kwargs, or None for a hub name."""
    if not isinstance(name_or_path, (str, os.PathLike)) or not os.path.isdir(name_or_path):
        return None
    return os.path.join(os.fspath(name_or_path), kwargs.get("subfolder") or "")


def _default_max_length(config: PretrainedConfig, tokenizer: Any) -> int | None:
    limits = [getattr(config, "max_position_embeddings", None), getattr(tokenizer, "model_max_length", None)]
    limits = [limit for limit in limits if isinstance(limit, int) and 0 < limit < 10**9]
    return min(limits) if limits else None


def _to_columns(texts: list[Any]) -> list[list[str]]:
    """One column of single texts, or two columns for (text, text) pairs; dicts give their single value."""
    if len(texts) == 0:
        return [[]]
    first = texts[0]
    if isinstance(first, str):
        return [list(texts)]
    if isinstance(first, dict):
        return [[next(iter(text.values())) for text in texts]]
    if isinstance(first, (tuple, list)) and len(first) == 2:
        return [[pair[0] for pair in texts], [pair[1] for pair in texts]]
    raise TypeError(f"Transformer.tokenize takes strings or (text, text) pairs, got {type(first).__name__}")
