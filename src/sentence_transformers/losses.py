"""The 2.x import path ``sentence_transformers.losses``: re-exports only."""

from sentence_transformers.sentence_transformer.losses import *  # noqa: F403
from sentence_transformers.sentence_transformer.losses import __all__  # noqa: F401
