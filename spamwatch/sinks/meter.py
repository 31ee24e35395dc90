"""Per-sink delivery counts, for the metrics (spamwatch.metrics) and the exit summary.

One ``SinkMeter`` per sink label for the whole process, so the counts carry
across a SIGHUP that rebuilds the sinks (Prometheus counters must not go
back). Labels name a sink without secrets (``webhook+https://host/...``), and
there are as many as configured sinks: low cardinality.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field


@dataclass
class SinkMeter:
    """What happened to the records of one sink; safe to update from any thread."""

    label: str
    sent: int = 0  # records delivered
    failed: int = 0  # delivery attempts that failed (each retry counts)
    lost: int = 0  # records neither delivered nor kept on disk
    repeated: int = 0  # records not sent again: already delivered or waiting (same alert_id)
    spooled: int = 0  # records waiting on disk now
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def add(self, **counts: int) -> None:
        """Add to the counters named (``sent=1``, ``lost=3``...)."""
        with self._lock:
            for name, value in counts.items():
                setattr(self, name, getattr(self, name) + value)

    def set_spooled(self, depth: int) -> None:
        self.spooled = depth


_METERS: dict[str, SinkMeter] = {}
_LOCK = threading.Lock()


def meter_for(label: str) -> SinkMeter:
    """The process's meter for this sink label (made on first use)."""
    with _LOCK:
        meter = _METERS.get(label)
        if meter is None:
            meter = _METERS[label] = SinkMeter(label)
        return meter


def all_meters() -> list[SinkMeter]:
    """Every sink meter of this process, by label."""
    with _LOCK:
        return [_METERS[label] for label in sorted(_METERS)]
