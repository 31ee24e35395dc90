"""Options shared by the commands that read a log (events, report, follow)."""

from __future__ import annotations

import os
import sys
from collections.abc import Callable
from datetime import tzinfo
from typing import Any, TypeVar

import click

from spamwatch.config import Config, load_config
from spamwatch.errors import ConfigError, UsageError
from spamwatch.options import check_options
from spamwatch.parse import ParseOptions
from spamwatch.timeutil import parse_timezone

F = TypeVar("F", bound=Callable[..., Any])

PARSE_DEFAULTS: dict[str, Any] = {"timezone": "local", "year": 0, "syslog_names": []}
"""The ``[parse]`` table: ``year = 0`` means inferred (never in the future)."""

YEARS = click.IntRange(1970, 9999)
"""The years ``--year`` and ``[parse] year`` accept."""


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
        type=YEARS,
        help="Year of year-less syslog timestamps (default: inferred, never in the future).",
    )(func)
    func = click.option(
        "--timezone",
        metavar="ZONE",
        help="Zone of zone-less timestamps (default: local time), e.g. UTC, Europe/Berlin.",
    )(func)
    return func


def build_parse_options(
    config: Config,
    timezone: str | None,
    year: int | None,
    syslog_names: tuple[str, ...],
    anchor: Any = None,
) -> ParseOptions:
    """Merge command-line values over the ``[parse]`` config table."""
    section = check_options("parse", config.section("parse"), PARSE_DEFAULTS)
    zone_name = timezone or section.get("timezone")
    zone: tzinfo | None = None
    if zone_name:
        try:
            zone = parse_timezone(str(zone_name))
        except ValueError as exc:
            if timezone:
                raise UsageError(f"--timezone: {exc}") from None
            raise ConfigError(f"parse.timezone: {exc}") from None
    names = tuple(section.get("syslog_names", ())) + tuple(syslog_names)
    configured = section.get("year") or None
    if configured is not None and not YEARS.min <= configured <= YEARS.max:  # type: ignore[operator]
        raise ConfigError(
            f"parse.year: must be 0 (inferred) or {YEARS.min}..{YEARS.max}, got {configured}"
        )
    return ParseOptions(
        anchor=anchor,
        year=year if year is not None else configured,
        timezone=zone,
        syslog_names=names,
    )


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
