"""Transformer: a Hugging Face AutoModel + its tokenizer, producing token embeddings."""

from __future__ import annotations

import json
import os
from typing import Any

import torch
from transformers import AutoConfig, AutoModel, AutoTokenizer, PretrainedConfig

from sentence_transformers.backend.runtime import check_backend
from sentence_transformers.base import weights_io
from sentence_transformers.base.hub import resolve_folder
from sentence_transformers.base.modules.input_module import (
    InputModule,
    has_own_preprocess,
    prepend_prompt,
    wraps_tokenize,
)
from sentence_transformers.base.peft_mixin import adapter_base_model, has_adapters, save_adapter
from sentence_transformers.base.token_ids import TokenIds, replace_surrogates_in, tokenizer_lock

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
    """

    config_file_name: str = "sentence_bert_config.json"
    config_keys: list[str] = ["max_seq_length", "do_lower_case"]
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
        **kwargs,
    ) -> None:
        super().__init__()
        check_backend(backend)
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
        if backend == "torch":
            self.auto_model = load_auto_model(model_name_or_path, config, {**hub_kwargs, **_model_only(model_kwargs)})
        else:
            self.auto_model = _load_runtime_model(backend, model_name_or_path, config, {**hub_kwargs, **model_kwargs})
        tokenizer_source = tokenizer_name_or_path or model_name_or_path
        tokenizer_kwargs = {**_hub_kwargs(tokenizer_kwargs, cache_dir), **tokenizer_kwargs}
        self.tokenizer = load_tokenizer(tokenizer_source, tokenizer_kwargs)
        check_vocabulary(self.tokenizer, config, tokenizer_source, tokenizer_kwargs)
        if max_seq_length is None:
            max_seq_length = _default_max_length(self.auto_model.config, self.tokenizer)
        self.max_seq_length = max_seq_length
        if tokenizer_name_or_path is not None:
            self.auto_model.config.tokenizer_class = self.tokenizer.__class__.__name__

    def __repr__(self) -> str:
        return f"Transformer({dict(self.get_config_dict(), architecture=self.auto_model.__class__.__name__)})"

    def forward(self, features: dict[str, Any], **kwargs) -> dict[str, Any]:
        """Add ``token_embeddings`` (and ``all_layer_embeddings`` when the model returns hidden states)."""
        inputs = {key: features[key] for key in _MODEL_INPUTS if key in features}
        output = self.auto_model(**inputs, return_dict=True)
        features["token_embeddings"] = output[0]
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

    def get_word_embedding_dimension(self) -> int:
        """Size of the token embeddings the model returns."""
        config = self.auto_model.config
        return getattr(config, "hidden_size", None) or config.get_text_config().hidden_size

    def token_lengths(self, texts: list[str] | list[dict[str, str]] | list[tuple[str, str]]) -> list[int]:
        """Number of tokens ``tokenize`` gives each input (after truncation), without padding or tensors."""
        columns = self._prepare(texts)
        with tokenizer_lock(self.tokenizer):  # unpadded: must not switch padding off under a thread's tokenize
            encoded = self.tokenizer(
                *columns,
                truncation="longest_first",
                max_length=self.max_seq_length,
                return_attention_mask=False,
                return_token_type_ids=False,
            )
        return [len(ids) for ids in encoded["input_ids"]]

    def pretokenize(self, texts: list[str] | list[tuple[str, str]]) -> TokenIds | None:
        """Tokenize once, unpadded, for the encode engine; None when ``tokenize`` must do it batch by batch.

        Padding a subset of the result gives exactly the tensors ``tokenize`` gives that subset. Thread safe, as
        every tokenizing method here: calls of the shared tokenizer hold its ``tokenizer_lock``.
        """
        tokenizer = self.tokenizer
        if not texts or isinstance(texts[0], dict) or getattr(tokenizer, "pad_token_id", None) is None:
            return None
        if type(self).tokenize is not Transformer.tokenize or "tokenize" in vars(self) or has_own_preprocess(self):
            return None  # a subclass or caller replaced tokenize or preprocess: it must see every batch
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
        self, texts: list[str] | list[dict[str, str]] | list[tuple[str, str]], padding: str | bool = True, **kwargs
    ) -> dict[str, torch.Tensor]:
        """Tokenize single texts or text pairs, truncated to ``max_seq_length`` (thread safe, see ``pretokenize``)."""
        columns = self._prepare(texts)
        with tokenizer_lock(self.tokenizer):
            encoded = self.tokenizer(
                *columns,
                padding=padding,
                truncation="longest_first",
                return_tensors="pt",
                max_length=self.max_seq_length,
            )
        features = dict(encoded)
        if texts and isinstance(texts[0], dict):
            features["text_keys"] = [next(iter(text)) for text in texts]
        return features

    @wraps_tokenize
    def preprocess(
        self, inputs: list[str] | list[dict[str, str]] | list[tuple[str, str]], prompt: str | None = None, **kwargs
    ) -> dict[str, Any]:
        """Upstream 6.x's ``tokenize``: the prompt is prepended to each text (the first of a pair), then tokenized.

        Returns ``tokenize``'s features plus ``modality`` ("text") and, with a prompt, ``prompt_length``: the
        prompt's tokens without the closing special token, which ``Pooling(include_prompt=False)`` leaves out.
        """
        if not inputs:
            return {}
        features = self.tokenize(prepend_prompt(inputs, prompt), **kwargs)
        features["modality"] = "text"
        if prompt:
            prompt_ids = self.tokenize([prompt], **kwargs)["input_ids"][0].tolist()
            closing = prompt_ids[-1:] and prompt_ids[-1] in getattr(self.tokenizer, "all_special_ids", ())
            features["prompt_length"] = len(prompt_ids) - int(bool(closing))
        return features

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
        **kwargs,
    ) -> Transformer:
        """Rebuild from a saved folder: sentence_bert_config.json plus the Hugging Face files beside it."""
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
    backend: str, name_or_path: str, config: PretrainedConfig, model_kwargs: dict[str, Any]
) -> torch.nn.Module:
    """The ONNX Runtime or OpenVINO model of a folder (exported on first load when the folder has none)."""
    from sentence_transformers.backend import load_onnx_model, load_openvino_model

    folder = resolve_folder(name_or_path, model_kwargs.get("token"), model_kwargs.get("cache_dir"))
    load = load_onnx_model if backend == "onnx" else load_openvino_model
    return load(folder, config, **model_kwargs)


def load_auto_model(name_or_path: str, config: PretrainedConfig, model_kwargs: dict[str, Any]) -> torch.nn.Module:
    """AutoModel, except encoder-decoder families (T5, MT5, UMT5) whose encoder alone gives embeddings.

    When loading fails because a weights file of a local folder is truncated or corrupt, the error names that file.
    """
    model_kwargs = {key: value for key, value in model_kwargs.items() if key != "config"}
    try:
        return _from_pretrained(name_or_path, config, model_kwargs)
    except Exception as exc:  # whatever transformers raised, a damaged weights file is the cause worth naming
        folder = _local_folder(name_or_path, model_kwargs)
        damaged = weights_io.find_damaged_weights(folder) if folder is not None else None
        if damaged is None:
            raise
        raise weights_io.DamagedModelError(f"Weights file {damaged[0]} is truncated or corrupt ({damaged[1]})") from exc


def _from_pretrained(name_or_path: str, config: PretrainedConfig, model_kwargs: dict[str, Any]) -> torch.nn.Module:
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
