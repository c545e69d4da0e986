"""How many batches the engine keeps alive: ``prefetched`` makes an item only after the one before has been taken, and
``run`` drops each batch before asking for the next, so an image ``encode`` holds at most two pixel batches (the one in
the model and the next, made meanwhile). Liveness is read with weak references, not timings: the waits below only
give an over-eager producer the chance to show itself, and the bound holds whatever they wait."""

from __future__ import annotations

import threading
import weakref
from collections.abc import Iterator

import numpy as np
import pytest

pytest.importorskip("PIL")
pytest.importorskip("transformers")

from PIL import Image  # noqa: E402

from sentence_transformers import SentenceTransformer  # noqa: E402
from sentence_transformers.base import encoding  # noqa: E402
from sentence_transformers.sentence_transformer.modules import CLIPModel  # noqa: E402
from test_clip_model import build_tiny_clip  # noqa: E402

PATIENCE_S = 10.0  # for an event that must come (its absence is a failure, not a slow pass)
CHANCE_S = 0.05  # for an event that must not come (an over-eager producer would have made it by then)


class Item:
    """A stand-in for a batch, weakly referenceable."""

    def __init__(self, index: int) -> None:
        self.index = index


class Recorder:
    """A producer of ``count`` items that records, as each one starts, how many made before it are still alive."""

    def __init__(self, count: int) -> None:
        self.count = count
        self.alive = weakref.WeakSet()
        self.alive_at_start: list[int] = []
        self.started = [threading.Event() for _ in range(count + 4)]

    def items(self) -> Iterator[Item]:
        for index in range(self.count):
            self.alive_at_start.append(len(self.alive))
            self.started[index].set()
            item = Item(index)
            self.alive.add(item)
            yield item
            del item


@pytest.mark.parametrize("depth", [1, 2])
def test_prefetched_makes_at_most_depth_items_ahead(depth):
    recorder = Recorder(8)
    seen = []
    for item in encoding.prefetched(recorder.items(), depth=depth):
        index = item.index
        seen.append(index)
        # the next item is made while this one is in hand (overlap): it must start
        if index + 1 < recorder.count:
            assert recorder.started[index + 1].wait(PATIENCE_S), f"item {index + 1} was not made ahead"
        recorder.started[index + depth + 1].wait(CHANCE_S)  # a producer running too far ahead would start it now
        del item
    assert seen == list(range(8))
    # at each start: the item in the consumer's hands and at most depth - 1 others made and not yet taken
    assert max(recorder.alive_at_start) <= depth, recorder.alive_at_start


def test_prefetched_rejects_a_depth_below_one():
    with pytest.raises(ValueError, match="depth >= 1"):
        next(encoding.prefetched(iter([1]), depth=0))


@pytest.fixture(scope="module")
def clip(tmp_path_factory: pytest.TempPathFactory) -> SentenceTransformer:
    folder = build_tiny_clip(tmp_path_factory.mktemp("memory_clip"))
    return SentenceTransformer(modules=[CLIPModel(str(folder))], device="cpu")


def pictures(count: int) -> list[Image.Image]:
    rng = np.random.RandomState(0)
    return [Image.fromarray(rng.randint(0, 255, (40, 36, 3)).astype(np.uint8)) for _ in range(count)]


@pytest.mark.parametrize("show_progress_bar", [False, True])
def test_an_image_encode_keeps_at_most_two_pixel_batches_alive(clip, monkeypatch, show_progress_bar):
    alive = weakref.WeakSet()
    alive_at_start: list[int] = []
    started = [threading.Event() for _ in range(16)]
    preprocess = clip.preprocess

    def recording_preprocess(inputs, *args, **kwargs):
        alive_at_start.append(len(alive))
        started[len(alive_at_start) - 1].set()
        features = preprocess(inputs, *args, **kwargs)
        alive.add(features["pixel_values"])
        return features

    forward_batch = encoding.forward_batch
    forwards = []

    def patient_forward(model, features, device, **kwargs):
        index = len(forwards)
        forwards.append(index)
        if index + 1 < 6:
            assert started[index + 1].wait(PATIENCE_S), "the next batch was not made during the forward pass"
        started[index + 2].wait(CHANCE_S)  # the batch after must wait until the next one is taken
        return forward_batch(model, features, device, **kwargs)

    monkeypatch.setattr(clip, "preprocess", recording_preprocess)
    monkeypatch.setattr(encoding, "forward_batch", patient_forward)
    inputs = pictures(12)
    got = clip.encode(inputs, batch_size=2, show_progress_bar=show_progress_bar)
    assert len(forwards) == len(alive_at_start) == 6
    # when a batch starts, only the one in the model is alive: two pixel batches at most
    assert max(alive_at_start) <= 1, alive_at_start
    monkeypatch.undo()
    np.testing.assert_allclose(got, clip.encode(inputs, batch_size=5), atol=1e-5)
