"""What a config table may hold: one place that checks option values, for every stage.

Detectors, the correlator and the finding tracker declare their options as
``defaults``; the type of each default says what a user may write (a duration
string like "10m", a number, a boolean, a list of strings) and
``check_options`` checks a whole table against them. Sinks read their
``[sinks.SCHEME]`` table one typed value at a time through ``Options``. Both
fail the same way: one ConfigError naming the full key
(``detectors.burst.window: not a duration: 'soon'``), exit 3.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from datetime import timedelta
from typing import Any

from spamwatch.errors import ConfigError
from spamwatch.timeutil import parse_duration


def is_duration_default(value: Any) -> bool:
    """A string default that reads as a duration ("10m") makes a duration option."""
    if not isinstance(value, str):
        return False
    try:
        parse_duration(value)
    except ValueError:
        return False
    return True


def check_value(where: str, value: Any, default: Any) -> Any:
    """Validate one value against its default's type; returns it unchanged."""
    if isinstance(default, bool):
        _check_bool(where, value)
    elif isinstance(default, int | float):
        _check_number(where, value, default)
    elif is_duration_default(default):
        _check_duration(where, value)
    elif isinstance(default, list | tuple):
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise ConfigError(f"{where}: expected a list of strings, got {value!r}")
    elif isinstance(default, str) and not isinstance(value, str):
        raise ConfigError(f"{where}: expected a string, got {value!r}")
    return value


def _check_bool(where: str, value: Any) -> None:
    """TOML booleans only: "yes" is a typo, not true."""
    if not isinstance(value, bool):
        raise ConfigError(f"{where}: expected true or false, got {value!r}")


def _check_duration(where: str, value: Any) -> None:
    """A duration; a sliding window (``*window``) must also be longer than zero."""
    try:
        span = parse_duration(value)
    except (ValueError, TypeError):
        raise ConfigError(f"{where}: not a duration: {value!r} (e.g. 90s, 10m, 1h)") from None
    if where.endswith("window") and not span:
        raise ConfigError(f"{where}: a window must be longer than 0s, got {value!r}")


def _check_number(where: str, value: Any, default: int | float) -> None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ConfigError(f"{where}: expected a number, got {value!r}")
    if isinstance(default, int) and not isinstance(value, int):
        raise ConfigError(f"{where}: expected a whole number, got {value!r}")
    if value < 0:
        raise ConfigError(f"{where}: must not be negative, got {value!r}")


def check_options(
    where: str,
    table: Mapping[str, Any],
    defaults: Mapping[str, Any],
    extra: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """Validate every key of ``table``; unknown keys are errors naming ``where.key``.

    ``extra`` holds keys accepted besides the defaults (e.g. ``enabled``).
    """
    if not isinstance(table, Mapping):
        raise ConfigError(f"{where}: expected a table, got {table!r}")
    known = {**defaults, **(extra or {})}
    out: dict[str, Any] = {}
    for key, value in table.items():
        if key not in known:
            names = ", ".join(sorted(known)) or "none"
            raise ConfigError(f"{where}.{key}: unknown option (known: {names})")
        out[key] = check_value(f"{where}.{key}", value, known[key])
    return out


def absolute_program(where: str, program: str) -> str:
    """A program spamwatch runs (``exec:`` alerts, ``[contain] hook``) named by an absolute
    path: a relative one would run whatever that name is in the working directory of the day."""
    if not os.path.isabs(program):
        raise ConfigError(f"{where}: the program must be an absolute path, got {program!r}")
    return program


def duration(value: Any) -> timedelta:
    """An option value already checked as a duration, as a timedelta."""
    return parse_duration(value)


class Options:
    """Typed reads of one table's options (a sink's ``[sinks.SCHEME]``); ``section`` names it.

    For tables read key by key rather than declared as ``defaults``; the
    errors read like ``check_options``'s.
    """

    def __init__(self, values: Mapping[str, Any], section: str) -> None:
        self.values = values
        self.section = section

    def error(self, key: str, problem: str) -> ConfigError:
        """A ConfigError naming ``section.key``."""
        return ConfigError(f"{self.section}.{key}: {problem}")

    def string(self, key: str, default: str | None = None) -> str | None:
        """A text option; CR, LF and NUL are refused (they end up in headers)."""
        value = self.values.get(key, default)
        if value is None:
            return None
        if not isinstance(value, str):
            raise self.error(key, f"expected a string, got {type(value).__name__}")
        if any(ch in value for ch in "\r\n\x00"):
            raise self.error(key, "must not contain line breaks or NUL")
        return value

    def boolean(self, key: str, default: bool) -> bool:
        """A true/false option (TOML booleans only: "yes" is a typo, not true)."""
        value = self.values.get(key, default)
        _check_bool(f"{self.section}.{key}", value)
        return bool(value)

    def integer(self, key: str, default: int, minimum: int = 0) -> int:
        """A whole number at or above ``minimum``."""
        value = self.values.get(key, default)
        if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
            raise self.error(key, f"expected a whole number >= {minimum}, got {value!r}")
        return value

    def seconds(self, key: str, default: str | float | None) -> float | None:
        """A duration ("10s", "5m", or a number of seconds) as float seconds."""
        value = self.values.get(key, default)
        if value is None:
            return None
        try:
            return parse_duration(value).total_seconds()
        except (ValueError, TypeError) as exc:
            raise self.error(key, str(exc)) from None

    def secret(self, key: str) -> str | None:
        """A secret from ``key`` in the config or the variable named by ``key_env``.

        The environment wins when both are set, so a packaged config can carry
        a placeholder. A named variable that is unset is an error: a silently
        missing password only shows up later as a confusing auth failure.
        """
        env_name = self.string(f"{key}_env")
        if env_name:
            value = os.environ.get(env_name)
            if value is None:
                raise self.error(f"{key}_env", f"environment variable {env_name} is not set")
            return value
        return self.string(key)
