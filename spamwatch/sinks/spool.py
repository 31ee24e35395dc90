"""The spool: a write-ahead queue on disk for every queued sink.

A record given to a queued sink is written here, one file per record, before
``send`` returns, and removed only once that sink has delivered it. So a
``kill -9`` at any moment loses nothing: what was not delivered is still on
disk, and the next start of a sink with the same URI delivers it, oldest
first. A delivered record leaves a small marker named by its ``alert_id``
(``done/``), so the same record made again after a crash (the warm-up
re-deriving it) is recognised and not delivered a second time.

Layout of the spool directory (mode 0700, refused when another user owns it
or others may write to it)::

    SINK/                  first 16 hex digits of sha256(sink URI): a URI may hold a token
      run-PID-RANDOM/      one per sink per process; its ``lock`` is flock'd while it lives
        SEQ.json           one record waiting: {"sink", "made", "alert_id", "kind", "record"}
      done/ALERT_ID        delivered recently (kept DONE_KEEP entries, DONE_DAYS days)

A run directory whose lock is free belongs to a process that ended: the next
sink with that URI adopts its records (holding its lock while it delivers
them), so two processes never deliver the same entry. Files are created with
``O_EXCL | O_NOFOLLOW`` under unpredictable temporary names and renamed into
place, so a torn write is never read and a planted symlink is never followed.
Writes are made durable in groups (``sync``): the caller syncs before it
records anywhere else that an alert was sent.
"""

from __future__ import annotations

import contextlib
import ctypes
import ctypes.util
import fcntl
import functools
import hashlib
import json
import os
import secrets
import stat
import threading
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from spamwatch.sinks.record import Record, decode_record, record_kind

MAX_BYTES = 64 << 20
"""Bytes of waiting records one sink may keep; beyond, new records are refused."""
MAX_ENTRY = 1 << 20
"""A spool file larger than this is not a record of ours: skipped."""
SYNC_EVERY = 4096
"""Records written without a ``sync`` before ``write`` syncs by itself (bounds the list)."""
DONE_KEEP = 10_000
DONE_DAYS = 7


class SpoolError(OSError):
    """The spool cannot be used (unsafe directory, full); an OSError like the disk's own."""


@dataclass(eq=False)
class Entry:
    """One record waiting for one sink: on disk (``path``), in memory (``record``), or both.

    ``record`` None: not cached, read back from ``path`` when its turn comes.
    ``path`` None: the spool could not take it, it lives in memory only.
    ``outcome`` becomes "delivered" or "lost" when the sink is done with it.
    """

    alert_id: str
    seq: str
    record: Record | None = None
    path: Path | None = None
    size: int = 0
    outcome: str | None = None


@dataclass
class _Unsynced:
    paths: list[Path] = field(default_factory=list)
    dirs: set[Path] = field(default_factory=set)


class Spool:
    """The spool directory shared by every sink of every spamwatch process.

    ``for_sink(uri)`` gives one sink's queue (``SinkSpool``); ``pending()``
    lists what waits, for diagnostics and tests.
    """

    def __init__(self, directory: str | os.PathLike[str], max_bytes: int = MAX_BYTES) -> None:
        self.directory = Path(directory)
        self.max_bytes = max_bytes

    @property
    def path(self) -> Path:
        """The spool directory (what messages name)."""
        return self.directory

    def for_sink(self, uri: str) -> SinkSpool:
        """The queue of the sink with this URI (not opened yet)."""
        return SinkSpool(self, uri)

    def sink_dir(self, uri: str) -> Path:
        return self.directory / hashlib.sha256(uri.encode()).hexdigest()[:16]

    def pending(self) -> list[tuple[str, Record]]:
        """Every (uri, record) waiting in the spool, oldest first (read-only)."""
        if not self.directory.is_dir():
            return []
        found: list[tuple[str, str, Record]] = []
        for path in self.directory.glob("*/run-*/*.json"):
            data = _read_entry(path)
            if data is not None:
                found.append((path.name, data["sink"], decode_record(data)))
        return [(uri, record) for _, uri, record in sorted(found, key=lambda f: f[0])]


class SinkSpool:
    """One sink's queue on disk, for one process (see the module docstring)."""

    def __init__(self, spool: Spool, uri: str) -> None:
        self.spool = spool
        self.uri = uri
        self.base = spool.sink_dir(uri)
        self.done_dir = self.base / "done"
        self.run: Path | None = None
        self.bytes = 0
        self._locks: dict[Path, int] = {}  # run directory -> its flock'd lock fd
        self._counter = 0
        self._done_since_prune = 0
        self._unsynced = _Unsynced()
        self._mutex = threading.Lock()

    # -- opening and adopting -------------------------------------------------

    def open(self) -> list[Entry]:
        """Make this process's run directory; adopt and return what dead runs left.

        Raises OSError (SpoolError for an unsafe directory): the caller then
        works without a spool and says so.
        """
        _safe_dir(self.spool.directory)
        _safe_dir(self.base)
        _safe_dir(self.done_dir)
        adopted = self._adopt()
        run = self.base / f"run-{os.getpid()}-{secrets.token_hex(4)}"
        os.mkdir(run, 0o700)
        self._locks[run] = _lock(run, blocking=True)
        self.run = run
        self._prune_done()
        return adopted

    def _adopt(self) -> list[Entry]:
        entries: list[Entry] = []
        for run in sorted(self.base.glob("run-*")):
            if run in self._locks or not run.is_dir() or run.is_symlink():
                continue
            try:
                fd = _lock(run, blocking=False)
            except BlockingIOError:
                continue  # a live process owns it
            except OSError:
                continue
            self._locks[run] = fd
            for path in run.glob("*.json"):
                data = _read_entry(path)
                if data is None:
                    continue
                size = path.stat().st_size
                self.bytes += size
                entries.append(Entry(str(data["alert_id"]), path.name, path=path, size=size))
            _remove_stale_temporaries(run)
        entries.sort(key=lambda e: e.seq)
        return entries

    # -- writing ------------------------------------------------------------

    def write(self, record: Record, alert_id: str) -> Entry:
        """Put one record on disk (not yet fsync'd: see ``sync``); OSError when impossible."""
        if self.run is None:
            raise SpoolError("the spool is not open")
        made = datetime.now(UTC).isoformat(timespec="milliseconds")
        data = {
            "sink": self.uri,
            "made": made,
            "alert_id": alert_id,
            "kind": record_kind(record),
            "record": record.to_json(),
        }
        body = (json.dumps(data, ensure_ascii=True) + "\n").encode("ascii")
        with self._mutex:
            if self.bytes + len(body) > self.spool.max_bytes:
                raise SpoolError(f"the spool holds {self.spool.max_bytes >> 20} MiB already")
            self._counter += 1
            seq = f"{time.time_ns():020d}-{os.getpid():07d}-{self._counter:06d}.json"
            path = self.run / seq
            _create_renamed(self.run, path, body)
            self._unsynced.paths.append(path)
            self._unsynced.dirs.add(self.run)
            self.bytes += len(body)
            overdue = len(self._unsynced.paths) >= SYNC_EVERY
        if overdue:  # nobody synced for a long while (a long report): do it now
            self.sync()
        return Entry(alert_id, seq, record, path, len(body))

    def sync(self) -> None:
        """Make every record written since the last sync durable, directories included.

        One ``syncfs`` of the spool's filesystem where Linux has it (a group
        commit: one call however many records), else an fsync of each record
        not delivered meanwhile and of its directory.
        """
        with self._mutex:
            pending, self._unsynced = self._unsynced, _Unsynced()
        if not pending.paths or _syncfs(self.base):
            return
        for path in pending.paths:
            try:
                fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
            except FileNotFoundError:
                continue  # delivered meanwhile: nothing left to make durable
            try:
                os.fsync(fd)
            finally:
                os.close(fd)
        for directory in pending.dirs:
            _fsync_dir(directory)

    # -- reading and finishing ------------------------------------------------

    def load(self, entry: Entry) -> Record | None:
        """The entry's record, read back from disk when not cached (None: unreadable)."""
        if entry.record is not None:
            return entry.record
        if entry.path is None:
            return None
        data = _read_entry(entry.path)
        return None if data is None else decode_record(data)

    def done(self, entry: Entry) -> None:
        """The sink delivered ``entry``: move it to ``done/`` (emptied), freeing its bytes."""
        if entry.path is None:
            return
        marker = self.done_dir / entry.alert_id
        try:
            os.rename(entry.path, marker)
            os.truncate(marker, 0)
        except FileNotFoundError:
            pass  # gone already: nothing left to do
        except OSError:
            with contextlib.suppress(OSError):
                os.unlink(entry.path)
        with self._mutex:
            self.bytes = max(self.bytes - entry.size, 0)
            self._done_since_prune += 1
            prune = self._done_since_prune >= DONE_KEEP // 10
        if prune:
            self._prune_done()
        self._release_empty_runs()

    def delivered_before(self, alert_id: str) -> bool:
        """True when a record with this id was delivered to this sink recently."""
        return _valid_id(alert_id) and (self.done_dir / alert_id).exists()

    def close(self) -> None:
        """Release the locks; remove this run's directory when nothing waits in it."""
        with contextlib.suppress(OSError):
            self.sync()
        for run, fd in list(self._locks.items()):
            _remove_if_empty(run)
            os.close(fd)
        self._locks.clear()

    # -- internals --------------------------------------------------------------

    def _release_empty_runs(self) -> None:
        for run in [r for r in self._locks if r != self.run]:
            if _remove_if_empty(run):
                os.close(self._locks.pop(run))

    def _prune_done(self) -> None:
        """Keep ``done/`` bounded: markers older than DONE_DAYS, then the oldest, go."""
        with self._mutex:
            self._done_since_prune = 0
        try:
            markers = [(p.stat().st_mtime, p) for p in self.done_dir.iterdir()]
        except OSError:
            return
        horizon = time.time() - DONE_DAYS * 86400
        markers.sort()
        excess = max(len(markers) - DONE_KEEP, 0)
        for index, (mtime, path) in enumerate(markers):
            if index >= excess and mtime >= horizon:
                break
            with contextlib.suppress(OSError):
                path.unlink()


def _safe_dir(path: Path) -> None:
    """Create ``path`` (0700) or check that it is ours and closed to others."""
    with contextlib.suppress(FileExistsError):
        os.mkdir(path, 0o700)
    info = os.lstat(path)
    if not stat.S_ISDIR(info.st_mode):
        raise SpoolError(f"{path} is not a directory")
    if info.st_uid != os.geteuid():
        raise SpoolError(f"{path} belongs to another user (uid {info.st_uid})")
    if info.st_mode & 0o022:
        raise SpoolError(f"{path} is writable by others (mode {stat.S_IMODE(info.st_mode):04o})")


def _lock(run: Path, blocking: bool) -> int:
    """flock the run directory's ``lock`` file; BlockingIOError when a live process holds it."""
    flags = os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC
    fd = os.open(run / "lock", flags, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | (0 if blocking else fcntl.LOCK_NB))
    except BaseException:
        os.close(fd)
        raise
    return fd


def _create_renamed(directory: Path, path: Path, body: bytes) -> None:
    """Write ``body`` to a new file under an unpredictable name, rename it to ``path``.

    Not fsync'd here (``SinkSpool.sync`` does it for many at once). A reader
    never sees a half-written entry; a name planted in advance is never used.
    """
    tmp = directory / f".tmp-{secrets.token_hex(8)}"
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC
    fd = os.open(tmp, flags, 0o600)
    try:
        view = memoryview(body)
        while view:
            view = view[os.write(fd, view) :]
        os.rename(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    finally:
        os.close(fd)


def _read_entry(path: Path) -> dict[str, Any] | None:
    """A spool entry's JSON, or None when it is not a whole entry of ours."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
    except OSError:
        return None
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode) or info.st_size > MAX_ENTRY:
            return None
        raw = os.read(fd, MAX_ENTRY + 1)
    except OSError:
        return None
    finally:
        os.close(fd)
    try:
        data = json.loads(raw)
        decode_record(data)
    except (ValueError, KeyError, TypeError, AttributeError):
        return None
    if not isinstance(data, dict) or not _valid_id(str(data.get("alert_id", ""))):
        return None
    return data


def _valid_id(alert_id: str) -> bool:
    return 0 < len(alert_id) <= 64 and all(c.isalnum() or c in "-_" for c in alert_id)


def _syncfs(directory: Path) -> bool:
    """syncfs(2) on the filesystem holding ``directory``; False where there is none."""
    syncfs = _libc_syncfs()
    if syncfs is None:
        return False
    fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        if syncfs(fd) != 0:
            raise OSError(ctypes.get_errno(), os.strerror(ctypes.get_errno()))
    finally:
        os.close(fd)
    return True


@functools.cache
def _libc_syncfs() -> Any:
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
        return libc.syncfs
    except (OSError, AttributeError):
        return None


def _fsync_dir(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _remove_stale_temporaries(run: Path) -> None:
    for tmp in run.glob(".tmp-*"):
        with contextlib.suppress(OSError):
            tmp.unlink()


def _remove_if_empty(run: Path) -> bool:
    """Remove a run directory that holds nothing but its lock; True when removed."""
    try:
        names = os.listdir(run)
    except OSError:
        return False
    if any(name != "lock" and not name.startswith(".tmp-") for name in names):
        return False
    for name in names:
        with contextlib.suppress(OSError):
            os.unlink(run / name)
    with contextlib.suppress(OSError):
        os.rmdir(run)
    return True
