"""Complete lines from an open log file, and how a file is recognised again.

A log file is identified by device + inode + a fingerprint (SHA-256) of its
first bytes, because inodes are reused the moment a file is deleted. Reading
is by byte offset (``pread``), and only complete lines are handed on: a line
without its newline waits for the rest. ``tail`` (following) and
``backwards`` (the warm-up) read through these.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass

from spamwatch.errors import InputError
from spamwatch.safefiles import UnsafeFile, open_regular
from spamwatch.sources.base import FilePosition
from spamwatch.sources.files import GZIP_MAGIC, MAX_LINE, open_failure

FP_LEN = 1024
"""Bytes of a file's head hashed into its fingerprint."""
READ_BLOCK = 1 << 18


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
    A FIFO (planted where the log was, or named by mistake) is refused at
    once: opened non-blocking, it cannot hold up the loop and its signals.
    """
    if os.path.isdir(path):
        raise InputError(f"{path}: is a directory, not a log file")
    try:
        fd = open_regular(path)
    except FileNotFoundError:
        raise
    except UnsafeFile as exc:
        raise InputError(f"{path}: {exc.strerror}; use '-' to read a pipe") from None
    except OSError as exc:
        raise open_failure(path, exc) from None
    st = os.fstat(fd)
    problem = _unfollowable(fd)
    if problem:
        os.close(fd)
        raise InputError(f"{path}: {problem}")
    return fd, st


def _unfollowable(fd: int) -> str | None:
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
