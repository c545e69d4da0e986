"""``python -m sentence_transformers.cli``: the ``sbert`` command."""

import sys

from sentence_transformers.cli import main

sys.exit(main())
