"""What ``follow`` tells the metrics about itself (spamwatch.metrics.FollowHealth).

Built every few seconds from what the loop already keeps: the parsers' line
counts by outcome (plus those of parsers a SIGHUP replaced), the live view's
message count and open incidents, and, per followed file, how many bytes of it
are not read yet (its size against the saved position).
"""

from __future__ import annotations

import os
from collections import Counter
from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any

from spamwatch.metrics import OUTCOMES, FollowHealth
from spamwatch.parse import Parser
from spamwatch.sources.base import FilePosition

_FIELD = {"event": "events", **{name: name for name in OUTCOMES if name != "event"}}


def line_counts(parsers: Iterable[Parser]) -> Counter[str]:
    """Lines read by outcome (``event``, ``non_postfix``, ...) over ``parsers``."""
    counts: Counter[str] = Counter()
    for parser in parsers:
        for outcome, name in _FIELD.items():
            counts[outcome] += getattr(parser.stats, name)
    return counts


def lag_bytes(sources: Iterable[Any]) -> dict[str, int]:
    """Bytes of each followed file beyond its position (a rotated-away file: all of the new)."""
    behind: dict[str, int] = {}
    for source in sources:
        position = source.position()
        if not isinstance(position, FilePosition) or not source.key:
            continue
        try:
            info = os.stat(source.key)
        except OSError:
            continue
        same = (info.st_dev, info.st_ino) == (position.dev, position.ino)
        behind[source.name] = max(info.st_size - position.offset, 0) if same else info.st_size
    return behind


def health(
    lines: Mapping[str, int],
    messages: int,
    alerts: int,
    errors: int,
    open_incidents: Iterable[Any],
    sources: Iterable[Any],
    newest: datetime | None,
) -> FollowHealth:
    """A FollowHealth snapshot (see the module docstring)."""
    return FollowHealth(
        lines=dict(lines),
        messages=messages,
        alerts_made=alerts,
        internal_errors=errors,
        open_by_severity=Counter(str(i.severity) for i in open_incidents),
        lag_bytes=lag_bytes(sources),
        newest_line=newest,
    )
