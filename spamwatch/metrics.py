"""spamwatch's own metrics, through ``prometheus_client`` (the ecosystem's library).

One ``Metrics`` per process (``current()``) holds a registry that ``follow
--metrics ADDR:PORT`` serves over HTTP (``serve``) and the ``prometheus:FILE``
sink writes for node_exporter's textfile collector. Names follow Prometheus'
conventions (base units, ``_total`` only on counters) and labels stay few:
outcome, severity, sink, source, never a login, address or host.

``follow`` reports its health (``follow_health``): lines read by outcome, lag
behind each log, incidents open by severity; every sink's delivery counts come
from ``spamwatch.sinks.meter``. ``report`` writes gauges of its own run
(``report_run``), so a cron ``report`` replaces, never resets, what it said.
Other parts of spamwatch set gauges of their own through ``set_gauge``, as
``profile_db_size`` does for the profile database (``spamwatch_profile_db_bytes``).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any

from spamwatch import __version__
from spamwatch.errors import UsageError
from spamwatch.sinks.meter import all_meters

if TYPE_CHECKING:  # imported when a registry is built: see Metrics
    from prometheus_client import CollectorRegistry, Gauge
    from prometheus_client.core import GaugeMetricFamily, Metric

DEFAULT_PORT = 19154
"""``follow --metrics`` without a port. Not postfix_exporter's 9154: admins run both."""
DEFAULT_ADDRESS = "127.0.0.1"
OUTCOMES = ("event", "non_postfix", "unrecognised", "malformed", "skipped")
"""How a line read ends (spamwatch.parse.ParseStats)."""
SEVERITIES = ("info", "warning", "critical")


@dataclass
class FollowHealth:
    """What ``follow`` tells the metrics about itself, every few seconds."""

    lines: Mapping[str, int] = field(default_factory=dict)  # by outcome
    messages: int = 0
    alerts_made: int = 0
    internal_errors: int = 0
    open_by_severity: Mapping[str, int] = field(default_factory=dict)
    lag_bytes: Mapping[str, int] = field(default_factory=dict)  # by source
    newest_line: datetime | None = None  # log time of the newest line read
    at: float = field(default_factory=time.time)


@dataclass
class ReportRun:
    """What one ``report`` run did: written as gauges, replaced by the next run."""

    since: datetime | None
    until: datetime | None
    lines: int
    events: int
    messages: int
    incidents: Mapping[str, int]  # by severity
    duration: float
    exit_status: int
    finished: float = field(default_factory=time.time)


class Metrics:
    """This process's registry and what feeds it (see the module docstring)."""

    def __init__(self) -> None:
        self.started = time.time()
        self._registry: CollectorRegistry | None = None
        self._gauges: dict[str, Gauge] = {}
        self._pending: dict[str, tuple[str, dict[tuple[tuple[str, str], ...], float]]] = {}
        self._lock = threading.Lock()
        self._health: FollowHealth | None = None
        self._report: ReportRun | None = None

    @property
    def registry(self) -> CollectorRegistry:
        """The registry, built (and ``prometheus_client`` imported) when first asked for.

        Only what exports metrics asks for it (``serve``, the ``prometheus:``
        sink's ``exposition``): a ``report`` or ``follow`` without them never
        imports the library, 9 MB of every process's peak RSS. Gauges set
        before are kept (``set_gauge``) and registered with it.
        """
        with self._lock:
            if self._registry is None:
                from prometheus_client import CollectorRegistry, Gauge, ProcessCollector

                registry = CollectorRegistry(auto_describe=True)
                registry.register(_Collector(self))
                ProcessCollector(registry=registry)
                for name, (documentation, values) in self._pending.items():
                    names = sorted(key for key, _ in next(iter(values)))
                    gauge = Gauge(name, documentation, names, registry=registry)
                    self._gauges[name] = gauge
                    for labels, value in values.items():
                        (gauge.labels(**dict(labels)) if labels else gauge).set(value)
                self._pending.clear()
                self._registry = registry
            return self._registry

    def follow_health(self, health: FollowHealth) -> None:
        """Replace what ``follow`` said about itself."""
        self._health = health

    def report_run(self, run: ReportRun) -> None:
        """Set the gauges of this ``report`` run."""
        self._report = run

    def set_gauge(self, name: str, value: float, documentation: str, **labels: str) -> None:
        """Set a gauge of another part of spamwatch (registered on first use).

        ``name`` must start with ``spamwatch_`` and say its unit; labels must
        stay few (never a login or an address).
        """
        if not name.startswith("spamwatch_"):
            raise ValueError(f"metric {name!r}: spamwatch's metrics start with spamwatch_")
        with self._lock:
            if self._registry is None:  # kept until a registry is built
                values = self._pending.setdefault(name, (documentation, {}))[1]
                values[tuple(sorted(labels.items()))] = value
                return
        registry = self.registry
        with self._lock:
            gauge = self._gauges.get(name)
            if gauge is None:
                from prometheus_client import Gauge

                gauge = Gauge(name, documentation, sorted(labels), registry=registry)
                self._gauges[name] = gauge
        (gauge.labels(**labels) if labels else gauge).set(value)

    def exposition(self) -> bytes:
        """The text format of everything registered."""
        from prometheus_client import generate_latest

        return generate_latest(self.registry)

    def serve(self, address: str, port: int) -> Any:
        """Serve ``/metrics`` over HTTP in a thread; returns the server (``shutdown()``)."""
        from prometheus_client.exposition import start_http_server

        try:
            server, _thread = start_http_server(port, address, registry=self.registry)
        except OSError as exc:
            raise UsageError(
                f"--metrics {address}:{port}: cannot listen: {exc.strerror or exc}"
            ) from None
        return server


class _Collector:
    """Reads the latest snapshots (follow or report) and the sink meters at each scrape.

    A ``prometheus_client`` collector by its ``collect`` (the registry asks
    for no more), so this module need not import the library.
    """

    def __init__(self, metrics: Metrics) -> None:
        self.metrics = metrics

    def collect(self) -> Iterator[Metric]:
        from prometheus_client.core import GaugeMetricFamily

        info = GaugeMetricFamily(
            "spamwatch_build_info", "spamwatch's version (always 1).", labels=["version"]
        )
        info.add_metric([__version__], 1)
        yield info
        yield GaugeMetricFamily(
            "spamwatch_start_time_seconds",
            "When this spamwatch process started (Unix time).",
            value=self.metrics.started,
        )
        if self.metrics._health is not None:
            yield from _follow_families(self.metrics._health)
        if self.metrics._report is not None:
            yield from _report_families(self.metrics._report)
        yield from _sink_families()


def _follow_families(health: FollowHealth) -> Iterator[Metric]:
    from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily

    lines = CounterMetricFamily(
        "spamwatch_lines_read", "Log lines read by follow, by how they ended.", labels=["outcome"]
    )
    for outcome in OUTCOMES:
        lines.add_metric([outcome], health.lines.get(outcome, 0))
    yield lines
    yield CounterMetricFamily(
        "spamwatch_messages", "Messages followed through the queue.", value=health.messages
    )
    yield CounterMetricFamily(
        "spamwatch_alert_records",
        "Alert records follow sent to its sinks.",
        value=health.alerts_made,
    )
    yield CounterMetricFamily(
        "spamwatch_internal_errors",
        "Lines skipped because of an internal error (a bug).",
        value=health.internal_errors,
    )
    opened = GaugeMetricFamily(
        "spamwatch_incidents_open", "Incidents open now, by severity.", labels=["severity"]
    )
    for severity in SEVERITIES:
        opened.add_metric([severity], health.open_by_severity.get(severity, 0))
    yield opened
    lag_bytes = GaugeMetricFamily(
        "spamwatch_log_lag_bytes", "Bytes of the log not read yet.", labels=["source"]
    )
    lag_seconds = GaugeMetricFamily(
        "spamwatch_log_lag_seconds",
        "How far the newest line read is behind now, while lines wait (0 when caught up).",
        labels=["source"],
    )
    newest = health.newest_line.timestamp() if health.newest_line else None
    for source, behind in sorted(health.lag_bytes.items()):
        lag_bytes.add_metric([source], behind)
        seconds = max(health.at - newest, 0.0) if behind and newest is not None else 0.0
        lag_seconds.add_metric([source], seconds)
    yield lag_bytes
    yield lag_seconds
    if newest is not None:
        yield GaugeMetricFamily(
            "spamwatch_newest_line_timestamp_seconds",
            "Log time of the newest line read (Unix time).",
            value=newest,
        )


def _report_families(run: ReportRun) -> Iterator[Metric]:
    from prometheus_client.core import GaugeMetricFamily

    def gauge(name: str, text: str, value: float) -> GaugeMetricFamily:
        return GaugeMetricFamily(f"spamwatch_report_{name}", text, value=value)

    if run.since is not None:
        yield gauge(
            "range_start_timestamp_seconds", "Start of the range read.", run.since.timestamp()
        )
    if run.until is not None:
        yield gauge("range_end_timestamp_seconds", "End of its range.", run.until.timestamp())
    yield gauge("lines", "Lines the last report read.", run.lines)
    yield gauge("events", "Postfix events the last report read.", run.events)
    yield gauge("messages", "Messages in the last report's range.", run.messages)
    incidents = GaugeMetricFamily(
        "spamwatch_report_incidents",
        "Incidents the last report found, by severity.",
        labels=["severity"],
    )
    for severity in SEVERITIES:
        incidents.add_metric([severity], run.incidents.get(severity, 0))
    yield incidents
    yield gauge("duration_seconds", "How long the last report took.", run.duration)
    yield gauge(
        "exit_status", "Exit status of the last report (0 ok, 1 findings).", run.exit_status
    )
    yield gauge("last_run_timestamp_seconds", "When the last report finished.", run.finished)


def _sink_families() -> Iterator[Metric]:
    from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily

    meters = all_meters()
    if not meters:
        return
    families = {
        "sent": CounterMetricFamily(
            "spamwatch_alerts_sent", "Alerts delivered, by sink.", labels=["sink"]
        ),
        "failed": CounterMetricFamily(
            "spamwatch_alerts_failed",
            "Delivery attempts that failed (each retry counts), by sink.",
            labels=["sink"],
        ),
        "lost": CounterMetricFamily(
            "spamwatch_alerts_lost",
            "Alerts neither delivered nor kept in the spool, by sink.",
            labels=["sink"],
        ),
        "repeated": CounterMetricFamily(
            "spamwatch_alerts_repeated",
            "Alerts not sent again: same alert_id delivered or waiting, by sink.",
            labels=["sink"],
        ),
        "spooled": GaugeMetricFamily(
            "spamwatch_alerts_spooled", "Alerts waiting in the spool, by sink.", labels=["sink"]
        ),
    }
    for meter in meters:
        for name, family in families.items():
            family.add_metric([meter.label], getattr(meter, name))
    yield from families.values()


_CURRENT: Metrics | None = None
_CURRENT_LOCK = threading.Lock()


def current() -> Metrics:
    """The process's metrics (made on first use)."""
    global _CURRENT
    with _CURRENT_LOCK:
        if _CURRENT is None:
            _CURRENT = Metrics()
        return _CURRENT


def set_gauge(name: str, value: float, documentation: str, **labels: str) -> None:
    """The hook for other parts of spamwatch: ``current().set_gauge(...)``."""
    current().set_gauge(name, value, documentation, **labels)


def profile_db_size(size: int | None) -> None:
    """Publish the profile database's size (``follow``'s health, ``report``'s run); no
    gauge at all without a database (``--no-db``), rather than a size of 0."""
    if size is not None:
        set_gauge(
            "spamwatch_profile_db_bytes",
            size,
            "Size of the profile database on disk, its write-ahead log included.",
        )


def parse_listen(text: str) -> tuple[str, int]:
    """``PORT``, ``ADDR:PORT`` or ``[V6]:PORT`` -> (address, port); ValueError when not
    (the caller names where it was written: ``--metrics`` or ``follow.metrics``)."""
    value = text.strip()
    address, port_text = DEFAULT_ADDRESS, value
    if ":" in value:
        address, _, port_text = value.rpartition(":")
        address = address.strip("[]") or DEFAULT_ADDRESS
    if not port_text.isdigit() or not 0 < int(port_text) < 65536:
        raise ValueError(f"expected [ADDRESS:]PORT, got {text!r}")
    return address, int(port_text)
