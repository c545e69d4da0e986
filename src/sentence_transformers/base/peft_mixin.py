"""PEFT adapters (LoRA, IA³, …) on the Hugging Face model inside a SentenceTransformer's first module.

The methods work on the ``auto_model`` of the first module (a ``Transformer``) and keep the bookkeeping that
transformers' own PEFT integration uses (``peft_config``, ``_hf_peft_config_loaded``), so a model is interchangeable
with ``PreTrainedModel.add_adapter`` & co. They call the ``peft`` package directly rather than transformers'
wrappers, which refuse every peft release older than the one that transformers release was built against.
The saved format (``adapter_config.json`` + ``adapter_model.safetensors``) is the one transformers writes.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from functools import wraps
from typing import TYPE_CHECKING, Any, TypeVar

import torch

if TYPE_CHECKING:
    from peft import PeftConfig
    from transformers import PreTrainedModel

ADAPTER_CONFIG_NAME = "adapter_config.json"
ADAPTER_SAFE_WEIGHTS_NAME = "adapter_model.safetensors"
ADAPTER_WEIGHTS_NAME = "adapter_model.bin"
_PEFT_PREFIX = "base_model.model."  # peft's PeftModel key prefix, which transformers writes too
_INSTALL_HINT = 'PEFT adapters need the `peft` package: pip install "sbert[peft]"'

_F = TypeVar("_F", bound=Callable[..., Any])


def require_peft() -> None:
    """Raise a clear ImportError when ``peft`` is not installed."""
    try:
        import peft  # noqa: F401
    except ImportError as exc:
        raise ImportError(_INSTALL_HINT) from exc


def peft_wrapper(func: _F) -> _F:
    """Run ``func(self, auto_model, *args, **kwargs)`` after checking that peft is there and the model supports it."""

    @wraps(func)
    def wrapper(self: Any, *args, **kwargs) -> Any:
        require_peft()
        self.check_peft_compatible_model()
        return func(self, self[0].auto_model, *args, **kwargs)

    return wrapper  # type: ignore[return-value]


class PeftAdapterMixin:
    """Adapter methods for SentenceTransformer, mirroring transformers' ``PeftAdapterMixin``.

    Supported adapters are the injectable (non prompt-learning) PEFT methods: LoRA, IA³, LoHa, … See
    https://huggingface.co/docs/peft for what they are.
    """

    def has_peft_compatible_model(self) -> bool:
        """Whether the first module is a torch ``Transformer`` whose Hugging Face model can carry adapters."""
        from transformers.integrations.peft import PeftAdapterMixin as TransformersPeftMixin

        from sentence_transformers.base.modules.transformer import Transformer

        first = self[0] if len(self) else None  # type: ignore[arg-type,index]
        return isinstance(first, Transformer) and isinstance(getattr(first, "auto_model", None), TransformersPeftMixin)

    def check_peft_compatible_model(self) -> None:
        """Raise ValueError unless ``has_peft_compatible_model()``."""
        if not self.has_peft_compatible_model():
            first = type(self[0]).__name__ if len(self) else "nothing"  # type: ignore[arg-type,index]
            raise ValueError(
                "PEFT adapters are only supported for models whose first module is a Transformer with the torch "
                f"backend; this model's first module is {first}."
            )

    @peft_wrapper
    def add_adapter(self, model: PreTrainedModel, adapter_config: PeftConfig, adapter_name: str | None = None) -> None:
        """Add a fresh, trainable adapter (default name "default") and make it the active one.

        Only the adapter's parameters stay trainable, as with transformers' ``add_adapter``.
        """
        from peft import PeftConfig
        from peft.functional import inject_adapter_in_model

        if not isinstance(adapter_config, PeftConfig):
            raise TypeError(f"adapter_config should be a peft PeftConfig, got {type(adapter_config).__name__}")
        adapter_name = adapter_name or "default"
        if _has_adapters(model) and adapter_name in model.peft_config:
            raise ValueError(f"Adapter with name {adapter_name} already exists. Please use a different name.")
        adapter_config.base_model_name_or_path = getattr(model, "name_or_path", None) or None
        inject_adapter_in_model(adapter_config, model, adapter_name)
        model._hf_peft_config_loaded = True
        self.set_adapter(adapter_name)

    @peft_wrapper
    def load_adapter(self, model: PreTrainedModel, *args, **kwargs) -> Any:
        """Load adapter weights from a local folder or Hub repository (transformers' ``load_adapter`` arguments:
        ``peft_model_id``, ``adapter_name``, ``is_trainable``, ``peft_config``, ``adapter_state_dict``, …)."""
        path = kwargs.get("peft_model_id", args[0] if args else None)
        if isinstance(path, str) and _only_pickled_weights(path):
            kwargs.setdefault("use_safetensors", False)  # else transformers tries the missing .safetensors file
        return model.load_adapter(*args, **kwargs)

    @peft_wrapper
    def set_adapter(self, model: PreTrainedModel, adapter_name: str | list[str]) -> None:
        """Make ``adapter_name`` (or several names) the active adapter(s); the others stop taking part."""
        from peft.functional import set_adapter

        names = [adapter_name] if isinstance(adapter_name, str) else list(adapter_name)
        loaded = _loaded_adapters(model)
        missing = [name for name in names if name not in loaded]
        if missing:
            raise ValueError(f"Adapter(s) {', '.join(missing)} not found; loaded adapters are: {loaded}")
        set_adapter(model, adapter_name)

    @peft_wrapper
    def disable_adapters(self, model: PreTrainedModel) -> None:
        """Turn every adapter off: the model computes with its base weights only."""
        _toggle_adapters(model, enabled=False)

    @peft_wrapper
    def enable_adapters(self, model: PreTrainedModel) -> None:
        """Turn the active adapter(s) back on after ``disable_adapters``."""
        _toggle_adapters(model, enabled=True)

    @peft_wrapper
    def active_adapters(self, model: PreTrainedModel) -> list[str]:
        """Names of the adapters that take part in the forward pass."""
        _loaded_adapters(model)
        active = next(layer.active_adapter for layer in _tuner_layers(model))
        return [active] if isinstance(active, str) else list(active)

    def active_adapter(self) -> str:
        """The first active adapter's name (the single-adapter spelling of ``active_adapters``)."""
        return self.active_adapters()[0]

    @peft_wrapper
    def get_adapter_state_dict(
        self, model: PreTrainedModel, adapter_name: str | None = None, state_dict: dict | None = None
    ) -> dict[str, torch.Tensor]:
        """The weights of one adapter (the active one by default), keyed as peft saves them."""
        from peft.functional import get_peft_model_state_dict

        _loaded_adapters(model)
        adapter_name = adapter_name or self.active_adapters()[0]
        return get_peft_model_state_dict(model, state_dict=state_dict, adapter_name=adapter_name)

    @peft_wrapper
    def delete_adapter(self, model: PreTrainedModel, adapter_names: str | list[str]) -> None:
        """Remove adapter(s) and their layers' weights from the model."""
        from peft.functional import delete_adapter

        names = [adapter_names] if isinstance(adapter_names, str) else list(adapter_names)
        loaded = _loaded_adapters(model)
        missing = [name for name in names if name not in loaded]
        if missing:
            raise ValueError(f"Adapter(s) {', '.join(missing)} not found; loaded adapters are: {loaded}")
        for name in names:
            prefix = f"{model.peft_config[name].peft_type.value.lower()}_"
            delete_adapter(model, adapter_name=name, prefix=prefix)
            model.peft_config.pop(name)
        if not model.peft_config:
            del model.peft_config
            model._hf_peft_config_loaded = False


def _only_pickled_weights(folder: str) -> bool:
    """Whether a local adapter folder has adapter_model.bin but no adapter_model.safetensors."""
    return os.path.isfile(os.path.join(folder, ADAPTER_WEIGHTS_NAME)) and not os.path.isfile(
        os.path.join(folder, ADAPTER_SAFE_WEIGHTS_NAME)
    )


def _has_adapters(model: torch.nn.Module) -> bool:
    return bool(getattr(model, "_hf_peft_config_loaded", False) and getattr(model, "peft_config", None))


def _loaded_adapters(model: torch.nn.Module) -> list[str]:
    """Names of the adapters on ``model``; ValueError when there is none."""
    if not _has_adapters(model):
        raise ValueError("No adapter loaded. Please add or load an adapter first.")
    return list(model.peft_config)


def _tuner_layers(model: torch.nn.Module) -> list[torch.nn.Module]:
    from peft.tuners.tuners_utils import BaseTunerLayer

    return [module for module in model.modules() if isinstance(module, BaseTunerLayer)]


def _toggle_adapters(model: torch.nn.Module, enabled: bool) -> None:
    from peft.utils import ModulesToSaveWrapper

    _loaded_adapters(model)
    wrappers = [module for module in model.modules() if isinstance(module, ModulesToSaveWrapper)] if not enabled else []
    for module in _tuner_layers(model) + wrappers:
        module.enable_adapters(enabled=enabled)


def has_adapters(model: torch.nn.Module) -> bool:
    """Whether a Hugging Face model carries PEFT adapters (then it is saved in the PEFT format)."""
    return _has_adapters(model)


def save_adapter(model: PreTrainedModel, folder: str, safe_serialization: bool = True) -> None:
    """Write the active adapter as transformers' ``save_pretrained`` does: its config and its weights only, with
    keys under ``base_model.model.``; the base model is found again through ``base_model_name_or_path``."""
    require_peft()
    from peft.functional import get_peft_model_state_dict

    active = next(layer.active_adapter for layer in _tuner_layers(model))
    active = [active] if isinstance(active, str) else list(active)
    if len(active) > 1:
        raise ValueError("Saving several active adapters at once is not supported: set_adapter() one, then save.")
    state_dict = get_peft_model_state_dict(model, adapter_name=active[0])
    state_dict = {f"{_PEFT_PREFIX}{key}": value.detach().contiguous() for key, value in state_dict.items()}
    os.makedirs(folder, exist_ok=True)
    if safe_serialization:
        from safetensors.torch import save_file

        save_file(state_dict, os.path.join(folder, ADAPTER_SAFE_WEIGHTS_NAME), metadata={"format": "pt"})
    else:
        torch.save(state_dict, os.path.join(folder, ADAPTER_WEIGHTS_NAME))
    model.peft_config[active[0]].save_pretrained(folder)


def adapter_base_model(name_or_path: str, backend: str, hub_kwargs: dict[str, Any]) -> str | None:
    """The model to load under the adapter when ``name_or_path`` holds adapter_config.json, else None.

    That is the folder itself when it also holds a full model (config.json), else the adapter's
    ``base_model_name_or_path``. Adapters load only with the torch backend and with peft installed.
    """
    if os.path.isdir(name_or_path):
        config_file = os.path.join(name_or_path, ADAPTER_CONFIG_NAME)
        config_file = config_file if os.path.isfile(config_file) else None
    else:
        from transformers.utils.peft_utils import find_adapter_config_file

        keys = ("cache_dir", "token", "revision", "local_files_only", "subfolder")
        config_file = find_adapter_config_file(name_or_path, **{k: hub_kwargs[k] for k in keys if k in hub_kwargs})
    if config_file is None:
        return None
    if backend != "torch":
        raise ValueError(
            f"{name_or_path} holds a PEFT adapter, which loads only with the torch backend: load it with "
            'backend="torch", merge the adapter (transformers_model.merge_and_unload()), save, then export.'
        )
    require_peft()
    if os.path.isdir(name_or_path) and os.path.isfile(os.path.join(name_or_path, "config.json")):
        return name_or_path
    with open(config_file, encoding="utf-8") as f:
        base = json.load(f).get("base_model_name_or_path")
    if not base:
        raise ValueError(f"{config_file} names no base_model_name_or_path to put the adapter on")
    return base
