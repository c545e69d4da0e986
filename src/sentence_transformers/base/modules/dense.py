"""Dense: a feed-forward layer (linear + activation) on the sentence embedding."""

from __future__ import annotations

import importlib
from typing import Any

import torch
from torch import nn

from sentence_transformers.base.modules.module import Module, with_init_defaults

# The documented default is Tanh(); each Dense gets its own instance.
_DEFAULT_ACTIVATION = nn.Tanh()


class Dense(Module):
    """Linear layer with an activation, e.g. to project embeddings to another size.

    Args:
        in_features: Size of the input embedding.
        out_features: Size of the output embedding.
        bias: Whether the linear layer has a bias.
        activation_function: A torch module applied after the linear layer (default Tanh).
        init_weight: Initial weight matrix, shape [out_features, in_features].
        init_bias: Initial bias vector, shape [out_features].
        module_input_name: The feature to read (``sentence_embedding`` or ``token_embeddings``).
        module_output_name: The feature to write; by default the one read.
        use_residual: Add the input to the output (through a bias-free projection when the sizes differ).
    """

    config_keys: list[str] = ["in_features", "out_features", "bias", "activation_function", "use_residual"]
    saved_weights = "required"

    def __init__(
        self,
        in_features: int,
        out_features: int,
        bias: bool = True,
        activation_function: nn.Module | None = _DEFAULT_ACTIVATION,
        init_weight: torch.Tensor | None = None,
        init_bias: torch.Tensor | None = None,
        module_input_name: str = "sentence_embedding",
        module_output_name: str | None = None,
        use_residual: bool = False,
        **kwargs,
    ) -> None:
        super().__init__()
        self.in_features = in_features
        self.out_features = out_features
        self.bias = bias
        if activation_function is _DEFAULT_ACTIVATION:
            activation_function = nn.Tanh()
        self.activation_function = activation_function if activation_function is not None else nn.Identity()
        self.module_input_name = module_input_name
        self.module_output_name = module_output_name
        self.linear = nn.Linear(in_features, out_features, bias=bias)
        self.use_residual = use_residual
        if use_residual and in_features != out_features:
            self.residual = nn.Linear(in_features, out_features, bias=False)
        if init_weight is not None:
            self.linear.weight = nn.Parameter(torch.as_tensor(init_weight, dtype=torch.float32))
        if init_bias is not None:
            self.linear.bias = nn.Parameter(torch.as_tensor(init_bias, dtype=torch.float32))

    def forward(self, features: dict[str, Any], **kwargs) -> dict[str, Any]:
        """Apply activation(linear(x)) to the input feature, plus x (or its projection) with ``use_residual``."""
        inputs = features[self.module_input_name]
        output = self.activation_function(self.linear(inputs))
        if self.use_residual:
            output = output + (inputs if self.in_features == self.out_features else self.residual(inputs))
        features[self.module_output_name or self.module_input_name] = output
        return features

    def get_embedding_dimension(self) -> int:
        """The output size."""
        return self.out_features

    def get_config_dict(self) -> dict[str, Any]:
        """The config with the activation stored by its import name; routing keys only when not the default."""
        config = super().get_config_dict()
        config["activation_function"] = activation_name(self.activation_function)
        if not self.use_residual:  # left out at its default, so that releases without it load the folder
            del config["use_residual"]
        if self.module_input_name != "sentence_embedding":
            config["module_input_name"] = self.module_input_name
        if self.module_output_name is not None:
            config["module_output_name"] = self.module_output_name
        return config

    def __repr__(self) -> str:
        return f"Dense({self.get_config_dict()})"

    def save(self, output_path: str, *args, safe_serialization: bool = True, **kwargs) -> None:
        """Write config.json and the weights."""
        self.save_config(output_path)
        self.save_torch_weights(output_path, safe_serialization=safe_serialization)

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
        init_defaults: dict[str, Any] | None = None,
        **kwargs,
    ) -> Dense:
        """Rebuild from config.json and the weights file; ``init_defaults`` fill keys the config leaves out."""
        hub = {"token": token, "cache_folder": cache_folder, "revision": revision, "local_files_only": local_files_only}
        config = cls.known_config(cls.load_config(model_name_or_path, subfolder=subfolder, **hub))
        activation = config.get("activation_function")
        if isinstance(activation, str):
            config["activation_function"] = activation_from_name(activation, trust_remote_code)
        model = cls(**with_init_defaults(config, init_defaults))
        return cls.load_saved_weights(model, model_name_or_path, subfolder=subfolder, **hub)


def activation_name(activation: nn.Module) -> str:
    """Import name of an activation module's class, e.g. ``torch.nn.modules.activation.Tanh``."""
    return f"{type(activation).__module__}.{type(activation).__qualname__}"


def activation_from_name(name: str, trust_remote_code: bool = False) -> nn.Module:
    """Instantiate a saved activation; only torch's own classes unless remote code is trusted."""
    module_name, _, class_name = name.rpartition(".")
    if not (module_name == "torch" or module_name.startswith("torch.")) and not trust_remote_code:
        raise ValueError(
            f"Dense activation {name!r} is not a torch activation; loading it would import outside code. "
            "Pass trust_remote_code=True to allow it."
        )
    try:
        activation_class = getattr(importlib.import_module(module_name), class_name)
    except (ImportError, AttributeError) as exc:
        raise ValueError(f"Unknown Dense activation function {name!r}") from exc
    if not (isinstance(activation_class, type) and issubclass(activation_class, nn.Module)):
        raise ValueError(f"Dense activation {name!r} is not a torch.nn.Module class")
    return activation_class()
