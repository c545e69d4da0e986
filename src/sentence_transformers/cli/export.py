"""``sbert export``: a model folder with the model exported to ONNX (optionally optimized and int8-quantized) and/or
OpenVINO, through the library's backend functions.

The folder is the model saved with ``backend="onnx"`` (``onnx/model.onnx``) plus ``onnx/model_<preset>.onnx`` for
``--optimize`` and ``onnx/model_<dtype>_<preset>.onnx`` for ``--quantize``; with ``--openvino`` also
``openvino/openvino_model.xml`` + ``.bin``. It is written in a temporary sibling folder and renamed into place at the
end, so the target is never half-written. The written files' paths go to stdout, one per line.

A reranker folder (``cli.models``) is exported as a CrossEncoder: when the backend cannot run its
sequence-classification head, the command fails with one line saying so, before anything is written.
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import os
import sys
from collections.abc import Iterator
from typing import Any

from sentence_transformers.base.persistence import atomic_folder
from sentence_transformers.cli import UsageError

OPTIMIZATION_LEVELS = ("O1", "O2", "O3", "O4")
QUANTIZATION_PRESETS = ("arm64", "avx2", "avx512", "avx512_vnni")


def add_parser(commands: argparse._SubParsersAction) -> None:
    """The ``export`` subcommand's arguments."""
    export = commands.add_parser(
        "export",
        help="export a model to ONNX (optimized, quantized) or OpenVINO",
        description="Write a model folder with the model exported to ONNX and/or OpenVINO.",
        epilog=(
            "examples:\n"
            "  sbert export all-MiniLM-L6-v2 --onnx --optimize O3 --quantize avx2 -o minilm-onnx\n"
            "  sbert export ./my-model --openvino -o my-model-openvino\n"
            "load the result with:\n"
            '  SentenceTransformer("minilm-onnx", backend="onnx", model_kwargs={"file_name": "model_O3.onnx"})'
        ),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    export.add_argument("model", help="model folder or hub name")
    export.add_argument("-o", "--output", required=True, metavar="DIR", help="the model folder to write")
    export.add_argument("--onnx", action="store_true", help="export to ONNX: onnx/model.onnx")
    export.add_argument("--optimize", choices=OPTIMIZATION_LEVELS, help="also an optimized ONNX model (O4: GPU fp16)")
    export.add_argument("--quantize", choices=QUANTIZATION_PRESETS, help="also a dynamically int8-quantized ONNX model")
    export.add_argument("--openvino", action="store_true", help="export to OpenVINO: openvino/openvino_model.xml")
    export.add_argument("--overwrite", action="store_true", help="replace DIR when it exists and is not empty")
    export.set_defaults(run=run_export)


def run_export(args: argparse.Namespace) -> int:
    """Export into a temporary sibling of DIR, rename it into place, and list the written files."""
    _check_arguments(args)
    target = os.path.abspath(os.path.expanduser(args.output))
    _check_target(target, args.overwrite)
    from sentence_transformers.cli.models import detect_model_type

    model_type = detect_model_type(args.model)
    with atomic_folder(target, carry_over=False) as staging:
        _export_into(staging, args, model_type)
    written = written_files(target)
    for relative in written:
        print(os.path.join(args.output, relative))  # noqa: T201
    for relative in (path for path in written if path.endswith((".onnx", ".xml"))):
        backend, file_name = relative.split(os.sep, 1) if os.sep in relative else ("onnx", relative)
        print(  # noqa: T201
            f"sbert: load with {model_type}({args.output!r}, backend={backend!r}, "
            f"model_kwargs={{'file_name': {file_name!r}}})",
            file=sys.stderr,
        )
    return 0


def _check_arguments(args: argparse.Namespace) -> None:
    """Wrong combinations of arguments raise a UsageError."""
    if not (args.onnx or args.openvino):
        raise UsageError("choose a format: --onnx and/or --openvino")
    if (args.optimize or args.quantize) and not args.onnx:
        raise UsageError("--optimize and --quantize go with --onnx")


def _check_target(target: str, overwrite: bool) -> None:
    """DIR must be new (its parent folders are created), an empty folder, or (with --overwrite) one to replace."""
    if os.path.exists(target) and not os.path.isdir(target):
        raise FileExistsError(f"output {target!r} is a file, not a folder")
    if os.path.isdir(target) and os.listdir(target) and not overwrite:
        raise FileExistsError(f"output folder {target!r} exists and is not empty (use --overwrite to replace it)")


def _export_into(folder: str, args: argparse.Namespace, model_type: str) -> None:
    """Save the model with each chosen backend into ``folder``, then add the optimized and quantized ONNX files."""
    from sentence_transformers.backend import export_dynamic_quantized_onnx_model, export_optimized_onnx_model

    for backend in ("onnx", "openvino"):
        if not getattr(args, backend):
            continue
        print(f"sbert: exporting {args.model} to {backend}", file=sys.stderr)  # noqa: T201
        model = _load(args.model, backend, model_type)
        model.save(folder)  # a second save keeps the first one's files (the onnx/ folder)
        if backend == "onnx" and args.optimize:
            print(f"sbert: optimizing ({args.optimize})", file=sys.stderr)  # noqa: T201
            export_optimized_onnx_model(model, args.optimize, folder)
        if backend == "onnx" and args.quantize:
            print(f"sbert: quantizing ({args.quantize})", file=sys.stderr)  # noqa: T201
            export_dynamic_quantized_onnx_model(model, args.quantize, folder)


def _load(name: str, backend: str, model_type: str) -> Any:
    """The model with ``backend``: its file when it has one, else exported from torch (the 'no file found' and
    'save the export' warnings are beside the point here: the export is being saved). A backend that cannot run the
    model's task is a ValueError."""
    from sentence_transformers.cli.models import load_model

    try:
        with _quiet("sentence_transformers.backend.utils"):
            return load_model(name, model_type, backend=backend, device="cpu")
    except NotImplementedError as exc:
        raise ValueError(f"cannot export this {model_type} to {backend}: {exc}") from exc


@contextlib.contextmanager
def _quiet(name: str) -> Iterator[None]:
    """Only errors from logger ``name`` within the block."""
    logger = logging.getLogger(name)
    level = logger.level
    logger.setLevel(logging.ERROR)
    try:
        yield
    finally:
        logger.setLevel(level)


def written_files(folder: str) -> list[str]:
    """Every file under ``folder``, relative to it, sorted."""
    found = [os.path.relpath(os.path.join(root, name), folder) for root, _, names in os.walk(folder) for name in names]
    return sorted(found)
