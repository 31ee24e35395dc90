"""What every source shares: where reading of a file stopped (``FilePosition``).

A position is what a source hands to whoever keeps state (``follow``'s state
file), and what it is given back to resume from after a restart.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True, slots=True)
class FilePosition:
    """Where reading of one file stopped, and how to recognise that file again.

    Inodes are reused once a file is deleted, so the inode alone does not say
    "same file": ``fp`` is the SHA-256 of the file's first ``fp_len`` bytes.
    ``offset`` is the byte just after the last complete line handed on.
    """

    dev: int
    ino: int
    fp: str
    fp_len: int
    offset: int

    def to_json(self) -> dict[str, Any]:
        return {
            "dev": self.dev,
            "ino": self.ino,
            "fp": self.fp,
            "fp_len": self.fp_len,
            "offset": self.offset,
        }

    @classmethod
    def from_json(cls, data: Any) -> FilePosition:
        """Read a position back; raises ValueError/KeyError/TypeError when malformed."""
        values = {name: data[name] for name in ("dev", "ino", "fp_len", "offset")}
        if not all(isinstance(v, int) and v >= 0 for v in values.values()):
            raise ValueError("file position numbers must be non-negative integers")
        if not isinstance(data["fp"], str):
            raise ValueError("file fingerprint must be a string")
        return cls(fp=data["fp"], **values)
