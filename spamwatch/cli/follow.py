"""``spamwatch follow``: watch the live log and alert the moment a finding appears.

The command only parses options and builds the wiring (parsers, the same
Pipeline ``report`` uses, the alert sinks); ``spamwatch.follow.follower.Follower``
runs the loop, the state file and the signals.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from typing import Any

import click

from spamwatch.cli.alerts import alert_option
from spamwatch.cli.common import config_option, load, parse_options, profile_flags
from spamwatch.config import Config
from spamwatch.config.schema import duration
from spamwatch.config.view import validate
from spamwatch.contain.responder import Responder
from spamwatch.contain.settings import ContainSettings
from spamwatch.detectors import build_detectors
from spamwatch.errors import SpamwatchError, UsageError
from spamwatch.follow.follower import Follower, FollowOptions, Notices, Output
from spamwatch.follow.live import LiveStats, LiveView, PlainView, use_rich_view
from spamwatch.follow.options import check_follow, journal_matches
from spamwatch.follow.state import default_state_path, ensure_parent
from spamwatch.metrics import DEFAULT_ADDRESS, DEFAULT_PORT, parse_listen, profile_db_size
from spamwatch.metrics import current as metrics
from spamwatch.model import MessageUpdate
from spamwatch.parse import Parser
from spamwatch.parse.options import build_parse_options
from spamwatch.pipeline import Pipeline
from spamwatch.profiles import Profiles, profile_options
from spamwatch.profiles.learner import Learner, open_keys_of
from spamwatch.sinks import Fanout, open_alerts
from spamwatch.sources.files import DEFAULT_LOG
from spamwatch.sources.journal import DEFAULT_IDENTIFIERS


@dataclass(frozen=True)
class CommandLine:
    """What the ``follow`` command line said; kept to rebuild the wiring on SIGHUP."""

    config_path: str | None
    timezone: str | None
    year: int | None
    syslog_names: tuple[str, ...]
    alert_uris: tuple[str, ...]
    journal: bool
    journal_matches: tuple[str, ...]
    from_start: bool
    poll: float | None
    warmup: str | None
    output_format: str
    files: tuple[str, ...]
    db_path: str | None = None
    no_db: bool = False
    no_learn: bool = False


class Wiring:
    """Builds what one configuration needs: parsers, the pipeline, the sinks.

    Rebuilt on SIGHUP (``reload``) from the config file named at start.
    """

    def __init__(self, cli: CommandLine, notify: Callable[[str, str], None] | None = None) -> None:
        self.cli = cli
        self.notify = notify or Notices()
        self.alert_uris = cli.alert_uris
        self.output_format = cli.output_format
        self.config: Config = load(cli.config_path)
        validate(self.config)  # every value, so a SIGHUP with a bad one keeps the old config
        self.follow = check_follow(self.config.section("follow"))
        self.parse_options = build_parse_options(
            self.config, cli.timezone, cli.year, cli.syslog_names
        )
        self.detectors = build_detectors(self.config)  # a ConfigError now, not later
        self.contain = ContainSettings.from_config(self.config)
        self._fanout: Fanout | None = None
        self._responder: Responder | None = None
        learning = profile_options(
            self.config,
            cli.db_path,
            cli.no_db,
            cli.no_learn,
            notify=lambda text: self.notify("db-where", text),
        )
        self.profiles = Profiles.open(learning)  # a corrupt database: exit 5 at start
        self.profiles.bind(self.detectors)
        self._learner: Learner | None = None

    def options(self) -> FollowOptions:
        """The command line over the ``[follow]`` table (re-read on SIGHUP)."""
        cli, table = self.cli, self.follow
        warmup = cli.warmup
        try:
            window = duration(warmup if warmup is not None else table.get("warmup", "1h"))
        except ValueError as exc:
            raise UsageError(f"--warmup: {exc}") from None
        files: tuple[str, ...] = cli.files
        if files.count("-") > 1:
            raise UsageError("'-' (stdin) can be given once")
        configured_poll = float(table.get("poll", 0.0)) or None
        matches = journal_matches(cli.journal_matches, table)
        return FollowOptions(
            files=files or (() if cli.journal else (DEFAULT_LOG,)),
            journal=cli.journal,
            journal_matches=matches,
            journal_identifiers=tuple(table.get("journal_identifiers", DEFAULT_IDENTIFIERS)),
            from_start=cli.from_start,
            poll=cli.poll if cli.poll is not None else configured_poll,
            warmup=window,
        )

    def parser(self) -> Parser:
        return Parser(self.parse_options)

    def pipeline(self, emit: Output, stats: LiveStats) -> Pipeline:
        """The same stages ``report`` wires, so the same lines give the same findings.

        Its learner writes at each checkpoint; a failed write is said and
        retried at the next one (months of watching do not stop for a full disk).
        """
        self._finish_learning()  # a rebuilt pipeline (SIGHUP): the old learner writes first
        on_update = stats.on_update
        responder = self._responder
        if responder is not None:

            def on_update(update: MessageUpdate) -> None:
                stats.on_update(update)
                responder.on_update(update)

        pipeline = Pipeline.from_config(
            self.config,
            self.parser(),
            self.detectors,
            emit,
            on_event=stats.on_event,
            on_update=on_update,
        )
        self._learner = self.profiles.learner(
            lambda: open_keys_of(pipeline.engine),
            on_error=lambda exc: self.notify(f"db:{exc}", f"profiles not updated: {exc}"),
        )
        pipeline.learner = self._learner
        return pipeline

    def _finish_learning(self) -> None:
        learner, self._learner = self._learner, None
        if learner is not None:
            learner.finish()

    def responder(self, output: Output, notify: Callable[[str, str], None]) -> Responder | None:
        """The containment stage when ``[contain] auto`` is on (None otherwise)."""
        if self.contain.auto is None or not self.contain.actions:
            self._responder = None
            return None
        self._responder = Responder(self.contain, output, notify)
        self._responder.start()
        return self._responder

    def output(self) -> Output:
        """The alert sinks (opened once, on first use, after the live view started)."""
        if self._fanout is None:
            self._fanout = open_alerts(self.config, self._uris(), interactive=self._interactive())
        return self._fanout.send

    def sync(self) -> None:
        """fsync what the sinks spooled or wrote, before the state says it was sent."""
        if self._fanout is not None:
            self._fanout.sync()

    def _uris(self) -> list[str]:
        if self.alert_uris:
            return list(self.alert_uris)
        if self.output_format == "json":
            return ["jsonl:-"]
        return []  # the config's [alerts] uris, else console on a terminal, else jsonl:-

    def _interactive(self) -> bool:
        return self.output_format != "json" and sys.stdout.isatty()

    def reload(self) -> Wiring:
        """A fresh wiring from the config file; any SpamwatchError keeps the old one.

        The new sinks are opened before the old ones are closed: a sink that
        cannot be opened (a missing directory) is a mistake in the new config too.
        """
        fresh = Wiring(self.cli, self.notify)
        try:
            fresh.output()
        except SpamwatchError:
            fresh.close()
            raise
        self.close()
        return fresh

    def stats(self, counters: Mapping[str, Any]) -> None:
        """Processing counters for sinks that keep them (prometheus), and the database size."""
        profile_db_size(self.profiles.size_bytes())
        if self._fanout is not None:
            self._fanout.update_stats(counters)

    def close(self) -> None:
        """Write what the learner holds, close the database and the sinks."""
        try:
            self._finish_learning()
        finally:
            self.profiles.close()
            if self._fanout is not None:
                self._fanout.close()
                self._fanout = None


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
@click.option("--state", "state_path", metavar="FILE", help="State file (resume, alerted keys).")
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
    f" --metrics alone: port {DEFAULT_PORT}).",
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
    options = _with_state(wiring.options(), state_path or wiring.follow.get("state"), notices)
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
        raise UsageError(f"--metrics: {exc}") from None
    server = metrics().serve(address, port)
    notices("metrics", f"metrics on http://{address}:{port}/metrics")
    return server


def _with_state(options: FollowOptions, path: str | None, notices: Notices) -> FollowOptions:
    """``--state`` (or ``[follow] state``), else the default; say where when not the system one."""
    if not path:
        path, system = default_state_path()
        if not system:
            notices("state-where", f"state file: {path} (/var/lib/spamwatch is not writable)")
    ensure_parent(path)
    return replace(options, state_path=os.path.abspath(path))


COMMANDS = [follow]
