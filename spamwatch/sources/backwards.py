"""Read a log backwards from a byte offset: the warm-up window before a resume point.

When ``follow`` starts (or resumes after a restart) it reads back the
``--warmup`` window of log before the point where live reading begins, so the
detectors' windows are full from the first live line.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from datetime import datetime

from spamwatch.errors import InputError
from spamwatch.sources.base import LineTime
from spamwatch.sources.reader import Identity, LineReader, open_log
from spamwatch.sources.seek import find_offset, skip_before


def read_back(path: str, end: int, since: datetime, time_of: LineTime) -> Iterator[bytes]:
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


def time_before(path: str, end: int, time_of: LineTime) -> datetime | None:
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
