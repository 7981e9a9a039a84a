"""The codec's single exception type."""
from __future__ import annotations


class ExiError(ValueError):
    """Malformed EXI input, or a message that does not fit the schema.

    `position` is a bit offset: into the input when decoding, into the output written so far
    when encoding. `reason` is a human-readable description.
    """

    def __init__(self, reason: str, position: int = 0):
        super().__init__(reason, position)
        self.reason = reason
        self.position = position

    def __str__(self) -> str:
        return f"{self.reason} (at bit {self.position}, byte {self.position // 8})"
