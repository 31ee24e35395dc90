"""What one configuration of ``follow`` needs, built and rebuilt: parsers, pipeline, sinks.

Why apart from the command: the follower rebuilds it on SIGHUP from the config
file named at start, and keeps the old one when the new one is wrong; the
command line only says what to build (``CommandLine``).
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from typing import Any

from spamwatch.config import Config, load_config
from spamwatch.config.schema import duration
from spamwatch.config.view import validate
from spamwatch.contain.responder import Responder
from spamwatch.contain.settings import ContainSettings
from spamwatch.detectors import build_detectors
from spamwatch.errors import SpamwatchError, UsageError
from spamwatch.follow.follower import FollowOptions, Notices, Output
from spamwatch.follow.live import LiveStats
from spamwatch.follow.options import check_follow, journal_matches
from spamwatch.follow.state import default_state_path, ensure_parent
from spamwatch.metrics import profile_db_size
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
        self.config: Config = load_config(cli.config_path)
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


def with_state(options: FollowOptions, path: str | None, notices: Notices) -> FollowOptions:
    """``--state`` (or ``[follow] state``), else the default; say where when not the system one."""
    if not path:
        path, system = default_state_path()
        if not system:
            notices("state-where", f"state file: {path} (/var/lib/spamwatch is not writable)")
    ensure_parent(path)
    return replace(options, state_path=os.path.abspath(path))
