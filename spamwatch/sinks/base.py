"""The sink extension point: where findings go.

A sink is chosen by an alert URI (``--alert jsonl:-``, ``--alert
mailto:admin@example.com``); the URI's scheme names the entry point in the
``spamwatch.sinks`` group. Built-in and third-party sinks load the same way.

``send`` must not block the pipeline for long: network sinks deliver from
their own bounded queue (spamwatch.sinks.delivery) and spool what they cannot
deliver, so no finding is silently lost.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

from spamwatch.model import Finding, Severity


class Sink:
    """Base class for alert sinks.

    ``target`` is the URI without its scheme (``/var/log/spamwatch.jsonl`` for
    ``jsonl:/var/log/spamwatch.jsonl``); ``options`` comes from the config
    section ``[sinks.SCHEME]``; findings below ``min_severity`` are not sent.
    """

    scheme: ClassVar[str] = "base"
    description: ClassVar[str] = ""

    def __init__(
        self,
        target: str,
        options: Mapping[str, Any] | None = None,
        min_severity: Severity = Severity.INFO,
    ) -> None:
        self.target = target
        self.options: Mapping[str, Any] = options or {}
        self.min_severity = min_severity

    def accepts(self, finding: Finding) -> bool:
        """True when the finding is at or above this sink's minimum severity."""
        return finding.severity >= self.min_severity

    def send(self, finding: Finding) -> None:
        """Deliver (or enqueue) one finding record."""
        raise NotImplementedError

    def close(self) -> None:
        """Flush and release resources; called once at exit."""
