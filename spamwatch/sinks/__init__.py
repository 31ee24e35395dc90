"""Sinks: where findings are delivered (console, JSON Lines, syslog, mail, ...).

``build_sinks`` turns alert URIs (``--alert`` or ``[alerts] uris``) into
started sinks; ``Fanout`` sends each finding to every sink that accepts it.
An alert URI is ``SCHEME[:TARGET][?min=SEVERITY]``: the scheme names an entry
point in the ``spamwatch.sinks`` group, the target is everything after the
first colon (``jsonl:/var/log/x.jsonl``, ``webhook+https://host/path``),
``min`` the lowest severity the sink gets (else ``min_severity`` in the
sink's ``[sinks.SCHEME]`` table, else info).
"""

from __future__ import annotations

import inspect
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlencode

from spamwatch.config import Config
from spamwatch.errors import ConfigError, SinkError, SpamwatchError
from spamwatch.model import Finding, Severity
from spamwatch.plugins import SINKS, Plugin, discover
from spamwatch.sinks.base import Sink, SinkContext
from spamwatch.sinks.delivery import QueuedSink, RetryPolicy, Spool, Warn, warn_stderr
from spamwatch.sinks.options import Options
from spamwatch.sinks.secrets import SECRET_KEYS, redact, redact_uri
from spamwatch.sinks.text import clean

__all__ = [
    "SECRET_KEYS",
    "AlertUri",
    "Fanout",
    "Sink",
    "build_sinks",
    "check_alerts",
    "default_alert_uris",
    "default_spool_dir",
    "open_alerts",
    "parse_alert_uri",
    "redact",
    "redact_uri",
]


@dataclass(frozen=True, slots=True)
class AlertUri:
    """A parsed alert URI; ``uri`` is its canonical form without ``min`` (the spool key)."""

    scheme: str
    target: str
    min_severity: Severity | None
    uri: str


def parse_alert_uri(text: str) -> AlertUri:
    """Split ``SCHEME[:TARGET][?min=SEVERITY]``; ConfigError when malformed."""
    raw = text.strip()
    scheme, _, target = raw.partition(":")
    scheme = scheme.lower()
    if not scheme or not scheme[0].isalpha() or not all(c.isalnum() or c in "+.-" for c in scheme):
        raise ConfigError(f"bad alert URI {clean(text)!r}: expected SCHEME[:TARGET], e.g. jsonl:-")
    minimum: Severity | None = None
    if "?" in target:
        target, _, query = target.rpartition("?")
        rest = []
        for key, value in parse_qsl(query, keep_blank_values=True):
            if key != "min":
                rest.append((key, value))
                continue
            try:
                minimum = Severity.parse(value)
            except ValueError as exc:
                raise ConfigError(f"alert URI {clean(text)!r}: {exc}") from None
        if rest:
            target = f"{target}?{urlencode(rest)}"
    return AlertUri(scheme, target, minimum, f"{scheme}:{target}" if target else scheme)


def default_alert_uris(config: Config, interactive: bool) -> list[str]:
    """``[alerts] uris`` from the config, else ``console`` on a terminal, else ``jsonl:-``."""
    uris = config.section("alerts").get("uris")
    if uris is None:
        return ["console"] if interactive else ["jsonl:-"]
    if not isinstance(uris, list) or not all(isinstance(u, str) for u in uris):
        raise ConfigError("alerts.uris: expected a list of alert URIs (strings)")
    return list(uris)


def default_spool_dir(config: Config) -> Path:
    """``[alerts] spool_dir``, else /var/lib/spamwatch/spool when writable, else per user."""
    configured = config.section("alerts").get("spool_dir")
    if configured is not None:
        if not isinstance(configured, str) or not configured:
            raise ConfigError("alerts.spool_dir: expected a directory path")
        return Path(configured)
    system = Path("/var/lib/spamwatch")
    if os.access(system, os.W_OK) or (not system.exists() and os.access(system.parent, os.W_OK)):
        return system / "spool"
    state = os.environ.get("XDG_STATE_HOME") or os.path.expanduser("~/.local/state")
    return Path(state) / "spamwatch" / "spool"


def build_sinks(
    uris: Sequence[str],
    config: Config,
    spool_dir: str | os.PathLike[str],
    warn: Warn = warn_stderr,
    plugins: Mapping[str, Plugin] | None = None,
) -> list[Sink]:
    """Build and start one sink per URI (duplicates once); all or nothing.

    Unknown scheme or malformed URI/option: ConfigError (exit 3). A sink that
    cannot be set up (unwritable file, no syslog socket, broken plugin):
    SinkError (exit 6). Sinks already started are closed before raising.
    """
    parsed = _unique(parse_alert_uri(uri) for uri in uris)
    available = discover(SINKS) if plugins is None else plugins
    spool = Spool(spool_dir)
    sinks: list[Sink] = []
    try:
        for alert in parsed:
            sink = _construct(alert, config, available)
            sink.start(SinkContext(alert.uri, spool, warn))
            sinks.append(sink)
    except BaseException:
        for sink in sinks:
            _close_quietly(sink, warn)
        raise
    return sinks


ALERTS_KEYS = frozenset({"uris", "spool_dir"})
"""The keys of the ``[alerts]`` table."""


def check_alerts(
    uris: Sequence[str], config: Config, plugins: Mapping[str, Plugin] | None = None
) -> None:
    """Validate alert URIs, ``[alerts]`` and every ``[sinks.X]`` table (``config check``).

    Nothing is built or opened (no file, socket or connection): URIs must parse
    and name an installed scheme, each table must belong to one, its keys must
    be ones the sink declares (``option_names``), and ``min_severity`` and the
    retry options must read. Problems a sink can only find by trying (an
    unwritable file, an unknown host) are left to the command itself.
    """
    available = discover(SINKS) if plugins is None else plugins
    for key in config.section("alerts"):
        if key not in ALERTS_KEYS:
            raise ConfigError(
                f"alerts.{key}: unknown key (known: {', '.join(sorted(ALERTS_KEYS))})"
            )
    default_spool_dir(config)
    for alert in (parse_alert_uri(uri) for uri in uris):
        _plugin(alert.scheme, available)
    for table, options in config.section("sinks").items():
        if not isinstance(options, Mapping):
            raise ConfigError(f"sinks.{table}: expected a table of options")
        schemes = [s for s in available if table in (s, s.partition("+")[0])]
        if not schemes:
            raise ConfigError(f"sinks.{table}: no installed sink has this scheme")
        for scheme in schemes:
            _check_table(f"sinks.{table}", options, available[scheme].obj, scheme)


def _check_table(where: str, options: Mapping[str, Any], cls: Any, scheme: str) -> None:
    names = getattr(cls, "option_names", None)
    if names is not None:
        for key in options:
            if key not in names and key != "min_severity":
                known = ", ".join(sorted({*names, "min_severity"}))
                raise ConfigError(f"{where}.{key}: unknown option (known: {known})")
    _min_severity(options, scheme)
    if isinstance(cls, type) and issubclass(cls, QueuedSink):
        RetryPolicy.from_options(Options(options, where), cls.batch_option)


def _unique(alerts: Any) -> list[AlertUri]:
    seen: dict[str, AlertUri] = {}
    for alert in alerts:
        seen.setdefault(alert.uri, alert)
    return list(seen.values())


def _plugin(scheme: str, available: Mapping[str, Plugin]) -> Plugin:
    """The installed sink for ``scheme``: ConfigError if unknown, SinkError if broken."""
    plugin = available.get(scheme)
    if plugin is None:
        known = ", ".join(sorted(available)) or "none installed"
        raise ConfigError(f"unknown alert scheme {scheme!r} (known: {known})")
    if plugin.error is not None or not callable(plugin.obj):
        raise SinkError(f"alert sink {scheme!r} cannot be loaded: {plugin.error}")
    return plugin


def _construct(alert: AlertUri, config: Config, available: Mapping[str, Plugin]) -> Sink:
    plugin = _plugin(alert.scheme, available)
    options = _options(config, alert.scheme)
    minimum = alert.min_severity or _min_severity(options, alert.scheme)
    kwargs: dict[str, Any] = {}
    if _accepts_scheme(plugin.obj):
        kwargs["scheme"] = alert.scheme
    try:
        return plugin.obj(alert.target, options, minimum, **kwargs)
    except SpamwatchError:
        raise
    except Exception as exc:  # a third-party sink's bug at setup
        raise SinkError(f"alert sink {alert.scheme}: cannot be set up: {exc}") from None


def _options(config: Config, scheme: str) -> dict[str, Any]:
    """``[sinks.BASE]`` merged with ``[sinks."BASE+VARIANT"]`` (the latter wins)."""
    base = scheme.partition("+")[0]
    merged = dict(config.section("sinks", base))
    if base != scheme:
        merged.update(config.section("sinks", scheme))
    return merged


def _min_severity(options: Mapping[str, Any], scheme: str) -> Severity:
    value = options.get("min_severity", "info")
    try:
        return Severity.parse(str(value))
    except ValueError as exc:
        raise ConfigError(f"sinks.{scheme.partition('+')[0]}.min_severity: {exc}") from None


def _accepts_scheme(cls: Any) -> bool:
    """Does the class take a ``scheme=`` keyword (one class under several schemes)?"""
    try:
        return "scheme" in inspect.signature(cls).parameters
    except (TypeError, ValueError):
        return False


def _close_quietly(sink: Sink, warn: Warn) -> None:
    try:
        sink.close()
    except Exception as exc:  # closing one sink must not stop closing the others
        warn(f"alert sink {sink.label}: close failed: {type(exc).__name__}: {clean(exc)}")


class Fanout:
    """Send every finding to each sink that accepts it; one sink's failure stops no other.

    A synchronous sink that raises is reported once (per sink, until it works
    again); ``BrokenPipeError`` (the reader of stdout went away) is re-raised
    after the other sinks had the finding, so the command can end as usual.
    """

    def __init__(self, sinks: Sequence[Sink], warn: Warn = warn_stderr) -> None:
        self.sinks = list(sinks)
        self.warn = warn
        self.failing: set[int] = set()

    def send(self, finding: Finding) -> None:
        """Deliver (or queue) ``finding`` on every accepting sink."""
        broken: BrokenPipeError | None = None
        for index, sink in enumerate(self.sinks):
            try:
                if sink.accepts(finding):
                    sink.send(finding)
            except BrokenPipeError as exc:
                broken = exc
            except Exception as exc:  # any sink bug or I/O error: report, go on
                self._failed(index, sink, exc)
            else:
                self.failing.discard(index)
        if broken is not None:
            raise broken

    def update_stats(self, stats: Mapping[str, Any]) -> None:
        """Pass processing counters to sinks with an ``update_stats`` hook (prometheus)."""
        for index, sink in enumerate(self.sinks):
            hook = getattr(sink, "update_stats", None)
            if hook is None:
                continue
            try:
                hook(stats)
            except Exception as exc:  # as in send: report once, go on
                self._failed(index, sink, exc)

    def close(self) -> None:
        """Close every sink; queued ones drain side by side, then spool what is left."""
        for sink in self.sinks:
            begin = getattr(sink, "begin_close", None)
            if begin is not None:
                begin()
        for sink in self.sinks:
            _close_quietly(sink, self.warn)

    def __enter__(self) -> Fanout:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _failed(self, index: int, sink: Sink, exc: Exception) -> None:
        if index not in self.failing:
            self.failing.add(index)
            self.warn(f"alert sink {sink.label} failed: {type(exc).__name__}: {clean(exc)}")


def open_alerts(
    config: Config,
    uris: Sequence[str] = (),
    interactive: bool = False,
    spool_dir: str | os.PathLike[str] | None = None,
    warn: Warn = warn_stderr,
) -> Fanout:
    """What a command calls: ``--alert`` URIs (else the defaults) built into a Fanout."""
    chosen = list(uris) or default_alert_uris(config, interactive)
    directory = spool_dir if spool_dir is not None else default_spool_dir(config)
    return Fanout(build_sinks(chosen, config, directory, warn=warn), warn=warn)
