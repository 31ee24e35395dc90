"""``spamwatch learn``: build the profiles from the log history on disk.

The command parses options and wires: the files (``profiles.history``), a
fresh pipeline per file (the same stages ``report`` runs, detectors judging
against what the earlier files taught), the progress display.
"""

from __future__ import annotations

from dataclasses import replace

import click

from spamwatch.cli.common import (
    config_option,
    db_option,
    jobs_option,
    load,
    parse_options,
    say,
)
from spamwatch.config import Config
from spamwatch.detectors import build_detectors
from spamwatch.errors import ConfigError
from spamwatch.parse import Parser
from spamwatch.parse.forked import worth_forking
from spamwatch.parse.options import ParseOptions, build_parse_options
from spamwatch.pipeline import Pipeline, reading_parser
from spamwatch.profiles import Profiles, bind_view, profile_options
from spamwatch.profiles.history import (
    Build,
    default_files,
    describe,
    learn_history,
    order_files,
)
from spamwatch.profiles.view import ProfileView
from spamwatch.screen import ReadingProgress


@click.command("learn", short_help="Learn what is normal for each login and host from the log.")
@config_option
@parse_options
@db_option
@jobs_option(
    "A file is judged against the files finished before it started.",
    two="2 learns two files at a time (a file alone is parsed in a second one)",
)
@click.argument("files", nargs=-1, metavar="[FILE]...")
def learn(
    config_path: str | None,
    timezone: str | None,
    year: int | None,
    syslog_names: tuple[str, ...],
    db_path: str | None,
    jobs: int,
    files: tuple[str, ...],
) -> int:
    """Learn each login's and host's normal traffic from the log history.

    \b
    FILE defaults to /var/log/mail.log and its rotated parts (.gz too);
    files are read oldest first, "-" reads stdin. A file learned before is
    not counted again; one that grew is read from where it was left. Traffic
    of an incident found while learning is not learned. Progress on a
    terminal, one summary line otherwise.
    """
    config = load(config_path)
    parsing = build_parse_options(config, timezone, year, syslog_names)
    build_detectors(config)  # a config error now, not after opening the database
    options = profile_options(config, db_path, notify=say)
    if options.path is None:
        raise ConfigError("[profiles] enabled = false: there is no database to learn into")
    paths = order_files(files, Parser(parsing)) if files else default_files()
    profiles = Profiles.open(replace(options, learn=True))
    try:
        fork = worth_forking(jobs, [])
        at_once = 2 if fork else 1
        with ReadingProgress(paths) as progress:
            build = _builder(config, parsing)
            totals = learn_history(paths, profiles, build, progress, fork, at_once)
        click.echo(describe(totals, progress.elapsed()))
    finally:
        profiles.close()
    return 0


def _builder(config: Config, parsing: ParseOptions) -> Build:
    """A fresh pipeline per file: the stages of ``report``, detectors bound to ``view``.

    It reads only the lines a stage needs (``reading_parser``), as ``report``
    and ``follow`` feed their learner: the same lines, the same profiles.
    """

    def build(view: ProfileView) -> Pipeline:
        detectors = build_detectors(config)
        bind_view(detectors, view)
        parser = reading_parser(parsing, detectors)
        return Pipeline.from_config(config, parser, detectors, lambda finding: None)

    return build


COMMANDS = [learn]
