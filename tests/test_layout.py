"""Upstream 6.2's module layout: every public module path imports with its names, each name has one home, and the
old paths (2.x per-class modules, 3.x/5.x flat modules) answer with today's modules."""

from __future__ import annotations

import importlib
import inspect
import json
import subprocess
import sys
import warnings
from pathlib import Path

import pytest

import sentence_transformers

LAYOUT = json.loads((Path(__file__).parent / "data" / "upstream_6_2_layout.json").read_text())

# Upstream names sbert leaves out on purpose, with the reason.
LEFT_OUT = {
    "sentence_transformers.base.modules.transformer.set_temporary_class_attrs": "upstream-internal loading hack",
    "sentence_transformers.sentence_transformer.deprecated_model_card_templates": "upstream's old card template text",
    "sentence_transformers.sentence_transformer.fit_mixin.EvaluatorCallback": "2.x fit internals (one callback here)",
    "sentence_transformers.sentence_transformer.fit_mixin.OriginalCallback": "2.x fit internals (one callback here)",
    "sentence_transformers.sentence_transformer.fit_mixin.SaveModelCallback": "2.x fit internals (one callback here)",
    "sentence_transformers.cross_encoder.fit_mixin.EvaluatorCallback": "2.x fit internals (one callback here)",
    "sentence_transformers.cross_encoder.fit_mixin.OriginalCallback": "2.x fit internals (one callback here)",
    "sentence_transformers.cross_encoder.fit_mixin.SaveModelCallback": "2.x fit internals (one callback here)",
}


def _module_cases() -> list[tuple[str, list[str]]]:
    return [(module, names) for module, names in sorted(LAYOUT["modules"].items()) if module not in LEFT_OUT]


@pytest.mark.parametrize(("module_name", "names"), _module_cases(), ids=lambda value: str(value)[22:60])
def test_every_upstream_module_path_imports_with_its_names(module_name, names):
    """Each name resolves, and to the one object defined at its home (no second definition anywhere)."""
    module = importlib.import_module(module_name)
    for name in names:
        if f"{module_name}.{name}" in LEFT_OUT:
            continue
        value = getattr(module, name)
        home_name = getattr(value, "__module__", None)
        if not (inspect.isclass(value) or inspect.isfunction(value)) or not home_name:
            continue
        assert home_name.startswith("sentence_transformers."), f"{module_name}.{name} comes from {home_name}"
        home = importlib.import_module(home_name)
        assert getattr(home, value.__name__) is value, f"{module_name}.{name} is not its home's object"


def _legacy_cases() -> list[tuple[str, str]]:
    return sorted(LAYOUT["legacy_paths"].items())


@pytest.mark.parametrize(("old", "new"), _legacy_cases(), ids=lambda value: value[22:])
def test_old_module_paths_answer_with_todays_modules(old, new):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        old_module = importlib.import_module(old)
    package, _, name = old.rpartition(".")
    if name[:1].isupper() and package != "sentence_transformers":
        # 2.x per-class module: the class imported from it is the class of the package.
        assert getattr(old_module, name) is getattr(importlib.import_module(package), name)
    elif name in {"SentenceTransformer", "LoggingHandler"}:
        assert getattr(old_module, name) is getattr(sentence_transformers, name)
    else:
        assert old_module is importlib.import_module(new)


def test_a_per_class_path_warns_at_the_importing_line(monkeypatch):
    monkeypatch.delitem(sys.modules, "sentence_transformers.losses.MSELoss", raising=False)
    with pytest.warns(DeprecationWarning, match=r"sentence_transformer\.losses\.mse") as caught:
        from sentence_transformers.losses.MSELoss import MSELoss
    assert caught[0].filename == __file__
    assert MSELoss is sentence_transformers.losses.MSELoss


def test_old_paths_warn_in_upstreams_words(monkeypatch):
    """Tests and log filters written against upstream match its text, for package paths too."""
    monkeypatch.delitem(sys.modules, "sentence_transformers.losses.MSELoss", raising=False)
    with pytest.warns(DeprecationWarning) as caught:
        import sentence_transformers.losses.MSELoss  # noqa: F401
    assert str(caught[0].message) == (
        "Importing from 'sentence_transformers.losses.MSELoss' is deprecated and will be removed in a future "
        "version. Please use 'sentence_transformers.sentence_transformer.losses.mse' instead."
    )


def test_package_paths_warn_as_upstreams_but_the_attributes_do_not(monkeypatch):
    monkeypatch.delitem(sys.modules, "sentence_transformers.models", raising=False)
    with warnings.catch_warnings():
        warnings.simplefilter("error", DeprecationWarning)
        from sentence_transformers import losses, models  # noqa: F401
    with pytest.warns(DeprecationWarning, match=r"^Importing from 'sentence_transformers\.models' is deprecated"):
        import sentence_transformers.models as models
    assert models.__name__ == "sentence_transformers.sentence_transformer.modules"
    assert models.__spec__.name == "sentence_transformers.sentence_transformer.modules"


def test_importing_an_old_path_never_replaces_the_class_of_the_same_name():
    """``import sentence_transformers.SentenceTransformer`` must leave ``sentence_transformers.SentenceTransformer``
    the class (the import system sets the submodule on its parent), in a fresh interpreter."""
    code = (
        "import warnings; warnings.simplefilter('ignore')\n"
        "import sentence_transformers.SentenceTransformer\n"
        "import sentence_transformers.models.Pooling\n"
        "from sentence_transformers.models.tokenizer.WordTokenizer import WordTokenizer\n"
        "import sentence_transformers as st, inspect\n"
        "from sentence_transformers import models\n"
        "assert inspect.isclass(st.SentenceTransformer), st.SentenceTransformer\n"
        "assert inspect.isclass(models.Pooling), models.Pooling\n"
        "assert inspect.isclass(models.tokenizer.WordTokenizer)\n"
        "print('ok')\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "ok"


@pytest.mark.parametrize(
    "path",
    ["sentence_transformers.losses.NoSuchLoss", "sentence_transformers.models.helpers", "sentence_transformers.nope"],
)
def test_paths_that_never_existed_are_not_found(path):
    with pytest.raises(ModuleNotFoundError):
        importlib.import_module(path)


def test_root_exports_upstreams_top_level_names():
    from sentence_transformers.backend import export_optimized_onnx_model
    from sentence_transformers.base.sampler import DefaultBatchSampler, MultiDatasetDefaultBatchSampler
    from sentence_transformers.util.dataset import resolve_ids
    from sentence_transformers.util.hard_negatives import mine_hard_negatives

    assert sentence_transformers.DefaultBatchSampler is DefaultBatchSampler
    assert sentence_transformers.MultiDatasetDefaultBatchSampler is MultiDatasetDefaultBatchSampler
    assert sentence_transformers.export_optimized_onnx_model is export_optimized_onnx_model
    assert sentence_transformers.mine_hard_negatives is mine_hard_negatives
    assert sentence_transformers.resolve_ids is resolve_ids
    with pytest.raises(AttributeError, match="no attribute 'nothing_here'"):
        sentence_transformers.nothing_here  # noqa: B018


def test_importing_the_package_stays_light():
    """Training, the backends and the callbacks import on first use: a plain ``import`` must not pull them in."""
    code = (
        "import sys, sentence_transformers\n"
        "heavy = [m for m in ('transformers.trainer', 'transformers.trainer_callback', 'datasets', 'onnxruntime',"
        " 'openvino', 'peft', 'nncf', 'fastapi') if m in sys.modules]\n"
        "print(heavy)\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "[]"
