"""``--alert URI`` for the commands that find things (``report``, ``follow``).

The option is repeatable; each URI becomes a sink (spamwatch.sinks). A
command sends its finding records to the sinks too
(``spamwatch.report.run.with_alerts``) and closes the returned Fanout at exit (queued sinks
drain, the rest is spooled for the next start).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any, TypeVar

import click

from spamwatch.config import Config
from spamwatch.sinks import Fanout, open_alerts

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


def cli_alerts(config: Config, uris: Sequence[str]) -> Fanout | None:
    """The sinks named by ``--alert``, started; None when there are none.

    ``report`` alerts only on an explicit ``--alert`` (re-reading past log
    must not re-send alerts); ``follow`` falls back to ``[alerts] uris`` and
    the console/jsonl default through ``spamwatch.sinks.open_alerts``.
    """
    return open_alerts(config, uris) if uris else None


def finish_alerts(alerts: Fanout | None, stats: Mapping[str, Any]) -> None:
    """Hand the final counters to sinks that keep them, then close every sink."""
    if alerts is None:
        return
    try:
        alerts.update_stats(stats)
    finally:
        alerts.close()
