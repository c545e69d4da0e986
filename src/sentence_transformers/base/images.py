"""Reading images for models that take them: paths, URLs and data URIs to PIL images, and the exact fast path of
CLIP's image preprocessing (resize, crop, rescale, normalise) that skips transformers' slower generic chain.

Used by the multimodal ``Transformer`` (``base.modules.media``), the ``CLIPModel`` module, the server and the CLI.
"""

from __future__ import annotations

import functools
import os
from typing import Any

import torch

from sentence_transformers.base.encoding import IMAGE_TIMEOUT, is_url

PILLOW_HINT = 'Reading images needs pillow: pip install "sbert[image]" (or pip install pillow)'


def require_pillow() -> Any:
    """The ``PIL.Image`` module, or an ImportError that names the extra to install."""
    try:
        from PIL import Image
    except ImportError as exc:
        raise ImportError(PILLOW_HINT) from exc
    return Image


def load_image(item: Any, position: int | None = None) -> Any:
    """An image input ready for the image processor: a PIL image or an array as given; a path, URL or data URI read
    into an RGB PIL image (URLs with a timeout of ``IMAGE_TIMEOUT`` seconds). Errors name the input."""
    if not isinstance(item, str):
        return item
    require_pillow()
    from transformers.image_utils import load_image as read_image

    where = "" if position is None else f" (input at position {position})"
    if not item.startswith("data:") and not is_url(item) and not os.path.isfile(item):
        raise FileNotFoundError(f"Image file {item!r}{where} does not exist")
    try:
        return read_image(item, timeout=IMAGE_TIMEOUT)
    except Exception as exc:  # noqa: BLE001 - a network, decoding or format error: named with its input
        what = "fetch the image at" if is_url(item) else "read the image"
        shown = item if len(item) <= 200 else item[:200] + "…"
        raise ValueError(f"Could not {what} {shown!r}{where}: {exc}") from exc


#: The image processor methods whose plain CLIP behaviour ``_fast_clip_pixels`` reproduces.
_PIL_BACKEND_METHODS = (
    "preprocess",
    "_preprocess",
    "_preprocess_image_like_inputs",
    "_prepare_image_like_inputs",
    "process_image",
    "convert_to_rgb",
    "resize",
    "center_crop",
    "rescale",
    "normalize",
)


def fast_clip_plan(processor: Any) -> tuple[int, int, int, int, Any] | None:
    """(shortest edge, crop height, crop width, resample, per-channel lookup table) when ``processor`` is transformers'
    PIL CLIP image processor with the plain CLIP settings (convert to RGB, resize the shortest edge, center crop no
    larger than it, rescale, normalize by 3 means and stds, no padding); None otherwise.

    The table maps each uint8 value of each channel to the float32 the processor computes for it: the value times
    ``rescale_factor`` in float64, cast to float32, then ``(x - mean) / std`` in float32, so a lookup gives its
    pixel values exactly."""
    try:
        from transformers.image_processing_backends import PilBackend
    except ImportError:
        return None
    kind = type(processor)
    if not isinstance(processor, PilBackend) or any(
        getattr(kind, name, None) is not getattr(PilBackend, name, None) for name in _PIL_BACKEND_METHODS
    ):
        return None
    size, crop = getattr(processor, "size", None), getattr(processor, "crop_size", None)
    mean, std = getattr(processor, "image_mean", None), getattr(processor, "image_std", None)
    resample, factor = getattr(processor, "resample", None), getattr(processor, "rescale_factor", None)
    try:
        edge = size.shortest_edge
        others = (size.height, size.width, size.longest_edge, size.max_height, size.max_width)
        others += (getattr(size, "min_pixels", None), getattr(size, "max_pixels", None))
        crop_height, crop_width = crop.height, crop.width
        mean, std = tuple(float(v) for v in mean), tuple(float(v) for v in std)
    except (AttributeError, TypeError):
        return None
    plain = (
        all(getattr(processor, flag, None) is True for flag in ("do_resize", "do_center_crop", "do_rescale"))
        and getattr(processor, "do_normalize", None) is True
        and getattr(processor, "do_convert_rgb", None) is True
        and not getattr(processor, "do_pad", None)
        and isinstance(edge, int)
        and all(value is None for value in others)
        and isinstance(crop_height, int)
        and isinstance(crop_width, int)
        and 0 < crop_height <= edge
        and 0 < crop_width <= edge
        and isinstance(resample, int)
        and isinstance(factor, (int, float))
        and len(mean) == 3
        and len(std) == 3
    )
    if not plain:
        return None
    table = _clip_table(float(factor), mean, std)
    return edge, crop_height, crop_width, int(resample), table


@functools.lru_cache(maxsize=8)
def _clip_table(factor: float, mean: tuple[float, ...], std: tuple[float, ...]) -> Any:
    """[3, 256] float32: each uint8 value of each channel as the PIL CLIP processor rescales and normalises it."""
    import numpy as np

    values = (np.arange(256, dtype=np.float64) * factor).astype(np.float32)
    table = (values[None, :] - np.array(mean, dtype=np.float32)[:, None]) / np.array(std, dtype=np.float32)[:, None]
    table = np.ascontiguousarray(table, dtype=np.float32)
    table.setflags(write=False)
    return table


def _rgb(image: Any) -> Any:
    """The RGB PIL image the processor's ``convert_to_rgb`` makes: transparency composited onto white."""
    if image.mode == "RGB" and image.info.get("transparency") is None:
        return image
    Image = require_pillow()
    if "A" in image.getbands() or image.info.get("transparency") is not None:
        image = image.convert("RGBA")
        background = Image.new("RGBA", image.size, (255, 255, 255, 255))
        return Image.alpha_composite(background, image).convert("RGB")
    return image.convert("RGB")


def fast_clip_pixels(processor: Any, images: list[Any]) -> torch.Tensor | None:
    """``pixel_values`` for PIL images, equal to what the plain CLIP image processor gives, at less cost: PIL resizes
    (same filter and size rule) and the center crop is a view of the resized pixels, which one table lookup per
    channel turns into the rescaled and normalised float32 values, written straight into the batch tensor. An
    ``(path, position)`` pair is read when its turn comes, so one decoded image is held at a time. None (use the
    processor) for other processors, settings or inputs."""
    plan = fast_clip_plan(processor)
    if plan is None:
        return None
    Image = require_pillow()
    if not all(isinstance(image, (Image.Image, tuple)) for image in images):
        return None
    import numpy as np

    edge, crop_height, crop_width, resample, table = plan
    out = _mapped_floats((len(images), 3, crop_height, crop_width))
    for row, image in enumerate(images):
        image = _rgb(load_image(*image) if isinstance(image, tuple) else image)
        width, height = image.size
        short, long = (width, height) if width <= height else (height, width)
        new_long = int(edge * long / short)
        new_height, new_width = (new_long, edge) if width <= height else (edge, new_long)
        pixels = np.asarray(image.resize((new_width, new_height), resample=resample))
        top, left = (new_height - crop_height) // 2, (new_width - crop_width) // 2
        pixels = pixels[top : top + crop_height, left : left + crop_width]
        target = out[row].numpy()
        for channel in range(3):
            np.take(table[channel], pixels[:, :, channel], out=target[channel], mode="clip")
    return out


def _mapped_floats(shape: tuple[int, ...]) -> torch.Tensor:
    """An uninitialised float32 tensor in its own anonymous memory map, unmapped when the tensor goes.

    A batch of pixel values is large (32 × 3 × 224 × 224 floats: 19 MB). From malloc, freeing such a block raises
    glibc's dynamic mmap threshold to its size, after which the model's later large blocks come from the heap and
    its fragments stay resident: the peak RSS of an encode call grew by ~100 MB that way. A map of its own keeps
    that threshold where it is."""
    import mmap

    count = 1
    for size in shape:
        count *= size
    if count * 4 < (1 << 20):
        return torch.empty(shape, dtype=torch.float32)
    buffer = mmap.mmap(-1, count * 4)
    return torch.frombuffer(buffer, dtype=torch.float32, count=count).view(shape)
