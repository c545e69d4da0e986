"""Model merging: combine the weights of models fine-tuned from a common ancestor into one model.

The methods follow mergekit's definitions (which upstream sentence-transformers calls), implemented here in torch
without that dependency:

- ``linear``: weighted average, ``sum(w_i * θ_i) / sum(w_i)`` (``normalize=False`` drops the division).
- ``slerp``: spherical interpolation between a base and one other model, ``t`` = 0 gives the base.
- ``task_arithmetic``: ``base + λ · sum(w_i · (θ_i - base))`` over the non-base models.
- ``ties``: task arithmetic on task vectors trimmed to their ``density`` largest magnitudes, keeping per entry only
  those that agree with the sign of the summed vectors, averaged by the weights of the ones kept.

Every floating-point tensor is merged (heads and projections too); other tensors (e.g. integer position ids) must
be equal in all models and are copied.
"""

from __future__ import annotations

import copy
import math
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import torch
from torch import nn
from transformers import PreTrainedModel

MERGE_METHODS = ("linear", "slerp", "task_arithmetic", "ties")
_BASE_METHODS = {"slerp", "task_arithmetic", "ties"}  # methods that work relative to a base model
_FLOAT_DTYPES = (torch.float16, torch.bfloat16, torch.float32, torch.float64)


@torch.no_grad()
def merge_models(
    cls: type[nn.Module],
    models: Sequence[str | Path | nn.Module],
    method: str = "linear",
    *,
    base_model: str | Path | nn.Module | None = None,
    parameters: dict[str, Any] | None = None,
    dtype: str | torch.dtype | None = torch.float32,
    out_dtype: str | torch.dtype | None = None,
    device: str | torch.device = "cpu",
    **load_kwargs: Any,
) -> nn.Module:
    """Merge two or more compatible models (instances of ``cls`` or paths to load with it) into a new model.

    Args:
        cls: The model class, e.g. ``SentenceTransformer``; paths are loaded with ``cls(path, device=device, …)``.
        models: The models to merge. They are left unchanged.
        method: One of ``MERGE_METHODS``.
        base_model: Reference model for ``slerp`` (default: the first model), ``task_arithmetic`` and ``ties``
            (required). It can be one of ``models`` or another model; a separate base has index ``len(models)``.
        parameters: Method parameters. ``weight``: a number, a sequence (linear: one per model; task methods: one
            per non-base model, in order) or a ``{index: weight}`` map; defaults to 1. ``normalize`` (linear and
            ties: True, task_arithmetic: False), ``lambda`` (1.0), ``density`` (ties, per non-base model, 1.0),
            ``t`` (slerp, 0.5).
        dtype: Dtype the floating-point inputs are merged in (None: each tensor's promoted input dtype).
        out_dtype: Dtype of the merged floating-point tensors (None: the merge dtype).
        device: Device to merge on and to return the model on.
        **load_kwargs: Passed to ``cls(...)`` when loading paths.

    Returns:
        A new model in evaluation mode, configured (modules, prompts, tokenizer) like the first model, with a fresh
        model card.
    """
    if method not in MERGE_METHODS:
        raise ValueError(f"Unknown merge method {method!r}; supported: {', '.join(MERGE_METHODS)}")
    if isinstance(models, (str, Path)) or len(models) < 2:
        raise ValueError("At least two models are required for merging.")
    dtype, out_dtype = _float_dtype(dtype, "dtype"), _float_dtype(out_dtype, "out_dtype")
    device = torch.device(device)
    inputs, base_index = _with_base(list(models), base_model, method)

    loaded = [_load(cls, model, device, load_kwargs) for model in inputs]
    validate_models(loaded)
    states, aliases = zip(*(_unique_state_dict(model) for model in loaded), strict=True)
    for index, model_aliases in enumerate(aliases):
        if model_aliases != aliases[0]:
            raise ValueError(f"Model {index} has different state keys or tied weights from model 0.")

    merge = _merge_function(method, len(inputs), base_index, dict(parameters or {}))
    memo: dict[int, Any] = {}
    for name, tensor in loaded[0].state_dict(keep_vars=True).items():
        if id(tensor) in memo:
            continue
        values = [state[name].to(device) for state in states]
        memo[id(tensor)] = _as_like(tensor, _merge_tensor(name, values, merge, dtype, out_dtype))

    merged = copy.deepcopy(loaded[0], memo).to(device)  # the merged tensors stand in for the first model's
    if hasattr(merged, "model_card_data"):  # the parents' training history does not describe the merged model
        merged._model_card_text = None
        merged.model_card_data = type(merged.model_card_data)()
    return merged.eval()


def validate_models(models: Sequence[nn.Module]) -> None:
    """Raise ValueError unless the models can be merged: torch backend, no PEFT adapters, the same modules of the
    same types and configurations, the same Hugging Face configs and the same tokenizer vocabularies."""
    reference = dict(models[0].named_modules())
    for index, model in enumerate(models):
        get_backend = getattr(model, "get_backend", None)
        if get_backend is not None and get_backend() != "torch":
            raise ValueError("Model merging requires the torch backend.")
        modules = dict(model.named_modules())
        if any(getattr(module, "peft_config", None) for module in modules.values()):
            raise ValueError(
                "Merging models with PEFT adapters is not supported: merge the adapters into the base weights "
                "(merge_and_unload) first."
            )
        if modules.keys() != reference.keys():
            raise ValueError(f"Model {index} has a different module structure from model 0.")
        for name, module in modules.items():
            _check_module(name, module, reference[name], index)


def _check_module(name: str, module: nn.Module, other: nn.Module, index: int) -> None:
    if type(module) is not type(other) or module.extra_repr() != other.extra_repr():
        raise ValueError(f"Module {name!r} has a different type or configuration in model {index}.")
    if hasattr(module, "get_config_dict") and module.get_config_dict() != other.get_config_dict():
        raise ValueError(f"Module {name!r} has a different configuration in model {index}.")
    if isinstance(module, PreTrainedModel) and _hf_config(module.config) != _hf_config(other.config):
        raise ValueError(f"Transformer {name!r} has a different configuration in model {index}.")
    tokenizer, other_tokenizer = getattr(module, "tokenizer", None), getattr(other, "tokenizer", None)
    if hasattr(tokenizer, "get_vocab") and (
        not hasattr(other_tokenizer, "get_vocab")
        or tokenizer.get_vocab() != other_tokenizer.get_vocab()
        or getattr(tokenizer, "special_tokens_map", None) != getattr(other_tokenizer, "special_tokens_map", None)
    ):
        raise ValueError(f"Tokenizer vocabulary or special tokens differ in model {index}, module {name!r}.")


def _hf_config(config: Any) -> dict[str, Any]:
    """A Hugging Face config without provenance and dtype, which may differ between merge inputs."""
    ignored = {"architectures", "transformers_version", "torch_dtype", "dtype"}
    return {key: value for key, value in config.to_dict().items() if key not in ignored and not key.startswith("_")}


def _float_dtype(value: str | torch.dtype | None, name: str) -> torch.dtype | None:
    if isinstance(value, str):
        value = getattr(torch, value.removeprefix("torch."), value)
    if value is not None and value not in _FLOAT_DTYPES:
        raise ValueError(f"{name} must be None, float16, bfloat16, float32, or float64.")
    return value


def _with_base(inputs: list[Any], base_model: Any, method: str) -> tuple[list[Any], int | None]:
    """The inputs (with a separate base appended) and the base's index."""
    if base_model is None:
        if method in {"task_arithmetic", "ties"}:
            raise ValueError(f"Method {method!r} needs a base_model.")
        base_index = 0 if method == "slerp" else None
    elif method not in _BASE_METHODS:
        raise ValueError(f"Method {method!r} does not use a base_model.")
    else:
        same = [
            index
            for index, model in enumerate(inputs)
            if model is base_model
            or (
                isinstance(model, (str, Path)) and isinstance(base_model, (str, Path)) and str(model) == str(base_model)
            )
        ]
        base_index = same[0] if same else len(inputs)
        if not same:
            inputs.append(base_model)
    if method == "slerp" and len(inputs) != 2:
        raise ValueError("SLERP merges exactly two models: a base and one other.")
    return inputs, base_index


def _load(cls: type[nn.Module], model: Any, device: torch.device, load_kwargs: dict[str, Any]) -> nn.Module:
    if isinstance(model, (str, Path)):
        model = cls(str(model), device=device, **load_kwargs)
    if not isinstance(model, cls):
        raise TypeError(f"Expected a {cls.__name__} instance or model path, got {type(model).__name__}.")
    return model


def _unique_state_dict(model: nn.Module) -> tuple[dict[str, torch.Tensor], dict[str, str]]:
    """One detached entry per tensor object (tied weights once), and every key's representative key."""
    state: dict[str, torch.Tensor] = {}
    aliases: dict[str, str] = {}
    first_name: dict[int, str] = {}
    for name, tensor in model.state_dict(keep_vars=True).items():
        if not isinstance(tensor, torch.Tensor) or tensor.is_meta:
            raise ValueError(f"State entry {name!r} must be a materialized tensor.")
        aliases[name] = first_name.setdefault(id(tensor), name)
        if aliases[name] == name:
            state[name] = tensor.detach()
    return state, aliases


def _as_like(original: torch.Tensor, value: torch.Tensor) -> torch.Tensor:
    """``value`` as a Parameter or buffer like ``original``, with its requires_grad."""
    if isinstance(original, nn.Parameter):
        return nn.Parameter(value, requires_grad=original.requires_grad)
    return value


def _merge_tensor(
    name: str,
    values: list[torch.Tensor],
    merge: Callable[[list[torch.Tensor]], torch.Tensor],
    dtype: torch.dtype | None,
    out_dtype: torch.dtype | None,
) -> torch.Tensor:
    if any(value.shape != values[0].shape for value in values):
        raise ValueError(f"Tensor {name!r} has different shapes across models.")
    if not values[0].is_floating_point():
        if any(not torch.equal(value, values[0]) for value in values[1:]):
            raise ValueError(f"Non-floating-point tensor {name!r} differs between models and cannot be merged.")
        return values[0].clone()
    compute = dtype or _promoted(values)
    result = merge([value.to(compute) for value in values])
    return result.to(out_dtype or compute).clone()


def _promoted(values: list[torch.Tensor]) -> torch.dtype:
    result = values[0].dtype
    for value in values[1:]:
        result = torch.promote_types(result, value.dtype)
    return result


def _merge_function(
    method: str, count: int, base_index: int | None, parameters: dict[str, Any]
) -> Callable[[list[torch.Tensor]], torch.Tensor]:
    """The per-tensor merge of ``method``, its parameters resolved for ``count`` inputs."""
    if method == "linear":
        weights = _per_input(parameters.pop("weight", 1.0), list(range(count)), "weight")
        normalize = bool(parameters.pop("normalize", True))
        _no_extra(parameters, method)
        return lambda tensors: _linear(tensors, weights, normalize)
    assert base_index is not None
    if method == "slerp":
        t = float(parameters.pop("t", 0.5))
        _no_extra(parameters, method)
        return lambda tensors: slerp(t, tensors[base_index], tensors[1 - base_index])
    others = [index for index in range(count) if index != base_index]
    weights = _per_input(parameters.pop("weight", 1.0), others, "weight")
    ties = method == "ties"
    density = _per_input(parameters.pop("density", 1.0), others, "density") if ties else None
    normalize = bool(parameters.pop("normalize", ties))
    scale = float(parameters.pop("lambda", 1.0))
    _no_extra(parameters, method)

    def task_vectors(tensors: list[torch.Tensor]) -> torch.Tensor:
        base = tensors[base_index]
        deltas = [tensors[i] - base for i in others]
        if density is not None:
            deltas = [_trim(delta, density[i]) for delta, i in zip(deltas, others, strict=True)]
        mixed = _combine(torch.stack(deltas), [weights[i] for i in others], normalize, sign_consensus=ties)
        return base + scale * mixed

    return task_vectors


def _per_input(value: Any, ids: list[int], name: str) -> list[float] | dict[int, float]:
    """A parameter given as a number, a sequence over ``ids`` or an ``{index: value}`` map, as a per-index map."""
    if isinstance(value, Mapping):
        missing = [index for index in ids if index not in value]
        if missing:
            raise ValueError(f"Parameter {name!r} has no value for model(s) {missing}.")
        return {index: float(value[index]) for index in ids}
    if isinstance(value, Sequence) and not isinstance(value, str):
        if len(value) != len(ids):
            raise ValueError(f"Parameter {name!r} needs {len(ids)} values, got {len(value)}.")
        return dict(zip(ids, map(float, value), strict=True))
    return {index: float(value) for index in ids}


def _no_extra(parameters: dict[str, Any], method: str) -> None:
    if parameters:
        raise ValueError(f"Unknown parameter(s) for {method!r}: {', '.join(sorted(parameters))}")


def _linear(tensors: list[torch.Tensor], weights: dict[int, float], normalize: bool) -> torch.Tensor:
    result = sum(weights[index] * tensor for index, tensor in enumerate(tensors))
    total = sum(weights.values())
    return result / total if normalize and abs(total) > 1e-8 else result


def slerp(
    t: float, v0: torch.Tensor, v1: torch.Tensor, dot_threshold: float = 0.9995, eps: float = 1e-8
) -> torch.Tensor:
    """Spherical interpolation from ``v0`` (t=0) to ``v1`` (t=1) over the whole tensor; linear when the two are
    (anti)parallel, where the sphere's arc is undefined."""
    a, b = v0.flatten(), v1.flatten()
    norm_a, norm_b = a.norm(), b.norm()
    dot = float(((a / norm_a.clamp_min(eps)) * (b / norm_b.clamp_min(eps))).sum().clamp(-1, 1))
    if abs(dot) > dot_threshold or norm_a <= eps or norm_b <= eps:
        return (1 - t) * v0 + t * v1
    theta = math.acos(dot)
    return (math.sin((1 - t) * theta) * v0 + math.sin(t * theta) * v1) / math.sin(theta)


def _trim(delta: torch.Tensor, density: float) -> torch.Tensor:
    """Keep the ``density`` share of entries with the largest magnitude (at least one), zero the rest."""
    if density >= 1:
        return delta
    if density <= 0 or delta.numel() == 0:
        return torch.zeros_like(delta)
    keep = max(1, int(density * delta.numel()))
    mask = torch.zeros(delta.numel(), dtype=delta.dtype, device=delta.device)
    mask[torch.argsort(delta.abs().flatten().float(), descending=True)[:keep]] = 1
    return delta * mask.view_as(delta)


def _combine(deltas: torch.Tensor, weights: list[float], normalize: bool, sign_consensus: bool) -> torch.Tensor:
    """Weighted sum of stacked task vectors; with sign consensus (TIES) only entries agreeing with the sign of the
    sum count, and normalizing divides by the weights of the entries that counted."""
    weight = torch.tensor(weights, dtype=deltas.dtype, device=deltas.device).view(-1, *([1] * (deltas.dim() - 1)))
    deltas = deltas * weight
    if sign_consensus:
        majority = torch.where(deltas.sum(dim=0) >= 0, 1.0, -1.0).to(deltas.dtype)
        mask = (deltas.sign() == majority).to(deltas.dtype)
        mixed, divisor = (deltas * mask).sum(dim=0), (weight * mask).sum(dim=0)
        divisor[divisor == 0] = 1
    else:
        mixed, divisor = deltas.sum(dim=0), weight.sum(dim=0).expand_as(deltas[0]).clone()
        divisor[divisor.abs() < 1e-8] = 1
    return mixed / divisor if normalize else mixed
