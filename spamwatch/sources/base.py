"""What every source shares: the ``Source`` protocol ``follow`` reads through, and positions.

``follow`` reads several sources at once (files, standard input, the journal)
without knowing which is which: each one starts, hands over the complete
lines it has (``read``), says where it is (``position``, saved in the state
file and given back after a restart), reads back the warm-up window before
that point, and is reopened on SIGHUP and closed at exit. A new kind of
source implements this protocol; the loop does not change.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Protocol

LineTime = Callable[[bytes], datetime | None]
"""The log time of a raw line, None when it has none (``Parser.line_time``)."""

Notify = Callable[[str, str], None]
"""``notify(key, message)``: tell the user once per key (the runner deduplicates)."""


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


@dataclass(frozen=True, slots=True)
class JournalPosition:
    """Where reading of the journal stopped: its cursor, and that entry's time (µs)."""

    cursor: str | None
    realtime: int | None


Position = FilePosition | JournalPosition | None
"""What a source saves to resume; None: nothing to save (a pipe, a file not seen yet)."""


class Source(Protocol):
    """A source of log lines for ``follow`` (a followed file, standard input, the journal).

    ``name`` is what messages call it; ``key`` is where its position is kept in
    the state file (None: not kept). ``watched`` lists the paths whose
    directories inotify should watch to wake the loop.
    """

    name: str
    key: str | None

    @property
    def ended(self) -> bool:
        """True once no line can ever come again (a closed pipe)."""
        ...

    @property
    def watched(self) -> tuple[str, ...]:
        """Paths to watch for changes; empty when the source wakes the loop itself."""
        ...

    def start(self) -> None:
        """Open; InputError when the source cannot be read at all."""
        ...

    def warmup(self, window: timedelta, line_time: LineTime) -> Iterable[bytes]:
        """The ``window`` of lines before where live reading starts, oldest first."""
        ...

    def read(self, budget: int) -> Iterator[bytes]:
        """The complete lines available now (about ``budget`` bytes at most)."""
        ...

    def position(self) -> Position:
        """Where to resume after a restart."""
        ...

    def finish(self) -> Iterator[bytes]:
        """Lines still to be read before a stop or a reopen (renamed-away files)."""
        ...

    def reopen(self) -> None:
        """SIGHUP: close and open again at the current position."""
        ...

    def close(self) -> None:
        """Release what is open; called once at exit."""
        ...
