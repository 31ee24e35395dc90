"""Find the rotated files beside a log, and which of them a time range needs.

logrotate leaves a log's older parts beside it, either numbered
(``mail.log.1``, ``mail.log.2.gz``, ... higher is older) or dated with
``dateext`` (``mail.log-20261127``, ``mail.log-20261127.gz``, also
``-%Y%m%d%H`` and ``-%Y%m%d-%s``). A report whose range starts before the
current file's first line reads back through them, oldest first, but opens no
more of them than the range needs: only their first line is looked at to
decide. Only plain and gzip files are read (``.bz2``/``.xz``/``.zst`` are not
matched).
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable
from datetime import datetime

FirstTime = Callable[[str], datetime | None]
"""Time of a file's first timestamped line (None: empty or no time in its head)."""


def _pattern(name: str) -> re.Pattern[str]:
    return re.compile(
        re.escape(name) + r"(?:\.(?P<number>\d+)|-(?P<stamp>\d{8}(?:\d{2})?(?:-\d+)?))(?:\.gz)?"
    )


def rotated_siblings(path: str) -> list[str]:
    """The rotated parts of ``path`` in its directory, oldest first.

    Numbered parts go from the highest number down; dated parts by their date.
    When both naming styles are present (the rotation config changed), all are
    ordered by modification time, the style's own order breaking ties.
    """
    directory, name = os.path.split(os.path.abspath(path))
    pattern = _pattern(name)
    numbered: list[tuple[int, str]] = []
    dated: list[tuple[str, str]] = []
    try:
        entries = os.listdir(directory)
    except OSError:
        return []
    for entry in entries:
        match = pattern.fullmatch(entry)
        full = os.path.join(directory, entry)
        if match is None or not os.path.isfile(full):
            continue
        if match["number"] is not None:
            numbered.append((int(match["number"]), full))
        else:
            dated.append((match["stamp"], full))
    ordered = [full for _, full in sorted(numbered, reverse=True)]
    ordered += [full for _, full in sorted(dated)]
    if numbered and dated:
        rank = {full: index for index, full in enumerate(ordered)}
        ordered.sort(key=lambda full: (_mtime(full), rank[full]))
    return ordered


def _mtime(path: str) -> float:
    try:
        return os.stat(path).st_mtime
    except OSError:
        return 0.0


def files_for_range(path: str, since: datetime | None, first_time: FirstTime) -> list[str]:
    """The files to read for a range starting at ``since``, oldest first, ``path`` last.

    ``path`` alone when there is no ``since`` (the whole current file), for
    stdin, or when its first line is at or before ``since``. Otherwise rotated
    parts are added from the newest back, up to and including the first one
    that starts at or before ``since`` (or all of them when none does).
    Parts without any timestamp (empty files) are passed over but kept, so
    they never stop the walk.
    """
    if since is None or path == "-":
        return [path]
    start = first_time(path)
    if start is not None and start <= since:
        return [path]
    needed: list[str] = []
    for part in reversed(rotated_siblings(path)):
        needed.append(part)
        start = first_time(part)
        if start is not None and start <= since:
            break
    return [*reversed(needed), path]
