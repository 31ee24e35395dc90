"""The TOML config file: where it is, how it is read, what it may say.

Lookup order: ``--config PATH``, then ``$SPAMWATCH_CONFIG``, then
``/etc/spamwatch/spamwatch.toml`` when it exists, else built-in defaults. An
explicitly named file that is missing is an error; the default one is optional.
Every problem is a ConfigError naming the offending key.
"""

from __future__ import annotations

import os
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from spamwatch.errors import ConfigError

DEFAULT_PATH = "/etc/spamwatch/spamwatch.toml"
ENV_VAR = "SPAMWATCH_CONFIG"


@dataclass(frozen=True)
class Config:
    """The parsed config file (raw TOML tables) and where it came from.

    ``path`` is None when no file was read. Sections are read through
    ``section()`` so a missing table is simply empty.
    """

    data: Mapping[str, Any] = field(default_factory=dict)
    path: str | None = None

    def section(self, *keys: str) -> Mapping[str, Any]:
        """The table at ``keys`` (e.g. ``section("detectors", "burst")``), or {}."""
        node: Any = self.data
        for key in keys:
            if not isinstance(node, Mapping):
                return {}
            node = node.get(key, {})
        return node if isinstance(node, Mapping) else {}


def config_path(explicit: str | None) -> tuple[str | None, bool]:
    """Which file to read, and whether it must exist (named by the user)."""
    if explicit:
        return explicit, True
    env = os.environ.get(ENV_VAR)
    if env:
        return env, True
    return DEFAULT_PATH, False


def load_config(explicit: str | None = None) -> Config:
    """Find and read the config file; raise ConfigError on any problem."""
    path, required = config_path(explicit)
    if path is None:
        return Config()
    try:
        with open(path, "rb") as handle:
            data = tomllib.load(handle)
    except FileNotFoundError:
        if required:
            raise ConfigError(f"{path}: no such config file") from None
        return Config()
    except PermissionError:
        raise ConfigError(f"{path}: permission denied") from None
    except IsADirectoryError:
        raise ConfigError(f"{path}: is a directory, not a config file") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: invalid TOML: {exc}") from None
    except UnicodeDecodeError:
        raise ConfigError(f"{path}: not UTF-8 text") from None
    return Config(data=data, path=path)
