"""The syslog header of a mail log line: timestamp, host, program, pid.

Kept apart from the message grammar because the header is shared by every
daemon (and by non-Postfix programs), and because its timestamp needs state:
year-less syslog dates get their year from an anchor and from the order of
the lines, and header-less lines borrow the previous line's time.

Header forms read (all seen in real logs):

* ``Nov 28 03:13:06 host prog[pid]: msg`` (day space-padded, zero-padded or
  unpadded, optional fraction ``03:13:06.123``);
* ``2023-03-14T00:00:31.185246+01:00 host prog[pid]: msg`` (RFC 3339, with or
  without fraction, ``Z``, ``+00:00`` or journalctl's ``+0000``; a zone-less
  ISO time is read like a syslog time);
* ``2013 Jun 16 16:05:06.123 host prog[pid]: msg`` (year first);
* ``host prog[pid]: msg`` and ``prog[pid]: msg`` (no timestamp: the previous
  line's time, or the anchor for the first line of a source);
* ``prog[pid] msg`` (no ``:`` after the pid).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone, tzinfo

from dateutil import tz

from spamwatch.parse.grammar import QUEUE_ID_FORM

QID = rb"(?:(" + QUEUE_ID_FORM.encode() + rb"): )?"
"""The queue id that starts most Postfix messages (group 5), read with the
header (``grammar.QUEUE_ID_FORM``)."""

HEADER = re.compile(
    rb"(?:(?P<ts>\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:[.,]\d+)?(?:Z|[+-]\d\d:?\d\d)?"
    rb"|(?:\d{4} )?[A-Z][a-z]{2} [ 0-9]?\d \d\d:\d\d:\d\d(?:\.\d+)?) +)?"
    rb"(?:(?P<host>[^ \[\]]*[^ \[\]:]) +)?"
    rb"(?P<prog>[^ \[\]:]+)(?:\[(?P<pid>\d{1,10})\]:?|:)(?: |$)" + QID
)
"""Timestamp?, host?, program, [pid]:, queue id? -- on bytes, anchored by ``match``.

A program without ``[pid]`` must end in ``:`` and is only accepted after a
timestamp (see ``split_header``), so a bare message body such as
``warning: ...`` is not mistaken for a program.
"""

FAST_HEADER = re.compile(
    rb"([A-Z][a-z]{2} [ 0-9]?\d \d\d:\d\d:\d\d"
    rb"|\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d+)?(?:Z|[+-]\d\d:?\d\d)?) "
    rb"([^ \[\]]*[^ \[\]:]) ([^ \[\]:]+)(?:\[(\d{1,10})\])?: " + QID
)
"""The two everyday forms (``Nov 28 03:13:06 host prog[pid]: `` and RFC 3339),
tried before ``HEADER``: a third of its cost on most lines. Same groups 1-4,
and whatever it matches ``HEADER`` reads the same way."""

MONTHS = {
    m.encode(): i
    for i, m in enumerate(
        ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"), 1
    )
}

FUTURE_SLACK = timedelta(days=1)
"""How far past the anchor a year-less time may land before it is put a year
back: covers clock skew and a log written in a zone ahead of the reader's."""


class BadTimestamp(ValueError):
    """The header looked like a timestamp but names no real date."""


@dataclass(frozen=True, slots=True)
class Header:
    """The raw parts of a header, still bytes (decoded only when needed)."""

    ts: bytes | None
    host: bytes | None
    prog: bytes
    pid: int | None
    body_start: int


def split_header(line: bytes) -> Header | None:
    """Cut ``line`` into header parts, or None when it has no syslog header."""
    m = HEADER.match(line)
    if m is None:
        return None
    ts, host, prog, pid = m.group("ts", "host", "prog", "pid")
    if pid is None and ts is None:
        return None
    return Header(ts, host, prog, int(pid) if pid is not None else None, m.end())


def year_less_parts(ts: bytes) -> tuple[int | None, int, int, int, int, int, int]:
    """``[YYYY ]Mon d hh:mm:ss[.fff]`` -> (year or None, month, day, h, m, s, µs)."""
    parts = ts.split()
    year: int | None = None
    if len(parts) == 4:
        year = int(parts[0])
        parts = parts[1:]
    month = MONTHS.get(parts[0])
    if month is None:
        raise BadTimestamp(f"unknown month {parts[0]!r}")
    clock, _, frac = parts[2].partition(b".")
    hour, minute, second = (int(x) for x in clock.split(b":"))
    micro = int((frac + b"000000")[:6]) if frac else 0
    return year, month, int(parts[1]), hour, minute, second, micro


def _same_minute(ts: bytes, last: bytes) -> bool:
    """Whether ``ts`` is ``last`` but for the seconds (``Nov  2 00:00:29``).

    A busy log changes its timestamp every few lines, mostly within the
    minute: then the time is the last one with other seconds, with no date
    parse and no year inference (same month: nothing to infer). Only the
    syslog forms, without a fraction; an RFC 3339 time ends in its zone.
    """
    return (
        len(ts) == len(last) and ts[-3] == 58 and ts[4] != 45 and ts[:-2] == last[:-2]
    )  # 58 ":", 45 "-"


_OFFSETS: dict[timedelta | None, timezone] = {}


def fixed(when: datetime) -> datetime:
    """``when`` in a fixed zone: its zone's UTC offset at that moment.

    The same wall time and offset (so the same ISO text), but a ``timezone``
    does its arithmetic in C: every detector, the learner and the report
    subtract, compare and take ``timestamp()`` of event times millions of
    times, and a ``dateutil`` zone answers each in Python (1-2.5 us). Events
    of one offset share one zone object. Comparisons and differences are then
    of absolute times, also across a DST change (a wall-clock zone compares
    the repeated hour's times by their face value).
    """
    offset = when.utcoffset()
    return when if offset is None else when.replace(tzinfo=fixed_zone(offset))


def fixed_zone(offset: timedelta) -> timezone:
    """The one ``timezone`` object of this UTC offset (so equal zones are the same object)."""
    zone = _OFFSETS.get(offset)
    if zone is None:
        zone = timezone(offset)
        if len(_OFFSETS) < 256:  # hostile logs may carry any offset: keep the cache small
            _OFFSETS[offset] = zone
    return zone


class Clock:
    """Turns header timestamps into aware datetimes for one source at a time.

    Year inference for year-less syslog dates: the first date of a source gets
    the anchor's year, or the year before when that would put it more than
    ``FUTURE_SLACK`` after the anchor (a log never holds the future). After
    that the year only moves forward: a month jump backwards of more than six
    months (Dec -> Jan) is New Year. ``year`` (``--year``) fixes the year of
    the first year-less date instead of inferring it; New Year still counts.
    Zone-less times are in ``zone`` (default: local time).
    """

    def __init__(self, zone: tzinfo | None = None, year: int | None = None) -> None:
        self.zone = zone or tz.tzlocal()
        self.forced_year = year
        self.anchor = datetime.now(self.zone)
        self._year: int | None = None
        self._month = 0
        self.last_ts: bytes | None = None
        self.last_time: datetime | None = None
        """The last timestamp string parsed and its time (a cache callers may read)."""

    def begin_source(self, anchor: datetime | None) -> None:
        """A new file or stream: forget the year and the previous time."""
        if anchor is None:
            anchor = datetime.now(self.zone)
        elif anchor.tzinfo is None:
            anchor = anchor.replace(tzinfo=self.zone)
        self.anchor = anchor
        self._year = None
        self._month = 0
        self.last_ts = None
        self.last_time = None

    @property
    def previous(self) -> datetime:
        """The time a header-less line takes: the last time read, else the anchor."""
        return self.last_time if self.last_time is not None else self.anchor

    def time_of(self, ts: bytes | None) -> datetime:
        """The aware time of a header timestamp; None borrows ``previous``.

        Consecutive identical timestamp strings (busy logs write many lines
        per second) are parsed once. Raises BadTimestamp for impossible dates.
        """
        if ts is None:
            return self.previous
        last, last_time = self.last_ts, self.last_time
        if last_time is not None:
            if ts == last:
                return last_time
            if _same_minute(ts, last):  # type: ignore[arg-type]
                second = int(ts[-2:])
                if second < 60:  # else the full parse says why not
                    when = self.last_time = last_time.replace(second=second)
                    self.last_ts = ts
                    return when
        try:
            when = self._parse(ts)
        except (ValueError, OverflowError) as exc:
            raise BadTimestamp(str(exc)) from None
        self.last_ts = ts
        self.last_time = when
        return when

    def peek(self, ts: bytes) -> datetime:
        """Like ``time_of`` but stateless: the year comes from the anchor only.

        For bisecting a file on time, where lines are read out of order.
        """
        try:
            if ts[4:5] == b"-":
                return self._iso(ts)
            year, *rest = year_less_parts(ts)
            if year is None:
                year = self.forced_year or self._anchor_year(rest[0], rest[1:])
            return datetime(year, *rest, tzinfo=self.zone)
        except (ValueError, OverflowError, TypeError) as exc:
            raise BadTimestamp(str(exc)) from None

    def _parse(self, ts: bytes) -> datetime:
        if ts[4:5] == b"-":
            return fixed(self._iso(ts))
        year, month, *rest = year_less_parts(ts)
        if year is None:
            year = self._infer_year(month, rest)
        return fixed(datetime(year, month, *rest, tzinfo=self.zone))

    def _iso(self, ts: bytes) -> datetime:
        when = datetime.fromisoformat(ts.decode("ascii").replace(",", "."))
        return when if when.tzinfo is not None else when.replace(tzinfo=self.zone)

    def _infer_year(self, month: int, rest: list[int]) -> int:
        if self._year is None:
            self._year = self.forced_year or self._anchor_year(month, rest)
        elif month < self._month - 6:
            self._year += 1
        self._month = month
        return self._year

    def _anchor_year(self, month: int, rest: list[int]) -> int:
        year = self.anchor.year
        try:
            candidate = datetime(year, month, *rest, tzinfo=self.zone)
        except ValueError:  # Feb 29 in a non-leap anchor year
            return year - 1
        if candidate > self.anchor + FUTURE_SLACK:
            year -= 1
        return year
