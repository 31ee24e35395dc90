"""Options shared by the commands that read a log (events, report, follow)."""

from __future__ import annotations

import os
import sys
from collections.abc import Callable
from typing import Any, TypeVar

import click

from spamwatch.config import Config, load_config
from spamwatch.parse.options import YEAR_MAX, YEAR_MIN

F = TypeVar("F", bound=Callable[..., Any])


def config_option(func: F) -> F:
    """``--config PATH`` (also $SPAMWATCH_CONFIG)."""
    return click.option(
        "--config",
        "config_path",
        metavar="PATH",
        help="Config file (default $SPAMWATCH_CONFIG, else /etc/spamwatch/spamwatch.toml).",
    )(func)


def parse_options(func: F) -> F:
    """``--timezone``, ``--year`` and ``--syslog-name``: how to read the log."""
    func = click.option(
        "--syslog-name",
        "syslog_names",
        multiple=True,
        metavar="NAME",
        help="Extra syslog name to treat as Postfix (repeatable), e.g. postfix-out.",
    )(func)
    func = click.option(
        "--year",
        type=click.IntRange(YEAR_MIN, YEAR_MAX),
        help="Year of year-less syslog timestamps (default: inferred, never in the future).",
    )(func)
    func = click.option(
        "--timezone",
        metavar="ZONE",
        help="Zone of zone-less timestamps (default: local time), e.g. UTC, Europe/Berlin.",
    )(func)
    return func


def load(config_path: str | None) -> Config:
    """Load the config named on the command line (or the default)."""
    return load_config(config_path)


def silence_stdout() -> None:
    """Point stdout at /dev/null so the interpreter's final flush cannot fail.

    For a reader of our stdout that went away (``| head``): not an error.
    """
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError):
        pass


def _named_file(_ctx: click.Context, _param: click.Parameter, value: str | None) -> str | None:
    """``--db ''`` (an unset shell variable) silently meant the default database."""
    if value is not None and not value.strip():
        raise click.BadParameter("an empty path; name a file (or use --no-db where it exists)")
    return value


def db_option(func: F) -> F:
    """``--db PATH``: the profile database (also $SPAMWATCH_DB and ``[profiles] path``)."""
    return click.option(
        "--db",
        "db_path",
        metavar="PATH",
        callback=_named_file,
        help="Profile database (default $SPAMWATCH_DB, [profiles] path,"
        " else /var/lib/spamwatch/profiles.db).",
    )(func)


def profile_flags(func: F) -> F:
    """``--db``, ``--no-db`` and ``--no-learn`` for the commands that read a log."""
    func = click.option(
        "--no-learn",
        is_flag=True,
        help="Judge against the profiles but do not update them (read only).",
    )(func)
    func = click.option(
        "--no-db",
        is_flag=True,
        help="No profile database: judge by the fixed thresholds alone, learn nothing"
        " (not with --db).",
    )(func)
    return db_option(func)


def jobs_option(
    what: str, two: str = "2 reads and parses the log in a second one", default: int = 0
) -> Callable[[F], F]:
    """``--jobs 0|1|2``: use a second process (``parse.forked``, ``profiles.parallel``).

    ``two`` says what the second process does; ``what`` the result that stays
    the same, or how it differs ("The report is the same."); ``default`` 1
    where a second process is not faster on a busy machine.
    """
    return click.option(
        "--jobs",
        type=click.IntRange(0, 2),
        default=default,
        show_default=True,
        help=f"Processes: {two}, 1 does all in one, "
        f"0 is 2 on a machine with two CPUs or more. {what}",
    )


def say(message: str) -> None:
    """A notice on stderr, in the one ``spamwatch:`` form."""
    click.echo(f"spamwatch: {message}", err=True)
