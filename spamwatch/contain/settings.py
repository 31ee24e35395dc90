"""The ``[contain]`` table: what containment may do, checked once.

Every action is off until the admin turns it on (``lock``, ``hold``,
``hook``), and ``dry_run`` is true until the admin turns it off, so the first
configuration only prints what it would do. ``CONTAIN_DEFAULTS`` lists every
option with its default (``config show`` prints it); ``ContainSettings`` is
the checked, typed form the rest of the package uses. A bad value is a
ConfigError naming ``contain.KEY``.
"""

from __future__ import annotations

import ipaddress
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from spamwatch.config import Config
from spamwatch.config.schema import absolute_program, check_options, duration
from spamwatch.detectors.allow import Network, load_site
from spamwatch.errors import ConfigError
from spamwatch.follow.state import DEFAULT_DIR
from spamwatch.model import Severity
from spamwatch.sinks.secrets import secret_variables

CONTAIN_DEFAULTS: Mapping[str, Any] = {
    "dry_run": True,
    "lock": False,
    "map": "hash:/etc/postfix/spamwatch_sasl_access",
    "action": "REJECT 5.7.1 account locked, contact support",
    "reload": False,
    "hold": False,
    "hold_batch": 100,
    "hook": [],
    "release_hook": [],
    "hook_timeout": "30s",
    "command_timeout": "60s",
    "auto": "off",
    "auto_detectors": 1,
    "auto_max_age": "15m",
    "max_auto_per_hour": 3,
    "allow_users": ["postmaster", "abuse"],
    "allow_networks": [],
    "postfix_config": "",
    "command_directory": "",
    "sudo": False,
    "state_dir": "",
    "audit_log": "",
    "lookback": "1h",
}
"""Every ``[contain]`` option with its default (see README "Stopping an incident")."""

MAP_TYPES: Mapping[str, str | None] = {
    "hash": ".db",
    "btree": ".db",
    "cdb": ".cdb",
    "lmdb": ".lmdb",
    "texthash": None,
}
"""Map types spamwatch can update atomically, and the file ``postmap`` builds (None: none)."""

ACTIONS = ("REJECT", "DEFER", "HOLD", "DISCARD", "DEFER_IF_PERMIT")
"""access(5) actions a lock may use (or a 4NN/5NN reply code with text)."""

_CODE = re.compile(r"[45]\d\d(\s|$)")
_PRINTABLE_LINE = re.compile(r"[ -~]+")


@dataclass(frozen=True)
class ContainSettings:
    """The checked ``[contain]`` table (plus the ``[allow]`` users and networks)."""

    dry_run: bool = True
    lock: bool = False
    map_type: str = "hash"
    map_path: str = "/etc/postfix/spamwatch_sasl_access"
    action: str = "REJECT 5.7.1 account locked, contact support"
    reload: bool = False
    hold: bool = False
    hold_batch: int = 100
    hook: tuple[str, ...] = ()
    release_hook: tuple[str, ...] = ()
    hook_timeout: float = 30.0
    command_timeout: float = 60.0
    auto: Severity | None = None
    auto_detectors: int = 1
    auto_max_age: timedelta = timedelta(minutes=15)
    max_auto_per_hour: int = 3
    allow_users: frozenset[str] = frozenset({"postmaster", "abuse"})
    allow_networks: tuple[Network, ...] = ()
    postfix_config: str | None = None
    command_directory: str | None = None
    sudo: bool = False
    state_dir: str = DEFAULT_DIR
    audit_log: str = os.path.join(DEFAULT_DIR, "contain-audit.jsonl")
    lookback: timedelta = timedelta(hours=1)
    hidden_variables: frozenset[str] = frozenset()  # named by the sinks' *_env options

    @property
    def map_spec(self) -> str:
        """The map as main.cf names it: ``hash:/etc/postfix/spamwatch_sasl_access``."""
        return f"{self.map_type}:{self.map_path}"

    @property
    def actions(self) -> tuple[str, ...]:
        """The actions turned on, in the order they run."""
        on = (("lock", self.lock), ("hold", self.hold), ("hook", bool(self.hook)))
        return tuple(name for name, enabled in on if enabled)

    @property
    def ledger_path(self) -> str:
        """Where spamwatch remembers what it locked and held (for release and --list)."""
        return os.path.join(self.state_dir, "contain.json")

    @property
    def evidence_dir(self) -> str:
        """Where the evidence file handed to the hook is written."""
        return os.path.join(self.state_dir, "evidence")

    @classmethod
    def from_config(cls, config: Config) -> ContainSettings:
        """Check ``[contain]`` (ConfigError naming the key) and build the settings."""
        table = {
            **CONTAIN_DEFAULTS,
            **check_options("contain", config.section("contain"), CONTAIN_DEFAULTS),
        }
        site = load_site(config)
        map_type, map_path = parse_map(table["map"])
        state_dir = _absolute("state_dir", table["state_dir"]) or os.path.abspath(
            _default_state_dir()
        )
        users = frozenset(u.strip().lower() for u in table["allow_users"] if u.strip())
        return cls(
            dry_run=table["dry_run"],
            lock=table["lock"],
            map_type=map_type,
            map_path=map_path,
            action=check_action(table["action"]),
            reload=table["reload"],
            hold=table["hold"],
            hold_batch=_at_least("hold_batch", table["hold_batch"], 1),
            hook=_command("hook", table["hook"]),
            release_hook=_command("release_hook", table["release_hook"]),
            hook_timeout=_seconds("hook_timeout", table["hook_timeout"]),
            command_timeout=_seconds("command_timeout", table["command_timeout"]),
            auto=_auto(table["auto"]),
            auto_detectors=_at_least("auto_detectors", table["auto_detectors"], 1),
            auto_max_age=duration(table["auto_max_age"]),
            max_auto_per_hour=int(table["max_auto_per_hour"]),
            allow_users=users | site.allow.users,
            allow_networks=_networks(table["allow_networks"]) + site.allow.networks,
            postfix_config=postfix_config_of(config),
            command_directory=_absolute("command_directory", table["command_directory"]),
            sudo=table["sudo"],
            state_dir=state_dir,
            audit_log=_absolute("audit_log", table["audit_log"])
            or os.path.join(state_dir, "contain-audit.jsonl"),
            lookback=duration(table["lookback"]),
            hidden_variables=secret_variables(config.section("sinks")),
        )


def postfix_config_of(config: Config) -> str | None:
    """``[contain] postfix_config`` alone (ConfigError when not an absolute path).

    The next steps of a report or an alert name that instance (``postqueue -c
    DIR -p``) whether or not containment is set up.
    """
    value = config.section("contain").get("postfix_config", "")
    if not isinstance(value, str):
        raise ConfigError(f"contain.postfix_config: needs an absolute path, got {value!r}")
    return _absolute("postfix_config", value)


def _default_state_dir() -> str:
    """``/var/lib/spamwatch`` when writable (as root), else the user's state directory."""
    if os.access(DEFAULT_DIR, os.W_OK) or os.geteuid() == 0:
        return DEFAULT_DIR
    base = os.environ.get("XDG_STATE_HOME") or os.path.expanduser("~/.local/state")
    return os.path.join(base, "spamwatch")


def parse_map(spec: str) -> tuple[str, str]:
    """``TYPE:/absolute/path`` with a type spamwatch can update atomically."""
    kind, sep, path = spec.partition(":")
    if not sep or not path:
        raise ConfigError(f"contain.map: expected TYPE:/path, got {spec!r}")
    if kind not in MAP_TYPES:
        known = ", ".join(MAP_TYPES)
        raise ConfigError(f"contain.map: map type {kind!r} cannot be updated (use {known})")
    if not os.path.isabs(path) or not _PRINTABLE_LINE.fullmatch(path) or " " in path:
        raise ConfigError(f"contain.map: needs an absolute path without spaces, got {path!r}")
    return kind, os.path.normpath(path)


def check_action(action: str) -> str:
    """An access(5) action on one printable line: REJECT/DEFER/HOLD/... or 4NN/5NN text."""
    text = " ".join(action.split())
    if not _PRINTABLE_LINE.fullmatch(action.strip()):
        raise ConfigError(f"contain.action: must be one line of printable ASCII, got {action!r}")
    word = text.split(None, 1)[0].upper()
    if word not in ACTIONS and not _CODE.match(text):
        raise ConfigError(
            f"contain.action: must start with {', '.join(ACTIONS)} or a 4NN/5NN code,"
            f" got {action!r}"
        )
    return text


def _auto(value: str) -> Severity | None:
    if value.strip().lower() in ("off", "no", "false", ""):
        return None
    try:
        return Severity.parse(value)
    except ValueError:
        raise ConfigError(
            f"contain.auto: expected off, warning or critical, got {value!r}"
        ) from None


def _command(key: str, argv: list[str]) -> tuple[str, ...]:
    if not argv:
        return ()
    absolute_program(f"contain.{key}", argv[0])
    if any(not _PRINTABLE_LINE.fullmatch(a) for a in argv if a):
        raise ConfigError(f"contain.{key}: arguments must be printable one-line text")
    return tuple(argv)


def _seconds(key: str, value: Any) -> float:
    seconds = duration(value).total_seconds()
    if seconds <= 0:
        raise ConfigError(f"contain.{key}: must be longer than 0s, got {value!r}")
    return seconds


def _at_least(key: str, value: int, least: int) -> int:
    if value < least:
        raise ConfigError(f"contain.{key}: must be at least {least}, got {value!r}")
    return int(value)


def _absolute(key: str, value: str) -> str | None:
    """An absolute path (None when not set): a relative one would depend on where it is run."""
    if not value:
        return None
    if not os.path.isabs(value):
        raise ConfigError(f"contain.{key}: needs an absolute path, got {value!r}")
    return value


def _networks(values: list[str]) -> tuple[Network, ...]:
    out = []
    for text in values:
        try:
            out.append(ipaddress.ip_network(text.strip(), strict=False))
        except ValueError:
            raise ConfigError(f"contain.allow_networks: not a network: {text!r}") from None
    return tuple(out)
