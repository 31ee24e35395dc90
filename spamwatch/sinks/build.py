"""Alert URIs -> started sinks (``build_sinks``), or only checked (``check_alerts``).

A sink class is found by its scheme among the ``spamwatch.sinks`` entry
points, built as ``Sink(target, options, min_severity)`` with the options of
its ``[sinks.SCHEME]`` table, given the record kinds it gets (``records``),
and started (queued sinks take back what the
last run spooled). Errors: ConfigError (exit 3) for what the user wrote,
SinkError (exit 6) for a sink that cannot work at all.
"""

from __future__ import annotations

import inspect
import os
from collections.abc import Mapping, Sequence
from typing import Any

from spamwatch.config import Config
from spamwatch.config.schema import Options
from spamwatch.errors import ConfigError, SinkError, SpamwatchError
from spamwatch.model import IncidentState, Severity
from spamwatch.plugins import SINKS, Plugin, discover
from spamwatch.sinks.base import Sink, SinkContext
from spamwatch.sinks.delivery import Warn, warn_stderr
from spamwatch.sinks.secrets import secret_variables
from spamwatch.sinks.spool import Spool
from spamwatch.sinks.uri import (
    AlertUri,
    default_spool_dir,
    parse_alert_uri,
    parse_records,
    unknown_query_key,
)
from spamwatch.textsafe import clean


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
    hidden = secret_variables(config.section("sinks"))
    from spamwatch.contain.settings import postfix_config_of  # it imports spamwatch.sinks

    instance = postfix_config_of(config)
    sinks: list[Sink] = []
    try:
        for alert in parsed:
            sink = _construct(alert, config, available)
            sink.start(SinkContext(alert.uri, spool, warn, hidden, instance))
            sinks.append(sink)
    except BaseException:
        for sink in sinks:
            close_quietly(sink, warn)
        raise
    return sinks


COMMON_OPTIONS = frozenset({"min_severity", "records"})
"""Options every ``[sinks.SCHEME]`` table may hold, whatever the sink declares."""
ALERTS_KEYS = frozenset({"uris", "spool_dir"})
"""The keys of the ``[alerts]`` table."""


def check_alerts(
    uris: Sequence[str], config: Config, plugins: Mapping[str, Plugin] | None = None
) -> None:
    """Validate alert URIs, ``[alerts]`` and every ``[sinks.X]`` table (``config check``).

    Nothing is built or opened (no file, socket or connection): URIs must parse
    and name an installed scheme, each table must belong to one, its keys must
    be ones the sink declares (``option_names``), and ``min_severity``,
    ``records`` and the sink's own values must read (``Sink.read_options``).
    Problems a sink can only find by trying (an unwritable file, an unknown
    host) are left to the command itself.
    """
    available = discover(SINKS) if plugins is None else plugins
    for key in config.section("alerts"):
        if key not in ALERTS_KEYS:
            raise ConfigError(
                f"alerts.{key}: unknown key (known: {', '.join(sorted(ALERTS_KEYS))})"
            )
    default_spool_dir(config)
    for alert in (parse_alert_uri(uri) for uri in uris):
        _plugin_for(alert, available)
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
            if key not in names and key not in COMMON_OPTIONS:
                known = ", ".join(sorted({*names, *COMMON_OPTIONS}))
                raise ConfigError(f"{where}.{key}: unknown option (known: {known})")
    _min_severity(options, scheme)
    _records(options, scheme)
    if isinstance(cls, type) and issubclass(cls, Sink):
        cls.read_options(Options(options, where))  # the values, read as setup reads them


def construct_sink(uri: str, config: Config, plugins: Mapping[str, Plugin] | None = None) -> Sink:
    """One sink built but not started (no worker, no spool): ``alert test`` drives it itself."""
    available = discover(SINKS) if plugins is None else plugins
    return _construct(parse_alert_uri(uri), config, available)


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


def _plugin_for(alert: AlertUri, available: Mapping[str, Plugin]) -> Plugin:
    """The sink for a parsed URI, whose query holds only keys that sink understands."""
    plugin = _plugin(alert.scheme, available)
    if alert.others and not getattr(plugin.obj, "target_query", False):
        raise unknown_query_key(alert)
    if isinstance(plugin.obj, type) and issubclass(plugin.obj, Sink):
        plugin.obj.check_target(alert.target)
    return plugin


def _construct(alert: AlertUri, config: Config, available: Mapping[str, Plugin]) -> Sink:
    plugin = _plugin_for(alert, available)
    options = _options(config, alert.scheme)
    minimum = alert.min_severity or _min_severity(options, alert.scheme)
    kwargs: dict[str, Any] = {}
    if _accepts_scheme(plugin.obj):
        kwargs["scheme"] = alert.scheme
    records = alert.records or _records(options, alert.scheme)
    options = {k: v for k, v in options.items() if k != "records"}
    try:
        sink = plugin.obj(alert.target, options, minimum, **kwargs)
    except SpamwatchError:
        raise
    except Exception as exc:  # a third-party sink's bug at setup
        raise SinkError(f"alert sink {alert.scheme}: cannot be set up: {exc}") from None
    if records is not None:
        sink.records = records
    return sink


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


def _records(options: Mapping[str, Any], scheme: str) -> frozenset[IncidentState] | None:
    """``records`` of a ``[sinks.SCHEME]`` table (None: the sink's default)."""
    if "records" not in options:
        return None
    try:
        return parse_records(options["records"])
    except ValueError as exc:
        raise ConfigError(f"sinks.{scheme.partition('+')[0]}.{exc}") from None


def _accepts_scheme(cls: Any) -> bool:
    """Does the class take a ``scheme=`` keyword (one class under several schemes)?"""
    try:
        return "scheme" in inspect.signature(cls).parameters
    except (TypeError, ValueError):
        return False


def close_quietly(sink: Sink, warn: Warn) -> None:
    """Close a sink; a failure is reported, never raised (the others still close)."""
    try:
        sink.close()
    except Exception as exc:  # closing one sink must not stop closing the others
        warn(f"alert sink {sink.label}: close failed: {type(exc).__name__}: {clean(exc)}")
