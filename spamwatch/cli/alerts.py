"""``--alert URI`` for the commands that find things (``report``, ``follow``).

The option is repeatable; each URI becomes a sink (spamwatch.sinks). A
command wraps its own ``emit`` with ``with_alerts`` so every finding record
also goes to the sinks, and closes the returned Fanout at exit (queued sinks
drain, the rest is spooled for the next start).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any, TypeVar

import click

from spamwatch.config import Config
from spamwatch.model import Finding
from spamwatch.pipeline import Emit
from spamwatch.sinks import Fanout, default_alert_uris, open_alerts

F = TypeVar("F", bound=Callable[..., Any])


def alert_option(func: F) -> F:
    """``--alert URI`` (repeatable) -> the ``alert_uris`` tuple parameter."""
    return click.option(
        "--alert",
        "alert_uris",
        multiple=True,
        metavar="URI",
        help="Also send findings to this sink (repeatable): console, jsonl:PATH|-, "
        "syslog[:FACILITY], syslog+udp://HOST[:PORT], mailto:ADDR, webhook+https://URL, "
        "exec:PATH, prometheus:FILE; add ?min=warning for a minimum severity.",
    )(func)


def cli_alerts(config: Config, uris: Sequence[str], use_config: bool = False) -> Fanout | None:
    """The sinks a command run alerts to, or None when there are none.

    ``uris`` are the ``--alert`` values; with none given, ``use_config`` falls
    back to ``[alerts] uris`` from the config (``follow`` does, ``report``
    over past log does not, so re-reading history never re-sends alerts).
    """
    chosen = list(uris)
    if not chosen and use_config and "uris" in config.section("alerts"):
        chosen = default_alert_uris(config, interactive=False)
    if not chosen:
        return None
    return open_alerts(config, chosen)


def with_alerts(emit: Emit, alerts: Fanout | None) -> Emit:
    """``emit`` that also sends every finding record to ``alerts`` (if any)."""
    if alerts is None:
        return emit

    def both(finding: Finding) -> None:
        emit(finding)
        alerts.send(finding)

    return both


def finish_alerts(alerts: Fanout | None, stats: Mapping[str, Any]) -> None:
    """Hand the final counters to sinks that keep them, then close every sink."""
    if alerts is None:
        return
    try:
        alerts.update_stats(stats)
    finally:
        alerts.close()
