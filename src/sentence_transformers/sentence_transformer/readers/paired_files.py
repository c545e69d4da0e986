"""PairedFilesReader: parallel files, one sentence per line."""

from __future__ import annotations

import contextlib

from sentence_transformers.sentence_transformer.readers._files import open_text
from sentence_transformers.sentence_transformer.readers.input_example import InputExample


class PairedFilesReader:
    """Reads parallel files line by line: line i of every file forms one example (label 1), e.g. translations.

    Args:
        filepaths: The files, one per text position (gzip when named ``*.gz``).
    """

    def __init__(self, filepaths: list[str]) -> None:
        self.filepaths = list(filepaths)

    def get_examples(self, max_examples: int = 0) -> list[InputExample]:
        """One example per line number, until the shortest file ends (at most ``max_examples`` when positive)."""
        examples = []
        with contextlib.ExitStack() as stack:  # closes the files already opened when a later one is missing
            handles = [stack.enter_context(open_text(path)) for path in self.filepaths]
            for lines in zip(*handles, strict=False):  # the shortest file ends it
                texts = [line.rstrip("\r\n") for line in lines]
                examples.append(InputExample(guid=str(len(examples)), texts=texts, label=1))
                if 0 < max_examples <= len(examples):
                    break
        return examples
