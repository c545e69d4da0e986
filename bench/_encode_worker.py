"""One measurement process for bench/encode.py: load one model variant, time encode() at each batch size.

Runs under whichever Python is given (sbert's or upstream sentence-transformers'), imports `sentence_transformers`
from that interpreter's path, and writes its results as JSON. It is its own process so that the peak memory it
reports belongs to this variant alone. Not meant to be run by hand: python _encode_worker.py SPEC.json
"""

from __future__ import annotations

import gc
import importlib
import json
import platform
import shutil
import sys
import time
import traceback

import numpy as np
import torch

import sentence_transformers
from sentence_transformers import SentenceTransformer

OPENVINO_INT8_SUFFIX = "qint8_quantized"
TORCH_DTYPES = {"fp16": torch.float16, "bf16": torch.bfloat16}
OV_PRECISIONS = {"fp32": "f32", "bf16": "bf16", "int8": "f32"}


def int8_file_name(preset: str) -> str:
    """The file export_dynamic_quantized_onnx_model writes for a quantization preset."""
    return "model_quint8_avx2.onnx" if preset == "avx2" else f"model_qint8_{preset}.onnx"


def prepare(spec: dict) -> dict:
    """Copy the model folder to spec["runtime_dir"] and write there the ONNX and OpenVINO files the variants need.

    A separate process from the measurements, so that export and quantization count in no variant's peak memory,
    and nothing is ever written into the installed model folder. Returns an error text by variant that failed.
    """
    shutil.copytree(spec["model"], spec["runtime_dir"])
    errors: dict[str, str] = {}
    for kind, steps in (("onnx", prepare_onnx), ("openvino", prepare_openvino)):
        wanted = [v for v in spec["variants"] if v.split()[0] == kind]
        if wanted:
            errors.update(steps(spec, wanted))
    return errors


def prepare_onnx(spec: dict, variants: list[str]) -> dict:
    """onnx/model.onnx and, for "onnx int8", the dynamically quantized file of spec["int8_config"]."""
    try:
        model = SentenceTransformer(spec["runtime_dir"], device="cpu", backend="onnx")
        model.save_pretrained(spec["runtime_dir"])  # loading exports in memory only; this writes onnx/model.onnx
    except Exception as exc:
        traceback.print_exc()
        return dict.fromkeys(variants, error_text(exc))
    if "onnx int8" not in variants:
        return {}
    try:
        from sentence_transformers.backend import export_dynamic_quantized_onnx_model

        export_dynamic_quantized_onnx_model(model, spec["int8_config"], spec["runtime_dir"])
    except Exception as exc:
        traceback.print_exc()
        return {"onnx int8": error_text(exc)}
    return {}


def prepare_openvino(spec: dict, variants: list[str]) -> dict:
    """openvino/openvino_model.xml and, for "openvino int8", its static int8 file calibrated (NNCF) on the texts
    in spec["calibration"] (local STSb sentences; nothing is fetched)."""
    try:
        model = SentenceTransformer(spec["runtime_dir"], device="cpu", backend="openvino")
        model.save_pretrained(spec["runtime_dir"])
    except Exception as exc:
        traceback.print_exc()
        return dict.fromkeys(variants, error_text(exc))
    if "openvino int8" not in variants:
        return {}
    try:
        from sentence_transformers.backend import export_static_quantized_openvino_model

        with open(spec["calibration"], encoding="utf-8") as f:
            texts = json.load(f)
        config = {"num_samples": len(texts)}
        export_static_quantized_openvino_model(
            model, config, spec["runtime_dir"], file_suffix=OPENVINO_INT8_SUFFIX, calibration_dataset=texts
        )
    except Exception as exc:
        traceback.print_exc()
        return {"openvino int8": error_text(exc)}
    return {}


def load_arguments(spec: dict) -> tuple[str, dict]:
    """Model path and SentenceTransformer keyword arguments of spec["variant"] ("<kind> <precision>[ compiled]", kind
    torch, onnx or openvino); the onnx and openvino variants open the files prepare() wrote into spec["runtime_dir"]."""
    kind, precision = spec["variant"].split()[:2]
    if kind == "torch":
        kwargs: dict = {"device": spec["device"]}
        if precision in TORCH_DTYPES:
            kwargs["model_kwargs"] = {"torch_dtype": TORCH_DTYPES[precision]}
        return spec["model"], kwargs
    if kind == "onnx":  # file names always given: the folder holds several files of each backend
        file_name = int8_file_name(spec["int8_config"]) if precision == "int8" else "model.onnx"
        return spec["runtime_dir"], {"device": "cpu", "backend": "onnx", "model_kwargs": {"file_name": file_name}}
    if kind != "openvino" or precision not in OV_PRECISIONS:
        raise ValueError(f"unknown variant {spec['variant']!r}")
    ov_config = {"INFERENCE_PRECISION_HINT": OV_PRECISIONS[precision]}
    if spec.get("threads"):
        ov_config["INFERENCE_NUM_THREADS"] = int(spec["threads"])  # torch.set_num_threads does not reach OpenVINO
    suffix = f"_{OPENVINO_INT8_SUFFIX}" if precision == "int8" else ""
    model_kwargs = {"ov_config": ov_config, "file_name": f"openvino/openvino_model{suffix}.xml"}
    return spec["runtime_dir"], {"device": "cpu", "backend": "openvino", "model_kwargs": model_kwargs}


def load(spec: dict) -> SentenceTransformer:
    """The model for spec["variant"] (see load_arguments)."""
    path, kwargs = load_arguments(spec)
    model = SentenceTransformer(path, **kwargs)
    if spec["variant"].endswith("compiled"):
        # torch.compile'd with frozen weights (constants to oneDNN's prepacked kernels); the first (discarded) encode
        # pays the compilation
        model.compile(freeze=True)
    return model


def count_tokens(model: SentenceTransformer, texts: list[str], chunk: int = 512) -> int:
    """Real (unpadded, after truncation to max_seq_length) tokens the model sees for these texts."""
    total = 0
    for start in range(0, len(texts), chunk):
        total += int(model.tokenize(texts[start : start + chunk])["attention_mask"].sum())
    return total


def peak_rss_mb() -> float:
    """This process's peak resident memory. VmHWM, since ru_maxrss keeps the parent's peak across fork+exec."""
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def sync(device: str) -> None:
    if device.startswith("cuda"):
        torch.cuda.synchronize()


def as_float32(embeddings: object) -> np.ndarray:
    if isinstance(embeddings, torch.Tensor):
        return embeddings.float().cpu().numpy()
    return np.asarray(embeddings, dtype=np.float32)


def timed_run(model: SentenceTransformer, texts: list[str], batch: int, spec: dict) -> dict:
    """Warm up on a slice, then time full encode() calls (the fastest of ``repeat``); save the output as float32."""
    device = spec["device"] if spec["variant"].startswith("torch") else "cpu"
    cuda = device.startswith("cuda")
    model.encode(texts[: 2 * batch], batch_size=batch, show_progress_bar=False)
    gc.collect()
    if cuda:
        torch.cuda.empty_cache()
        torch.cuda.reset_peak_memory_stats()
    seconds = float("inf")
    for _ in range(spec.get("repeat", 1)):
        sync(device)
        start = time.perf_counter()
        embeddings = model.encode(texts, batch_size=batch, show_progress_bar=False, convert_to_numpy=True)
        sync(device)
        seconds = min(seconds, time.perf_counter() - start)
    run = {"batch": batch, "seconds": seconds, "rss_mb": peak_rss_mb()}
    if cuda:
        run["gpu_mb"] = torch.cuda.max_memory_allocated() / 2**20
    path = f"{spec['out_prefix']}_b{batch}.npy"
    np.save(path, as_float32(embeddings))
    run["embeddings"] = path
    return run


def environment(spec: dict) -> dict:
    env = {
        "python": platform.python_version(),
        "torch": torch.__version__,
        "threads": torch.get_num_threads(),
        "sentence_transformers": getattr(sentence_transformers, "__version__", "?"),
        "package_file": sentence_transformers.__file__,
    }
    if spec["device"].startswith("cuda") and torch.cuda.is_available():
        env["gpu"] = torch.cuda.get_device_name()
    for kind, package in (("onnx", "onnxruntime"), ("openvino", "openvino")):
        if spec["variant"].startswith(kind) or (spec.get("prepare") and kind in " ".join(spec["variants"])):
            try:
                env[package] = importlib.import_module(package).__version__
            except ImportError:
                env[package] = None
    return env


def error_text(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}".splitlines()[0][:300]


def measure(spec: dict, result: dict) -> None:
    with open(spec["texts"], encoding="utf-8") as f:
        texts = json.load(f)
    start = time.perf_counter()
    model = load(spec)
    result["load_seconds"] = time.perf_counter() - start
    if spec["count_tokens"]:
        result["tokens"] = count_tokens(model, texts)
    for batch in sorted(spec["batch_sizes"]):
        try:
            result["runs"].append(timed_run(model, texts, batch, spec))
        except Exception as exc:  # one failed batch size still leaves the others
            traceback.print_exc()
            result["runs"].append({"batch": batch, "error": error_text(exc)})
        gc.collect()


def main() -> None:
    with open(sys.argv[1], encoding="utf-8") as f:
        spec = json.load(f)
    if spec.get("threads"):
        torch.set_num_threads(spec["threads"])
    result = {"env": environment(spec), "runs": []}
    try:
        if spec.get("prepare"):
            result["errors"] = prepare(spec)
        else:
            measure(spec, result)
    except Exception as exc:
        traceback.print_exc()
        result["error"] = error_text(exc)
    with open(spec["result"], "w", encoding="utf-8") as f:
        json.dump(result, f)


if __name__ == "__main__":
    main()
