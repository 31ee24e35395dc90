"""A raw log line (bytes) -> an Event, or counted as not one.  [STUB: parser helper owns this]"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, tzinfo

from spamwatch.model import Event


@dataclass(frozen=True, slots=True)
class ParseOptions:
    """How to read timestamps and which syslog names are Postfix.

    ``anchor``: the newest time the log can hold (a file's mtime, or now for a
    live stream); year-less timestamps are placed at or before it.
    ``year``: force the year of year-less timestamps (``--year``).
    ``timezone``: zone of zone-less timestamps (default: local time).
    ``syslog_names``: extra syslog names to treat as Postfix (``--syslog-name``).
    """

    anchor: datetime | None = None
    year: int | None = None
    timezone: tzinfo | None = None
    syslog_names: tuple[str, ...] = ()


@dataclass(slots=True)
class ParseStats:
    """Every line read lands in exactly one of the counters after ``lines``."""

    lines: int = 0
    events: int = 0
    non_postfix: int = 0
    unrecognised: int = 0
    malformed: int = 0
    by_kind: dict[str, int] = field(default_factory=dict)


class Parser:
    def __init__(self, options: ParseOptions | None = None) -> None:
        self.options = options or ParseOptions()
        self.stats = ParseStats()

    def parse(self, line: bytes) -> Event | None:
        self.stats.lines += 1
        self.stats.malformed += 1
        return None
