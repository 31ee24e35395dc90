"""``spamwatch report``: incidents and a traffic summary for a span of the log.

Reads only the range asked for, plus ``--warmup`` of log before it that
refills the detectors' windows without being reported: the start is found by
bisecting the current file, and rotated files are opened only when the
reading reaches back before its first line. Relative times count back from the
clock, read once here (or from ``--now``), never below.
"""

from __future__ import annotations

import sys
import time
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime, tzinfo

import click

from spamwatch.cli.alerts import alert_option, cli_alerts, finish_alerts
from spamwatch.cli.common import (
    config_option,
    jobs_option,
    load,
    parse_options,
    profile_flags,
    say,
    silence_stdout,
)
from spamwatch.config import Config
from spamwatch.detectors import build_detectors
from spamwatch.detectors.base import Detector
from spamwatch.errors import EXIT_INTERNAL, ProfileError, UsageError
from spamwatch.metrics import ReportRun, profile_db_size
from spamwatch.metrics import current as metrics
from spamwatch.model import Event, Incident
from spamwatch.parse import Parser
from spamwatch.parse.forked import worth_forking
from spamwatch.parse.options import build_parse_options
from spamwatch.pipeline import Pipeline, reading_parser
from spamwatch.profiles import ProfileOptions, Profiles, profile_options
from spamwatch.profiles.learner import open_keys_of
from spamwatch.report.render import ReportData, render_json, render_table, render_text
from spamwatch.report.run import (
    alerts_from_range_start,
    begin,
    events_forked,
    events_in,
    exit_status,
    log_end,
    plan_files,
    run,
    say_why_empty,
    wall_clock,
)
from spamwatch.report.summary import IncidentLog, TrafficSummary
from spamwatch.report.timerange import TimeRange, parse_now, parse_range
from spamwatch.screen import ReadingProgress
from spamwatch.sinks import Fanout
from spamwatch.sinks.text import log_console
from spamwatch.sources.files import DEFAULT_LOG
from spamwatch.sources.seek import first_time
from spamwatch.timeutil import parse_duration

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
    help="table (default on a terminal: one screen per incident), text (default otherwise:"
    " with every finding's details), json (JSON Lines of incidents).",
)
@click.option(
    "--fail-on",
    type=click.Choice(FAIL_ON),
    default="warning",
    show_default=True,
    help="Exit 1 when an incident reached this severity.",
)
@click.option(
    "-q", "--quiet", is_flag=True, help="Print nothing unless an incident reached --fail-on."
)
@click.option(
    "--all-records",
    is_flag=True,
    help="Every incident record (opened, escalated, updated, resolved) in log order,"
    " not one per incident.",
)
@click.option(
    "--warmup",
    default="1h",
    show_default=True,
    metavar="DURATION",
    help="With --since, read this much log before it to refill the detectors' windows (0: none).",
)
@jobs_option("The report is the same.")
@alert_option
@profile_flags
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
    jobs: int,
    alert_uris: tuple[str, ...],
    db_path: str | None,
    no_db: bool,
    no_learn: bool,
    files: tuple[str, ...],
) -> int:
    """Report incidents and a traffic summary over a time range of the log.

    FILE defaults to /var/log/mail.log; rotated files beside it are read too
    when --since reaches back before its first line. Each login is judged
    against its learned profile (--db), which the report updates as it reads
    (unless --no-learn). One block per incident (a SASL login, or a host),
    most severe first. Exit status 1 when an incident reached --fail-on
    (default warning). With stderr on a terminal, a progress bar is drawn
    there while it reads.
    """
    config = load(config_path)
    options = build_parse_options(config, timezone, year, syslog_names)
    detectors = _detectors(config)  # config errors before input errors
    parser = reading_parser(options, detectors)
    incidents = IncidentLog(keep_records=all_records)
    pipeline = _pipeline(config, parser, detectors, incidents)
    learning = profile_options(config, db_path, no_db, no_learn, notify=say)
    alerts = cli_alerts(config, alert_uris)  # --alert: each incident record to the sinks too
    paths = files or (DEFAULT_LOG,)
    started = time.monotonic()
    span: TimeRange | None = None
    traffic = TrafficSummary(since=None)
    profiles: Profiles | None = None
    failed: list[ProfileError] = []
    try:
        zone, zone_note = wall_clock(parser, options.timezone, paths[-1])
        now = _now(now_text, zone, parser, paths[-1])
        span = parse_range(since, until, now, zone, zone_note)
        reading = _reading(span, warmup)
        plan = plan_files(paths, reading, parser)
        profiles = _profiles(learning, pipeline, _start(reading, plan, parser), failed)
        traffic = TrafficSummary(since=span.since)
        incidents.since = span.since
        pipeline.on_event, pipeline.on_update = traffic.on_event, traffic.on_update
        with ReadingProgress(plan, lambda: parser.stats.lines):
            run(
                pipeline,
                _events(parser, plan, reading, jobs),
                span.since,
                alerts_from_range_start(pipeline, alerts),
            )
    except BaseException as exc:
        status = getattr(exc, "exit_status", EXIT_INTERNAL)
        _finish(alerts, parser, _run_gauges(span, parser, traffic, [], started, status))
        raise
    finally:
        if profiles is not None:
            profiles.close()
            profile_db_size(profiles.size_bytes())
    in_range = traffic.first_time is not None  # no line in the range: nothing to report
    if not in_range:
        say_why_empty(plan, span, parser)
    final = incidents.final(pipeline.engine.open_incidents()) if in_range else []
    dropped = incidents.dropped if in_range else Counter()
    status = exit_status([i.severity for i in final] + list(dropped), fail_on)
    _finish(alerts, parser, _run_gauges(span, parser, traffic, final, started, status))
    if quiet and status == 0:
        return status
    shown = incidents.records_of(final) if all_records else final
    data = ReportData(
        range=span,
        files=tuple(plan),
        incidents=tuple(shown),
        traffic=traffic,
        lines=parser.stats.lines,
        events=parser.stats.events,
        warmup=reading.since if reading.since != span.since else None,
        dropped=sum(dropped.values()),
    )
    try:
        _render(data, output_format)
    except BrokenPipeError:  # ``| head``: the reader left, the verdict stands
        silence_stdout()
    if failed:  # the report stands; the profiles could not be updated
        raise failed[0]
    return status


def _start(reading: TimeRange, plan: list[str], parser: Parser) -> float | None:
    """Where the reading starts: the profiles judged against are those learned before."""
    if reading.since is not None:
        return reading.since.timestamp()
    if plan[0] == "-":
        return None
    begin(parser, plan[0])
    start = first_time(plan[0], parser.line_time)
    return None if start is None else start.timestamp()


def _profiles(
    options: ProfileOptions, pipeline: Pipeline, start: float | None, failed: list[ProfileError]
) -> Profiles:
    """Open the profiles, bind the detectors to them and tap the learner into the pipeline.

    A write that fails ends the command with its status after the report is
    printed, said once in that error line (a warning at each checkpoint only
    repeated it). A database this user cannot write fails at once (exit 5).
    """
    profiles = Profiles.open(options, before=start)
    profiles.bind(pipeline.detectors)
    pipeline.learner = profiles.learner(
        lambda: open_keys_of(pipeline.engine), on_error=failed.append
    )
    return profiles


def _events(parser: Parser, plan: list[str], reading: TimeRange, jobs: int) -> Iterator[Event]:
    """The range's events, read here or in a second process (``--jobs``)."""
    if worth_forking(jobs, plan):
        return events_forked(parser, plan, reading)
    return events_in(parser, plan, reading)


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
    end = log_end(parser, newest)
    if end is None:
        raise UsageError(f"--now end: {newest} has no timestamped line")
    return end


def _run_gauges(
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


def _finish(alerts: Fanout | None, parser: Parser, run: ReportRun) -> None:
    metrics().report_run(run)
    finish_alerts(alerts, {"lines": parser.stats.lines, "events": parser.stats.events})


def _pipeline(
    config: Config, parser: Parser, detectors: list[Detector], incidents: IncidentLog
) -> Pipeline:
    """The report's pipeline; its emit and taps are set once the range is known."""
    return Pipeline.from_config(config, parser, detectors, incidents.add)


def _detectors(config: Config) -> list[Detector]:
    """The enabled detectors (a seam the CLI tests use to plug in a test detector)."""
    return build_detectors(config)


def _render(data: ReportData, output_format: str | None) -> None:
    out = sys.stdout
    chosen = output_format or ("table" if out.isatty() else "text")
    if chosen == "json":
        render_json(data.incidents, out)
    elif chosen == "text":
        render_text(data, out)
    else:
        render_table(data, log_console(out))


COMMANDS = [report]
