"""One measurement process for bench/encode.py: load one model variant, time encode() at each batch size.

Runs under whichever Python is given (sbert's or upstream sentence-transformers'), imports `sentence_transformers`
from that interpreter's path, and writes its results as JSON. It is its own process so that the peak memory it
reports belongs to this variant alone. Not meant to be run by hand: python _encode_worker.py SPEC.json
"""

from __future__ import annotations

import gc
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


def int8_file_name(preset: str) -> str:
    """The file export_dynamic_quantized_onnx_model writes for a quantization preset."""
    return "model_quint8_avx2.onnx" if preset == "avx2" else f"model_qint8_{preset}.onnx"


def prepare_onnx(spec: dict) -> dict:
    """Copy the model folder to spec["onnx_dir"], export ONNX there and, if asked, the int8 file.

    A separate process from the measurements, so that export and quantization count in no variant's peak memory,
    and nothing is ever written into the installed model folder.
    """
    errors = {}
    shutil.copytree(spec["model"], spec["onnx_dir"])
    try:
        model = SentenceTransformer(spec["onnx_dir"], device="cpu", backend="onnx")
        model.save_pretrained(spec["onnx_dir"])  # loading exports in memory only; this writes onnx/model.onnx
    except Exception as exc:
        traceback.print_exc()
        return {"onnx fp32": error_text(exc), "onnx int8": error_text(exc)}
    if "onnx int8" in spec["variants"]:
        try:
            from sentence_transformers.backend import export_dynamic_quantized_onnx_model

            export_dynamic_quantized_onnx_model(model, spec["int8_config"], spec["onnx_dir"])
        except Exception as exc:
            traceback.print_exc()
            errors["onnx int8"] = error_text(exc)
    return errors


def load(spec: dict) -> SentenceTransformer:
    """The model for spec["variant"]: 'torch fp32|fp16|bf16', 'onnx fp32' or 'onnx int8' (from prepare_onnx)."""
    kind, precision = spec["variant"].split()
    if kind == "torch":
        model = SentenceTransformer(spec["model"], device=spec["device"])
        if precision == "fp16":
            model.half()
        elif precision == "bf16":
            model.bfloat16()
        return model
    if precision == "fp32":
        return SentenceTransformer(spec["onnx_dir"], device="cpu", backend="onnx")
    file_name = int8_file_name(spec["int8_config"])
    return SentenceTransformer(spec["onnx_dir"], device="cpu", backend="onnx", model_kwargs={"file_name": file_name})


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
    device = "cpu" if spec["variant"].startswith("onnx") else spec["device"]
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
    if spec["variant"].startswith("onnx"):
        try:
            import onnxruntime

            env["onnxruntime"] = onnxruntime.__version__
        except ImportError:
            env["onnxruntime"] = None
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
            result["errors"] = prepare_onnx(spec)
        else:
            measure(spec, result)
    except Exception as exc:
        traceback.print_exc()
        result["error"] = error_text(exc)
    with open(spec["result"], "w", encoding="utf-8") as f:
        json.dump(result, f)


if __name__ == "__main__":
    main()
