"""The ``follow --state`` file: where each source stopped, and what was alerted.

``follow`` runs for months and is restarted by systemd, by package upgrades and
by reboots. The state file is what makes a restart invisible: each file's
identity (device, inode, fingerprint of its first bytes) and the byte offset
after the last line handed to the pipeline, the journal cursor, and the
incidents still open whose records went out (so the warm-up after a restart
does not alert the same incident a second time, while a new incident of the
same login is new). It is small JSON, written atomically (temporary file, fsync,
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
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from spamwatch.errors import StateError
from spamwatch.model import Severity
from spamwatch.safefiles import UnsafeFile, open_own, open_regular, private_dir_problem
from spamwatch.sources.base import FilePosition, JournalPosition, Position

STATE_VERSION = 2
"""2: incidents sent (per login or host); 1 kept alerted findings (read and converted)."""
DEFAULT_DIR = "/var/lib/spamwatch"
DEFAULT_NAME = "follow.state"
MAX_ALERTED = 10_000
"""At most this many sent incidents are kept (the oldest go first)."""
ALERTED_MAX_AGE = timedelta(days=7)
"""A sent incident not refreshed for this long (log time) is forgotten."""


@dataclass(frozen=True, slots=True)
class SentIncident:
    """An incident whose records went out: enough to recognise it after a restart.

    ``id`` and ``opened_at`` are what the sinks know it by (a restart keeps
    them for the same incident); ``last_seen`` decides whether an incident
    seen after the restart is this one going on or a new one.
    """

    key_kind: str
    key: str
    id: str
    severity: str
    state: str
    opened_at: datetime
    time: datetime  # log time of the last record sent
    last_seen: datetime

    @property
    def ident(self) -> tuple[str, str]:
        return (self.key_kind, self.key)

    def to_json(self) -> dict[str, Any]:
        return {
            "key_kind": self.key_kind,
            "key": self.key,
            "id": self.id,
            "severity": self.severity,
            "state": self.state,
            "opened_at": self.opened_at.isoformat(),
            "time": self.time.isoformat(),
            "last_seen": self.last_seen.isoformat(),
        }

    @classmethod
    def from_json(cls, data: Any) -> SentIncident:
        times = {name: _aware(data[name]) for name in ("opened_at", "time", "last_seen")}
        return cls(
            key_kind=str(data["key_kind"]),
            key=str(data["key"]),
            id=str(data["id"]),
            severity=str(Severity.parse(str(data["severity"]))),
            state=str(data["state"]),
            **times,
        )


def _aware(text: Any) -> datetime:
    when = datetime.fromisoformat(str(text))
    if when.tzinfo is None:
        raise ValueError("a time without a time zone")
    return when


LOGIN_DETECTORS = frozenset({"burst", "addresses", "sender", "bounces"})
"""Version 1 alerted keys of these detectors were SASL logins."""


def _from_version_1(items: Iterable[Any]) -> list[SentIncident]:
    """Version 1 kept one alerted key per detector and key: each becomes its incident.

    So an incident open when spamwatch is upgraded is recognised by the new
    version (not alerted again); keys that named a client address (auth per
    address) are left out: they belong to no incident of their own now.
    """
    out: dict[tuple[str, str], SentIncident] = {}
    for item in items:
        detector, key, host = str(item["detector"]), str(item["key"]), item.get("host")
        if detector in LOGIN_DETECTORS or (detector == "auth" and key != host and "@" in key):
            kind = "sasl_username"
        elif detector in ("queue", "auth") and key == host:
            kind = "host"
        else:
            continue
        time = _aware(item["time"])
        severity = Severity.parse(str(item["severity"]))
        before = out.get((kind, key))
        if before is not None:
            severity = max(severity, Severity.parse(before.severity))
            time = max(time, before.time)
        ident = f"{kind}:{key}:{time.isoformat()}"
        out[(kind, key)] = SentIncident(kind, key, ident, str(severity), "opened", time, time, time)
    return list(out.values())


@dataclass(slots=True)
class FollowState:
    """Everything ``follow`` needs to carry across a restart (mutable, owned by one run)."""

    files: dict[str, FilePosition] = field(default_factory=dict)
    journal_cursor: str | None = None
    journal_time: int | None = None  # __REALTIME_TIMESTAMP (µs) of the cursor's entry
    incidents: dict[tuple[str, str], SentIncident] = field(default_factory=dict)

    def keep(self, key: str, position: Position) -> None:
        """Record where the source kept under ``key`` stopped (a file's path, "journal")."""
        if isinstance(position, FilePosition):
            self.files[key] = position
        elif isinstance(position, JournalPosition):
            self.journal_cursor, self.journal_time = position.cursor, position.realtime

    def remember_incident(self, entry: SentIncident) -> None:
        """Record a sent incident record; a resolved incident is forgotten (it is over)."""
        self.incidents.pop(entry.ident, None)
        if entry.state != "resolved":
            self.incidents[entry.ident] = entry
        self._bound(entry.time)

    def _bound(self, now: datetime) -> None:
        """Keep the table bounded: drop stale incidents, then the oldest."""
        stale = [k for k, v in self.incidents.items() if now - v.time > ALERTED_MAX_AGE]
        for ident in stale:
            del self.incidents[ident]
        while len(self.incidents) > MAX_ALERTED:
            del self.incidents[next(iter(self.incidents))]

    def to_json(self) -> dict[str, Any]:
        return {
            "version": STATE_VERSION,
            "files": {path: pos.to_json() for path, pos in sorted(self.files.items())},
            "journal": {"cursor": self.journal_cursor, "realtime": self.journal_time},
            "incidents": [entry.to_json() for entry in self.incidents.values()],
        }

    @classmethod
    def from_json(cls, data: Any) -> FollowState:
        """Rebuild from JSON (this version or 1); ValueError (or Key/TypeError) when malformed."""
        if not isinstance(data, dict) or data.get("version") not in (1, STATE_VERSION):
            raise ValueError(f"not a spamwatch state (version 1 or {STATE_VERSION}) document")
        files = {str(p): FilePosition.from_json(v) for p, v in data.get("files", {}).items()}
        journal = data.get("journal") or {}
        cursor = journal.get("cursor")
        realtime = journal.get("realtime")
        if cursor is not None and not isinstance(cursor, str):
            raise ValueError("journal cursor must be a string")
        if realtime is not None and not isinstance(realtime, int):
            raise ValueError("journal realtime must be an integer")
        if data["version"] == 1:
            entries = _from_version_1(data.get("alerted", []))
        else:
            entries = [SentIncident.from_json(item) for item in data.get("incidents", [])]
        incidents = {entry.ident: entry for entry in entries}
        return cls(files=files, journal_cursor=cursor, journal_time=realtime, incidents=incidents)


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
