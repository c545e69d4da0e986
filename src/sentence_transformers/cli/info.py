"""``sbert info``: what a model is made of: its type, modules, embedding size, sequence length, prompts, similarity,
backend, dtype and parameter count (a reranker: its num_labels and activation instead of embedding size and
similarity; a sparse model: its vocabulary-sized dimension, ``max_active_dims`` and SPLADE pooling chunk size);
human-readable, or one JSON object with ``--json``.

The ``module_types`` are the type names of the model folder's modules.json (a local folder or the cached hub
snapshot), null when the folder has none (a plain Hugging Face model, wrapped at load time).
"""

from __future__ import annotations

import argparse
import json
import os
from typing import Any

from sentence_transformers.cli.encode import DEFAULT_MODEL
from sentence_transformers.cli.models import is_cross_encoder, is_sparse_encoder, load_model, model_type_name

BACKENDS = ("torch", "onnx", "openvino")


def add_parser(commands: argparse._SubParsersAction) -> None:
    """The ``info`` subcommand's arguments."""
    info = commands.add_parser(
        "info",
        help="describe a model: modules, dimension, max length, prompts, similarity, parameters",
        description="Describe a model: its modules, embedding dimension, max_seq_length, prompts, similarity "
        "function, backend, dtype and parameter count.",
        epilog=f"examples:\n  sbert info {DEFAULT_MODEL}\n  sbert info ./my-model --json",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    info.add_argument("model", nargs="?", default=DEFAULT_MODEL, help=f"model folder or hub name ({DEFAULT_MODEL})")
    info.add_argument("--json", action="store_true", help="print one JSON object")
    info.add_argument("--backend", choices=BACKENDS, default="torch", help="load with this backend (default torch)")
    info.add_argument("--device", default="cpu", help="load on this device (default cpu)")
    info.add_argument(
        "--model-type",
        type=model_type_name,
        help="SentenceTransformer, CrossEncoder or SparseEncoder (default: detected)",
    )
    info.set_defaults(run=run_info)


def run_info(args: argparse.Namespace) -> int:
    """Load the model and print its description."""
    model = load_model(args.model, args.model_type, device=args.device, backend=args.backend)
    description = describe(model, args.model)
    if args.json:
        print(json.dumps(description, ensure_ascii=False, default=str))  # noqa: T201
    else:
        print(format_description(description))  # noqa: T201
    return 0


def describe(model: Any, name: str) -> dict[str, Any]:
    """The model's description as a JSON-ready dict (a reranker's has ``num_labels`` and ``activation_fn``; its
    embedding dimension and similarity function are null; a sparse model's has ``sparse``, ``max_active_dims`` and
    ``splade_pooling_chunk_size``, and its embedding dimension is its vocabulary's size)."""
    folder = model_folder(name)
    config = getattr(model, "config", None)
    reranker = is_cross_encoder(model)
    sparse = is_sparse_encoder(model)
    if reranker:
        dimension = None
    elif sparse or getattr(model, "model_type", None) == "MultiVectorEncoder":
        dimension = model.get_embedding_dimension()  # sparse dimensions, or each token vector's size
    else:
        dimension = model.get_sentence_embedding_dimension()
    return {
        "model": name,
        "model_type": getattr(model, "model_type", "SentenceTransformer"),
        "folder": folder,
        "modules": [_module_entry(key, module) for key, module in model.named_children()],
        "module_types": module_types(folder),
        "embedding_dimension": dimension,
        **(_reranker_entries(model) if reranker else {}),
        **(_sparse_entries(model) if sparse else {}),
        "max_seq_length": model.max_seq_length,
        "prompts": dict(model.prompts or {}),
        "default_prompt_name": model.default_prompt_name,
        "similarity_fn_name": None if reranker else model.similarity_fn_name,
        "backend": model.get_backend(),
        "dtype": str(model.dtype).removeprefix("torch.") if model.dtype is not None else None,
        "device": str(model.device),
        "parameters": sum(parameter.numel() for parameter in model.parameters()),
        "architecture": getattr(config, "model_type", None),
    }


def _reranker_entries(model: Any) -> dict[str, Any]:
    from sentence_transformers.util.misc import fullname

    activation = model.activation_fn
    return {"num_labels": model.num_labels, "activation_fn": None if activation is None else fullname(activation)}


def _sparse_entries(model: Any) -> dict[str, Any]:
    return {
        "sparse": True,
        "max_active_dims": model.max_active_dims,
        "splade_pooling_chunk_size": getattr(model, "splade_pooling_chunk_size", None),
    }


def model_folder(name: str) -> str | None:
    """The model's local folder: the path itself or the cached hub snapshot; None when there is neither."""
    from sentence_transformers.base.hub import resolve_folder

    try:
        return os.path.abspath(resolve_folder(name, local_files_only=True))
    except (OSError, ValueError):
        return None


def module_types(folder: str | None) -> list[str] | None:
    """The ``type`` of each entry of the folder's modules.json, in order; None without one."""
    path = os.path.join(folder, "modules.json") if folder else None
    if path is None or not os.path.isfile(path):
        return None
    with open(path, encoding="utf-8") as f:
        entries = json.load(f)
    return [entry.get("type") for entry in entries]


def _module_entry(name: str, module: Any) -> dict[str, Any]:
    """One module: its name in the model, class, and config (when it has one)."""
    get_config = getattr(module, "get_config_dict", None)
    return {"name": name, "class": type(module).__name__, "config": get_config() if callable(get_config) else None}


def format_description(description: dict[str, Any]) -> str:
    """The description as aligned ``key: value`` lines, one line per module."""
    lines = [f"model:               {description['model']}", f"model type:          {description['model_type']}"]
    if description["folder"]:
        lines.append(f"folder:              {description['folder']}")
    lines.append("modules:")
    types = description["module_types"] or []
    for index, module in enumerate(description["modules"]):
        config = f"({json.dumps(module['config'], default=str)})" if module["config"] is not None else ""
        saved_as = f"  [{types[index]}]" if index < len(types) else ""
        lines.append(f"  {module['name']}: {module['class']}{config}{saved_as}")
    parameters = description["parameters"]
    if "num_labels" in description:
        lines += [
            f"num_labels:          {description['num_labels']}",
            f"activation:          {_or_unknown(description['activation_fn'])}",
        ]
    elif description.get("sparse"):
        lines += [
            f"embedding dimension: {_or_unknown(description['embedding_dimension'])} (sparse: the vocabulary)",
            f"max_active_dims:     {description['max_active_dims'] or 'all'}",
            f"similarity function: {description['similarity_fn_name']}",
        ]
    else:
        lines += [
            f"embedding dimension: {_or_unknown(description['embedding_dimension'])}",
            f"similarity function: {description['similarity_fn_name']}",
        ]
    lines += [
        f"max_seq_length:      {_or_unknown(description['max_seq_length'])}",
        f"prompts:             {_prompts(description['prompts'], description['default_prompt_name'])}",
        f"backend:             {description['backend']}",
        f"dtype:               {_or_unknown(description['dtype'])}",
        f"parameters:          {parameters:,}" + (f" ({_short_count(parameters)})" if parameters >= 1000 else ""),
    ]
    if description["architecture"]:
        lines.append(f"architecture:        {description['architecture']}")
    return "\n".join(lines)


def _prompts(prompts: dict[str, str], default: str | None) -> str:
    if not prompts:
        return "none"
    named = (f"{name}={text!r}" + (" (default)" if name == default else "") for name, text in prompts.items())
    return ", ".join(named)


def _or_unknown(value: Any) -> str:
    return "unknown" if value is None else str(value)


def _short_count(count: int) -> str:
    """1234567 → '1.2M'."""
    for unit, size in (("B", 10**9), ("M", 10**6), ("K", 10**3)):
        if count >= size:
            return f"{count / size:.1f}{unit}"
    return str(count)
