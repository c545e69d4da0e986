"""The 2.x import path ``sentence_transformers.evaluation`` and its per-class modules: re-exports only."""

from sentence_transformers._legacy_paths import register_class_paths
from sentence_transformers.sentence_transformer.evaluation import *  # noqa: F403
from sentence_transformers.sentence_transformer.evaluation import __all__  # noqa: F401

register_class_paths(__name__, globals())
