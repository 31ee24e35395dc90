"""``jsonl:-`` / ``jsonl:/path``: one incident JSON object per line, flushed at once.

Each line is the record's JSON form plus its ``alert_id`` (the same record
written again after a crash and restart has the same id, so a reader can
drop the repeat). The file is opened for appending (created 0640 when
missing) and every line is written in a single ``write`` and flushed, so a
reader tailing it never sees half a record and a crash of spamwatch loses
nothing already sent; ``sync`` (called before ``follow`` saves its state)
makes the lines durable. Control characters inside strings are escaped by
JSON (see ``text.json_line``).
"""

from __future__ import annotations

import os
import sys
from typing import TextIO

from spamwatch.errors import SinkError
from spamwatch.model import Incident
from spamwatch.safefiles import UnsafeFile, open_own
from spamwatch.sinks.base import Sink
from spamwatch.sinks.text import alert_line


class JsonlSink(Sink):
    """Append each incident record as a JSON line to stdout (``-``) or a file."""

    scheme = "jsonl"
    description = "JSON Lines: one incident record per line, to stdout (jsonl:-) or a file"
    option_names = frozenset()

    def setup(self) -> None:
        """Check the options; see the module docstring."""
        super().setup()
        self._own = False
        self._unsynced = False
        self.stream: TextIO = sys.stdout
        if self.target not in ("", "-"):
            self.stream = _open_append(self.target)
            self._own = True

    def send(self, finding: Incident) -> None:
        """Write one line and flush."""
        self.stream.write(alert_line(finding) + "\n")
        self.stream.flush()
        self._unsynced = True

    def sync(self) -> None:
        """fsync the file when lines were written since the last sync (never stdout)."""
        if self._own and self._unsynced:
            os.fsync(self.stream.fileno())
            self._unsynced = False

    def close(self) -> None:
        """Close the file (never stdout)."""
        if self._own:
            self.stream.close()


def _open_append(path: str) -> TextIO:
    """The alert file, opened to append: never through a symlink or a hard link,
    never a FIFO, never a file of another user (``safefiles.open_own``)."""
    try:
        fd = open_own(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o640)
    except UnsafeFile as exc:
        raise SinkError(f"jsonl:{path}: {exc.strerror}") from None
    except OSError as exc:
        raise SinkError(f"jsonl:{path}: cannot open for appending: {exc.strerror}") from None
    return os.fdopen(fd, "a", encoding="utf-8", buffering=1)
