"""``spamwatch report``: findings and a traffic summary for a span of the log.

Reads only the range asked for, plus ``--warmup`` of log before it that
refills the detectors' windows without being reported: the start is found by
bisecting the current file, and rotated files are opened only when the
reading reaches back before its first line. Relative times count back from the
clock, read once here (or from ``--now``), never below.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Iterable, Iterator
from datetime import UTC, datetime, tzinfo

import click
from dateutil import tz

from spamwatch.cli.alerts import alert_option, cli_alerts, finish_alerts, with_alerts
from spamwatch.cli.common import (
    build_parse_options,
    config_option,
    load,
    parse_options,
    silence_stdout,
)
from spamwatch.config import Config
from spamwatch.detectors import build_detectors
from spamwatch.detectors.base import Detector
from spamwatch.errors import UsageError
from spamwatch.model import Event, Severity
from spamwatch.parse import Parser
from spamwatch.pipeline import Pipeline
from spamwatch.render import ReportData, render_json, render_table, render_text
from spamwatch.sinks import Fanout
from spamwatch.sinks.text import log_console
from spamwatch.sources.files import file_anchor
from spamwatch.sources.rotated import files_for_range, rotated_siblings
from spamwatch.sources.seek import first_time, last_time, read_from
from spamwatch.summary import FindingLog, TrafficSummary
from spamwatch.timerange import TimeRange, iso, parse_now, parse_range
from spamwatch.timeutil import parse_duration

DEFAULT_LOG = "/var/log/mail.log"
FAIL_ON = ("info", "warning", "critical", "never")


@click.command("report")
@config_option
@parse_options
@click.option(
    "--since",
    metavar="TIME",
    help="Start: 1h, 30m, today, yesterday, '2026-11-28 03:00', ISO 8601.",
)
@click.option("--until", metavar="TIME", help="End (exclusive), same forms as --since.")
@click.option(
    "--now",
    "now_text",
    metavar="TIME|end",
    help="Count relative times from TIME (ISO 8601), or from the log's last line "
    "('end'), instead of the clock.",
)
@click.option(
    "--format",
    "output_format",
    type=click.Choice(["table", "text", "json"]),
    help="table (default on a terminal), text (default otherwise), json (JSON Lines of findings).",
)
@click.option(
    "--fail-on",
    type=click.Choice(FAIL_ON),
    default="warning",
    show_default=True,
    help="Exit 1 when a finding reached this severity.",
)
@click.option(
    "-q", "--quiet", is_flag=True, help="Print nothing unless a finding reached --fail-on."
)
@click.option(
    "--all-records",
    is_flag=True,
    help="Every finding record (raised, escalated, resolved) in log order, not one per finding.",
)
@click.option(
    "--warmup",
    default="1h",
    show_default=True,
    metavar="DURATION",
    help="With --since, read this much log before it to refill the detectors' windows (0: none).",
)
@alert_option
@click.argument("files", nargs=-1, metavar="[FILE]...")
def report(
    config_path: str | None,
    timezone: str | None,
    year: int | None,
    syslog_names: tuple[str, ...],
    since: str | None,
    until: str | None,
    now_text: str | None,
    output_format: str | None,
    fail_on: str,
    quiet: bool,
    all_records: bool,
    warmup: str,
    alert_uris: tuple[str, ...],
    files: tuple[str, ...],
) -> int:
    """Report findings and a traffic summary over a time range of the log.

    FILE defaults to /var/log/mail.log; rotated files beside it are read too
    when --since reaches back before its first line. Exit status 1 when a
    finding reached --fail-on (default warning).
    """
    config = load(config_path)
    options = build_parse_options(config, timezone, year, syslog_names)
    parser = Parser(options)
    zone = options.timezone or tz.tzlocal()
    findings = FindingLog(keep_records=all_records)
    pipeline = _pipeline(config, parser, findings)  # config errors before input errors
    alerts = cli_alerts(config, alert_uris)  # --alert: each finding record to the sinks too
    paths = files or (DEFAULT_LOG,)
    try:
        now = _now(now_text, zone, parser, paths[-1])
        span = parse_range(since, until, now, zone)
        reading = _reading(span, warmup)
        plan = _plan(paths, reading, parser)
        traffic = TrafficSummary(since=span.since)
        findings.since = span.since
        pipeline.on_event, pipeline.on_update = traffic.on_event, traffic.on_update
        _run(pipeline, _events(parser, plan, reading), span.since, _to_alerts(pipeline, alerts))
    finally:
        stats = {"lines": parser.stats.lines, "events": parser.stats.events}
        finish_alerts(alerts, stats)
    if traffic.first_time is None:
        _say_why_empty(plan, span, parser)
    final = findings.final(pipeline.tracker.open_findings())
    status = _status([f.severity for f in final] + list(findings.dropped), fail_on)
    if quiet and status == 0:
        return status
    shown = findings.records_of(final) if all_records else final
    data = ReportData(
        range=span,
        files=tuple(plan),
        findings=tuple(shown),
        traffic=traffic,
        lines=parser.stats.lines,
        events=parser.stats.events,
        warmup=reading.since if reading.since != span.since else None,
        dropped=sum(findings.dropped.values()),
    )
    try:
        _render(data, output_format)
    except BrokenPipeError:  # ``| head``: the reader left, the verdict stands
        silence_stdout()
    return status


def _reading(span: TimeRange, warmup: str) -> TimeRange:
    """What to read: the range plus ``--warmup`` before it to refill the detectors."""
    try:
        back = parse_duration(warmup)
    except ValueError as exc:
        raise UsageError(f"--warmup: {exc}") from None
    if span.since is None or not back:
        return span
    return TimeRange(span.since - back, span.until)


def _now(text: str | None, zone: tzinfo, parser: Parser, newest: str) -> datetime:
    """The moment relative times count back from: --now, the log's end, or the clock."""
    if text is None or text.strip().lower() != "end":
        return parse_now(text, zone) or datetime.now(UTC)
    if newest == "-":
        raise UsageError("--now end needs a log file, not standard input")
    for path in [newest, *reversed(rotated_siblings(newest))]:  # just rotated: look back
        _begin(parser, path)
        end = last_time(path, parser.line_time)
        if end is not None:
            return end
    raise UsageError(f"--now end: {newest} has no timestamped line")


def _begin(parser: Parser, path: str) -> None:
    """Tell the parser a new source starts; its mtime anchors year-less dates."""
    parser.begin_source(file_anchor(path))


def _plan(paths: tuple[str, ...], span: TimeRange, parser: Parser) -> list[str]:
    """Every file to read, oldest first per named file, each real file once."""

    def head_time(path: str) -> datetime | None:
        _begin(parser, path)
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


def _pipeline(config: Config, parser: Parser, findings: FindingLog) -> Pipeline:
    """The report's pipeline; its emit and taps are set once the range is known."""
    return Pipeline.from_config(config, parser, _detectors(config), findings.add)


def _to_alerts(pipeline: Pipeline, alerts: Fanout | None) -> Callable[[], None]:
    """What happens when the range starts (after the warm-up): alerts go out from then.

    During the warm-up findings reach only the report. At the range start the
    findings still open are sent once as they stand, and from then on every
    record (``with_alerts``), so sinks see what the report shows.
    """

    def start_range() -> None:
        if alerts is not None:
            for finding in pipeline.tracker.open_findings():
                alerts.send(finding)
        pipeline.emit = with_alerts(pipeline.emit, alerts)

    return start_range


def _detectors(config: Config) -> list[Detector]:
    """The enabled detectors (a seam the CLI tests use to plug in a test detector)."""
    return build_detectors(config)


def _run(
    pipeline: Pipeline,
    events: Iterable[Event],
    since: datetime | None,
    start_range: Callable[[], None],
) -> None:
    """Feed the events through the pipeline (calling ``start_range`` at ``since``), flush it."""
    warming = since is not None
    if not warming:
        start_range()
    for event in events:
        if warming and event.time >= since:  # type: ignore[operator]
            warming = False
            start_range()
        pipeline.feed_event(event)
    pipeline.finish()


def _events(parser: Parser, plan: list[str], reading: TimeRange) -> Iterator[Event]:
    """The events of each file within ``reading``; a file is left at its first past --until.

    The next file is still entered (by bisection, so a newer rotated part
    costs a few probes): it may be another host's log with its own times.
    """
    for path in plan:
        _begin(parser, path)
        for line in read_from(path, reading.since, parser.line_time):
            event = parser.parse(line)
            if event is None or (reading.since is not None and event.time < reading.since):
                continue
            if reading.until is not None and event.time >= reading.until:
                break
            yield event


def _say_why_empty(plan: list[str], span: TimeRange, parser: Parser) -> None:
    """Nothing in the range: say why on stderr, so an empty report is not an all-clear.

    The log ends before the range or starts after it, or the file holds no
    Postfix line at all (the wrong file, or Postfix logging under another
    syslog name). Printed even with --quiet: a log that stopped being written
    or the wrong file is trouble a cron job should mail about, not silence.
    """
    lines, events = parser.stats.lines, parser.stats.events
    if _range_misses_the_log(plan, span, parser) or not lines or events:
        return
    click.echo(
        f"spamwatch: warning: {', '.join(plan)}: no Postfix line among {lines} lines read "
        "(not a mail log? another syslog name needs --syslog-name)",
        err=True,
    )


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
    _begin(parser, newest)
    end = last_time(newest, parser.line_time)
    if end is not None and span.since is not None and end < span.since:
        click.echo(
            f"spamwatch: warning: {newest} ends at {iso(end)}, before the range "
            f"starts ({iso(span.since)}): nothing to report",
            err=True,
        )
        return True
    _begin(parser, oldest)
    start = first_time(oldest, parser.line_time)
    if start is not None and span.until is not None and start >= span.until:
        click.echo(
            f"spamwatch: warning: {oldest} starts at {iso(start)}, after the range "
            f"ends ({iso(span.until)}): nothing to report",
            err=True,
        )
        return True
    return False


def _status(severities: list[Severity], fail_on: str) -> int:
    """1 when a finding in the range reached --fail-on (its highest severity), else 0."""
    worst = max(severities, default=None)
    if fail_on == "never" or worst is None:
        return 0
    return 1 if worst >= Severity.parse(fail_on) else 0


def _render(data: ReportData, output_format: str | None) -> None:
    out = sys.stdout
    chosen = output_format or ("table" if out.isatty() else "text")
    if chosen == "json":
        render_json(data.findings, out)
    elif chosen == "text":
        render_text(data, out)
    else:
        render_table(data, log_console(out))


COMMANDS = [report]
