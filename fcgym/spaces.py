"""Text spaces for JSON and Unicode.

`gymnasium.spaces.Text` accepts only the characters of its charset (alphanumerics by default), so JSON or
Unicode model output would fall outside it. `UnicodeText` accepts any string within its length bounds and
samples from printable ASCII.
"""

from __future__ import annotations

import string
from typing import Any

from gymnasium.spaces import Text

PRINTABLE = string.printable


class UnicodeText(Text):
    """Any ``str`` of ``min_length`` to ``max_length`` characters; samples are printable ASCII."""

    def __init__(self, max_length: int, *, min_length: int = 0, seed: int | None = None):
        super().__init__(max_length, min_length=min_length, charset=PRINTABLE, seed=seed)

    def contains(self, x: Any) -> bool:
        return isinstance(x, str) and self.min_length <= len(x) <= self.max_length

    def __repr__(self) -> str:
        return f"UnicodeText({self.min_length}, {self.max_length})"
