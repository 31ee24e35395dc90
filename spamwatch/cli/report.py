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
from spamwatch.contain.settings import postfix_config_of
from spamwatch.detectors import build_detectors
from spamwatch.detectors.base import Detector
from spamwatch.errors import EXIT_INTERNAL, ProfileError
from spamwatch.metrics import ReportRun, profile_db_size
from spamwatch.metrics import current as metrics
from spamwatch.parse import Parser
from spamwatch.parse.options import build_parse_options
from spamwatch.pipeline import Pipeline, reading_parser
from spamwatch.profiles import Profiles, profile_options
from spamwatch.report.render import ReportData, render
from spamwatch.report.run import (
    alerts_from_range_start,
    exit_status,
    open_profiles,
    plan_files,
    range_now,
    read_events,
    reading_start,
    run,
    run_gauges,
    say_why_empty,
    wall_clock,
)
from spamwatch.report.summary import IncidentLog, TrafficSummary
from spamwatch.report.timerange import TimeRange, parse_range, with_warmup
from spamwatch.screen import ReadingProgress
from spamwatch.sinks import Fanout
from spamwatch.sources.files import DEFAULT_LOG, refuse_pipes

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
    instance = postfix_config_of(config)
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
        refuse_pipes(paths, "report")
        zone, zone_note = wall_clock(parser, options.timezone, paths[-1])
        now = range_now(now_text, zone, parser, paths[-1])
        span = parse_range(since, until, now, zone, zone_note)
        reading = with_warmup(span, warmup)
        plan = plan_files(paths, reading, parser)
        profiles = open_profiles(
            learning, pipeline, reading_start(reading, plan, parser), failed.append
        )
        traffic = TrafficSummary(since=span.since)
        incidents.since = span.since
        pipeline.on_event, pipeline.on_update = traffic.on_event, traffic.on_update
        with ReadingProgress(plan, lambda: parser.stats.lines):
            run(
                pipeline,
                read_events(parser, plan, reading, jobs),
                span.since,
                alerts_from_range_start(pipeline, alerts),
            )
    except BaseException as exc:
        status = getattr(exc, "exit_status", EXIT_INTERNAL)
        _finish(alerts, parser, run_gauges(span, parser, traffic, [], started, status))
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
    _finish(alerts, parser, run_gauges(span, parser, traffic, final, started, status))
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
        postfix_config=instance,
    )
    try:
        render(data, output_format, sys.stdout)
    except BrokenPipeError:  # ``| head``: the reader left, the verdict stands
        silence_stdout()
    if failed:  # the report stands; the profiles could not be updated
        raise failed[0]
    return status


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


COMMANDS = [report]
