"""The time range of a report, from what an admin types: "1h", "yesterday", "2026-11-28 03:00".

Every relative value counts back from a ``now`` handed in by the caller (the
CLI reads the clock once, or takes ``--now``), so the same command line over
the same log always gives the same range and tests need no clock tricks.
Wall-clock times without a zone are read in the log's zone: ``--timezone``
when given, else the offset the log's own lines carry (RFC 3339), else local
time, the zone the parser gives zone-less log lines (``report.run.wall_clock``
picks it).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, time, timedelta, tzinfo

from dateutil import parser as dateparser

from spamwatch.errors import UsageError
from spamwatch.timeutil import parse_duration

_RELATIVE = re.compile(r"^\s*(\d[\dsmhdw. ]*)(?:\s+ago)?\s*$", re.IGNORECASE)
_DAYS = {"today": 0, "yesterday": -1}


@dataclass(frozen=True, slots=True)
class TimeRange:
    """A half-open span of log time: ``since <= t < until``; None is unbounded.

    Half-open so that ``--since yesterday --until today`` and
    ``--since today`` never both count the line written at midnight.
    """

    since: datetime | None = None
    until: datetime | None = None
    zone_note: str | None = None  # how a typed time without a zone was read, for headings

    def __contains__(self, when: datetime) -> bool:
        if self.since is not None and when < self.since:
            return False
        return self.until is None or when < self.until

    def describe(self) -> str:
        """``2026-11-28 02:00:00+00:00 .. 2026-11-28 03:00:00+00:00``, for headings.

        To the second, as every other time in the report.
        """
        start = self.since.isoformat(" ", "seconds") if self.since else "start of log"
        end = self.until.isoformat(" ", "seconds") if self.until else "end of log"
        note = f" ({self.zone_note})" if self.zone_note else ""
        return f"{start} .. {end}{note}"


def iso(when: datetime) -> str:
    """ISO 8601 to the second, for messages (a time counted from the clock has microseconds)."""
    return when.isoformat(timespec="seconds")


def parse_time(text: str, now: datetime, zone: tzinfo) -> datetime:
    """One point in time from ``text``; raises ValueError with a message to show.

    Accepted: a duration back from ``now`` ("1h", "30m", "1h30m", "2d", "90m ago"),
    "now", "today" / "yesterday" (midnight starting that day in ``zone``), and
    any ISO 8601 or "YYYY-MM-DD HH:MM[:SS]" time (no zone: ``zone``).
    """
    raw = text.strip()
    lowered = raw.lower()
    if not raw:
        raise ValueError("empty time")
    if lowered == "now":
        return now
    if lowered in _DAYS:
        day = now.astimezone(zone).date() + timedelta(days=_DAYS[lowered])
        return _localize(datetime.combine(day, time()), zone)
    match = _RELATIVE.match(raw)
    if match and not re.fullmatch(r"\d{4}-?\d{2}-?\d{2}.*", raw):
        return now - parse_duration(match.group(1).replace(" ", ""))
    return _absolute(raw, zone)


def _absolute(raw: str, zone: tzinfo) -> datetime:
    """An absolute time: ISO 8601 first (strict), then dateutil for "2026-11-28 03:00"."""
    try:
        value = datetime.fromisoformat(raw)
    except ValueError:
        try:
            value = dateparser.parse(raw, default=datetime(2000, 1, 1))
        except (ValueError, OverflowError):
            raise ValueError(
                f"not a time: {raw!r} (use e.g. 1h, 30m, yesterday, today, "
                "'2026-11-28 03:00' or 2026-11-28T03:00:00+01:00)"
            ) from None
        if not re.search(r"\d{4}", raw):
            raise ValueError(f"not a time: {raw!r} (an absolute time needs its year)") from None
    return _localize(value, zone) if value.tzinfo is None else value


def _localize(value: datetime, zone: tzinfo) -> datetime:
    """Attach ``zone`` to a naive wall-clock time (dateutil zones resolve DST by ``fold``)."""
    return value.replace(tzinfo=zone)


def parse_range(
    since: str | None, until: str | None, now: datetime, zone: tzinfo, zone_note: str | None = None
) -> TimeRange:
    """The report's range from ``--since``/``--until``; UsageError names the bad option.

    ``zone_note`` says how ``zone`` was chosen; the range carries it (for the
    heading) when a typed time was read in that zone.
    """
    if now.tzinfo is None:
        raise ValueError("now must be timezone-aware")
    start = _option("--since", since, now, zone)
    end = _option("--until", until, now, zone)
    if start is not None and end is not None and start >= end:
        raise UsageError(f"--since {iso(start)} is not before --until {iso(end)}: empty range")
    zoned = any(when is not None and when.tzinfo is zone for when in (start, end))
    return TimeRange(start, end, zone_note if zoned else None)


def _option(name: str, text: str | None, now: datetime, zone: tzinfo) -> datetime | None:
    if text is None:
        return None
    try:
        return parse_time(text, now, zone)
    except ValueError as exc:
        raise UsageError(f"{name}: {exc}") from None


def parse_now(text: str | None, zone: tzinfo) -> datetime | None:
    """``--now``: an absolute time to count relative times from (None: not given)."""
    if text is None:
        return None
    try:
        return _absolute(text.strip(), zone)
    except ValueError as exc:
        raise UsageError(f"--now: {exc}") from None


def with_warmup(span: TimeRange, warmup: str) -> TimeRange:
    """What to read: the range plus ``--warmup`` before it to refill the detectors."""
    try:
        back = parse_duration(warmup)
    except ValueError as exc:
        raise UsageError(f"--warmup: {exc}") from None
    if span.since is None or not back:
        return span
    return TimeRange(span.since - back, span.until)
