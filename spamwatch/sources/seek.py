"""Start reading a log at a point in time without reading what comes before it.

A mail log is (nearly) sorted by time, so the first line at or after
``since`` is found by bisecting the byte offsets of a plain file: probe the
middle, skip to the next line start, read that line's time, keep the half that
holds the boundary. Each probe reads a few kilobytes, so ``report --since 1h``
costs the same on a 1M-line and a 5M-line file. A gzip file cannot be entered
in the middle: it is read from its start and lines before ``since`` are
skipped by their time alone (no full parse).

Times come from a ``LineTime`` callable (``Parser.line_time``): this module
knows nothing about log formats. A line without a timestamp (a continuation,
garbage) is stepped over to the next line that has one.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from datetime import datetime
from typing import BinaryIO

from spamwatch.errors import InputError
from spamwatch.sources.base import LineTime
from spamwatch.sources.files import GZIP_MAGIC, iter_blocks, iter_lines, open_binary

PROBE_BYTES = 64 * 1024
"""How far one probe reads looking for a line with a timestamp."""
LINEAR_BYTES = 256 * 1024
"""Below this span bisecting stops; the reader skips the rest line by line."""
TAIL_BYTES = 64 * 1024


def is_gzip(path: str) -> bool:
    """True when ``path`` starts with the gzip magic (names lie; bytes do not)."""
    try:
        with open(path, "rb") as handle:
            return handle.read(2) == GZIP_MAGIC
    except OSError:
        return False


def read_from(path: str, since: datetime | None, line_time: LineTime) -> Iterator[bytes]:
    """Yield the lines of ``path`` from the first one at or after ``since``.

    Plain files are entered by bisection; gzip files and stdin (``-``) are read
    from the start, dropping lines whose time is before ``since`` until the
    first one that is not (lines without a time before that are dropped too).
    """
    if since is None:
        yield from _read_all(path)
        return
    if path == "-" or is_gzip(path) or not os.path.isfile(path):
        yield from skip_before(_read_all(path), since, line_time)
        return
    stream = open_binary(path)
    with stream:
        offset = find_offset(stream, since, line_time)
        stream.seek(offset)
        yield from skip_before(iter_lines(stream, path), since, line_time)


def read_blocks_from(path: str, since: datetime | None, line_time: LineTime) -> Iterator[bytes]:
    """``read_from`` in blocks of whole lines (``files.iter_blocks``), for ``Parser.parse_block``.

    The same lines as ``read_from``, the first block cut to start at the
    first line at or after ``since``; only the lines before it are timed
    one by one.
    """
    stream = open_binary(path)
    try:
        if since is not None and path != "-" and not is_gzip(path) and os.path.isfile(path):
            stream.seek(find_offset(stream, since, line_time))
        blocks = iter_blocks(stream, path)
        if since is not None:
            for block in blocks:
                start = first_at(block, since, line_time)
                if start is not None:
                    yield block[start:]
                    break
        yield from blocks
    finally:
        if path != "-":
            stream.close()


def first_at(block: bytes, since: datetime, line_time: LineTime) -> int | None:
    """Offset of the first line in ``block`` timed at or after ``since`` (as ``skip_before``)."""
    start = 0
    size = len(block)
    while start < size:
        end = block.find(b"\n", start)
        when = line_time(block[start:end])
        if when is not None and when >= since:
            return start
        start = end + 1
    return None


def _read_all(path: str) -> Iterator[bytes]:
    stream = open_binary(path)
    try:
        yield from iter_lines(stream, path)
    finally:
        if path != "-":
            stream.close()


def skip_before(lines: Iterator[bytes], since: datetime, line_time: LineTime) -> Iterator[bytes]:
    """Drop lines until the first one whose time is at or after ``since``; then yield all."""
    for line in lines:
        when = line_time(line)
        if when is not None and when >= since:
            yield line
            break
    yield from lines


def find_offset(stream: BinaryIO, since: datetime, line_time: LineTime) -> int:
    """Byte offset of a line start at or before the first line at or after ``since``.

    Invariant: every timestamped line starting before ``low`` is before
    ``since``; the first line at or after ``since`` starts before ``high``
    (or there is none). Bisection stops once the span is small; the caller
    skips the few lines left with ``skip_before``.
    """
    size = _size(stream)
    low, high = 0, size
    while high - low > LINEAR_BYTES:
        middle = (low + high) // 2
        probe = _probe(stream, middle, high, line_time)
        if probe is None:
            high = middle  # nothing with a time in [middle, high): boundary is left of it
            continue
        when, end = probe
        if when < since:
            low = end
        else:
            high = middle
    return low


def _size(stream: BinaryIO) -> int:
    try:
        return stream.seek(0, os.SEEK_END)
    except OSError as exc:
        raise InputError(f"cannot seek: {exc.strerror or exc}") from None


def _probe(
    stream: BinaryIO, offset: int, limit: int, line_time: LineTime
) -> tuple[datetime, int] | None:
    """Time of the first timestamped line starting after ``offset`` (and before ``limit``).

    Returns the time and the offset just past that line, or None when no line
    starting in ``(offset, limit)`` carries a time within ``PROBE_BYTES``.
    """
    stream.seek(offset)
    chunk = stream.read(PROBE_BYTES)
    start = chunk.find(b"\n") + 1
    if start == 0:
        return None
    while offset + start < limit:
        end = chunk.find(b"\n", start)
        if end < 0:
            return None  # a line longer than the probe: step no further
        when = line_time(chunk[start:end])
        if when is not None:
            return when, offset + end + 1
        start = end + 1
    return None


def first_time(path: str, line_time: LineTime, max_bytes: int = 1 << 20) -> datetime | None:
    """Time of the first timestamped line in ``path`` (gzip too), or None.

    Reads at most about ``max_bytes`` of lines: a file whose head has no time
    at all is treated as having none.
    """
    stream = open_binary(path)
    seen = 0
    try:
        for line in iter_lines(stream, path):
            when = line_time(line)
            if when is not None:
                return when
            seen += len(line) + 1
            if seen > max_bytes:
                return None
    finally:
        stream.close()
    return None


def last_time(path: str, line_time: LineTime, max_bytes: int = 4 << 20) -> datetime | None:
    """Time of the last timestamped line in ``path``, read from its end (gzip: all of it)."""
    if is_gzip(path):
        last = None
        for line in _read_all(path):
            last = line_time(line) or last
        return last
    with open_binary(path) as stream:
        end = position = _size(stream)
        carry = b""
        while position > 0 and end - position < max_bytes:
            start = max(0, position - TAIL_BYTES)
            stream.seek(start)
            lines = (stream.read(position - start) + carry).split(b"\n")
            position = start
            carry = lines.pop(0) if position > 0 else b""
            for line in reversed(lines):
                when = line_time(line)
                if when is not None:
                    return when
    return None
