"""What spamwatch has locked and held: the memory ``release`` and ``--list`` need.

The map says which logins Postfix refuses; it cannot say when, why, by whom,
or which queue ids were put on hold for each (``postqueue -j`` knows senders,
not logins). The ledger keeps that, plus the times of automatic locks for the
hourly limit, in a small JSON file (``[contain] state_dir/contain.json``),
written atomically. ``Ledger.locked()`` holds an exclusive lock on
``contain.json.lock`` for a whole operation, so ``follow`` and a ``spamwatch
contain`` typed at the same moment take turns instead of losing an update.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from spamwatch.errors import ContainError
from spamwatch.follow.state import atomic_write
from spamwatch.safefiles import give_to_directory_owner, open_service_file

LEDGER_VERSION = 1
MAX_HELD_IDS = 100_000
"""Queue ids remembered per login (a bound: a hostile log cannot grow the file forever)."""


@dataclass
class Entry:
    """One login spamwatch contained."""

    login: str
    at: str  # wall-clock ISO time of the lock
    by: str
    trigger: str  # auto | manual
    incident: str
    reason: str
    locked: bool  # the map line was written (and postmap succeeded)
    held: list[str] = field(default_factory=list)

    @classmethod
    def from_json(cls, data: Any) -> Entry:
        return cls(
            login=str(data["login"]),
            at=str(data["at"]),
            by=str(data.get("by", "")),
            trigger=str(data.get("trigger", "")),
            incident=str(data.get("incident", "")),
            reason=str(data.get("reason", "")),
            locked=bool(data.get("locked", False)),
            held=[str(q) for q in data.get("held", [])][:MAX_HELD_IDS],
        )


@dataclass
class LedgerData:
    """The ledger's content."""

    entries: dict[str, Entry] = field(default_factory=dict)
    auto_locks: list[str] = field(default_factory=list)  # ISO times, for the hourly limit

    def recent_auto(self, now: datetime, span: timedelta = timedelta(hours=1)) -> int:
        """Automatic locks in the last ``span`` of wall-clock time."""
        cutoff = now - span
        return sum(1 for at in self.auto_locks if _parse(at) > cutoff)

    def note_auto(self, now: datetime) -> None:
        """Remember an automatic lock (older than a day are forgotten)."""
        cutoff = now - timedelta(days=1)
        self.auto_locks = [at for at in self.auto_locks if _parse(at) > cutoff]
        self.auto_locks.append(now.isoformat(timespec="milliseconds"))


def _parse(text: str) -> datetime:
    try:
        when = datetime.fromisoformat(text)
    except ValueError:
        return datetime.min.replace(tzinfo=UTC)
    return when if when.tzinfo else when.replace(tzinfo=UTC)


class Ledger:
    """The ledger file at ``path`` and its lock."""

    def __init__(self, path: str) -> None:
        self.path = path

    @contextlib.contextmanager
    def locked(self) -> Iterator[LedgerData]:
        """Hold the ledger for one operation; it is saved when the block ends normally."""
        directory = os.path.dirname(self.path)
        try:
            os.makedirs(directory, mode=0o750, exist_ok=True)
            fd = open_service_file(self.path + ".lock", os.O_RDWR | os.O_CREAT)
        except OSError as exc:
            raise ContainError(
                f"{directory}: cannot use the containment state directory ({exc.strerror});"
                " set [contain] state_dir to a directory spamwatch may write"
            ) from None
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            data = self.load()
            before = self._dump(data)
            yield data
            if self._dump(data) != before:
                self.save(data)
        finally:
            os.close(fd)

    def load(self) -> LedgerData:
        """The ledger as saved (empty when there is none yet)."""
        try:
            with open(self.path, "rb") as handle:
                raw = json.loads(handle.read())
        except FileNotFoundError:
            return LedgerData()
        except OSError as exc:
            raise ContainError(f"{self.path}: cannot read the ledger: {exc.strerror}") from None
        except ValueError as exc:
            raise ContainError(f"{self.path}: corrupt ledger ({exc}); move it away") from None
        try:
            entries = {k: Entry.from_json(v) for k, v in raw.get("entries", {}).items()}
            autos = [str(a) for a in raw.get("auto_locks", [])]
        except (KeyError, TypeError, AttributeError) as exc:
            raise ContainError(f"{self.path}: corrupt ledger ({exc}); move it away") from None
        return LedgerData(entries, autos)

    def save(self, data: LedgerData) -> None:
        try:
            atomic_write(os.path.dirname(self.path), self.path, self._dump(data).encode())
            give_to_directory_owner(self.path)
        except OSError as exc:
            raise ContainError(f"{self.path}: cannot write the ledger: {exc.strerror}") from None

    @staticmethod
    def _dump(data: LedgerData) -> str:
        payload = {
            "version": LEDGER_VERSION,
            "entries": {k: asdict(v) for k, v in sorted(data.entries.items())},
            "auto_locks": data.auto_locks,
        }
        return json.dumps(payload, indent=1, ensure_ascii=True) + "\n"
