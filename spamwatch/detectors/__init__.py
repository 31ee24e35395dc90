"""Detectors: sliding windows in log time that turn events into Signals.

``build_detectors`` is the one place that turns the config into detector
instances: it loads every class registered in the ``spamwatch.detectors``
entry point group (built-ins and plugins alike), applies ``[detectors.NAME]``
(``enabled = false`` turns one off), the per-user tables
``[users."NAME".detectors.DETECTOR]``, and gives built-in detectors the site's
allow-lists and local domains. Unknown option keys and bad values are a
ConfigError naming the key, so ``spamwatch config check`` can point at it.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from spamwatch.config import Config
from spamwatch.config.schema import check_options
from spamwatch.detectors.allow import load_site
from spamwatch.detectors.base import Detector
from spamwatch.errors import ConfigError
from spamwatch.plugins import DETECTORS, discover

ENABLED = {"enabled": True}
"""The option every detector accepts besides its own ``defaults``."""


def detector_classes() -> dict[str, type[Detector]]:
    """Every loadable detector class by entry point name (broken plugins skipped)."""
    found: dict[str, type[Detector]] = {}
    for name, plugin in discover(DETECTORS).items():
        obj = plugin.obj
        if plugin.error is None and isinstance(obj, type) and issubclass(obj, Detector):
            found[name] = obj
    return found


def user_tables(config: Config, detector: str) -> dict[str, Mapping[str, Any]]:
    """``{user: table}`` from ``[users."USER".detectors.DETECTOR]``."""
    users = config.section("users")
    out: dict[str, Mapping[str, Any]] = {}
    for user in users:
        table = config.section("users", user, "detectors", detector)
        if table:
            out[user] = table
    return out


def build_detectors(config: Config) -> list[Detector]:
    """Instantiate the enabled detectors with their options from ``config``."""
    classes = detector_classes()
    _check_names(config, classes)
    site = load_site(config)
    built: list[Detector] = []
    for name, cls in classes.items():
        where = f"detectors.{name}"
        table = check_options(where, config.section("detectors", name), cls.defaults, ENABLED)
        if not table.pop("enabled", True):
            continue
        per_user = {
            user: check_options(f'users."{user}".{where}', raw, cls.defaults, ENABLED)
            for user, raw in user_tables(config, name).items()
        }
        detector = _instantiate(where, cls, table, per_user)
        bind = getattr(detector, "bind", None)
        if callable(bind):
            bind(site)
        built.append(detector)
    return built


def _instantiate(
    where: str,
    cls: type[Detector],
    table: Mapping[str, Any],
    per_user: Mapping[str, Mapping[str, Any]],
) -> Detector:
    try:
        return cls(table, per_user)
    except (ValueError, TypeError) as exc:
        raise ConfigError(f"{where}: {exc}") from None


def _check_names(config: Config, classes: Mapping[str, type[Detector]]) -> None:
    """A table for a detector that does not exist is a typo: say so."""
    known = ", ".join(sorted(classes))
    for name in config.section("detectors"):
        if name not in classes:
            raise ConfigError(f"detectors.{name}: unknown detector (known: {known})")
    _check_users(config.data.get("users", {}))
    for user in config.section("users"):
        for name in config.section("users", user, "detectors"):
            if name not in classes:
                raise ConfigError(f'users."{user}".detectors.{name}: unknown detector')


def _check_users(users: Any) -> None:
    """``[users."LOGIN".detectors.NAME]`` tables only: anything else would be ignored unsaid."""
    _expect_table("users", users)
    for user, table in users.items():
        where = f'users."{user}"'
        _expect_table(where, table)
        for key in table:
            if key != "detectors":
                raise ConfigError(f"{where}.{key}: unknown key (known: detectors)")
        detectors = table.get("detectors", {})
        _expect_table(f"{where}.detectors", detectors)
        for name, options in detectors.items():
            _expect_table(f"{where}.detectors.{name}", options)


def _expect_table(where: str, value: Any) -> None:
    if not isinstance(value, Mapping):
        raise ConfigError(f"{where}: expected a table, got {value!r}")
