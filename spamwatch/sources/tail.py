"""Follow growing log files through every rotation style, never losing place.

A file is recognised by its identity (``spamwatch.sources.reader``: device,
inode, fingerprint of its first bytes) and read by byte offset, complete lines
only. Each poll notices, by comparing the path with the open file:

- rename + create (logrotate's default): the old file is read to its end
  first, and kept open for a grace period because the writer may go on
  appending to it until it is told to reopen;
- copytruncate: the same inode got shorter, or its first bytes changed;
- delete and recreate later: the open file is drained, the new one read from 0;
- missing at start: waited for, said once.

The reader never sleeps itself: a ``DirectoryWatcher`` (spamwatch.sources.watch)
or a poll interval wakes it. ``TailFile.warmup`` reads back the window before
the start point (spamwatch.sources.backwards) to refill the detectors.
"""

from __future__ import annotations

import gzip
import hashlib
import itertools
import os
import time
import zlib
from collections.abc import Iterable, Iterator
from datetime import datetime, timedelta
from typing import BinaryIO, Protocol

from spamwatch.errors import InputError
from spamwatch.safefiles import open_regular
from spamwatch.sources.backwards import read_back, time_before
from spamwatch.sources.base import FilePosition, LineTime, Notify
from spamwatch.sources.files import GZIP_MAGIC
from spamwatch.sources.reader import (
    FP_LEN,
    READ_BLOCK,
    Identity,
    LineReader,
    head_identity,
    open_log,
    same_head,
)
from spamwatch.sources.rotated import files_for_range, rotated_siblings
from spamwatch.sources.seek import first_time, read_from

RETIRE_GRACE = 30.0
"""Seconds a renamed-away file is still read (the writer may not have reopened yet)."""


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
        self.key: str | None = self.path
        self._notify = notify
        self._reset(position, from_start)

    def _reset(self, position: FilePosition | None, from_start: bool) -> None:
        self._current: _Open | None = None
        self._retired: list[_Open] = []
        self._pending: list[tuple[LineReader, _Closer]] = []  # rotated while stopped
        self._waiting = False
        self._position = position
        self._from_start = from_start
        self.boundary: tuple[str, int] | None = None
        """(path, offset) of the first byte read live; warm-up reads back from it."""

    @property
    def ended(self) -> bool:
        """Never: a followed file may always grow again."""
        return False

    @property
    def watched(self) -> tuple[str, ...]:
        return (self.path,)

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

    # -- warm-up -------------------------------------------------------------

    def warmup(self, window: timedelta, line_time: LineTime) -> Iterable[bytes]:
        """The ``window`` of log before the first byte read live, rotated files included."""
        if self.boundary is None:
            return ()
        path, offset = self.boundary
        if offset == 0:
            return ()
        anchor = time_before(path, offset, line_time)
        if anchor is None:
            return ()
        since = anchor - window
        older = self._rotated_parts(path, since, line_time) if path == self.path else []
        return itertools.chain(
            *(self._guard(read_from(part, since, line_time)) for part in older),
            read_back(path, offset, since, line_time),
        )

    def _rotated_parts(self, path: str, since: datetime, line_time: LineTime) -> list[str]:
        """Rotated files (oldest first) holding the window's start, as ``report`` finds them."""
        try:
            return files_for_range(path, since, lambda p: first_time(p, line_time))[:-1]
        except InputError as exc:
            self._notify(f"warmup:{path}", f"warm-up: rotated files of {self.name} skipped: {exc}")
            return []

    def _guard(self, lines: Iterator[bytes]) -> Iterator[bytes]:
        """A rotated file that cannot be read costs the warm-up its lines, not the run."""
        try:
            yield from lines
        except InputError as exc:
            self._notify(f"warmup:{exc}", f"warm-up: {exc}")

    # -- reading ----------------------------------------------------------

    def read(self, budget: int = 4 << 20) -> Iterator[bytes]:
        """Yield the complete lines available now, in file order, across rotations.

        Order holds also when behind: a renamed-away file, or the copy left by
        a copytruncate, is read to its end before the file that replaced it.
        """
        yield from self._read_pending(budget)
        if self._pending:
            return
        for old in list(self._retired):
            start = old.reader.read_pos
            yield from self._read_retired(old, budget)
            if old.reader.read_pos - start >= budget:
                return  # more to come from the renamed file first
        if self._current is None:
            self._try_open()
        current = self._current
        if current is None:
            return
        self._check_truncated(current)  # before reading: never read the middle of new text
        if self._pending:  # copytruncate while behind: the rest is in the copy
            yield from self._read_pending(budget)
            if self._pending:
                return
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
            if self._current is None and old is self._retired[-1]:
                self._position = old.reader.identity.position(old.reader.offset)
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
            if self._current is not None and _drained(current):
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
            self._truncated(current)
            current.reader.drop_partial()
            current.reader.offset = 0
            current.reader.identity = head_identity(current.fd, os.fstat(current.fd))
        else:
            current.refresh_identity()
        current.size = size

    def _truncated(self, current: _Open) -> None:
        """copytruncate: finish the old text from the copy (found by fingerprint) first.

        logrotate copies the file, then truncates it: what was not read yet is
        in the copy (``mail.log.1``), and a burst can leave us far behind.
        """
        reader = current.reader
        behind = max(current.size - reader.offset, 0)
        found = find_rotated(self.path, reader.identity.position(reader.offset))
        if found is not None:
            path, rest, closer = found
            self._pending.append((rest, closer))
            rest_note = f"while {behind} bytes behind; reading the rest from {path} first"
            self._notify(
                f"truncated:{self.path}",
                f"{self.name}: truncated (copytruncate) "
                + (rest_note if behind else "; reading from start"),
            )
            return
        if behind:
            self._notify(
                f"truncated:{self.path}",
                f"{self.name}: truncated while {behind} bytes behind, and no copy of it was"
                " found beside it: those bytes of log are lost; reading from its start",
            )
        else:
            self._notify(f"truncated:{self.path}", f"{self.name}: truncated, reading from start")

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
        current = self._current
        unfinished = next((old for old in self._retired if not _drained(old, whole=True)), None)
        if unfinished is not None and (current is None or current.reader.offset == 0):
            # stopped while behind in a renamed file: resume there, then the new one
            return unfinished.reader.identity.position(unfinished.reader.offset)
        if current is not None:
            return current.reader.identity.position(current.reader.offset)
        if self._retired:
            old = self._retired[-1].reader
            return old.identity.position(old.offset)
        return self._position

    def finish(self) -> Iterator[bytes]:
        """Read renamed-away files to their end now (at exit, or before a reopen)."""
        for old in list(self._retired):
            if self._current is None and old is self._retired[-1]:
                continue  # nothing replaced it yet: it is still "the" file
            old.retire_at = 0.0
            yield from self._read_retired(old, 1 << 62)

    def reopen(self) -> None:
        """SIGHUP: close, then open the path again where reading stopped.

        Call ``finish`` first, so renamed-away files are read to their end.
        Without a position (the file never existed so far) it is read from its
        start when it appears.
        """
        position = self.position()
        self.close()
        self._reset(position, from_start=position is None)
        self.start()

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


def _drained(opened: _Open, whole: bool = False) -> bool:
    """True when every line of ``opened`` was read (``whole``: also a last line
    without its newline, which only the end of the grace period hands on), or
    when it cannot be looked at."""
    reader = opened.reader
    try:
        return (reader.offset if whole else reader.read_pos) >= os.fstat(opened.fd).st_size
    except OSError:
        return True


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
    try:  # a FIFO or a device among the siblings is not a rotated log
        handle = os.fdopen(open_regular(candidate), "rb")
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
