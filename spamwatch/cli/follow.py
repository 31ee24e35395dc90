"""``spamwatch follow``: watch the live log and alert the moment a finding appears.

The command only parses options; ``spamwatch.follow.wiring`` builds the
parsers, the same Pipeline ``report`` uses and the alert sinks, and
``spamwatch.follow.follower.Follower`` runs the loop, the state file and the signals.
"""

from __future__ import annotations

import os
from typing import Any

import click

from spamwatch.cli.alerts import alert_option
from spamwatch.cli.common import config_option, parse_options, profile_flags
from spamwatch.errors import UsageError
from spamwatch.follow.follower import Follower, Notices
from spamwatch.follow.live import LiveStats, LiveView, PlainView, use_rich_view
from spamwatch.follow.wiring import CommandLine, Wiring, with_state
from spamwatch.metrics import DEFAULT_ADDRESS, DEFAULT_PORT, parse_listen
from spamwatch.metrics import current as metrics


def _positive(ctx: click.Context, param: click.Parameter, value: float | None) -> float | None:
    if value is not None and value <= 0:
        raise click.BadParameter("must be more than 0 seconds")
    return value


@click.command("follow")
@config_option
@parse_options
@alert_option
@click.option(
    "--journal", is_flag=True, help="Read systemd's journal (journalctl); with FILEs, as well."
)
@click.option(
    "--journal-match",
    "journal_matches",
    multiple=True,
    metavar="FIELD=VALUE",
    help="journalctl match (repeatable, OR-ed); default the postfix units.",
)
@click.option(
    "--from-start",
    is_flag=True,
    help="First start: read the files from their start, not the end (a file with a saved"
    " --state position resumes there, with the usual warm-up).",
)
@click.option(
    "--poll",
    type=float,
    callback=_positive,
    metavar="SECONDS",
    help="Poll every SECONDS instead of inotify (for filesystems without it).",
)
@click.option(
    "--state",
    "state_path",
    metavar="FILE",
    help="Positions, journal cursor, open incidents already sent (default"
    " /var/lib/spamwatch/follow.state when writable, else"
    " ~/.local/state/spamwatch/follow.state).",
)
@click.option(
    "--warmup",
    metavar="DURATION",
    help="Log time read back at start to refill the detectors (default 1h; 0 = none).",
)
@profile_flags
@click.option(
    "--format",
    "output_format",
    type=click.Choice(["auto", "plain", "json"]),
    default="auto",
    show_default=True,
    help="auto: live view on a terminal; plain: no live view; json: JSON Lines on stdout.",
)
@click.option(
    "--metrics",
    "metrics_listen",
    metavar="[ADDR:]PORT",
    is_flag=False,
    flag_value=f"{DEFAULT_ADDRESS}:{DEFAULT_PORT}",
    help=f"Serve Prometheus metrics on http://ADDR:PORT/metrics (ADDR default {DEFAULT_ADDRESS};"
    f" --metrics alone, after the files or before another option: port {DEFAULT_PORT}).",
)
@click.argument("files", nargs=-1, metavar="[FILE|-]...")
def follow(
    config_path: str | None,
    timezone: str | None,
    year: int | None,
    syslog_names: tuple[str, ...],
    alert_uris: tuple[str, ...],
    journal: bool,
    journal_matches: tuple[str, ...],
    from_start: bool,
    poll: float | None,
    state_path: str | None,
    warmup: str | None,
    db_path: str | None,
    no_db: bool,
    no_learn: bool,
    output_format: str,
    metrics_listen: str | None,
    files: tuple[str, ...],
) -> int:
    """Follow the live log and report findings the moment they happen.

    FILE defaults to /var/log/mail.log ('-' reads stdin). Starts at the end,
    after reading back --warmup of log to refill the detectors; with --state
    it resumes exactly where the last run stopped. SIGTERM/SIGINT stop
    within a second (state saved, exit 0); SIGHUP reloads the config and
    reopens files.
    """
    notices = Notices()
    wiring = Wiring(
        CommandLine(
            config_path=config_path,
            timezone=timezone,
            year=year,
            syslog_names=syslog_names,
            alert_uris=alert_uris,
            journal=journal,
            journal_matches=journal_matches,
            from_start=from_start,
            poll=poll,
            warmup=warmup,
            output_format=output_format,
            files=files,
            db_path=db_path,
            no_db=no_db,
            no_learn=no_learn,
        ),
        notices,
    )
    options = with_state(wiring.options(), state_path or wiring.follow.get("state"), notices)
    rich = output_format == "auto" and use_rich_view()
    sources = [*options.files, *(["journal"] if options.journal else [])]

    def view(stats: LiveStats) -> Any:
        return LiveView(stats, sources) if rich else PlainView(stats)

    follower = Follower(options, wiring, view, notices)
    server = _serve_metrics(metrics_listen or wiring.follow.get("metrics") or None, notices)
    try:
        return follower.run()
    finally:
        wiring.close()
        if server is not None:
            server.shutdown()


def _serve_metrics(listen: str | None, notices: Notices) -> Any:
    """``--metrics`` (or ``[follow] metrics``): serve /metrics over HTTP; None when not asked.

    A bad ``[follow] metrics`` was refused by ``check_follow`` (exit 3, naming the key).
    """
    if not listen:
        return None
    try:
        address, port = parse_listen(listen)
    except ValueError as exc:
        hint = ""
        if os.path.exists(listen):  # `--metrics FILE`: click took the file for the value
            hint = (
                f" (a value is optional, so the file goes after it: --metrics {DEFAULT_PORT} FILE)"
            )
        raise UsageError(f"--metrics: {exc}{hint}") from None
    server = metrics().serve(address, port)
    notices("metrics", f"metrics on http://{address}:{port}/metrics")
    return server


COMMANDS = [follow]
