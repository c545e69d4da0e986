"""InputExample: one training example of the 2.x API (texts and a label)."""

from __future__ import annotations

from typing import Any


class InputExample:
    """Texts of one example (a pair, a triplet, or a single text) and its label.

    Args:
        guid: Optional identifier.
        texts: The texts, in the order the loss expects them.
        label: A float score or an int class.
    """

    def __init__(self, guid: str = "", texts: list[Any] | None = None, label: int | float = 0) -> None:
        self.guid = guid
        self.texts = list(texts) if texts is not None else []
        self.label = label

    def __repr__(self) -> str:
        return f"<InputExample> label: {self.label}, texts: {'; '.join(map(str, self.texts))}"

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, InputExample):
            return NotImplemented
        return (self.guid, self.texts, self.label) == (other.guid, other.texts, other.label)
