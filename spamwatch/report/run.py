"""What ``spamwatch report`` does once its options are read: plan, read, run, judge.

``plan_files`` picks the files (rotated ones too when the range reaches back
before the current file), ``events_in`` reads the events of the range plus the
warm-up before it, ``run`` feeds them through the pipeline and opens the alerts
at the range start (``alerts_from_range_start``), ``say_why_empty`` explains an
empty report and ``exit_status`` turns the incidents into the exit status. The
command (``spamwatch.cli.report``) only parses options and wires these.
"""

from __future__ import annotations

import os
import time
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from dataclasses import replace
from datetime import UTC, datetime, tzinfo

import click

from spamwatch.errors import ProfileError, UsageError
from spamwatch.gcpolicy import few_collections
from spamwatch.metrics import ReportRun
from spamwatch.model import Event, Incident, IncidentState, Severity
from spamwatch.parse import Parser
from spamwatch.parse.forked import blocks_forked, worth_forking
from spamwatch.pipeline import Emit, Pipeline
from spamwatch.profiles import ProfileOptions, Profiles
from spamwatch.profiles.learner import open_keys_of
from spamwatch.report.summary import TrafficSummary
from spamwatch.report.timerange import TimeRange, iso, parse_now
from spamwatch.sinks import Fanout
from spamwatch.sources.files import file_anchor
from spamwatch.sources.rotated import files_for_range, rotated_siblings
from spamwatch.sources.seek import first_at, first_time, last_time, read_blocks_from, read_from


def begin(parser: Parser, path: str) -> None:
    """Tell the parser a new source starts; its mtime anchors year-less dates."""
    parser.begin_source(file_anchor(path))


def plan_files(paths: tuple[str, ...], span: TimeRange, parser: Parser) -> list[str]:
    """Every file to read, oldest first per named file, each real file once."""

    def head_time(path: str) -> datetime | None:
        begin(parser, path)
        return first_time(path, parser.line_time)

    plan: list[str] = []
    seen: set[str] = set()
    for path in paths:
        for part in files_for_range(path, span.since, head_time):
            real = part if part == "-" else os.path.realpath(part)
            if real not in seen:
                seen.add(real)
                plan.append(part)
    return plan


def log_end(parser: Parser, newest: str) -> datetime | None:
    """The time of the log's last line: ``newest``, else the rotated files before it.

    Just after a rotation the current file may hold no line yet, so the
    rotated ones are looked at too, newest first.
    """
    for path in [newest, *reversed(rotated_siblings(newest))]:
        begin(parser, path)
        end = last_time(path, parser.line_time)
        if end is not None:
            return end
    return None


def wall_clock(parser: Parser, explicit: tzinfo | None, newest: str) -> tuple[tzinfo, str | None]:
    """The zone of a typed time without one (``--since '2026-11-26 09:00'``), and a note saying so.

    ``--timezone`` (or ``[parse] timezone``) when given; else, when the log's
    lines carry their own offset (RFC 3339), the offset of its last line, so
    "09:00" means 09:00 as the log writes it, not on this machine's clock
    (``--since 1h`` is the same either way); else local time, the zone the
    parser reads zone-less log lines in.
    """
    if explicit is not None:
        return explicit, None
    end = log_end(parser, newest) if newest != "-" else None
    if end is None or end.tzinfo is None or end.tzinfo is parser.clock.zone:
        return parser.clock.zone, None
    offset = end.strftime("%z")
    offset = f"{offset[:3]}:{offset[3:]}"
    return end.tzinfo, f"times without a zone read as {offset}, the log's own offset"


def alerts_from_range_start(pipeline: Pipeline, alerts: Fanout | None) -> Callable[[], None]:
    """What happens when the range starts (after the warm-up): alerts go out from then.

    During the warm-up incidents reach only the report. At the range start the
    incidents still open are sent once as they stand (``opened``: the sinks
    never heard of them), and from then on every
    record (``with_alerts``), so sinks see what the report shows.
    """

    def start_range() -> None:
        if alerts is not None:
            for incident in pipeline.engine.open_incidents():
                alerts.send(replace(incident, state=IncidentState.OPENED))
        pipeline.emit = with_alerts(pipeline.emit, alerts)

    return start_range


def with_alerts(emit: Emit, alerts: Fanout | None) -> Emit:
    """``emit`` that also sends every incident record to ``alerts`` (if any)."""
    if alerts is None:
        return emit

    def both(incident: Incident) -> None:
        emit(incident)
        alerts.send(incident)

    return both


def run(
    pipeline: Pipeline,
    events: Iterable[Event],
    since: datetime | None,
    start_range: Callable[[], None],
) -> None:
    """Feed the events through the pipeline (calling ``start_range`` at ``since``), flush it."""
    warming = since is not None
    if not warming:
        start_range()
    with few_collections():
        for event in events:
            if warming and event.time >= since:  # type: ignore[operator]
                warming = False
                start_range()
            pipeline.feed_event(event)
        pipeline.finish()


def events_in(parser: Parser, plan: list[str], reading: TimeRange) -> Iterator[Event]:
    """The events of each file within ``reading``; a file is left at its first past --until.

    Read in blocks (``Parser.parse_block``); the block holding ``--until``
    is cut at its first line at or after it. The next file is still entered
    (by bisection, so a newer rotated part costs a few probes): it may be
    another host's log with its own times.
    """
    for events in event_blocks(parser, plan, reading):
        yield from events


def event_blocks(parser: Parser, plan: list[str], reading: TimeRange) -> Iterator[list[Event]]:
    """``events_in``, one list per block read (``events_forked`` sends them on so)."""
    since, until = reading.since, reading.until
    for path in plan:
        begin(parser, path)
        for block in read_blocks_from(path, since, parser.line_time):
            last = None if until is None else _last_time(block, parser)
            cut = last is not None and last >= until  # type: ignore[operator]
            if cut:
                block = block[: first_at(block, until, parser.line_time)]  # type: ignore[arg-type]
            events = parser.parse_block(block)
            if until is not None:
                stop = next((i for i, e in enumerate(events) if e.time >= until), None)
                if stop is not None:  # the first event past --until ends this file
                    events, cut = events[:stop], True
            if since is not None:
                events = [e for e in events if e.time >= since]
            yield events
            if cut:
                break


def events_forked(parser: Parser, plan: list[str], reading: TimeRange) -> Iterator[Event]:
    """``run.events_in(parser, plan, reading)``, read and parsed by a forked child.

    ``parser.stats`` follows the child's line count as blocks arrive (for the
    progress bar) and is the child's exactly at the end.
    """

    def blocks() -> Iterator[tuple[list[Event], int]]:
        for events in event_blocks(parser, plan, reading):
            yield events, parser.stats.lines

    for events, lines in blocks_forked(parser, blocks):
        parser.stats.lines = lines
        yield from events


def _last_time(block: bytes, parser: Parser) -> datetime | None:
    """The time of the last timed line of ``block``."""
    end = len(block) - 1
    while end > 0:
        start = block.rfind(b"\n", 0, end) + 1
        when = parser.line_time(block[start:end])
        if when is not None:
            return when
        end = start - 1
    return None


def say_why_empty(plan: list[str], span: TimeRange, parser: Parser) -> None:
    """Nothing in the range: say why on stderr, so an empty report is not an all-clear.

    The log ends before the range or starts after it, or nothing in the file
    looked like a mail log: it is empty, not one line of it is a syslog line
    (a binary file), or no line is from Postfix (the wrong file, or Postfix
    logging under another syslog name). Printed even with --quiet: a log that
    stopped being written or the wrong file is trouble a cron job should mail
    about, not silence.
    """
    if _range_misses_the_log(plan, span, parser) or parser.stats.events:
        return
    if parser.stats.skipped:  # reading_parser left lines unread: read them all to tell
        parser = read_again(plan, span, parser)
        if parser.stats.events:
            return  # Postfix lines were there, of kinds no stage reads: not the wrong file
    names = ", ".join("standard input" if path == "-" else path for path in plan)
    pronoun = "them" if len(plan) > 1 else "it"
    click.echo(
        f"spamwatch: warning: {names}: nothing in {pronoun} looked like a mail log "
        f"({_not_a_mail_log(parser)})",
        err=True,
    )


def _not_a_mail_log(parser: Parser) -> str:
    stats = parser.stats
    if not stats.lines:
        return "empty"
    if stats.malformed == stats.lines:
        return "not one syslog line"
    return (
        f"{stats.lines} {'line' if stats.lines == 1 else 'lines'}, none from Postfix;"
        " another syslog name needs --syslog-name"
    )


def read_again(plan: list[str], span: TimeRange, parser: Parser) -> Parser:
    """A parser that read every line of the range (for the rare empty report).

    Standard input cannot be read again: then ``parser`` itself is returned.
    """
    if "-" in plan:
        return parser
    full = Parser(parser.options)
    for path in plan:
        begin(full, path)
        for line in read_from(path, span.since, full.line_time):
            full.parse(line)
    return full


def _range_misses_the_log(plan: list[str], span: TimeRange, parser: Parser) -> bool:
    """Say so and return True when the log ends before the range or starts after it."""
    newest, oldest = plan[-1], plan[0]
    if newest == "-":  # cannot be read back: say only that nothing came in range
        if span.since is None or parser.stats.lines:
            return False
        click.echo(
            f"spamwatch: warning: standard input has no line from {iso(span.since)} on:"
            " nothing to report",
            err=True,
        )
        return True
    begin(parser, newest)
    end = last_time(newest, parser.line_time)
    if end is not None and span.since is not None and end < span.since:
        click.echo(
            f"spamwatch: warning: {newest} ends at {iso(end)}, before the range "
            f"starts ({iso(span.since)}): nothing to report",
            err=True,
        )
        return True
    begin(parser, oldest)
    start = first_time(oldest, parser.line_time)
    if start is not None and span.until is not None and start >= span.until:
        click.echo(
            f"spamwatch: warning: {oldest} starts at {iso(start)}, after the range "
            f"ends ({iso(span.until)}): nothing to report",
            err=True,
        )
        return True
    return False


def exit_status(severities: list[Severity], fail_on: str) -> int:
    """1 when an incident in the range reached --fail-on (its highest severity), else 0."""
    worst = max(severities, default=None)
    if fail_on == "never" or worst is None:
        return 0
    return 1 if worst >= Severity.parse(fail_on) else 0


def reading_start(reading: TimeRange, plan: list[str], parser: Parser) -> float | None:
    """Where the reading starts: the profiles judged against are those learned before."""
    if reading.since is not None:
        return reading.since.timestamp()
    if plan[0] == "-":
        return None
    begin(parser, plan[0])
    start = first_time(plan[0], parser.line_time)
    return None if start is None else start.timestamp()


def open_profiles(
    options: ProfileOptions,
    pipeline: Pipeline,
    start: float | None,
    on_error: Callable[[ProfileError], None],
) -> Profiles:
    """Open the profiles learned before ``start``, bind the detectors, tap the learner in.

    The range is judged against what was known before it; what it teaches is
    written as it is read. A write that fails goes to ``on_error`` (``report``
    ends with its status after the report is printed, said once in that error
    line); a database this user cannot write fails at once (exit 5).
    """
    profiles = Profiles.open(options, before=start)
    profiles.bind(pipeline.detectors)
    pipeline.learner = profiles.learner(lambda: open_keys_of(pipeline.engine), on_error=on_error)
    return profiles


def read_events(parser: Parser, plan: list[str], reading: TimeRange, jobs: int) -> Iterator[Event]:
    """The range's events, read here or in a second process (``--jobs``)."""
    if worth_forking(jobs, plan):
        return events_forked(parser, plan, reading)
    return events_in(parser, plan, reading)


def range_now(text: str | None, zone: tzinfo, parser: Parser, newest: str) -> datetime:
    """The moment relative times count back from: --now, the log's end, or the clock."""
    if text is None or text.strip().lower() != "end":
        return parse_now(text, zone) or datetime.now(UTC)
    if newest == "-":
        raise UsageError("--now end needs a log file, not standard input")
    end = log_end(parser, newest)
    if end is None:
        raise UsageError(f"--now end: {newest} has no timestamped line")
    return end


def run_gauges(
    span: TimeRange | None,
    parser: Parser,
    traffic: TrafficSummary,
    final: list[Incident],
    started: float,
    status: int,
) -> ReportRun:
    """What this run did, for the metrics: gauges, replaced by the next run."""
    return ReportRun(
        since=(span.since if span else None) or traffic.first_time,  # else the log's own span
        until=(span.until if span else None) or traffic.last_time,
        lines=parser.stats.lines,
        events=parser.stats.events,
        messages=traffic.messages,
        incidents=Counter(str(i.severity) for i in final),
        duration=time.monotonic() - started,
        exit_status=status,
    )
