"""Record streams: the record, merging and cutting streams, and the syslog header.

A record is ``(time, host, text)``; every generator yields them in time order.
Why here: the streams stay header-free (cheap to merge) until ``render`` writes
the lines as rsyslog would, in either timestamp style.
"""

from __future__ import annotations

import heapq
from collections.abc import Iterable, Iterator
from datetime import UTC, datetime, tzinfo
from operator import itemgetter

Record = tuple[float, str, str]
"""(epoch seconds, host, "program[pid]: message")."""


MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")


STYLES = ("rfc3164", "rfc3339")


def epoch(when: datetime | float) -> float:
    """Epoch seconds of a datetime (a naive one is taken as UTC: reproducible) or of a number.

    Every scenario takes its start either way, so a sample can say "09:00 that
    day" and a test a bare number.
    """
    if isinstance(when, float | int):
        return float(when)
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return when.timestamp()


def render(records: Iterable[Record], style: str = "rfc3164", tz: tzinfo = UTC) -> Iterator[str]:
    """Add the syslog header to records, as rsyslog writes it (no trailing newline).

    ``rfc3164``: ``Nov 28 03:13:06 host prog[pid]: msg`` (day space-padded, no year).
    ``rfc3339``: ``2026-11-28T03:13:06.123456+01:00 host prog[pid]: msg``.
    The header of one second is built once and reused: most lines share it.
    """
    if style not in STYLES:
        raise ValueError(f"unknown style {style!r} (one of {', '.join(STYLES)})")
    precise = style == "rfc3339"
    last = None
    head = offset = ""
    for t, host, text in records:
        sec = int(t)
        if sec != last:
            last = sec
            head, offset = _header(sec, precise, tz)
        if precise:
            yield f"{head}.{int((t - sec) * 1e6):06d}{offset} {host} {text}"
        else:
            yield f"{head} {host} {text}"


def _header(sec: int, precise: bool, tz: tzinfo) -> tuple[str, str]:
    local = datetime.fromtimestamp(sec, tz)
    clock = f"{local.hour:02d}:{local.minute:02d}:{local.second:02d}"
    if not precise:
        return f"{MONTHS[local.month - 1]} {local.day:2d} {clock}", ""
    off = local.strftime("%z") or "+0000"
    return f"{local.year:04d}-{local.month:02d}-{local.day:02d}T{clock}", f"{off[:3]}:{off[3:]}"


def merge(*streams: Iterable[Record]) -> Iterator[Record]:
    """Interleave time-ordered record streams into one, on time (stable on ties)."""
    return heapq.merge(*streams, key=itemgetter(0))


def until(records: Iterable[Record], end: float) -> Iterator[Record]:
    """Records before ``end`` (epoch seconds); stops reading at the first later one."""
    for rec in records:
        if rec[0] >= end:
            return
        yield rec
