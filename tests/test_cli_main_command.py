"""The README's main command: ``sbert encode examples/sentences.txt -o embeddings.npy`` with the default model,
which loads by name offline from the Hugging Face cache (where scripts/setup.sh puts all-MiniLM-L6-v2)."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np

from sentence_transformers.base.hub import add_to_hub_cache

ROOT = Path(__file__).resolve().parent.parent


def test_readme_main_command_is_the_plain_one():
    readme = (ROOT / "README.md").read_text()
    assert "bash scripts/setup.sh && .venv/bin/sbert encode examples/sentences.txt -o embeddings.npy" in readme
    assert re.search(
        r"add_to_hub_cache\(.*sentence-transformers/all-MiniLM-L6-v2", (ROOT / "scripts/setup.sh").read_text()
    )


def test_the_default_model_loads_by_name_from_the_cache(minilm_path, minilm, tmp_path):
    cache = tmp_path / "hub"
    add_to_hub_cache(minilm_path, "sentence-transformers/all-MiniLM-L6-v2", cache_dir=str(cache))
    env = {**os.environ, "HF_HUB_CACHE": str(cache), "HF_HUB_OFFLINE": "1"}
    out = tmp_path / "embeddings.npy"
    command = [sys.executable, "-m", "sentence_transformers.cli", "encode", "examples/sentences.txt", "-o", str(out)]
    result = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stderr
    embeddings = np.load(out)
    assert embeddings.shape == (5, 384)
    texts = (ROOT / "examples" / "sentences.txt").read_text().splitlines()
    np.testing.assert_allclose(embeddings, minilm.encode(texts), atol=1e-6)


def test_an_uncached_default_model_offline_is_one_line(tmp_path):
    env = {**os.environ, "HF_HUB_CACHE": str(tmp_path / "empty"), "HF_HUB_OFFLINE": "1"}
    (tmp_path / "in.txt").write_text("one text\n")
    command = [sys.executable, "-m", "sentence_transformers.cli", "encode", "in.txt", "-o", "x.npy"]
    result = subprocess.run(command, cwd=tmp_path, env=env, capture_output=True, text=True, check=False)
    assert result.returncode == 1
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("sbert: error:"), result.stderr
    assert "sentence-transformers/all-MiniLM-L6-v2" in lines[0] and not (tmp_path / "x.npy").exists()
