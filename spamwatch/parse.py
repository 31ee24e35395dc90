"""A raw log line (bytes) -> an Event, or counted as not one.

The parser is the only stage that sees raw bytes written by strangers, so it
never raises: every line lands in exactly one ``ParseStats`` counter. The
work is split three ways: ``spamwatch.header`` cuts the syslog header and
keeps the clock (year inference, time zones, header-less lines),
``spamwatch.postfix_lines`` reads the message text, and this module ties
them together, decides what is Postfix, and keeps the counts.

Speed: a mail log has millions of lines. The header is one anchored bytes
regex; program names and hosts are decoded once and cached; the timestamp
is parsed once per distinct string; and with ``kinds`` the fields of lines
the caller does not use are never extracted (counted as ``skipped``).
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass, field
from datetime import datetime, tzinfo
from typing import Final

from spamwatch.header import HEADER, BadTimestamp, Clock
from spamwatch.model import Event
from spamwatch.postfix_lines import classify

MAX_LINE_BYTES: Final = 65536
"""Longer lines are counted malformed unread: Postfix never logs that much in
one record, and regexes over megabytes of hostile text only cost time."""

CACHE_LIMIT: Final = 4096
"""Most distinct program names / hosts remembered (hostile input cannot grow it)."""

NON_POSTFIX: Final = "non_postfix"
UNRECOGNISED: Final = "unrecognised"
MALFORMED: Final = "malformed"
SKIPPED: Final = "skipped"
_UNKNOWN: Final = ("", "")


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
    """Every line read lands in exactly one of the counters after ``lines``.

    ``lines == events + non_postfix + unrecognised + malformed + skipped``;
    ``skipped`` counts Postfix lines of kinds the caller did not ask for
    (``Parser(kinds=...)``), ``by_kind`` counts events per kind.
    """

    lines: int = 0
    events: int = 0
    non_postfix: int = 0
    unrecognised: int = 0
    malformed: int = 0
    skipped: int = 0
    by_kind: dict[str, int] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Explanation:
    """How one line was understood, for ``spamwatch events --explain``.

    ``outcome`` is "event", "non_postfix", "unrecognised" or "malformed";
    ``reason`` says why in words an admin can act on.
    """

    outcome: str
    reason: str
    event: Event | None = None


class Parser:
    """Turns byte lines into Events, counting every line in ``stats``.

    ``kinds``: the event kinds the caller uses; Postfix lines of other kinds
    are only classified, not read, and counted as ``skipped``. None = all.
    """

    def __init__(
        self, options: ParseOptions | None = None, kinds: Collection[str] | None = None
    ) -> None:
        self.options = options or ParseOptions()
        self.stats = ParseStats()
        self.kinds: frozenset[str] | None = frozenset(kinds) if kinds is not None else None
        self.clock = Clock(self.options.timezone, self.options.year)
        self.clock.begin_source(self.options.anchor)
        self._names = tuple(self.options.syslog_names)
        self._programs: dict[bytes, tuple[str, str]] = {}
        self._hosts: dict[bytes, str] = {}
        self._prev_ts: bytes | None = None
        self._prev_host: bytes | None = None
        self._why = ""

    def begin_source(self, anchor: datetime | None) -> None:
        """A new file starts: year inference restarts from ``anchor``.

        ``anchor`` is the file's mtime, or None for now (a live stream).
        """
        self.clock.begin_source(anchor)
        self._prev_ts = None
        self._prev_host = None

    def parse(self, line: bytes) -> Event | None:
        """One raw line -> an Event, or None (counted); never raises."""
        stats = self.stats
        stats.lines += 1
        try:
            result = self._read(line, self.kinds)
        except Exception as exc:  # a bug must not stop a live watcher
            self._why = f"internal parser error ({type(exc).__name__}); please report"
            result = MALFORMED
        if result.__class__ is Event:
            stats.events += 1
            kind = result.kind  # type: ignore[union-attr]
            stats.by_kind[kind] = stats.by_kind.get(kind, 0) + 1
            return result  # type: ignore[return-value]
        if result == NON_POSTFIX:
            stats.non_postfix += 1
        elif result == UNRECOGNISED:
            stats.unrecognised += 1
        elif result == SKIPPED:
            stats.skipped += 1
        else:
            stats.malformed += 1
        return None

    def explain(self, line: bytes) -> Explanation:
        """How ``line`` is understood and, if it is no event, why not.

        Reads every kind (ignores ``kinds``) and leaves ``stats`` alone; the
        clock moves on as for ``parse`` so header-less lines get the previous
        line's time here too.
        """
        try:
            result = self._read(line, None)
        except Exception as exc:
            return Explanation(MALFORMED, f"internal parser error: {exc!r}; please report")
        if isinstance(result, Event):
            return Explanation("event", self._why, result)
        return Explanation(str(result), self._why)

    def line_time(self, line: bytes) -> datetime | None:
        """The time in ``line``'s header, or None; no stats, no state.

        For bisecting a file on time: the year of a year-less date comes from
        the anchor alone (never in the future), or from ``--year``.
        """
        m = HEADER.match(line, 0, 256)
        if m is None or m.group("ts") is None:
            return None
        try:
            return self.clock.peek(m.group("ts"))
        except BadTimestamp:
            return None

    # --- internals -----------------------------------------------------------

    def _read(self, line: bytes, kinds: frozenset[str] | None) -> Event | str:
        """The whole decision for one line; the outcome name when no event."""
        if len(line) > MAX_LINE_BYTES:
            self._why = f"line too long ({len(line)} bytes > {MAX_LINE_BYTES})"
            return MALFORMED
        if line.endswith((b"\r", b"\n")):
            line = line.rstrip(b"\r\n")
        if b"\0" in line:
            self._why = "line holds NUL bytes (a corrupt or binary file)"
            return MALFORMED
        m = HEADER.match(line)
        if m is None:
            self._why = "no syslog header ('[time] [host] program[pid]: message')"
            return MALFORMED
        ts, host, prog, pid = m.group(1, 2, 3, 4)
        if ts is None:
            if pid is None and b"/" not in prog:
                self._why = "no syslog header ('[time] [host] program[pid]: message')"
                return MALFORMED
            ts = self._prev_ts
        else:
            self._prev_ts = ts
        if host is None:
            host = self._prev_host
        else:
            self._prev_host = host
        program = self._programs.get(prog) or self._learn_program(prog)
        if program is _UNKNOWN:
            self._why = f"program {_text(prog)!r} is not Postfix (see --syslog-name)"
            return NON_POSTFIX
        text = line[m.end() :].decode("utf-8", "backslashreplace")
        if not text.isprintable():
            text = _escape_controls(text)
        result = classify(program[1], text, kinds)
        if result.__class__ is str:
            self._why = f"{program[0]} line looks like a known form but is not: {result}"
            return UNRECOGNISED
        kind, qid, fields = result  # type: ignore[misc]
        if fields is None:
            self._why = f"{kind} line, not asked for"
            return SKIPPED
        try:
            when = self.clock.time_of(ts)
        except BadTimestamp as exc:
            self._why = f"impossible timestamp {_text(ts or b'')!r}: {exc}"
            return MALFORMED
        self._why = f"{program[0]} line read as {kind}"
        return Event(
            when, self._host_name(host), program[0], program[1],
            int(pid) if pid is not None else None, qid, kind, fields,
        )  # fmt: skip

    def _learn_program(self, prog: bytes) -> tuple[str, str]:
        """(program, daemon) for a Postfix syslog name, else ``_UNKNOWN``."""
        name = _text(prog)
        first, _, _ = name.partition("/")
        postfix = first == "postfix" or first.startswith("postfix-")
        postfix = postfix or any(name == n or name.startswith(n + "/") for n in self._names)
        program = (name, name.rpartition("/")[2]) if postfix else _UNKNOWN
        if len(self._programs) < CACHE_LIMIT:
            self._programs[prog] = program
        return program

    def _host_name(self, host: bytes | None) -> str:
        if host is None:
            return ""
        name = self._hosts.get(host)
        if name is None:
            name = _text(host)
            if len(self._hosts) < CACHE_LIMIT:
                self._hosts[host] = name
        return name


def _text(raw: bytes) -> str:
    """Decode header bytes; invalid UTF-8 and control codes become escapes."""
    text = raw.decode("utf-8", "backslashreplace")
    return text if text.isprintable() else _escape_controls(text)


def _escape_controls(text: str) -> str:
    """Show control characters as ``\\xNN`` so log text never drives a terminal."""
    return "".join(c if c.isprintable() else ascii(c)[1:-1] for c in text)
