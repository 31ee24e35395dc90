"""The spool: findings a sink could not deliver, kept on disk until it can.

One JSON Lines file (``alerts.spool.jsonl`` in the spool directory) shared
by every sink of every spamwatch process on the machine; each line names the
sink's URI, so a sink takes back only its own findings when it starts or
recovers.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import threading
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from spamwatch.model import Finding

SPOOL_NAME = "alerts.spool.jsonl"


class Spool:
    """Undelivered findings of every sink, one JSON object per line.

    Each line is ``{"sink": URI, "spooled_at": ..., "reason": ..., "finding":
    Finding.to_json()}``. The file is created 0600 (a URI may hold a token) on
    first use only, so a run that never spools leaves nothing behind. A lock
    file serialises writers across threads and processes. Above ``max_bytes``
    new findings are refused (and reported) rather than filling the disk.
    """

    def __init__(self, directory: str | os.PathLike[str], max_bytes: int = 64 << 20) -> None:
        self.directory = Path(directory)
        self.path = self.directory / SPOOL_NAME
        self.max_bytes = max_bytes
        self._lock = threading.Lock()

    @contextlib.contextmanager
    def _locked(self) -> Any:
        with self._lock:
            self.directory.mkdir(parents=True, exist_ok=True, mode=0o700)
            fd = os.open(self.directory / (SPOOL_NAME + ".lock"), os.O_CREAT | os.O_RDWR, 0o600)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX)
                yield
            finally:
                os.close(fd)

    def append(self, uri: str, findings: list[Finding], reason: str, sync: bool = True) -> bool:
        """Add findings for ``uri``; False when the spool is full or unwritable.

        ``sync`` fsyncs the file (a crash of the machine keeps them); the
        overflow path of ``Delivery.put`` runs in the pipeline's thread and
        skips it to stay cheap.
        """
        stamp = datetime.now(UTC).isoformat(timespec="seconds")
        lines = "".join(
            json.dumps({"sink": uri, "spooled_at": stamp, "reason": reason, "finding": f.to_json()})
            + "\n"
            for f in findings
        )
        try:
            with self._locked():
                fd = os.open(self.path, os.O_CREAT | os.O_WRONLY | os.O_APPEND, 0o600)
                try:
                    if os.fstat(fd).st_size + len(lines) > self.max_bytes:
                        os.close(fd)
                        return False
                    os.write(fd, lines.encode())
                except OSError:
                    os.close(fd)
                    raise
            try:  # outside the lock: other sinks need not wait for the disk
                if sync:
                    os.fsync(fd)
            finally:
                os.close(fd)
        except OSError:
            return False
        return True

    def take(self, uri: str) -> list[Finding]:
        """Remove and return the findings spooled for ``uri`` (others stay)."""
        if not self.path.exists():
            return []
        mine: list[Finding] = []
        keep: list[str] = []
        with self._locked():
            try:
                raw = self.path.read_text(encoding="utf-8", errors="replace")
            except FileNotFoundError:
                return []
            for line in raw.splitlines():
                record = _read_record(line)
                if record is None:
                    continue  # a torn or foreign line: nothing to deliver
                if record[0] == uri:
                    mine.append(record[1])
                else:
                    keep.append(line + "\n")
            if mine:
                self._rewrite(keep)
        return mine

    def pending(self) -> list[tuple[str, Finding]]:
        """Every (uri, finding) in the spool, for tests and diagnostics."""
        if not self.path.exists():
            return []
        records = (_read_record(line) for line in self.path.read_text().splitlines())
        return [record for record in records if record is not None]

    def _rewrite(self, lines: list[str]) -> None:
        tmp = self.path.with_name(self.path.name + ".tmp")
        fd = os.open(tmp, os.O_CREAT | os.O_WRONLY | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.writelines(lines)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, self.path)


def _read_record(line: str) -> tuple[str, Finding] | None:
    try:
        data = json.loads(line)
        return str(data["sink"]), Finding.from_json(data["finding"])
    except (ValueError, KeyError, TypeError):
        return None
