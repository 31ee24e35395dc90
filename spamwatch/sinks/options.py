"""Typed reads of a sink's ``[sinks.SCHEME]`` options, with errors naming the key.

Every sink reads its options through ``Options`` so a bad value is one
ConfigError saying ``sinks.webhook.timeout: not a duration: 'soon'`` (exit 3),
the same wording for every sink.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

from spamwatch.errors import ConfigError
from spamwatch.sinks.secrets import SECRET_VARIABLES
from spamwatch.timeutil import parse_duration


def section_for(scheme: str) -> str:
    """The config table of a scheme: ``webhook+https`` reads ``[sinks.webhook]``."""
    return f"sinks.{scheme.partition('+')[0]}"


class Options:
    """Read-only view of one sink's options; ``section`` names it in errors."""

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
        if not isinstance(value, bool):
            raise self.error(key, f"expected true or false, got {value!r}")
        return value

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
            SECRET_VARIABLES.add(env_name)  # kept from exec: children
            return value
        return self.string(key)
