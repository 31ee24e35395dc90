"""Open a log source and read it as raw byte lines, fast.

Lines stay bytes here: decoding is the parser's business (log lines are
written by strangers and need not be UTF-8). Reading is done in large blocks
because per-line ``readline`` calls dominate the cost of a multi-million-line
log.
"""

from __future__ import annotations

import gzip
import os
import stat
import sys
import zlib
from collections.abc import Iterable, Iterator
from datetime import UTC, datetime
from typing import BinaryIO

from spamwatch.errors import InputError

DEFAULT_LOG = "/var/log/mail.log"
"""The log every command reads when no FILE is named (Debian's and Ubuntu's Postfix log)."""

BLOCK_SIZE = 1 << 20
MAX_LINE = 1 << 20
"""A line longer than this is cut; the parser counts the remainder as malformed."""

GZIP_MAGIC = b"\x1f\x8b"


def file_anchor(path: str) -> datetime | None:
    """The newest time a source can hold: a file's mtime; None (now) for stdin.

    Year-less syslog dates are placed at or before it, so ``events`` and
    ``report`` read an old rotated file in its own year.
    """
    if path == "-":
        return None
    try:
        return datetime.fromtimestamp(os.stat(path).st_mtime, UTC)
    except OSError:  # vanished since it was named: the parser uses now
        return None


def open_failure(path: str, exc: OSError) -> InputError:
    """The one wording, for every command, of a log that cannot be opened."""
    if isinstance(exc, FileNotFoundError):
        return InputError(f"{path}: no such file")
    if isinstance(exc, PermissionError):
        return InputError(f"{path}: permission denied")
    if isinstance(exc, IsADirectoryError):
        return InputError(f"{path}: is a directory, not a log file")
    return InputError(f"{path}: cannot open: {exc.strerror or exc}")


def refuse_pipes(paths: Iterable[str], command: str) -> None:
    """InputError for a named file that is not a regular one (``<(zcat ...)``, a FIFO).

    ``report`` and ``learn`` look at a file before reading it (its first and
    last times, a fingerprint): a pipe would be emptied by the first look and
    then read as nothing. Standard input (``-``) is read once and stays allowed;
    a missing file or a directory is left to ``open_binary`` to name.
    """
    for path in paths:
        if path == "-":
            continue
        try:
            mode = os.stat(path).st_mode
        except OSError:
            continue
        if not (stat.S_ISREG(mode) or stat.S_ISDIR(mode)):
            raise InputError(
                f"{path}: not a regular file (a pipe?), which {command} reads more than once;"
                f" give it on standard input: ... | spamwatch {command} -"
            )


def open_binary(path: str) -> BinaryIO:
    """Open ``path`` for reading bytes; ``-`` is stdin, gzip is detected by magic.

    Raises InputError with one clear sentence for every way a user can get this
    wrong (missing, a directory, no permission, not gzip despite the name).
    """
    if path == "-":
        return sys.stdin.buffer
    try:
        if os.path.isdir(path):
            raise InputError(f"{path}: is a directory, not a log file")
        raw = open(path, "rb")  # noqa: SIM115 - returned to the caller
    except OSError as exc:
        raise open_failure(path, exc) from None
    try:
        magic = raw.peek(2)[:2] if hasattr(raw, "peek") else b""
    except OSError as exc:
        raw.close()
        raise InputError(f"{path}: cannot read: {exc.strerror or exc}") from None
    if magic == GZIP_MAGIC:
        return gzip.GzipFile(fileobj=raw, mode="rb")  # type: ignore[return-value]
    return raw


def iter_blocks(stream: BinaryIO, name: str = "input") -> Iterator[bytes]:
    """Yield ``stream`` as blocks of whole lines, each block ending in ``\n``.

    For readers that look at many lines at once in C (``Parser.parse_block``
    finds the few lines it needs with one regex scan per block) instead of
    handing every line to Python. A final line without newline gets one, and a
    line longer than ``MAX_LINE`` is cut there (its head ends a block, its tail
    becomes a line of its own), exactly as ``iter_lines`` splits them. Errors
    while reading (a corrupt gzip member) become InputError naming ``name``.
    """
    rest = b""
    try:
        while True:
            block = stream.read(BLOCK_SIZE)
            if not block:
                break
            end = block.rfind(b"\n") + 1
            if end:
                yield rest + block[:end] if rest else block[:end]
                rest = block[end:]
            else:
                rest += block
            if len(rest) > MAX_LINE:
                # A monster line: hand on its head now, drop the tail later.
                yield rest[:MAX_LINE] + b"\n"
                rest = b""
    except (EOFError, zlib.error, gzip.BadGzipFile) as exc:
        raise InputError(f"{name}: corrupt or truncated gzip file ({exc})") from None
    except OSError as exc:
        raise InputError(f"{name}: cannot read: {exc.strerror or exc}") from None
    if rest:
        yield rest + b"\n"


def iter_lines(stream: BinaryIO, name: str = "input") -> Iterator[bytes]:
    """Yield each line of ``stream`` without its line ending.

    A final line without newline is yielded too (a file read to its end is
    complete; the live tailer has its own rule for partial lines). Errors while
    reading (a corrupt gzip member) become InputError naming ``name``.
    """
    for block in iter_blocks(stream, name):
        lines = block.split(b"\n")
        lines.pop()  # the empty string after the block's last newline
        yield from lines
