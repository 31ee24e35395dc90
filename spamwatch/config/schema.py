"""Check a config table against a flat mapping of option -> default value.

Detectors and the finding tracker declare their options as ``defaults``; the
type of each default says what a user may write (a duration string like
"10m", a number, a boolean, a list of strings). One checker for all of them,
so ``[detectors.burst]``, ``[users."x".detectors.burst]`` and ``[findings]``
fail the same way: a ConfigError naming the full key.
"""

from __future__ import annotations

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
        if not isinstance(value, bool):
            raise ConfigError(f"{where}: expected true or false, got {value!r}")
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


def duration(value: Any) -> timedelta:
    """An option value already checked as a duration, as a timedelta."""
    return parse_duration(value)
