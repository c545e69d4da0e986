"""The 2.x import path ``sentence_transformers.evaluation``: re-exports only."""

from sentence_transformers.sentence_transformer.evaluation import *  # noqa: F403
from sentence_transformers.sentence_transformer.evaluation import __all__  # noqa: F401
