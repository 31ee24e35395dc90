"""The ``[profiles]`` table and ``--db`` / ``--no-db`` / ``--no-learn``: which database, how much.

Lookup order for the database: ``--db PATH``, then ``$SPAMWATCH_DB``, then
``[profiles] path``, then ``/var/lib/spamwatch/profiles.db`` when that
directory is writable, else ``~/.local/state/spamwatch/profiles.db`` (said on
stderr, like ``follow``'s state file).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from spamwatch.config import Config
from spamwatch.config.schema import check_options, duration
from spamwatch.errors import ConfigError, UsageError
from spamwatch.follow.state import DEFAULT_DIR, default_state_path, ensure_parent
from spamwatch.profiles.partial import Limits

DEFAULT_NAME = "profiles.db"
ENV_VAR = "SPAMWATCH_DB"

PROFILE_DEFAULTS: Mapping[str, Any] = {
    "enabled": True,
    "path": "",
    "learn": True,
    "retention": "60d",
    "hold": "1h",
    "min_hours": 4,
    "max_logins": 20_000,
    "max_networks": 100,
    "max_senders": 50,
}
"""``[profiles]``: ``enabled`` (false: as ``--no-db``), ``path`` (the database;
empty: the default), ``learn`` (false: as ``--no-learn``), ``retention``
(log time kept), ``hold`` (how long what is seen waits before it is learned,
so an incident found meanwhile keeps it out; whole hours), ``min_hours``
(active hours before a login is judged against its profile), ``max_logins``,
``max_networks`` and ``max_senders`` (per login)."""


@dataclass(frozen=True, slots=True)
class ProfileOptions:
    """Where the profiles live and how they are learned; ``path`` None: no database."""

    path: str | None
    learn: bool = True
    retention: timedelta = timedelta(days=60)
    hold: timedelta = timedelta(hours=1)
    min_hours: int = 4
    limits: Limits = field(default_factory=Limits)


def check_profiles(config: Config) -> dict[str, Any]:
    """The ``[profiles]`` table over its defaults; ConfigError naming a bad key."""
    table = {
        **PROFILE_DEFAULTS,
        **check_options("profiles", config.section("profiles"), PROFILE_DEFAULTS),
    }
    hold = duration(table["hold"])
    if hold < timedelta(hours=1) or hold.total_seconds() % 3600:
        raise ConfigError(f"profiles.hold: whole hours, at least 1h, got {table['hold']!r}")
    if duration(table["retention"]) < timedelta(days=1):  # 0 pruned every profile at once
        raise ConfigError(f"profiles.retention: at least 1d, got {table['retention']!r}")
    if table["path"] and not os.path.isabs(table["path"]):  # the service's directory is /
        raise ConfigError(f"profiles.path: needs an absolute path, got {table['path']!r}")
    for key in ("max_logins", "max_networks", "max_senders"):
        if table[key] < 1:
            raise ConfigError(f"profiles.{key}: must be at least 1, got {table[key]!r}")
    return table


def profile_options(
    config: Config,
    db: str | None = None,
    no_db: bool = False,
    no_learn: bool = False,
    notify: Callable[[str], None] | None = None,
) -> ProfileOptions:
    """The options of one command from its flags over the config file."""
    if db and no_db:  # the synopsis: --db PATH | --no-db
        raise UsageError("--db PATH and --no-db contradict each other: give one")
    table = check_profiles(config)
    path: str | None = None
    writable = True
    if not no_db and (db or table["enabled"]):
        path = db or os.environ.get(ENV_VAR) or table["path"]
        if not path:
            path, writable = default_db_path(notify)
    return ProfileOptions(
        path=path,
        learn=bool(table["learn"]) and not no_learn and writable,
        retention=duration(table["retention"]),
        hold=duration(table["hold"]),
        min_hours=int(table["min_hours"]),
        limits=Limits(
            int(table["max_logins"]), int(table["max_networks"]), int(table["max_senders"])
        ),
    )


def default_db_path(notify: Callable[[str], None] | None = None) -> tuple[str, bool]:
    """The database to use without ``--db``, and whether this user may write it.

    The system one when /var/lib/spamwatch is writable; else the system one
    read only when it exists and is readable (an admin's ad-hoc report judges
    against what the service learned); else the user's own. Said on stderr
    when it is not the system one, written.
    """
    say = notify or (lambda text: None)
    path, system = default_state_path(DEFAULT_NAME)
    if system:
        return path, True
    shared = os.path.join(DEFAULT_DIR, DEFAULT_NAME)
    if os.access(shared, os.R_OK):
        say(f"profile database: {shared}, read only (not writable by this user)")
        return shared, False
    say(f"profile database: {path} (/var/lib/spamwatch is not writable)")
    ensure_parent(path)
    return path, True
