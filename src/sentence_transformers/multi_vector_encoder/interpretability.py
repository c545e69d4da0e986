"""Looking inside MaxSim: which query tokens are real text, and per-query-token similarity maps over the patch grid
of image documents (ColPali-style), drawn as heat maps.

sbert's multi-vector models take texts only, so the image helpers apply to embeddings computed elsewhere;
``get_n_patches`` needs a model with an image processor and says so otherwise.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any, Literal

import numpy as np
import torch
from torch import Tensor

from sentence_transformers.base.modules.transformer import Transformer

if TYPE_CHECKING:
    from sentence_transformers.multi_vector_encoder.model import MultiVectorEncoder

# A dark-to-light blue-green colour scale (close to seaborn's "mako"), as anchors interpolated linearly.
_ANCHORS = np.array(
    [[10, 5, 10], [45, 30, 70], [60, 70, 140], [50, 120, 165], [60, 170, 172], [120, 212, 178], [222, 245, 229]],
    dtype=np.float32,
)


def _colour_table(size: int = 256) -> np.ndarray:
    """``size`` RGB colours along the anchors."""
    position = np.linspace(0, len(_ANCHORS) - 1, size)
    low = np.minimum(position.astype(int), len(_ANCHORS) - 2)
    fraction = (position - low)[:, None]
    return (_ANCHORS[low] * (1 - fraction) + _ANCHORS[low + 1] * fraction).round().astype(np.uint8)


_COLOURS = _colour_table()


def real_query_token_slice(model: MultiVectorEncoder, query: str) -> slice:
    """The slice of ``encode_query([query])[0]`` holding the query's own tokens: without the special tokens, the
    query prompt (e.g. "[Q] ") and the expansion tokens around them.

    Found by comparing the ids of the query with those of an empty query, both with the query prompt."""
    transformer = next((module for module in model.modules() if isinstance(module, Transformer)), None)
    if transformer is None:
        names = [type(module).__name__ for module in model]
        raise ValueError(f"real_query_token_slice needs a Transformer module to re-tokenize the query; found {names}")
    prompt = model.prompts.get("query")
    empty = transformer.preprocess([""], prompt=prompt, task="query")["input_ids"][0].tolist()
    full = transformer.preprocess([query], prompt=prompt, task="query")["input_ids"][0].tolist()
    start = 0
    while start < min(len(empty), len(full)) and empty[start] == full[start]:
        start += 1
    if transformer.query_expansion is not None and transformer.tokenizer is not None:
        length = len(transformer.tokenizer(query, add_special_tokens=False)["input_ids"])  # both padded alike
    else:
        length = len(full) - len(empty)
    return slice(start, start + length)


def get_n_patches(model: MultiVectorEncoder, image_size: tuple[int, int]) -> tuple[int, int]:
    """The (columns, rows) patch grid that the model's image processor makes of an image of ``image_size``
    (width, height): from a Qwen-VL style dynamic grid, or a square ``image_seq_length`` (PaliGemma)."""
    processor = model.processor
    image_processor = getattr(processor, "image_processor", None)
    if image_processor is not None and (
        getattr(image_processor, "do_image_splitting", None) is not None
        or getattr(image_processor, "max_image_size", None) is not None
    ):
        raise NotImplementedError(
            "Idefics3 / SmolVLM processors split an image into sub-images plus a global one: their patches are no "
            "row-major grid, so rearrange the embedding into spatial order first."
        )
    merge = getattr(image_processor, "merge_size", None)
    if image_processor is not None and merge is not None:
        from PIL import Image

        grid = image_processor(images=[Image.new("RGB", image_size)], return_tensors="pt")["image_grid_thw"][0]
        return int(grid[2]) // merge, int(grid[1]) // merge
    length = getattr(processor, "image_seq_length", None)
    if isinstance(length, int) and length > 0 and math.isqrt(length) ** 2 == length:
        return math.isqrt(length), math.isqrt(length)
    raise ValueError(
        f"Cannot infer a patch grid from {type(processor).__name__}: this model has no image processor with a "
        "dynamic grid (merge_size + image_grid_thw) or a square image_seq_length (sbert's multi-vector models take "
        "texts only). Pass n_patches to maxsim_similarity_map / maxsim_heatmap yourself."
    )


def maxsim_similarity_map(
    query_embedding: Tensor,
    image_embedding: Tensor,
    n_patches: tuple[int, int],
    image_mask: Tensor | None = None,
    normalize: bool = False,
) -> Tensor:
    """Similarity of each query token with each image patch, [query tokens, rows, columns] in float32.

    Args:
        query_embedding: [query tokens, dim].
        image_embedding: [document tokens, dim]: the patches in row-major order (``image_mask`` selects them when
            other tokens are among them).
        n_patches: (columns, rows), as ``get_n_patches`` gives.
        image_mask: Boolean [document tokens]: True for the image patches.
        normalize: Rescale each query token's map to [0, 1].
    """
    if image_mask is not None:
        image_embedding = image_embedding[image_mask.bool()]
    columns, rows = n_patches
    if image_embedding.shape[0] != columns * rows:
        raise ValueError(
            f"image_embedding has {image_embedding.shape[0]} tokens but n_patches={tuple(n_patches)} expects "
            f"{columns * rows}: pass image_mask when the embedding holds other tokens too."
        )
    grid = image_embedding.reshape(rows, columns, -1)
    maps = torch.einsum("qd,rcd->qrc", query_embedding, grid).float()
    if normalize:
        flat = maps.reshape(maps.shape[0], -1)
        low = flat.min(dim=1, keepdim=True).values
        high = flat.max(dim=1, keepdim=True).values
        maps = ((flat - low) / (high - low + 1e-10)).reshape(maps.shape)
    return maps


def _as_image(image: Any) -> Any:
    from PIL import Image

    if isinstance(image, Image.Image):
        return image
    from transformers.image_utils import load_image

    return load_image(image)


def render_similarity_map_on_image(
    image: Any,
    similarity_map: Tensor,
    alpha: float = 0.5,
    normalization_range: tuple[float, float] | None = None,
) -> Any:
    """A new RGBA image: ``image`` (a PIL image, path or URL) under the [rows, columns] map in colour, scaled to
    ``normalization_range`` (default: the map's own range) and resized (bicubic) to the image."""
    from PIL import Image

    if similarity_map.ndim != 2:
        raise ValueError(f"similarity_map must be 2D (rows, columns), got shape {tuple(similarity_map.shape)}")
    picture = _as_image(image)
    values = similarity_map.detach().float().cpu().numpy()
    low, high = (float(values.min()), float(values.max())) if normalization_range is None else normalization_range
    scaled = np.clip((values - low) / (high - low + 1e-10), 0.0, 1.0)
    levels = Image.fromarray((scaled * 255).astype(np.uint8)).resize(picture.size, Image.Resampling.BICUBIC)
    overlay = np.empty((*np.asarray(levels).shape, 4), dtype=np.uint8)
    overlay[..., :3] = _COLOURS[np.asarray(levels)]
    overlay[..., 3] = int(alpha * 255)
    return Image.alpha_composite(picture.convert("RGBA"), Image.fromarray(overlay))


def maxsim_heatmap(
    image: Any,
    query_embedding: Tensor,
    image_embedding: Tensor,
    n_patches: tuple[int, int],
    image_mask: Tensor | None = None,
    aggregate: Literal["sum", "amax", "none"] = "sum",
    alpha: float = 0.5,
) -> Any:
    """A heat map of a query over an image document: the per-token maps summed ("sum"), their maximum ("amax"),
    or one image per query token on one shared scale ("none", a list)."""
    if aggregate not in ("sum", "amax", "none"):
        raise ValueError(f"aggregate must be one of ('sum', 'amax', 'none'), got {aggregate!r}.")
    picture = _as_image(image)
    maps = maxsim_similarity_map(query_embedding, image_embedding, n_patches, image_mask)
    if aggregate == "none":
        shared = (float(maps.min()), float(maps.max()))
        return [render_similarity_map_on_image(picture, one, alpha, shared) for one in maps]
    collapsed = maps.sum(dim=0) if aggregate == "sum" else maps.amax(dim=0)
    return render_similarity_map_on_image(picture, collapsed, alpha)


__all__ = [
    "get_n_patches",
    "maxsim_heatmap",
    "maxsim_similarity_map",
    "real_query_token_slice",
    "render_similarity_map_on_image",
]
