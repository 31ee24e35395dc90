"""Sinks: where incident records are delivered (console, JSON Lines, syslog, mail, ...).

``open_alerts`` is what a command calls: alert URIs (uri.py) become started
sinks (build.py) behind one ``Fanout`` (fanout.py). Each sink lives in a
module of its own; the network ones deliver through delivery.py's queue,
retries and spool. text.py makes log text safe to show, secrets.py hides
secrets from ``config show``.
"""

from __future__ import annotations

import os
from collections.abc import Sequence

from spamwatch.config import Config
from spamwatch.sinks.base import Sink
from spamwatch.sinks.build import build_sinks, check_alerts
from spamwatch.sinks.delivery import Warn, warn_stderr
from spamwatch.sinks.fanout import Fanout
from spamwatch.sinks.secrets import SECRET_KEYS, redact, redact_uri
from spamwatch.sinks.uri import AlertUri, default_alert_uris, default_spool_dir, parse_alert_uri

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
