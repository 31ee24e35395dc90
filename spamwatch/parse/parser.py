"""A raw log line (bytes) -> an Event, or counted as not one.

The parser is the only stage that sees raw bytes written by strangers, so it
never raises: every line lands in exactly one ``ParseStats`` counter. The
work is split three ways: ``spamwatch.parse.header`` cuts the syslog header and
keeps the clock (year inference, time zones, header-less lines),
``spamwatch.parse.grammar`` reads the message text, and this module ties
them together, decides what is Postfix, and keeps the counts.

Speed: a mail log has millions of lines. The header is one anchored bytes
regex; program names and hosts are decoded once and cached; the timestamp
is parsed once per distinct string; and with ``kinds`` the fields of lines
the caller does not use are never extracted (counted as ``skipped``).
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Collection
from dataclasses import dataclass, field
from datetime import datetime, tzinfo
from itertools import repeat
from operator import attrgetter, itemgetter
from typing import Any, Final

from spamwatch.model import Event
from spamwatch.parse.forms import FIELDS, FORMS, LINE
from spamwatch.parse.grammar import QUEUE_ID_FORM, classify_body, skip_prefixes
from spamwatch.parse.header import FAST_HEADER, HEADER, BadTimestamp, Clock
from spamwatch.slots import builder
from spamwatch.textsafe import clean

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
_KIND = attrgetter("kind")
_ROW_KIND = itemgetter(6)
_START = re.Match.start
NO_HEADER: Final = ("no syslog header ('[time] [host] program[pid]: message')", None)

_ID = rb"(?:(?:warning|error|fatal|panic): *)?(?:" + QUEUE_ID_FORM.encode() + rb"): "
QUEUE_ID_AFTER_COLON: Final = re.compile(rb": " + _ID)
"""Where a queue id can start a message: after ``prog[pid]: `` or ``prog: ``,
or after ``warning:`` and the other levels (``leveled`` reads that id too): the
lines worth parsing when only messages are wanted; the parser decides. ``": "``
is a literal prefix, so the scan runs at memchr speed."""
QUEUE_ID_AFTER_PID: Final = re.compile(rb"\] " + _ID)
"""The rare ``prog[pid] QID: `` form (no colon after the pid), seen in some
logs; scanned for separately because one pattern with both prefixes is three
times slower to run over a block."""
QUEUE_ID_ANYWHERE: Final = re.compile(rb"(?::|\]) " + _ID)


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
    ``queue_ids_only``: the caller uses only events with a queue id (the
    correlator ignores the rest), so ``parse_block`` may skip unread every
    line that cannot carry one (see there). ``markers``: ... and the lines
    where one of these bytes regexes matches right after ``": "``
    (``grammar.MARKERS``: the kinds a caller needs even without a queue id,
    such as SASL failures); the scan stays one regex per block.
    """

    def __init__(
        self,
        options: ParseOptions | None = None,
        kinds: Collection[str] | None = None,
        queue_ids_only: bool = False,
        markers: Collection[bytes] = (),
    ) -> None:
        self.options = options or ParseOptions()
        self.stats = ParseStats()
        self.kinds: frozenset[str] | None = frozenset(kinds) if kinds is not None else None
        self.queue_ids_only = queue_ids_only
        self._scans = (QUEUE_ID_AFTER_COLON, QUEUE_ID_ANYWHERE)
        """The block scans: usual, and with ``prog[pid] QID: `` lines in the block."""
        if markers:
            marked = b"(?:" + b"|".join((_ID, *markers)) + b")"
            self._scans = (re.compile(b": " + marked), re.compile(rb"(?::|\]) " + marked))
        self.clock = Clock(self.options.timezone, self.options.year)
        self.clock.begin_source(self.options.anchor)
        self._names = tuple(self.options.syslog_names)
        self._skips = skip_prefixes(self.kinds) if self.kinds is not None else {}
        self._programs: dict[bytes, tuple[str, str]] = {}
        self._hosts: dict[bytes, str] = {}
        self._forms_programs: dict[str, tuple[str, str]] = {}
        self._form_reads: dict[tuple[str, str], tuple[Any, ...] | str] = {}
        self._forms_hosts: dict[str, str] = {}
        self._prev_ts: bytes | None = None
        self._prev_host: bytes | None = None
        self._gap: tuple[bytes, int, int] | None = None
        """Lines ``parse_block`` skipped unread since the last parsed one
        (block, start, stop), for a header-less line to borrow from."""
        self.tuples = False
        """``parse_block`` gives each event as a row, the tuple of its fields in
        order (``event_row``; ``row_event(row)`` is the Event), instead of an
        Event: for a reading process that sends them on (``forked``) and would
        build each Event only to take it apart again. A line read by form
        carries what its fields are made of instead of the dict (the form's
        text, or its one value): the process that builds the Event makes them
        (``forms.FIELDS``)."""
        self._why: tuple[str, object] = ("", None)
        """Why the last line was no event: (str.format template, argument), built
        into words only by ``explain`` (most lines are never explained)."""

    def begin_source(self, anchor: datetime | None) -> None:
        """A new file starts: year inference restarts from ``anchor``.

        ``anchor`` is the file's mtime, or None for now (a live stream).
        """
        self.clock.begin_source(anchor)
        self._prev_ts = None
        self._prev_host = None
        self._gap = None

    def parse(self, line: bytes) -> Event | None:
        """One raw line -> an Event, or None (counted); never raises."""
        stats = self.stats
        stats.lines += 1
        try:
            result = self._read(line, self.kinds)
        except Exception as exc:  # a bug must not stop a live watcher
            result = self._internal_error(exc)
        if result.__class__ is Event:
            stats.events += 1
            kind = result.kind  # type: ignore[union-attr]
            stats.by_kind[kind] = stats.by_kind.get(kind, 0) + 1
            return result  # type: ignore[return-value]
        # the outcome names are the counter names
        setattr(stats, result, getattr(stats, result) + 1)  # type: ignore[arg-type]
        return None

    def parse_block(self, block: bytes) -> list[Event]:
        """The events of a block of whole lines (``sources.files.iter_blocks``).

        Without ``queue_ids_only`` this is ``parse`` on each line. With it,
        one regex scan in C finds the lines that can carry a queue id; only
        those are parsed, and every other line is counted ``skipped`` unread
        (it may be Postfix or not, valid or malformed: nobody asked). Half of
        a typical log (connects, TLS, postscreen, other daemons) never reaches
        Python code. A header-less line still takes the time and host of the
        line before it, as with ``parse``: only then are the headers of the
        skipped lines just before it read (``_replay``). One difference
        remains: the year of a year-less date is inferred from the dates of
        the lines read, so a New Year seen only on lines without a queue id is
        missed: in a log in time order, only when no line with a queue id was
        written for over six months around it; in a log of shuffled dates,
        the year of a date may come out otherwise.
        """
        if not self.queue_ids_only:
            lines = block.split(b"\n")
            if not lines[-1]:
                lines.pop()
            parse = self.parse
            events = [event for event in map(parse, lines) if event is not None]
            return [event_row(event) for event in events] if self.tuples else events  # type: ignore[misc]
        usual, anywhere = self._scans
        scan = anywhere if QUEUE_ID_AFTER_PID.search(block) is not None else usual
        total = block.count(b"\n") + (not block.endswith(b"\n"))
        events, misses, tail = self._parse_candidates(block, scan)
        self._count(events, misses, total - len(events) - len(misses))
        self._gap = (block, tail, len(block))
        self._replay()  # the next block may start with a header-less line
        return events

    def _parse_candidates(
        self, block: bytes, scan: re.Pattern[bytes]
    ) -> tuple[list[Event], list[str], int]:
        """Read each line of ``block`` that ``scan`` matches.

        Returns the events, the outcomes of the lines that gave none, and
        where the lines after the last line ``_read`` read start. A line of
        one of the everyday forms is read by ``forms.LINE`` (``_read_form``),
        any other by ``_read``; before each of these, ``_gap`` names the lines
        since the previous one it read, skipped or read by form, for a line
        without a header to borrow from. Counting is left to ``_count``, once
        per block (as ``parse`` would count, without a call per line).
        """
        read, read_form, kinds, tuples = self._read, self._read_form, self.kinds, self.tuples
        text = block.decode("latin-1")  # one character per byte: the same positions
        find, rfind = block.find, block.rfind
        # Where each line begins, once however often scan matches in it; then
        # each line read as a form or not, in C (map), before any Python per line.
        begins = dict.fromkeys(
            [rfind(b"\n", 0, at) + 1 for at in map(_START, scan.finditer(block))]
        )
        events: list[Event] = []
        misses: list[str] = []
        event, miss = events.append, misses.append
        read_end = -1
        for begin, line in zip(begins, map(LINE.match, repeat(text), begins), strict=True):
            if line is not None and line.lastgroup != "other":
                end = line.end()  # a form ends at its line's end
                if end - begin <= MAX_LINE_BYTES:
                    result = read_form(line)
                    if result.__class__ is tuple or result.__class__ is Event:
                        event(result)  # type: ignore[arg-type]
                        continue
                    if result is not None:
                        miss(result)  # type: ignore[arg-type]
                        continue
            else:
                end = find(b"\n", begin)
                if end < 0:
                    end = len(block)
                if (
                    line is not None
                    and end - begin <= MAX_LINE_BYTES
                    and self._not_postfix(line.group(3))
                    and block.find(0, begin, end) < 0
                ):
                    miss(NON_POSTFIX)  # forms.LINE's "other": another program's line
                    continue
            self._gap = (block, read_end + 1, begin) if read_end + 1 < begin else None
            read_end = end
            try:
                result = read(block[begin:end], kinds)
            except Exception as exc:  # a bug must not stop a live watcher
                result = self._internal_error(exc)
            if result.__class__ is Event:
                event(event_row(result) if tuples else result)  # type: ignore[arg-type]
            else:
                miss(result)  # type: ignore[arg-type]
        self._gap = None
        return events, misses, read_end + 1

    def _read_form(self, m: re.Match[str]) -> Event | tuple[Any, ...] | str | None:
        """A line of one of ``forms.FORMS``: its Event (or row), NON_POSTFIX, or None for ``_read``.

        The same outcome as ``_read``'s (see ``forms``) for the forms whose
        daemon and kind fit; a line of another program is counted here (a
        form holds no NUL byte). It leaves ``_prev_ts`` and ``_prev_host`` to
        ``_replay``: the line stays in the gap.
        """
        ts, host, prog, pid, queue_id = m.group(1, 2, 3, 4, 5)
        key = (prog, m.lastgroup)
        read = self._form_reads.get(key) or self._learn_form(key)  # type: ignore[arg-type]
        if read.__class__ is not tuple:
            return read or None  # type: ignore[return-value]
        program, daemon, kind, groups, build, shipped = read  # type: ignore[misc]
        stamp = ts.encode()
        clock = self.clock
        if stamp == clock.last_ts:
            when = clock.last_time
        else:
            try:
                when = clock.time_of(stamp)
            except BadTimestamp:
                return None  # _read says why
        host = self._forms_hosts.get(host) or self._learn_form_host(host)
        pid = int(pid) if pid is not None else None  # type: ignore[assignment]
        if self.tuples:
            return (when, host, program, daemon, pid, queue_id, kind, m.group(*shipped))
        return _event(when, host, program, daemon, pid, queue_id, kind, build(m.group(*groups)))

    def _learn_form(self, key: tuple[str, str]) -> tuple[Any, ...] | str:
        """How lines of program ``key[0]`` in form ``key[1]`` are read (``_read_form``).

        (program, daemon, kind, groups, builder, the groups a row carries:
        ``forms.FORMS``) when the form's daemon is the program's and its kind
        is asked for; NON_POSTFIX for a program that is not Postfix; "" (false)
        when ``_read`` must read the line.
        """
        prog, name = key
        program = self._forms_programs.get(prog) or self._learn_form_program(prog)
        kind, daemon, groups, build, shipped = FORMS[name]
        read: tuple[Any, ...] | str
        if program is _UNKNOWN:
            read = NON_POSTFIX
        elif (daemon is not None and daemon != program[1]) or (
            self.kinds is not None and kind not in self.kinds
        ):
            read = ""
        else:
            read = (program[0], program[1], kind, groups, build, shipped)
        if len(self._form_reads) < CACHE_LIMIT:
            self._form_reads[key] = read
        return read

    def _not_postfix(self, prog: str) -> bool:
        """Whether ``prog`` (a program name ``forms.LINE`` read) is not Postfix's."""
        program = self._forms_programs.get(prog) or self._learn_form_program(prog)
        return program is _UNKNOWN

    def _learn_form_program(self, prog: str) -> tuple[str, str]:
        """``_learn_program`` for a program name of printable ASCII (as text)."""
        program = self._learn_program(prog.encode("ascii"))
        if len(self._forms_programs) < CACHE_LIMIT:
            self._forms_programs[prog] = program
        return program

    def _learn_form_host(self, host: str) -> str:
        """One string object per host name (printable ASCII: decoded as it is)."""
        if len(self._forms_hosts) < CACHE_LIMIT:
            self._forms_hosts[host] = host
        return host

    def _count(self, events: list[Event], misses: list[str], skipped: int) -> None:
        """Count a block's lines in ``stats`` the way ``parse`` counts each."""
        stats = self.stats
        stats.lines += len(events) + len(misses) + skipped
        stats.events += len(events)
        stats.skipped += skipped
        by_kind = stats.by_kind
        for kind, n in Counter(map(_ROW_KIND if self.tuples else _KIND, events)).items():
            by_kind[kind] = by_kind.get(kind, 0) + n
        for outcome, n in Counter(misses).items():
            setattr(stats, outcome, getattr(stats, outcome) + n)

    def _internal_error(self, exc: Exception) -> str:
        """A bug in the parser: the line counts as malformed, and says so."""
        self._why = ("internal parser error ({!r}); please report", exc)
        return MALFORMED

    def _lends_nothing(self) -> str:
        """MALFORMED, for a line that sets no header state: the lines ``parse_block``
        skipped before it still do (else a later header-less line would lose them)."""
        self._replay()
        return MALFORMED

    def _replay(self) -> None:
        """Apply the skipped lines in ``_gap`` to the header state, as ``parse`` would.

        ``parse`` remembers the time and host of every line with a header, for
        a header-less line to borrow. Only the last of the skipped lines that
        gave each one matters, so they are read backwards until both are found.
        """
        gap, self._gap = self._gap, None
        if gap is None:
            return
        block, start, stop = gap
        ts = host = None
        while stop > start and (ts is None or host is None):
            begin = max(block.rfind(b"\n", start, stop - 1) + 1, start)
            line = block[begin : stop - 1] if block[stop - 1 : stop] == b"\n" else block[begin:stop]
            stop = begin
            header = _header_state(line)
            if header is not None:
                ts = header[0] if ts is None else ts
                host = header[1] if host is None else host
        if ts is not None:
            self._prev_ts = ts
        if host is not None:
            self._prev_host = host

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
            return Explanation("event", f"{result.program} line read as {result.kind}", result)
        template, arg = self._why
        if isinstance(arg, bytes):
            arg = _text(arg)
        return Explanation(str(result), template.format(arg))

    def line_time(self, line: bytes) -> datetime | None:
        """The time in ``line``'s header, or None; no stats, no state.

        For bisecting a file on time: the year of a year-less date comes from
        the anchor alone (never in the future), or from ``--year``.
        """
        m = FAST_HEADER.match(line, 0, 256) or HEADER.match(line, 0, 256)
        if m is None or m.group(1) is None:
            return None
        try:
            return self.clock.peek(m.group(1))
        except BadTimestamp:
            return None

    # --- internals -----------------------------------------------------------

    def _read(self, line: bytes, kinds: frozenset[str] | None) -> Event | str:
        """The whole decision for one line; the outcome name when no event."""
        if len(line) > MAX_LINE_BYTES:
            self._why = (f"line too long ({{}} bytes > {MAX_LINE_BYTES})", len(line))
            return self._lends_nothing()
        last = line[-1:]
        if last == b"\r" or last == b"\n":
            line = line.rstrip(b"\r\n")
        if 0 in line:  # memchr; b"\0" in line is a slower substring search
            self._why = ("line holds NUL bytes (a corrupt or binary file)", None)
            return self._lends_nothing()
        m = FAST_HEADER.match(line) or HEADER.match(line)
        if m is None:
            self._why = NO_HEADER
            return self._lends_nothing()
        ts, host, prog, pid, qid = m.groups()  # both header regexes have these 5
        if (ts is None or host is None) and self._gap is not None:
            self._replay()  # parse_block skipped the lines this one borrows from
        if ts is None:
            if pid is None and b"/" not in prog:
                self._why = NO_HEADER
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
            self._why = ("program {!r} is not Postfix (see --syslog-name)", prog)
            return NON_POSTFIX
        body = m.end()
        if qid is None and kinds is not None:
            sure = self._skips.get(program[1])
            if sure is not None and line.startswith(sure, body):
                self._why = ("line of a kind not asked for", None)
                return SKIPPED
        text = line[body:].decode("utf-8", "backslashreplace")
        if not text.isprintable():
            text = clean(text)
        result = classify_body(program[1], text, qid and qid.decode("ascii"), kinds)
        if result.__class__ is str:
            self._why = ("line looks like a known form but is not: {}", result)
            return UNRECOGNISED
        kind, queue_id, fields = result  # type: ignore[misc]
        if fields is None:
            self._why = ("{} line, not asked for", kind)
            return SKIPPED
        clock = self.clock
        if ts is not None and ts == clock.last_ts:  # many lines per second: skip a call
            when = clock.last_time
        else:
            try:
                when = clock.time_of(ts)
            except BadTimestamp as exc:
                self._why = ("impossible timestamp: {}", exc)
                return MALFORMED
        return _event(
            when, self._hosts.get(host) or self._host_name(host), program[0], program[1],  # type: ignore[arg-type]
            int(pid) if pid is not None else None, queue_id, kind, fields,
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
        """The host as text, decoded once per distinct name ("" when never logged)."""
        if host is None:
            return ""
        name = self._hosts.get(host)
        if name is None:
            name = _text(host)
            if len(self._hosts) < CACHE_LIMIT:
                self._hosts[host] = name
        return name


_event = builder(Event)


def row_event(row: tuple[Any, ...]) -> Event:
    """The Event of a row of ``Parser.tuples`` (``event_row`` or a line read by form)."""
    return event_of(*row)


def event_of(
    when: datetime, host: str, program: str, daemon: str, pid: int | None,
    queue_id: str | None, kind: str, found: Any,
) -> Event:  # fmt: skip
    """``row_event`` of the row's fields as arguments (``map`` over columns: no row built)."""
    if found.__class__ is dict:
        return _event(when, host, program, daemon, pid, queue_id, kind, found)
    return _event(when, host, program, daemon, pid, queue_id, kind, FIELDS[kind](found))


def event_row(event: Event) -> tuple[Any, ...]:
    """The fields of ``event`` in order, ``fields`` as a plain dict (``Parser.tuples``)."""
    found = event.fields
    return (
        event.time, event.host, event.program, event.daemon, event.pid, event.queue_id,
        event.kind, found if found.__class__ is dict else dict(found),
    )  # fmt: skip


def _header_state(line: bytes) -> tuple[bytes | None, bytes | None] | None:
    """(timestamp, host) a line lends to the header-less lines after it, or None.

    The same rules as ``Parser._read``: a line too long, with NUL bytes or
    without a header lends nothing; ``prog: msg`` without a time or pid is no
    header either.
    """
    if len(line) > MAX_LINE_BYTES:
        return None
    line = line.rstrip(b"\r\n")
    if 0 in line:
        return None
    m = FAST_HEADER.match(line) or HEADER.match(line)
    if m is None:
        return None
    ts, host, prog, pid = m.group(1, 2, 3, 4)
    if ts is None and pid is None and b"/" not in prog:
        return None
    return ts, host


def _text(raw: bytes) -> str:
    """Decode header bytes; invalid UTF-8 and control codes become escapes."""
    text = raw.decode("utf-8", "backslashreplace")
    return text if text.isprintable() else clean(text)
