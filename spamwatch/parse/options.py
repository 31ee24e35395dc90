"""How to read the log: the ``[parse]`` table with the command line over it -> ParseOptions.

``report``, ``events``, ``follow`` and ``config show`` all build their
ParseOptions here, so a value means the same to each of them.
"""

from __future__ import annotations

from datetime import tzinfo
from typing import Any

from spamwatch.config import Config
from spamwatch.config.schema import check_options
from spamwatch.errors import ConfigError, UsageError
from spamwatch.parse.parser import ParseOptions
from spamwatch.timeutil import parse_timezone

PARSE_DEFAULTS: dict[str, Any] = {"timezone": "local", "year": 0, "syslog_names": []}
"""The ``[parse]`` table: ``year = 0`` means inferred (never in the future)."""

YEAR_MIN, YEAR_MAX = 1970, 9999
"""The years ``--year`` and ``[parse] year`` accept."""


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
    if configured is not None and not YEAR_MIN <= configured <= YEAR_MAX:  # type: ignore[operator]
        raise ConfigError(
            f"parse.year: must be 0 (inferred) or {YEAR_MIN}..{YEAR_MAX}, got {configured}"
        )
    return ParseOptions(
        anchor=anchor,
        year=year if year is not None else configured,
        timezone=zone,
        syslog_names=names,
    )
