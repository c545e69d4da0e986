"""Upstream compatibility check for the word-level modules (sbert <-> sentence-transformers 6.2).

For each pipeline: (a) build+save with sbert, load with upstream; (b) build+save with upstream, load with sbert.
Both safetensors and pytorch_model.bin saves are checked. Embeddings must agree to 1e-5.
Run: python /tmp/compat_words.py   (uses /work/main/.venv and /tmp/upvenv interpreters)
"""

import json
import os
import shutil
import subprocess
import sys

SBERT_PY = os.environ.get("SBERT_PYTHON", sys.executable)
UP_PY = os.environ.get("UPSTREAM_PYTHON", "/tmp/upvenv/bin/python")
ROOT = "/tmp/compat_words"
TEXTS = [
    "The quick brown fox jumps over the lazy dog.",
    "A man is playing a guitar in New York!",
    "Quick, QUICK foxes; lazy dogs... and a cat",
    "the of and",  # only stop words: no tokens
    "Paris is the capital of France, and Paris is big.",
    "guitar guitar guitar",
]
WORDS = "quick brown fox jumps lazy dog man playing guitar new york paris capital france big cat foxes dogs".split()
PIPELINES = ["bow", "weights", "cnn", "lstm", "phrase"]


def write_glove(path):
    import numpy as np

    rng = np.random.RandomState(0)
    with open(path, "w", encoding="utf8") as f:
        for word in WORDS + ["New_York"]:
            f.write(word + " " + " ".join(f"{x:.6f}" for x in rng.randn(6)) + "\n")


def classes(lib):
    """The module classes, from the same public path in both libraries."""
    from sentence_transformers.sentence_transformer import modules

    names = ["BoW", "CNN", "LSTM", "Pooling", "WordEmbeddings", "WordWeights", "PhraseTokenizer", "WhitespaceTokenizer"]
    return {name: getattr(modules, name, None) or getattr(modules.tokenizer, name) for name in names}


def build(lib, name, glove):
    import torch

    from sentence_transformers import SentenceTransformer

    c = classes(lib)
    torch.manual_seed(0)
    idf = {w: 1.0 + i / 10 for i, w in enumerate(WORDS)}
    if name == "bow":
        return SentenceTransformer(modules=[c["BoW"](WORDS + ["Paris"], idf, unknown_word_weight=0.5)], device="cpu")
    tokenizer = c["PhraseTokenizer"]() if name == "phrase" else c["WhitespaceTokenizer"]()
    emb = c["WordEmbeddings"].from_text_file(glove, tokenizer=tokenizer)
    dim = emb.emb_layer.embedding_dim
    if name == "weights":
        modules = [emb, c["WordWeights"](tokenizer.get_vocab(), idf, 0.25), c["Pooling"](dim, "mean")]
    elif name == "cnn":
        modules = [emb, c["CNN"](dim, out_channels=4, kernel_sizes=[1, 3]), c["Pooling"](8, "mean")]
    elif name == "lstm":
        modules = [emb, c["LSTM"](dim, hidden_dim=5), c["Pooling"](10, "mean")]
    else:
        modules = [emb, c["Pooling"](dim, "mean")]
    return SentenceTransformer(modules=modules, device="cpu")


def encode(model):
    return model.encode(TEXTS, batch_size=64, convert_to_numpy=True).tolist()


def worker(lib, action, name, folder, glove):
    """Run inside one interpreter: build+save+encode, or load+encode; print JSON."""
    import logging
    import warnings

    warnings.simplefilter("ignore")
    logging.disable(logging.WARNING)
    from sentence_transformers import SentenceTransformer

    if action == "build":
        model = build(lib, name, glove)
        model.eval()
        for safe in (True, False):
            model.save(folder + ("" if safe else "_bin"), safe_serialization=safe)
    else:
        model = SentenceTransformer(folder, device="cpu")
    print("RESULT" + json.dumps({"emb": encode(model), "files": sorted(os.listdir(_module_dir(folder)))}))


def _module_dir(folder):
    entries = json.load(open(os.path.join(folder, "modules.json")))
    return os.path.join(folder, entries[0]["path"])


def run(py, *args):
    out = subprocess.run([py, __file__, *args], cwd="/tmp", capture_output=True, text=True)
    if out.returncode != 0:
        raise RuntimeError(f"{py} {args} failed:\n{out.stderr[-3000:]}")
    line = [x for x in out.stdout.splitlines() if x.startswith("RESULT")][-1]
    return json.loads(line[6:])


def main():
    import numpy as np

    shutil.rmtree(ROOT, ignore_errors=True)
    os.makedirs(ROOT)
    glove = os.path.join(ROOT, "glove.txt")
    write_glove(glove)
    ok = True
    interpreters = {"sbert": SBERT_PY, "upstream": UP_PY}
    for name in PIPELINES:
        for builder, loader in (("sbert", "upstream"), ("upstream", "sbert")):
            folder = os.path.join(ROOT, f"{builder}_{name}")
            built = run(interpreters[builder], "worker", builder, "build", name, folder, glove)
            for suffix in ("", "_bin"):
                loaded = run(interpreters[loader], "worker", loader, "load", name, folder + suffix, glove)
                diff = float(np.abs(np.asarray(built["emb"]) - np.asarray(loaded["emb"])).max())
                nonzero = float(np.abs(np.asarray(built["emb"])).sum())
                good = diff <= 1e-5 and nonzero > 0
                ok &= good
                fmt = "safetensors" if not suffix else "pytorch_model.bin"
                print(
                    f"{name:8s} {builder:8s}-> {loader:8s} [{fmt:17s}] max|diff|={diff:.2e} "
                    f"{'OK' if good else 'FAIL'}  files={built['files'] if not suffix else ''}"
                )
    print("ALL OK" if ok else "SOME FAILED")
    return 0 if ok else 1


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "worker":
        worker(*sys.argv[2:7])
    else:
        sys.exit(main())
