"""Running one implementation in a subprocess, for the compatibility scripts that compare sbert with upstream."""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from pathlib import Path


def run_python(python: str, argv: list[str], root: Path | None) -> str:
    """``python argv…`` offline in a scratch folder, with sbert's ``src`` on the path when ``root`` (the checkout) is
    given and no PYTHONPATH otherwise (upstream's venv); its last line of output. On failure the end of its stderr is
    shown and the calling script exits."""
    env = dict(os.environ, HF_HUB_OFFLINE="1", TRANSFORMERS_VERBOSITY="error", TOKENIZERS_PARALLELISM="false")
    env.pop("PYTHONPATH", None)
    if root is not None:
        env["PYTHONPATH"] = str(root / "src")
    done = subprocess.run([python, *argv], capture_output=True, text=True, env=env, cwd=tempfile.gettempdir())
    if done.returncode != 0:
        sys.stderr.write(done.stderr[-4000:])
        raise SystemExit(f"{python} {[a for a in argv if len(a) < 200][:4]} failed")
    return done.stdout.strip().splitlines()[-1] if done.stdout.strip() else ""
