"""Loss machinery shared by every model type: gradient caching (GradCache) and merged multi-column forwards."""

from sentence_transformers.base.losses.gradcache import (
    CachedLossMixin,
    RandContext,
    has_static_embedding_input,
    uses_gradient_cache,
)
from sentence_transformers.base.losses.merged_forward import column_merging_disabled

__all__ = [
    "CachedLossMixin",
    "RandContext",
    "column_merging_disabled",
    "has_static_embedding_input",
    "uses_gradient_cache",
]
