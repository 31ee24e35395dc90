"""The ``follow --state`` file: where each source stopped, and what was alerted.

``follow`` runs for months and is restarted by systemd, by package upgrades and
by reboots. The state file is what makes a restart invisible: each file's
identity (device, inode, fingerprint of its first bytes) and the byte offset
after the last line handed to the pipeline, the journal cursor, and the keys of
findings already alerted (so the warm-up after a restart does not alert them a
second time). It is small JSON, written atomically (temporary file, fsync,
rename, fsync of the directory), so a crash or power cut leaves either the old
or the new state, never a torn one. A lock file beside it keeps two ``follow``
processes from sharing one state.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import tempfile
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from spamwatch.errors import StateError
from spamwatch.safefiles import UnsafeFile, open_own, open_regular, private_dir_problem
from spamwatch.sources.base import FilePosition, JournalPosition, Position

STATE_VERSION = 1
DEFAULT_DIR = "/var/lib/spamwatch"
DEFAULT_NAME = "follow.state"
MAX_ALERTED = 10_000
"""At most this many alerted keys are kept (the oldest go first)."""
ALERTED_MAX_AGE = timedelta(days=7)
"""An alerted key not refreshed for this long (log time) is forgotten."""


@dataclass(frozen=True, slots=True)
class AlertedKey:
    """A finding that was already sent out: enough to recognise it after a restart."""

    detector: str
    host: str | None
    key: str
    severity: str
    state: str
    time: datetime  # log time of the last record sent
    counts: Mapping[str, float] = field(default_factory=dict)  # the counts it said

    @property
    def ident(self) -> tuple[str, str | None, str]:
        return (self.detector, self.host, self.key)

    def to_json(self) -> dict[str, Any]:
        return {
            "detector": self.detector,
            "host": self.host,
            "key": self.key,
            "severity": self.severity,
            "state": self.state,
            "time": self.time.isoformat(),
            "counts": dict(self.counts),
        }

    @classmethod
    def from_json(cls, data: Any) -> AlertedKey:
        time = datetime.fromisoformat(data["time"])
        if time.tzinfo is None:
            raise ValueError("alerted time without a time zone")
        return cls(
            detector=str(data["detector"]),
            host=None if data.get("host") is None else str(data["host"]),
            key=str(data["key"]),
            severity=str(data["severity"]),
            state=str(data["state"]),
            time=time,
            counts=_counts(data.get("counts", {})),
        )


def _counts(raw: Any) -> dict[str, float]:
    """The counts of an alerted record (absent in state files before they were kept)."""
    if not isinstance(raw, dict):
        raise ValueError("alerted counts must be a table")
    return {str(k): float(v) for k, v in raw.items() if isinstance(v, int | float)}


@dataclass(slots=True)
class FollowState:
    """Everything ``follow`` needs to carry across a restart (mutable, owned by one run)."""

    files: dict[str, FilePosition] = field(default_factory=dict)
    journal_cursor: str | None = None
    journal_time: int | None = None  # __REALTIME_TIMESTAMP (µs) of the cursor's entry
    alerted: dict[tuple[str, str | None, str], AlertedKey] = field(default_factory=dict)

    def keep(self, key: str, position: Position) -> None:
        """Record where the source kept under ``key`` stopped (a file's path, "journal")."""
        if isinstance(position, FilePosition):
            self.files[key] = position
        elif isinstance(position, JournalPosition):
            self.journal_cursor, self.journal_time = position.cursor, position.realtime

    def remember_alert(self, entry: AlertedKey) -> None:
        """Record a sent finding record; a resolved one is forgotten (it is over)."""
        self.alerted.pop(entry.ident, None)
        if entry.state != "resolved":
            self.alerted[entry.ident] = entry
        self._bound_alerted(entry.time)

    def _bound_alerted(self, now: datetime) -> None:
        """Keep the alerted table bounded: drop stale keys, then the oldest."""
        stale = [k for k, v in self.alerted.items() if now - v.time > ALERTED_MAX_AGE]
        for ident in stale:
            del self.alerted[ident]
        while len(self.alerted) > MAX_ALERTED:
            del self.alerted[next(iter(self.alerted))]

    def to_json(self) -> dict[str, Any]:
        return {
            "version": STATE_VERSION,
            "files": {path: pos.to_json() for path, pos in sorted(self.files.items())},
            "journal": {"cursor": self.journal_cursor, "realtime": self.journal_time},
            "alerted": [entry.to_json() for entry in self.alerted.values()],
        }

    @classmethod
    def from_json(cls, data: Any) -> FollowState:
        """Rebuild from JSON; raises ValueError (or Key/TypeError) when malformed."""
        if not isinstance(data, dict) or data.get("version") != STATE_VERSION:
            raise ValueError(f"not a spamwatch state (version {STATE_VERSION}) document")
        files = {str(p): FilePosition.from_json(v) for p, v in data.get("files", {}).items()}
        journal = data.get("journal") or {}
        cursor = journal.get("cursor")
        realtime = journal.get("realtime")
        if cursor is not None and not isinstance(cursor, str):
            raise ValueError("journal cursor must be a string")
        if realtime is not None and not isinstance(realtime, int):
            raise ValueError("journal realtime must be an integer")
        entries = _alerted_from(data.get("alerted", []))
        return cls(files=files, journal_cursor=cursor, journal_time=realtime, alerted=entries)


def _alerted_from(items: Iterable[Any]) -> dict[tuple[str, str | None, str], AlertedKey]:
    entries = [AlertedKey.from_json(item) for item in items]
    return {entry.ident: entry for entry in entries}


class StateFile:
    """One state file on disk: locked while in use, loaded once, saved atomically."""

    def __init__(self, path: str) -> None:
        self.path = os.path.abspath(path)
        self._lock_fd: int | None = None
        self._last_saved: str | None = None

    def lock(self) -> None:
        """Take the lock beside the state file, so a second ``follow`` cannot share it.

        The state's directory is checked first (``safefiles.private_dir_problem``):
        where another user can write, a planted lock symlink would have root
        create its target, a planted state would steer the next start.
        """
        self._check_directory()
        lock_path = self.path + ".lock"
        try:
            fd = open_own(lock_path, os.O_RDWR | os.O_CREAT, 0o600)
        except UnsafeFile as exc:
            raise StateError(f"{lock_path}: {exc.strerror}") from None
        except OSError as exc:
            raise StateError(f"{lock_path}: cannot create lock file: {_reason(exc)}") from None
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            os.close(fd)
            raise StateError(
                f"{self.path}: in use by another spamwatch follow (lock {lock_path})"
            ) from None
        self._lock_fd = fd

    def _check_directory(self) -> None:
        directory = os.path.dirname(self.path)
        try:
            problem = private_dir_problem(directory)
        except OSError as exc:
            raise StateError(f"{directory}: cannot use state directory: {_reason(exc)}") from None
        if problem:
            raise StateError(
                f"{directory}: state directory {problem}; choose a directory only"
                " spamwatch's user can write to (--state)"
            )

    def unlock(self) -> None:
        if self._lock_fd is not None:
            os.close(self._lock_fd)
            self._lock_fd = None

    def load(self) -> FollowState:
        """The saved state, or a fresh one when the file does not exist yet."""
        if os.path.isdir(self.path):
            raise StateError(f"{self.path}: is a directory, not a state file")
        try:
            with os.fdopen(open_regular(self.path, follow=False), "rb") as handle:
                raw = handle.read()
        except FileNotFoundError:
            return FollowState()
        except UnsafeFile as exc:
            raise StateError(f"{self.path}: {exc.strerror}; not a state file") from None
        except OSError as exc:
            raise StateError(f"{self.path}: cannot read state file: {_reason(exc)}") from None
        try:
            state = FollowState.from_json(json.loads(raw))
        except RecursionError:
            raise StateError(
                f"{self.path}: corrupt state file (nested too deeply); move it away to start afresh"
            ) from None
        except (ValueError, KeyError, TypeError, AttributeError) as exc:
            raise StateError(
                f"{self.path}: corrupt state file ({exc}); move it away to start afresh"
            ) from None
        self._last_saved = _dump(state)
        return state

    def save(self, state: FollowState) -> bool:
        """Write ``state`` atomically when it changed; returns True when written."""
        text = _dump(state)
        if text == self._last_saved:
            return False
        directory = os.path.dirname(self.path)
        try:
            atomic_write(directory, self.path, text.encode())
        except OSError as exc:
            raise StateError(f"{self.path}: cannot write state file: {_reason(exc)}") from None
        self._last_saved = text
        return True


def _dump(state: FollowState) -> str:
    return json.dumps(state.to_json(), indent=1, sort_keys=True) + "\n"


def atomic_write(directory: str, path: str, data: bytes) -> None:
    """Write, fsync, rename, fsync the directory: old or new, never torn."""
    fd, tmp = tempfile.mkstemp(prefix=".state-", suffix=".tmp", dir=directory)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(tmp, 0o600)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    dir_fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)


def default_state_path(name: str = DEFAULT_NAME) -> tuple[str, bool]:
    """The file ``name`` (the state file; the profile database) in spamwatch's state
    directory, and whether it is the system one.

    ``/var/lib/spamwatch/NAME`` when that directory is (or can be made)
    writable, else under ``$XDG_STATE_HOME`` (``~/.local/state``); the caller
    says where when it is not the system one.
    """
    system = os.path.join(DEFAULT_DIR, name)
    if _writable_dir(DEFAULT_DIR):
        return system, True
    base = os.environ.get("XDG_STATE_HOME") or os.path.expanduser("~/.local/state")
    return os.path.join(base, "spamwatch", name), False


def ensure_parent(path: str) -> None:
    """Create the state file's directory when missing; StateError when impossible."""
    directory = os.path.dirname(os.path.abspath(path))
    try:
        os.makedirs(directory, mode=0o750, exist_ok=True)
    except OSError as exc:
        raise StateError(f"{directory}: cannot create state directory: {_reason(exc)}") from None
    if not os.access(directory, os.W_OK | os.X_OK):
        raise StateError(f"{directory}: state directory is not writable")


def _writable_dir(directory: str) -> bool:
    try:
        os.makedirs(directory, mode=0o750, exist_ok=True)
    except OSError:
        return False
    return os.access(directory, os.W_OK | os.X_OK)


def _reason(exc: OSError) -> str:
    return exc.strerror or str(exc)
