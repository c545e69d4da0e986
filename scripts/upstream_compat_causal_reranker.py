"""Check that sbert renders causal-LM rerankers with a chat template exactly as upstream sentence-transformers does.

Needs a throwaway venv holding upstream (see scripts/upstream_compat.py). Run with sbert's interpreter:
    .venv/bin/python scripts/upstream_compat_causal_reranker.py --upstream-python /tmp/upvenv/bin/python
It builds tiny Qwen3 causal LMs whose tokenizers carry a Qwen3-Reranker-like chat template (the builder of
tests/test_cross_encoder_causal.py), then each implementation loads them as CrossEncoders (a LogitScore of "yes"
against "no") and computes, with and without a prompt, the token ids of ``preprocess`` (pairs long enough to be
truncated included) and the scores of ``predict`` (batch size 1 and 32, and with ``task="query"``) and ``rank``.
Folders saved by one implementation are loaded by the other. Prints, per case, the largest number of differing token
ids in a row and the largest score difference; a chat template that cannot carry a (query, document) pair must be
refused by both.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

PAIRS = [
    ["the cat", "a cat sleeps on the warm windowsill"],
    ["what is the capital of France", "Paris " * 60],
    ["dog", "the dog plays guitar on the street " * 6],
    ["a man", ""],
    ["naïve café — 東京 🚀", "Ünïcödé text with emoji 🐈 and CJK 猫が寝ている"],
    ["word " * 100, "passage " * 300],
]
QUERY = "Which animal is sleeping?"
DOCUMENTS = ["A cat sleeps on the windowsill.", "The stock market fell today.", "A dog naps. " * 40, "", "Zzz"]
PROMPT = "Find the animal"
BUILT = ["flat", "flat_short", "structured_generation", "user_only"]  # built from the plain folders by each
SAVED = ["flat", "structured_generation"]  # saved by one implementation, loaded by the other

# Builds (or loads) CrossEncoders with whichever implementation runs it, only through the shared public API.
SCRIPT = """
import json, sys, numpy as np, torch
from sentence_transformers import CrossEncoder
from sentence_transformers.base.modules.transformer import Transformer
from sentence_transformers.cross_encoder.modules import LogitScore
mode, out, kinds, folders = sys.argv[1], sys.argv[2], json.loads(sys.argv[3]), json.loads(sys.argv[4])
pairs, query, documents, prompt = json.loads(sys.argv[5])
def build(kind):
    if kind == "flat":
        return CrossEncoder(folders["flat"], max_length=160, device="cpu")
    if kind == "flat_short":  # shorter than the template's own text: every row is cut
        return CrossEncoder(folders["flat"], max_length=40, device="cpu")
    if kind == "user_only":
        return CrossEncoder(folders["user_only"], device="cpu")
    if kind == "structured_generation":
        template_kwargs = {"add_generation_prompt": True, "enable_thinking": False}
        transformer = Transformer(folders["structured"], transformer_task="text-generation", max_seq_length=160,
                                  processing_kwargs={"chat_template": template_kwargs})
        yes, no = transformer.tokenizer.convert_tokens_to_ids(["yes", "no"])
        return CrossEncoder(modules=[transformer, LogitScore(true_token_id=yes, false_token_id=no)], device="cpu")
    raise SystemExit(kind)
def attempt(function):
    try:
        return function()
    except Exception as exc:
        return {"error": type(exc).__name__, "message": str(exc)[:200]}
def measure(model, kind):
    result = {}
    for tag, given in (("plain", None), ("prompt", prompt)):
        def features():
            f = model.preprocess(pairs, prompt=given)
            return {"ids": f["input_ids"].tolist(), "mask": f["attention_mask"].tolist()}
        result[f"{tag}.tokens"] = attempt(features)
        result[f"{tag}.predict"] = attempt(lambda: model.predict(pairs, prompt=given).tolist())
        result[f"{tag}.predict_bs1"] = attempt(lambda: model.predict(pairs, prompt=given, batch_size=1).tolist())
        result[f"{tag}.rank"] = attempt(lambda: [[r["corpus_id"], r["score"]] for r in
                                                 model.rank(query, documents, prompt=given)])
    # A template that reads the task (the structured one) gets it: with predict's task="query" its text changes.
    result["task.predict"] = attempt(lambda: model.predict(pairs, task="query").tolist())
    return result
results = {}
for kind in kinds:
    if mode == "load":
        model = CrossEncoder(f"{out}/{kind}", device="cpu")
    else:
        model = build(kind)
        if mode == "save":
            model.save(f"{out}/{kind}")
    results[kind] = measure(model, kind)
with open(f"{out}/{mode}.json", "w") as f:
    json.dump(results, f)
"""


def run(python: str, mode: str, out: Path, kinds: list[str], folders: dict[str, str]) -> dict:
    """Run SCRIPT with ``python`` in a neutral folder, so that neither implementation imports the other."""
    data = json.dumps([PAIRS, QUERY, DOCUMENTS, PROMPT])
    command = [python, "-c", SCRIPT, mode, str(out), json.dumps(kinds), json.dumps(folders), data]
    subprocess.run(command, check=True, cwd=tempfile.gettempdir(), stderr=subprocess.DEVNULL)
    return json.loads((out / f"{mode}.json").read_text())


def compare(case: str, ours: dict, theirs: dict) -> tuple[float, float]:
    """Largest count of differing token ids in a row, and largest score difference, of two measurements."""
    worst_ids, worst_score = 0.0, 0.0
    for key in sorted(ours):
        a, b = ours[key], theirs.get(key)
        if isinstance(a, dict) and "error" in a:  # both must fail the same way
            same = isinstance(b, dict) and b.get("error") == a["error"]
            print(f"  {case:<42} {key:<20} error {a['error']} both: {same}")  # noqa: T201
            worst_score = max(worst_score, 0.0 if same else float("inf"))
            continue
        if isinstance(b, dict) and "error" in b:
            print(f"  {case:<42} {key:<20} upstream failed alone: {b}")  # noqa: T201
            worst_score = float("inf")
            continue
        if key.endswith(".tokens"):
            ids_a, ids_b = np.array(a["ids"]), np.array(b["ids"])
            if ids_a.shape != ids_b.shape or a["mask"] != b["mask"]:
                mismatch = float("inf")
            else:
                mismatch = float((ids_a != ids_b).sum(axis=1).max())
            worst_ids = max(worst_ids, mismatch)
            print(f"  {case:<42} {key:<20} rows {len(a['ids'])} width {ids_a.shape[-1]}: differing ids {mismatch:.0f}")  # noqa: T201
        else:
            a, b = np.array(a), np.array(b)
            if key.endswith(".rank") and (a.shape != b.shape or not np.array_equal(a[:, 0], b[:, 0])):
                diff = float("inf")  # documents in another order
            else:
                diff = float(np.abs(a - b).max()) if a.shape == b.shape else float("inf")
            worst_score = max(worst_score, diff)
            print(f"  {case:<42} {key:<20} score diff {diff:.2e}")  # noqa: T201
    return worst_ids, worst_score


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--upstream-python", required=True, help="interpreter of the venv holding upstream")
    args = parser.parse_args()
    from test_cross_encoder_causal import build_chat_reranker

    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        folders = {kind: build_chat_reranker(root / kind, kind) for kind in ("flat", "structured", "user_only")}
        outputs = {name: root / name for name in ("sbert", "upstream")}
        for folder in outputs.values():
            folder.mkdir()
        ours = run(sys.executable, "save", outputs["sbert"], BUILT, folders)
        theirs = run(args.upstream_python, "save", outputs["upstream"], BUILT, folders)
        theirs_of_ours = run(args.upstream_python, "load", outputs["sbert"], SAVED, folders)
        ours_of_theirs = run(sys.executable, "load", outputs["upstream"], SAVED, folders)
        worst_ids, worst_score = 0.0, 0.0
        cases = [(f"{kind}: built by each", ours[kind], theirs[kind]) for kind in BUILT]
        cases += [(f"{kind}: saved by sbert, loaded by upstream", ours[kind], theirs_of_ours[kind]) for kind in SAVED]
        cases += [(f"{kind}: saved by upstream, loaded by sbert", ours_of_theirs[kind], theirs[kind]) for kind in SAVED]
        for case, a, b in cases:
            ids, score = compare(case, a, b)
            worst_ids, worst_score = max(worst_ids, ids), max(worst_score, score)
    ok = worst_ids == 0 and worst_score <= 1e-5
    print(  # noqa: T201
        f"max differing token ids in a row: {worst_ids:.0f}; max score difference: {worst_score:.2e} "
        f"({'ok' if ok else 'FAILED'}: limits 0 and 1e-5)"
    )
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
