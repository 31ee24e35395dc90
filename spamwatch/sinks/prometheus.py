"""``prometheus:/var/lib/prometheus/node-exporter/spamwatch.prom``: metrics for node_exporter.

node_exporter's textfile collector reads ``*.prom`` files; this sink writes
spamwatch's metrics (spamwatch.metrics: the same ``prometheus_client``
registry ``follow --metrics`` serves over HTTP) to its file, replaced
atomically (a temporary file with an unpredictable name in the same
directory, fsync, rename) so the collector never reads half a file. It
rewrites the file at each record, whenever ``follow`` refreshes its health,
and at exit; ``report`` leaves the gauges of its run there.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Mapping
from typing import Any

from spamwatch.errors import SinkError
from spamwatch.metrics import current
from spamwatch.model import Incident
from spamwatch.sinks.base import Sink


class PrometheusSink(Sink):
    """Write spamwatch's metrics to a textfile-collector file."""

    scheme = "prometheus"
    description = "metrics for node_exporter's textfile collector (written atomically)"
    option_names = frozenset()
    alerts = False  # the metrics file is not an alert destination: not in the per-sink counts

    def setup(self) -> None:
        """Check the target; see the module docstring."""
        super().setup()
        if not self.target or self.target.endswith("/"):
            raise SinkError(
                "prometheus: needs a file, e.g. prometheus:/var/lib/node/spamwatch.prom"
            )
        self.path = os.path.abspath(self.target)
        self.write()

    def send(self, finding: Incident) -> None:
        """Rewrite the file (the alert counts changed)."""
        self.write()

    def update_stats(self, stats: Mapping[str, Any]) -> None:
        """The command's counters changed (they reach the metrics on their own): rewrite."""
        self.write()

    def close(self) -> None:
        """Write the final state."""
        self.write()

    def render(self) -> str:
        """The exposition-format text of spamwatch's metrics now."""
        return current().exposition().decode("utf-8")

    def write(self) -> None:
        """Replace the file atomically (write a temporary file, fsync, rename)."""
        directory = os.path.dirname(self.path)
        try:
            fd, tmp = tempfile.mkstemp(prefix=".spamwatch.", suffix=".tmp", dir=directory)
        except OSError as exc:
            raise SinkError(f"prometheus:{self.path}: cannot write: {exc.strerror}") from None
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as handle:
                handle.write(self.render())
                handle.flush()
                os.fsync(handle.fileno())
            os.chmod(tmp, 0o644)
            os.replace(tmp, self.path)
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(tmp)
            raise
