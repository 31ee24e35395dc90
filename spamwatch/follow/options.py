"""The ``[follow]`` config table and the checks ``follow`` and ``config check`` share."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from spamwatch.config.schema import check_options
from spamwatch.errors import ConfigError, UsageError
from spamwatch.metrics import parse_listen
from spamwatch.sources.journal import DEFAULT_IDENTIFIERS, DEFAULT_MATCHES, bad_match

FOLLOW_DEFAULTS: Mapping[str, Any] = {
    "warmup": "1h",
    "poll": 0.0,
    "state": "",
    "journal_matches": list(DEFAULT_MATCHES),
    "journal_identifiers": list(DEFAULT_IDENTIFIERS),
    "metrics": "",
}
"""The ``[follow]`` config table: every option with its default."""


def check_follow(table: Mapping[str, Any]) -> dict[str, Any]:
    """The ``[follow]`` table checked whole (``follow`` and ``config check``): ConfigError
    naming the key (``follow.metrics``), never the command-line option."""
    checked = check_options("follow", table, FOLLOW_DEFAULTS)
    journal_matches((), checked)
    if checked.get("metrics"):
        try:
            parse_listen(checked["metrics"])
        except ValueError as exc:
            raise ConfigError(f"follow.metrics: {exc}") from None
    return checked


def journal_matches(given: tuple[str, ...], table: Mapping[str, Any]) -> tuple[str, ...]:
    """--journal-match, else ``[follow] journal_matches``, else the postfix units; checked."""
    matches = given or tuple(table.get("journal_matches", DEFAULT_MATCHES))
    for match in matches:
        problem = bad_match(match)
        if problem and given:
            raise UsageError(f"--journal-match: {problem}")
        if problem:
            raise ConfigError(f"follow.journal_matches: {problem}")
    return matches
