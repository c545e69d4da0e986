"""The 2.x per-class module paths, e.g. ``sentence_transformers.losses.CosineSimilarityLoss``.

Upstream 2.x kept one module per class; code still imports ``from sentence_transformers.losses.CosineSimilarityLoss
import CosineSimilarityLoss``. Rather than one stub file per class, each legacy module registers the class's home
module under the old dotted name in ``sys.modules``; the import system finds it there once the parent is imported.
"""

from __future__ import annotations

import sys
from typing import Any


def register_class_paths(package: str, namespace: dict[str, Any]) -> None:
    """Make ``<package>.<Name>`` importable for every name in ``namespace["__all__"]`` defined in sbert.

    The alias is the name's home module, so helpers that lived beside a class in 2.x (e.g.
    ``SiameseDistanceMetric`` in ``losses.ContrastiveLoss``) resolve through it as well.
    """
    for name in namespace["__all__"]:
        home = getattr(namespace[name], "__module__", None)
        if home and home.startswith("sentence_transformers.") and home in sys.modules:
            sys.modules.setdefault(f"{package}.{name}", sys.modules[home])
