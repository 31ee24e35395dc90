"""``prometheus:/var/lib/prometheus/node-exporter/spamwatch.prom``: textfile metrics.

node_exporter's textfile collector reads ``*.prom`` files; this sink rewrites
its file atomically (temporary file in the same directory, then rename) so the
collector never reads half a file. Metrics are low-cardinality on purpose:
labelled by detector, severity and state only, never by user, address or host
(those belong in the alert, not in a time series).

Besides findings, the sink takes processing counters through the optional
hook ``update_stats(mapping)``: ``follow`` and ``report`` call it with
counts since start such as ``{"lines": 120000, "events": 98000, "messages":
4100, "skipped": 12}``; each numeric key becomes ``spamwatch_<key>_total``.
"""

from __future__ import annotations

import contextlib
import os
import re
import tempfile
import time
from collections import Counter
from collections.abc import Mapping
from typing import Any

from spamwatch.errors import SinkError
from spamwatch.model import Finding, FindingState
from spamwatch.sinks.base import Sink
from spamwatch.textsafe import clean

MAX_OPEN = 10_000  # open findings tracked; the oldest are forgotten beyond this
MAX_STATS = 50  # counter names accepted through update_stats
_STAT_NAME = re.compile(r"[a-z][a-z0-9_]{0,40}")


class PrometheusSink(Sink):
    """Keep finding gauges and processing counters in a textfile-collector file."""

    scheme = "prometheus"
    description = "metrics for node_exporter's textfile collector (written atomically)"
    option_names = frozenset()

    def setup(self) -> None:
        """Check the options; see the module docstring."""
        super().setup()
        if not self.target or self.target.endswith("/"):
            raise SinkError(
                "prometheus: needs a file, e.g. prometheus:/var/lib/node/spamwatch.prom"
            )
        self.path = os.path.abspath(self.target)
        self.open: dict[str, tuple[str, str]] = {}  # finding id -> (detector, severity)
        self.records: Counter[tuple[str, str]] = Counter()  # (detector, state) -> count
        self.seen: set[tuple[str, str]] = set()  # (detector, severity) pairs ever open
        self.stats: dict[str, float] = {}
        self.write()

    def send(self, finding: Finding) -> None:
        """Update the open-findings gauges and record counters, then rewrite the file."""
        detector = clean(finding.detector, limit=64)
        self.records[(detector, str(finding.state))] += 1
        if finding.state is FindingState.RESOLVED:
            self.open.pop(finding.id, None)
        else:
            self.open.pop(finding.id, None)  # re-insert: newest last
            self.open[finding.id] = (detector, str(finding.severity))
            self.seen.add(self.open[finding.id])
            while len(self.open) > MAX_OPEN:
                del self.open[next(iter(self.open))]
        self.write()

    def update_stats(self, stats: Mapping[str, Any]) -> None:
        """Take processing counters (counts since start) and rewrite the file."""
        for name, value in stats.items():
            if isinstance(value, bool) or not isinstance(value, int | float):
                continue
            if not _STAT_NAME.fullmatch(name):
                continue
            if name in self.stats or len(self.stats) < MAX_STATS:
                self.stats[name] = float(value)
        self.write()

    def close(self) -> None:
        """Write the final state."""
        self.write()

    def render(self) -> str:
        """The exposition-format text of the current state."""
        lines = [
            "# HELP spamwatch_open_findings Findings raised and not yet resolved.",
            "# TYPE spamwatch_open_findings gauge",
        ]
        open_now = Counter(self.open.values())
        for detector, severity in sorted(self.seen):
            labels = _labels(detector=detector, severity=severity)
            lines.append(f"spamwatch_open_findings{labels} {open_now[(detector, severity)]}")
        lines += [
            "# HELP spamwatch_finding_records_total Finding records sent, by detector and state.",
            "# TYPE spamwatch_finding_records_total counter",
        ]
        for (detector, state), count in sorted(self.records.items()):
            lines.append(
                f"spamwatch_finding_records_total{_labels(detector=detector, state=state)} {count}"
            )
        for name, value in sorted(self.stats.items()):
            metric = f"spamwatch_{name.removesuffix('_total')}_total"
            lines += [
                f"# HELP {metric} Count of {name} processed since spamwatch started.",
                f"# TYPE {metric} counter",
                f"{metric} {value:g}",
            ]
        lines += [
            "# HELP spamwatch_last_write_timestamp_seconds When spamwatch last wrote this file.",
            "# TYPE spamwatch_last_write_timestamp_seconds gauge",
            f"spamwatch_last_write_timestamp_seconds {time.time():.3f}",
        ]
        return "\n".join(lines) + "\n"

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


def _labels(**labels: str) -> str:
    """``{a="x",b="y"}`` with the exposition format's escapes."""
    inner = ",".join(f'{name}="{_escape(value)}"' for name, value in labels.items())
    return "{" + inner + "}"


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")
