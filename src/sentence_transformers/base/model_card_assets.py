"""Files next to the model card: non-text usage examples (images, audio) written under ``assets/``.

Kept apart from the card data because it is file IO with optional libraries (Pillow, av), which the card itself
never needs for text models.
"""

from __future__ import annotations

import logging
import os
import wave
from typing import Any

import numpy as np

logger = logging.getLogger(__name__)


def is_media_dict(item: Any) -> bool:
    """An audio or video dict (``{"array": ..., "sampling_rate"/"video_metadata": ...}``), not a multimodal input."""
    return isinstance(item, dict) and "array" in item and ("sampling_rate" in item or "video_metadata" in item)


def is_image(value: Any) -> bool:
    """A Pillow image (recognised without importing Pillow, which is optional)."""
    return type(value).__module__.startswith("PIL.") and hasattr(value, "convert") and hasattr(value, "save")


def asset_key(value: Any) -> int | None:
    """A content hash, so that one image or clip used twice is written once; None for unknown kinds."""
    if is_image(value):
        return hash((value.tobytes(), value.size, value.mode))
    if isinstance(value, dict) and "array" in value:
        array = np.asarray(value["array"].cpu() if hasattr(value["array"], "cpu") else value["array"])
        return hash((array.tobytes(), array.shape, value.get("sampling_rate")))
    return None


def save_asset(value: Any, assets_dir: str, index: int, cache: dict, prefix: str = "") -> str | None:
    """Write ``value`` as ``assets/<prefix><kind>_<index>.<ext>``; its relative path, or None when it cannot."""
    key = asset_key(value)
    if key is not None and key in cache:
        return cache[key]
    os.makedirs(assets_dir, exist_ok=True)
    relative = _write(value, assets_dir, f"{prefix}{{}}_{index}")
    if relative is None:
        logger.warning(f"Could not save predict example asset of type {type(value).__name__}")
    elif key is not None:
        cache[key] = relative
    return relative


def _write(value: Any, assets_dir: str, stem: str) -> str | None:
    if is_image(value):
        name = stem.format("image") + ".jpg"
        value.convert("RGB").save(os.path.join(assets_dir, name))
        return f"assets/{name}"
    if isinstance(value, dict) and "array" in value and "sampling_rate" in value:
        name = stem.format("audio") + ".wav"
        write_wav(os.path.join(assets_dir, name), value["array"], int(value["sampling_rate"]))
        return f"assets/{name}"
    if isinstance(value, dict) and "array" in value and "video_metadata" in value:
        name = stem.format("video") + ".mp4"
        return f"assets/{name}" if _write_video(os.path.join(assets_dir, name), value) else None
    return None


def write_wav(path: str, array: Any, sampling_rate: int) -> None:
    """A mono or multi-channel waveform (floats in [-1, 1], channels first when 2-D) as 16-bit PCM WAV."""
    samples = np.asarray(array.cpu() if hasattr(array, "cpu") else array, dtype=np.float32)
    samples = samples[None, :] if samples.ndim == 1 else samples
    pcm = (np.clip(samples, -1.0, 1.0) * 32767).astype("<i2").T  # (frames, channels), interleaved
    with wave.open(path, "wb") as out:
        out.setnchannels(pcm.shape[1])
        out.setsampwidth(2)
        out.setframerate(sampling_rate)
        out.writeframes(pcm.tobytes())


def _write_video(path: str, value: dict) -> bool:
    """An H.264 MP4 of the frames (T, H, W, C or T, C, H, W), with PyAV; False when PyAV is missing or fails."""
    try:
        import av
    except ImportError:
        return False
    frames = np.asarray(value["array"].cpu() if hasattr(value["array"], "cpu") else value["array"])
    frames = frames[0] if frames.ndim == 5 else frames
    if frames.shape[1] in (1, 3, 4) and frames.shape[-1] not in (1, 3, 4):
        frames = frames.transpose(0, 2, 3, 1)
    if frames.dtype != np.uint8:
        scale = 255 if np.issubdtype(frames.dtype, np.floating) and frames.max() <= 1.0 else 1
        frames = np.clip(frames * scale, 0, 255).astype(np.uint8)
    try:
        with av.open(path, mode="w") as container:
            stream = container.add_stream("h264", rate=round(value["video_metadata"].get("fps", 24)))
            stream.width, stream.height, stream.pix_fmt = frames.shape[2], frames.shape[1], "yuv420p"
            for frame in frames:
                container.mux(stream.encode(av.VideoFrame.from_ndarray(frame, format="rgb24")))
            container.mux(stream.encode())
    except Exception:  # noqa: BLE001 - a codec missing from the local FFmpeg: the card shows a placeholder
        return False
    return True
