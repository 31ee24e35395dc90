"""Follow growing log files through every rotation style, never losing place.

A log file is identified by device + inode + a fingerprint (SHA-256) of its
first bytes, because inodes are reused the moment a file is deleted. Reading
is by byte offset (``pread``), and only complete lines are handed on: a line
without its newline waits for the rest. Each poll notices, by comparing the
path with the open file:

- rename + create (logrotate's default): the old file is read to its end
  first, and kept open for a grace period because the writer may go on
  appending to it until it is told to reopen;
- copytruncate: the same inode got shorter, or its first bytes changed;
- delete and recreate later: the open file is drained, the new one read from 0;
- missing at start: waited for, said once.

The reader never sleeps itself: a ``DirectoryWatcher`` (watchdog/inotify on the
directories, not the files, so a rename is seen) or a poll interval wakes it.
"""

from __future__ import annotations

import gzip
import hashlib
import os
import stat
import threading
import time
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import BinaryIO, Protocol

from spamwatch.errors import InputError
from spamwatch.sources.base import FilePosition
from spamwatch.sources.files import GZIP_MAGIC, MAX_LINE, open_failure
from spamwatch.sources.rotated import rotated_siblings
from spamwatch.sources.seek import find_offset, skip_before

FP_LEN = 1024
"""Bytes of a file's head hashed into its fingerprint."""
READ_BLOCK = 1 << 18
RETIRE_GRACE = 30.0
"""Seconds a renamed-away file is still read (the writer may not have reopened yet)."""

Notify = Callable[[str, str], None]
"""``notify(key, message)``: tell the user once per key (the runner deduplicates)."""


@dataclass(frozen=True, slots=True)
class Identity:
    """Which file an open descriptor is: device, inode, and its head's fingerprint."""

    dev: int
    ino: int
    fp: str
    fp_len: int

    def position(self, offset: int) -> FilePosition:
        return FilePosition(self.dev, self.ino, self.fp, self.fp_len, offset)


def head_identity(fd: int, st: os.stat_result) -> Identity:
    """Identity of the open file ``fd`` from its first ``FP_LEN`` bytes."""
    head = os.pread(fd, FP_LEN, 0)
    return Identity(st.st_dev, st.st_ino, hashlib.sha256(head).hexdigest(), len(head))


def same_head(fd: int, fp: str, fp_len: int) -> bool:
    """True when the first ``fp_len`` bytes of ``fd`` still hash to ``fp``."""
    head = os.pread(fd, fp_len, 0)
    return len(head) == fp_len and hashlib.sha256(head).hexdigest() == fp


def open_log(path: str) -> tuple[int, os.stat_result]:
    """Open a plain log file for following; InputError for what cannot be followed.

    FileNotFoundError passes through: a missing file is waited for.
    """
    try:
        fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    except FileNotFoundError:
        raise
    except OSError as exc:
        raise open_failure(path, exc) from None
    st = os.fstat(fd)
    problem = _unfollowable(fd, st)
    if problem:
        os.close(fd)
        raise InputError(f"{path}: {problem}")
    return fd, st


def _unfollowable(fd: int, st: os.stat_result) -> str | None:
    if stat.S_ISDIR(st.st_mode):
        return "is a directory, not a log file"
    if not stat.S_ISREG(st.st_mode):
        return "not a regular file (use '-' to read a pipe)"
    try:
        magic = os.pread(fd, 2, 0)
    except OSError as exc:
        return f"cannot read: {exc.strerror or exc}"
    if magic == GZIP_MAGIC:
        return "is gzip-compressed: follow reads the live log (use 'spamwatch report' for archives)"
    return None


class LineReader:
    """Complete lines from one open file, with the byte offset after the last one.

    ``read_at(pos, n)`` is ``os.pread`` for a plain file, or a sequential read of
    a decompressed gzip stream (a file compressed while spamwatch was stopped).
    A line longer than MAX_LINE is cut: its head is handed on (the parser counts
    it malformed) and its rest skipped, so memory stays bounded.
    """

    def __init__(
        self, path: str, read_at: Callable[[int, int], bytes], ident: Identity, offset: int
    ) -> None:
        self.path = path
        self.identity = ident
        self.offset = offset
        self._read_at = read_at
        self._buf = b""
        self._skipping = False

    @property
    def read_pos(self) -> int:
        return self.offset + len(self._buf)

    def lines(self, budget: int) -> Iterator[bytes]:
        """Yield complete lines until EOF or about ``budget`` bytes were read."""
        read = 0
        while read < budget:
            block = self._read_at(self.read_pos, READ_BLOCK)
            if not block:
                return
            read += len(block)
            yield from self._split(block)

    def _split(self, block: bytes) -> Iterator[bytes]:
        parts = (self._buf + block).split(b"\n")
        self._buf = parts.pop()
        for part in parts:
            self.offset += len(part) + 1
            if self._skipping:
                self._skipping = False
                continue
            yield part
        if len(self._buf) > MAX_LINE:
            head = self._buf[:MAX_LINE]
            self.offset += len(self._buf)
            self._buf = b""
            if not self._skipping:
                self._skipping = True
                yield head

    def rest(self) -> Iterator[bytes]:
        """The final line without newline of a file that will not grow any more."""
        if self._buf and not self._skipping:
            line, self._buf = self._buf, b""
            self.offset += len(line)
            yield line

    def drop_partial(self) -> None:
        """Forget a half line (its file was truncated under it)."""
        self._buf = b""
        self._skipping = False


class _Open:
    """An open plain file and its reader; closes the descriptor exactly once."""

    def __init__(self, path: str, fd: int, st: os.stat_result, offset: int) -> None:
        self.fd = fd
        self.reader = LineReader(path, self._pread, head_identity(fd, st), offset)
        self.size = st.st_size
        self.retire_at: float | None = None

    def _pread(self, pos: int, size: int) -> bytes:
        return os.pread(self.fd, size, pos)

    def refresh_identity(self) -> None:
        """Grow the fingerprint while the file is still shorter than FP_LEN."""
        ident = self.reader.identity
        if ident.fp_len < FP_LEN:
            self.reader.identity = head_identity(self.fd, os.fstat(self.fd))

    def close(self) -> None:
        if self.fd >= 0:
            os.close(self.fd)
            self.fd = -1


class TailFile:
    """Follow one path for months: rotation, truncation, deletion, absence.

    ``position`` (from the state file) resumes exactly after the last line read
    by a previous run, also when the file was rotated meanwhile (the rotated
    file is found beside it by identity and finished first). Without a
    position, reading starts at the end (or at 0 with ``from_start``); a file
    that appears later is always read from its start.
    """

    def __init__(
        self,
        path: str,
        notify: Notify,
        position: FilePosition | None = None,
        from_start: bool = False,
    ) -> None:
        self.path = os.path.abspath(path)
        self.name = path
        self._notify = notify
        self._current: _Open | None = None
        self._retired: list[_Open] = []
        self._pending: list[tuple[LineReader, _Closer]] = []  # rotated while stopped
        self._waiting = False
        self._position = position
        self._from_start = from_start
        self.boundary: tuple[str, int] | None = None
        """(path, offset) of the first byte read live; warm-up reads back from it."""

    # -- start -----------------------------------------------------------

    def start(self) -> None:
        """Open the file (InputError if it cannot be followed) and find the start."""
        try:
            fd, st = open_log(self.path)
        except FileNotFoundError:
            self._notify(f"missing:{self.path}", f"{self.name}: no such file yet, waiting for it")
            self._waiting = True
            self._resume_missing()
            return
        opened = _Open(self.path, fd, st, 0)
        self._current = opened
        pos = self._position
        if pos is None:
            offset = 0 if self._from_start else _line_start_before(fd, st.st_size)
            opened.reader.offset = offset
            self.boundary = (self.path, offset)
        elif _matches(opened.reader.identity, pos, fd):
            self._resume_same(opened, pos)
        else:
            self._resume_rotated(pos)
            self.boundary = self.boundary or (self.path, 0)

    def _resume_same(self, opened: _Open, pos: FilePosition) -> None:
        if opened.size >= pos.offset:
            opened.reader.offset = pos.offset
            self.boundary = (self.path, pos.offset)
            return
        # Shorter than where we stopped: copytruncate while stopped.
        self._resume_rotated(pos)
        self.boundary = self.boundary or (self.path, 0)

    def _resume_missing(self) -> None:
        if self._position is not None:
            self._resume_rotated(self._position)

    def _resume_rotated(self, pos: FilePosition) -> None:
        """The file we stopped in is now a sibling (mail.log.1, .gz): finish it first."""
        found = find_rotated(self.path, pos)
        if found is None:
            self._notify(
                f"lost:{self.path}",
                f"{self.name}: changed while stopped and the old file was not found beside it;"
                " reading the new file from its start (lines in between may be missed)",
            )
            return
        path, reader, closer = found
        self._pending.append((reader, closer))
        compressed = reader.identity.ino == 0
        self.boundary = None if compressed else (path, pos.offset)

    # -- reading ----------------------------------------------------------

    def read(self, budget: int = 4 << 20) -> Iterator[bytes]:
        """Yield the complete lines available now, in file order, across rotations."""
        yield from self._read_pending(budget)
        if self._pending:
            return
        for old in list(self._retired):
            yield from self._read_retired(old, budget)
        if self._current is None:
            self._try_open()
        current = self._current
        if current is None:
            return
        self._check_truncated(current)  # before reading: never read the middle of new text
        yield from self._guarded(current.reader, budget)
        yield from self._check_path(current, budget)

    def _read_pending(self, budget: int) -> Iterator[bytes]:
        while self._pending:
            reader, closer = self._pending[0]
            start = reader.read_pos
            yield from self._guarded(reader, budget)
            if reader.read_pos - start >= budget:
                return  # more to come; keep the budget fair
            yield from reader.rest()
            self._pending.pop(0)
            closer.close()

    def _read_retired(self, old: _Open, budget: int) -> Iterator[bytes]:
        yield from self._guarded(old.reader, budget)
        if old.retire_at is not None and time.monotonic() >= old.retire_at:
            yield from old.reader.rest()
            old.close()
            self._retired.remove(old)

    def _guarded(self, reader: LineReader, budget: int) -> Iterator[bytes]:
        """Read, turning an I/O error into a notice: a daemon does not die of EIO."""
        try:
            yield from reader.lines(budget)
        except (OSError, EOFError, zlib.error) as exc:
            self._notify(f"ioerror:{reader.path}", f"{reader.path}: read error: {exc}")

    def _try_open(self) -> None:
        try:
            fd, st = open_log(self.path)
        except FileNotFoundError:
            return
        except InputError as exc:
            self._notify(f"open:{self.path}", f"{exc} (will retry)")
            return
        self._current = _Open(self.path, fd, st, 0)
        if self._waiting:
            self._waiting = False
            self._notify(f"found:{self.path}", f"{self.name}: appeared, reading it from the start")

    def _check_path(self, current: _Open, budget: int) -> Iterator[bytes]:
        """Compare the path with the open file: rotated, truncated, rewritten?"""
        try:
            st = os.stat(self.path)
        except OSError:
            st = None  # deleted or renamed away; keep draining what we have
        ident = current.reader.identity
        if st is not None and (st.st_dev, st.st_ino) != (ident.dev, ident.ino):
            self._retire(current)
            self._try_open()
            if self._current is not None:
                yield from self._guarded(self._current.reader, budget)

    def _check_truncated(self, current: _Open) -> None:
        """copytruncate: the same inode got shorter, or its first bytes changed."""
        try:
            size = os.fstat(current.fd).st_size
            ident = current.reader.identity
            rewritten = size < current.reader.read_pos or not same_head(
                current.fd, ident.fp, ident.fp_len
            )
        except OSError:
            return
        if rewritten:
            self._notify(f"truncated:{self.path}", f"{self.name}: truncated, reading from start")
            current.reader.drop_partial()
            current.reader.offset = 0
            current.reader.identity = head_identity(current.fd, os.fstat(current.fd))
        else:
            current.refresh_identity()
        current.size = size

    def _retire(self, current: _Open) -> None:
        """The path now names another file: keep reading the old one for a while."""
        current.retire_at = time.monotonic() + RETIRE_GRACE
        self._retired.append(current)
        self._current = None

    # -- position, reopen, close ------------------------------------------

    def position(self) -> FilePosition | None:
        """Where to resume: the file being finished first, else the current one.

        Retired files are finished by ``finish_retired`` before the state is
        saved at exit, so the current file's offset is the whole truth then.
        """
        if self._pending:
            reader = self._pending[0][0]
            if reader.identity.ino == 0:
                return self._position  # a compressed leftover: restart at the old mark
            return reader.identity.position(reader.offset)
        if self._current is not None:
            return self._current.reader.identity.position(self._current.reader.offset)
        if self._retired:
            old = self._retired[-1].reader
            return old.identity.position(old.offset)
        return self._position

    def finish_retired(self) -> Iterator[bytes]:
        """Read renamed-away files to their end now (at exit, or after SIGHUP)."""
        for old in list(self._retired):
            if self._current is None and old is self._retired[-1]:
                continue  # nothing replaced it yet: it is still "the" file
            old.retire_at = 0.0
            yield from self._read_retired(old, 1 << 62)

    def close(self) -> None:
        for old in self._retired:
            old.close()
        self._retired.clear()
        if self._current is not None:
            self._current.close()
            self._current = None
        for _, closer in self._pending:
            closer.close()
        self._pending.clear()


def _matches(ident: Identity, pos: FilePosition, fd: int) -> bool:
    if (ident.dev, ident.ino) != (pos.dev, pos.ino):
        return False
    return same_head(fd, pos.fp, pos.fp_len)


def _line_start_before(fd: int, size: int) -> int:
    """The offset just after the last newline at or before ``size`` (start at end)."""
    pos = size
    while pos > 0:
        start = max(0, pos - READ_BLOCK)
        block = os.pread(fd, pos - start, start)
        cut = block.rfind(b"\n")
        if cut >= 0:
            return start + cut + 1
        pos = start
    return 0


class _Closer(Protocol):
    def close(self) -> None: ...


def find_rotated(path: str, pos: FilePosition) -> tuple[str, LineReader, _Closer] | None:
    """Find the file ``pos`` was read from among ``path``'s rotated siblings.

    First by device + inode + fingerprint (renamed: mail.log.1), then by
    fingerprint alone (copied by copytruncate, or compressed: mail.log.1.gz).
    Returns its path, a reader at ``pos.offset`` and the handle to close.
    """
    siblings = rotated_siblings(path)[::-1]  # newest first, as report orders them
    for candidate in siblings:
        found = _open_if_same(candidate, pos, by_inode=True)
        if found is not None:
            return found
    for candidate in siblings:
        found = _open_if_same(candidate, pos, by_inode=False)
        if found is not None:
            return found
    return None


def _open_if_same(
    candidate: str, pos: FilePosition, by_inode: bool
) -> tuple[str, LineReader, _Closer] | None:
    try:
        handle = open(candidate, "rb")  # noqa: SIM115 - handed to the reader
    except OSError:
        return None
    try:
        st = os.fstat(handle.fileno())
        if by_inode and (st.st_dev, st.st_ino) != (pos.dev, pos.ino):
            handle.close()
            return None
        if os.pread(handle.fileno(), 2, 0) == GZIP_MAGIC:
            return _gzip_reader(candidate, handle, pos)
        if not same_head(handle.fileno(), pos.fp, pos.fp_len) or st.st_size < pos.offset:
            handle.close()
            return None
        fd = os.dup(handle.fileno())
        handle.close()
        opened = _Open(candidate, fd, st, pos.offset)
        return candidate, opened.reader, _FdCloser(opened)
    except OSError:
        handle.close()
        return None


class _FdCloser:
    """Adapter so a pending plain file is closed like a gzip handle."""

    def __init__(self, opened: _Open) -> None:
        self._opened = opened

    def close(self) -> None:
        self._opened.close()


def _gzip_reader(
    candidate: str, handle: BinaryIO, pos: FilePosition
) -> tuple[str, LineReader, _Closer] | None:
    """A reader over a compressed rotated file, positioned at ``pos.offset``."""
    stream = gzip.GzipFile(fileobj=handle, mode="rb")
    try:
        head = stream.read(pos.fp_len)
        if len(head) != pos.fp_len or hashlib.sha256(head).hexdigest() != pos.fp:
            handle.close()
            return None
        if stream.seek(pos.offset) != pos.offset or stream.tell() != pos.offset:
            raise EOFError("compressed file shorter than the saved offset")
    except (OSError, EOFError, zlib.error):
        handle.close()
        return None

    def read_at(_pos: int, size: int) -> bytes:
        return stream.read(size)

    ident = Identity(0, 0, pos.fp, pos.fp_len)
    return candidate, LineReader(candidate, read_at, ident, pos.offset), handle


class DirectoryWatcher:
    """Wake the reader when anything happens to the followed paths.

    watchdog (inotify) watches the *directories*, so a rename or a delete and
    re-create of the file is seen. Without inotify (``--poll``, or no inotify
    watches left) the reader simply polls; either way it also wakes every
    ``safety`` seconds, so a lost event can only delay, never stall, reading.
    """

    def __init__(self, paths: list[str], wake: threading.Event, notify: Notify) -> None:
        self._paths = {os.path.abspath(p) for p in paths}
        self._wake = wake
        self._notify = notify
        self._observer = None

    def start(self) -> bool:
        """Start watching; False (after a notice) when inotify is not available."""
        try:
            from watchdog.events import FileSystemEventHandler
            from watchdog.observers import Observer
        except ImportError as exc:  # pragma: no cover - watchdog is a dependency
            self._notify("watchdog", f"watchdog unavailable ({exc}); polling")
            return False
        watcher = self

        class _Handler(FileSystemEventHandler):
            def on_any_event(self, event: object) -> None:
                watcher.on_event(event)

        observer = Observer()
        try:
            for directory in sorted({os.path.dirname(p) for p in self._paths}):
                if os.path.isdir(directory):
                    observer.schedule(_Handler(), directory, recursive=False)
            observer.daemon = True
            observer.start()
        except OSError as exc:
            self._notify("inotify", f"cannot watch directories ({exc}); polling every second")
            return False
        self._observer = observer
        return True

    def on_event(self, event: object) -> None:
        """Wake only for events about a followed path (a busy /var/log is noisy)."""
        for attr in ("src_path", "dest_path"):
            value = getattr(event, attr, None)
            if value:
                text = os.fsdecode(value)
                if text in self._paths:
                    self._wake.set()
                    return

    def stop(self) -> None:
        if self._observer is not None:
            self._observer.stop()
            self._observer.join(timeout=5)
            self._observer = None


TimeOf = Callable[[bytes], datetime | None]


def read_back(path: str, end: int, since: datetime, time_of: TimeOf) -> Iterator[bytes]:
    """The lines of ``path`` before byte ``end`` from the first one at ``since`` or later.

    The warm-up after a start: it refills the detectors' windows. The first
    line is found by bisecting on timestamps (spamwatch.sources.seek, as
    ``report --since`` does), so the cost depends on the window, not on the
    file's length. Nothing is yielded when the file is gone.
    """
    try:
        fd, _ = open_log(path)
    except (FileNotFoundError, InputError):
        return
    try:
        with os.fdopen(os.dup(fd), "rb") as stream:
            start = min(find_offset(stream, since, time_of), end)
        reader = LineReader(path, lambda pos, size: os.pread(fd, size, pos), _NO_IDENT, start)
        yield from skip_before(_until(reader, end), since, time_of)
    finally:
        os.close(fd)


_NO_IDENT = Identity(0, 0, "", 0)
_PROBE = 1 << 16


def _until(reader: LineReader, end: int) -> Iterator[bytes]:
    """The reader's lines up to byte ``end``."""
    for line in reader.lines(1 << 62):
        if reader.offset > end:
            return
        yield line


def time_before(path: str, end: int, time_of: TimeOf) -> datetime | None:
    """The log time of the last timed line before byte ``end`` (the resume point)."""
    try:
        fd, _ = open_log(path)
    except (FileNotFoundError, InputError):
        return None
    try:
        pos = end
        while pos > 0:
            start = max(0, pos - _PROBE)
            block = os.pread(fd, pos - start, start)
            cut = block.find(b"\n") + 1 if start > 0 else 0  # skip a line's tail
            for line in reversed(block[cut:].split(b"\n")):
                when = time_of(line) if line else None
                if when is not None:
                    return when
            pos = start + cut if cut and start + cut < pos else start
        return None
    finally:
        os.close(fd)
