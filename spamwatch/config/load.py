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
from spamwatch.textsafe import toml_string

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
    config = Config(data=data, path=path)
    check_top_level(config)  # a typo'd table would otherwise be silently ignored
    return config


TOP_LEVEL_KEYS = frozenset(
    {
        "parse",
        "correlate",
        "local_domains",
        "allow",
        "detectors",
        "users",
        "findings",
        "incidents",
        "alerts",
        "sinks",
        "follow",
        "contain",
        "profiles",
    }
)
"""Every top-level key the config may hold; anything else is a typo."""


def check_top_level(config: Config) -> None:
    """Reject unknown top-level keys, naming the first one (typos are the usual cause)."""
    for key in config.data:
        if key not in TOP_LEVEL_KEYS:
            known = ", ".join(sorted(TOP_LEVEL_KEYS))
            raise ConfigError(f"{config.path}: unknown key {key!r} (known: {known})")


def dump_toml(data: Mapping[str, Any]) -> str:
    """Write a mapping as TOML (scalars, lists of scalars, nested tables).

    The standard library reads TOML but cannot write it; ``config show`` needs
    only this small subset, so no extra dependency.
    """
    lines: list[str] = []
    _dump_table(data, (), lines)
    return "\n".join(lines).strip() + "\n"


def _dump_table(table: Mapping[str, Any], path: tuple[str, ...], out: list[str]) -> None:
    scalars = {k: v for k, v in table.items() if not isinstance(v, Mapping)}
    tables = {k: v for k, v in table.items() if isinstance(v, Mapping)}
    if path and (scalars or not tables):
        out.append("")
        out.append("[" + ".".join(_toml_key(p) for p in path) + "]")
    for key, value in scalars.items():
        out.append(f"{_toml_key(key)} = {_toml_value(value)}")
    for key, value in tables.items():
        _dump_table(value, (*path, key), out)


def _toml_key(key: str) -> str:
    if key and all(c.isalnum() or c in "-_" for c in key):
        return key
    return toml_string(key)


def _toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, str):
        return toml_string(value)
    if isinstance(value, list | tuple | set | frozenset):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    if value is None:
        return '""'
    return toml_string(str(value))
